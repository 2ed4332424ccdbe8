"""Merge two contacts of one user into one, losing nothing.

Every row that points at the contact that goes away is re-pointed at the one that stays.
Tables are found from the schema (every foreign key to contacts.id), so a table added later
is merged too; a table that needs more than re-pointing gets a step in SPECIAL_STEPS.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Table, select, update

from webapp.contacts.models import Contact
from webapp.extensions import db


class MergeError(ValueError):
    """Two contacts that cannot be merged; str() is fit to show a person."""


def _append_new(values: list, extra: list) -> list:
    """Return values followed by the items of extra not already in it (case-insensitive)."""
    seen = {str(v).lower() for v in values}
    merged = list(values)
    for value in extra:
        if str(value).lower() not in seen:
            merged.append(value)
            seen.add(str(value).lower())
    return merged


def _merge_fields(keep: Contact, other: Contact) -> None:
    """Fill keep's empty fields from other and add other's identifiers to keep's."""
    for name in ("name", "org", "title"):
        if not (getattr(keep, name) or "").strip() and getattr(other, name):
            setattr(keep, name, getattr(other, name))
    keep.emails = _append_new(list(keep.emails or []), list(other.emails or []))
    keep.phones = _append_new(list(keep.phones or []), list(other.phones or []))
    keep.urls = _append_new(list(keep.urls or []), list(other.urls or []))
    if not keep.rating and other.rating:
        keep.rating = other.rating
    if hasattr(Contact, "last_interaction_at"):
        times = [t for t in (keep.last_interaction_at, other.last_interaction_at) if t]
        keep.last_interaction_at = max(times) if times else None


def contact_references() -> list[tuple[Table, str]]:
    """Return (table, column name) for every column that refers to contacts.id."""
    found = []
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if any(fk.column.table.name == Contact.__tablename__ for fk in column.foreign_keys):
                found.append((table, column.name))
    return found


def _keep_both_drafts(user_id: int, keep_id: int, other_id: int) -> None:
    """Give the other contact's drafts that clash with one of keep's a scope of their own.

    Drafts are unique per (contact, scope, kind); when both people already had, say, the
    follow-up for the same event, both drafts are kept (the user sends or skips one).
    """
    drafts = db.metadata.tables.get("drafts")
    if drafts is None:
        return
    keep_keys = set(
        db.session.execute(
            select(drafts.c.scope, drafts.c.kind).where(
                drafts.c.user_id == user_id, drafts.c.contact_id == keep_id
            )
        ).all()
    )
    clashing = db.session.execute(
        select(drafts.c.id, drafts.c.scope, drafts.c.kind).where(
            drafts.c.user_id == user_id, drafts.c.contact_id == other_id
        )
    ).all()
    width = drafts.c.scope.type.length or 40
    for draft_id, scope, kind in clashing:
        if (scope, kind) in keep_keys:
            suffix = f"~{other_id}"
            db.session.execute(
                update(drafts)
                .where(drafts.c.id == draft_id)
                .values(scope=scope[: width - len(suffix)] + suffix)
            )


# Steps run before the generic re-pointing, for tables whose rows must be combined rather
# than moved (e.g. a unique row per contact). Each gets (user_id, keep_id, other_id).
SPECIAL_STEPS: list[Callable[[int, int, int], None]] = [_keep_both_drafts]


def merge_contacts(user_id: int, keep_id: int, other_id: int) -> Contact:
    """Move everything of contact other_id into keep_id (both user_id's), delete other_id.

    Raise LookupError if either contact is not the user's, MergeError if they are the same.
    Flushes, does not commit.
    """
    if keep_id == other_id:
        raise MergeError("A contact cannot be merged with itself.")
    rows = db.session.scalars(
        select(Contact).where(Contact.user_id == user_id, Contact.id.in_([keep_id, other_id]))
    ).all()
    by_id = {row.id: row for row in rows}
    if keep_id not in by_id or other_id not in by_id:
        raise LookupError("No such contact.")
    keep, other = by_id[keep_id], by_id[other_id]
    _merge_fields(keep, other)
    db.session.flush()
    for step in SPECIAL_STEPS:
        step(user_id, keep_id, other_id)
    for table, column in contact_references():
        where = table.c[column] == other_id
        if "user_id" in table.c:
            where = where & (table.c.user_id == user_id)
        db.session.execute(update(table).where(where).values({column: keep_id}))
    db.session.expunge(other)  # its rows were re-pointed in SQL; stop the ORM cascading
    db.session.execute(
        Contact.__table__.delete().where(Contact.id == other_id, Contact.user_id == user_id)
    )
    db.session.expire_all()  # loaded encounters, handles, drafts still name other_id
    return keep
