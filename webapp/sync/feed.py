"""What changed on the server since a cursor: the feed a user's other devices pull."""

import base64
import binascii

from sqlalchemy import false, select, true, union_all
from sqlalchemy.orm import selectinload

from webapp.contacts.models import Encounter
from webapp.extensions import db
from webapp.sync.models import Tombstone

MAX_LIMIT = 500
DEFAULT_LIMIT = 100


class BadCursor(ValueError):
    """A cursor this server did not hand out."""


def encode_cursor(log_id: int) -> str:
    """Return the opaque cursor for a position in the change log."""
    return base64.urlsafe_b64encode(f"v1:{log_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """Return the log position of a cursor (0 for none); raise BadCursor if it is not ours."""
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor("cursor is not valid") from None
    version, _, number = text.partition(":")
    if version != "v1" or not number.isdigit() or len(number) > 18:
        raise BadCursor("cursor is not valid")
    return int(number)


def capture_json(encounter: Encounter) -> dict:
    """Return a capture as the phone stores it."""
    return {
        "capture_id": encounter.uuid,
        "event_id": encounter.event.uuid if encounter.event else None,
        "device_id": encounter.device_id,
        "happened_at": encounter.happened_at.isoformat(),
        "received_at": encounter.received_at.isoformat(),
        "raw": encounter.raw,
        **{
            name: getattr(encounter, name)
            for name in ("name", "org", "title", "email", "phone", "url", "note", "offer", "ask")
        },
        "rating": encounter.rating,
        "hooks": [
            {"type": h.type, "detail": h.detail, "owed_by": h.owed_by, "done": h.done}
            for h in encounter.hooks
        ],
    }


def changes_since(user_id: int, cursor: str | None, limit: int = DEFAULT_LIMIT) -> dict:
    """Return the user's captures and deletions changed after cursor, oldest change first.

    A capture's latest change is its place in the log (Encounter.log_seq), and a deleted
    capture's is its tombstone's; each index (user_id, log_seq) gives the page in order.
    """
    position = decode_cursor(cursor)
    limit = max(1, min(limit, MAX_LIMIT))
    # Each part stops after a page in its index; the union of the two pages is sorted.
    pages = [
        select(position_of.label("position"), capture.label("capture"))
        .where(owner == user_id, position_of > position)
        .order_by(position_of)
        .limit(limit + 1)
        .subquery()
        for position_of, capture, owner in (
            (Encounter.log_seq, Encounter.uuid, Encounter.user_id),
            (Tombstone.log_seq, Tombstone.capture_uuid, Tombstone.user_id),
        )
    ]
    captures, deletions = pages
    log = union_all(
        select(captures.c.position, captures.c.capture, true().label("alive")),
        select(deletions.c.position, deletions.c.capture, false()),
    ).subquery()
    rows = db.session.execute(
        select(log.c.position, log.c.capture, log.c.alive).order_by(log.c.position).limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    alive = [row.capture for row in rows if row.alive]
    encounters = (
        {
            e.uuid: e
            for e in db.session.scalars(
                select(Encounter)
                .where(Encounter.user_id == user_id, Encounter.uuid.in_(alive))
                .options(selectinload(Encounter.hooks), selectinload(Encounter.event))
            )
        }
        if alive
        else {}
    )
    gone = [row.capture for row in rows if not row.alive]
    deleted = (
        {
            t.capture_uuid: t
            for t in db.session.scalars(
                select(Tombstone).where(
                    Tombstone.user_id == user_id, Tombstone.capture_uuid.in_(gone)
                )
            )
        }
        if gone
        else {}
    )
    changes = []
    for row in rows:
        # A capture deleted (or an account's rows gone) between the two reads is skipped: its
        # tombstone has a later position, so a later page lists it.
        if row.alive:
            encounter = encounters.get(row.capture)
            if encounter is None:
                continue
            changes.append(
                {
                    "kind": "capture",
                    "op": "upsert",
                    "capture_id": row.capture,
                    "updated_at": encounter.updated_at.isoformat(),
                    "data": capture_json(encounter),
                }
            )
        else:
            tombstone = deleted.get(row.capture)
            if tombstone is None:
                continue
            changes.append(
                {
                    "kind": "capture",
                    "op": "delete",
                    "capture_id": row.capture,
                    "updated_at": tombstone.logged_at.isoformat(),
                    "deleted_at": tombstone.deleted_at.isoformat(),
                }
            )
    last = rows[-1].position if rows else position
    return {"changes": changes, "cursor": encode_cursor(last), "more": more}
