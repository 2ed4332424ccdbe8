"""Decide which contact a capture is about, so a person is never duplicated.

A capture names its person by email, phone or LinkedIn handle. Each is normalized and
stored as a ContactHandle, unique per user; a capture whose handle is already known
attaches to that contact.
"""

import re

from sqlalchemy import select

from webapp.badges import linkedin_handle
from webapp.bulk import select_rows
from webapp.contacts.models import Contact, ContactHandle
from webapp.extensions import db


def normalize_phone(phone: str) -> str:
    """Return the phone's digits, with + kept for international numbers (00 means +)."""
    digits = re.sub(r"\D", "", phone)
    if phone.strip().startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    return digits


def handles_for(emails: list[str], phones: list[str], urls: list[str]) -> list[tuple[str, str]]:
    """Return the (kind, value) handles that identify a person, strongest first."""
    found: list[tuple[str, str]] = []
    for email in emails:
        if email.strip():
            found.append(("email", email.strip().lower()))
    for url in urls:
        handle = linkedin_handle(url) if url else None
        if handle:
            found.append(("linkedin", handle))
    for phone in phones:
        value = normalize_phone(phone) if phone else ""
        if len(value.lstrip("+")) >= 5:
            found.append(("phone", value))
    return list(dict.fromkeys(found))


def owners_of(user_id: int, handles: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Return {(kind, value): contact id} for those of handles the user's contacts own.

    One query however many handles: a UNION ALL with one IN list per kind, so that every
    part is a lookup in the unique (user_id, kind, value) index (an OR of the kinds is not).
    """
    by_kind: dict[str, set[str]] = {}
    for kind, value in handles:
        by_kind.setdefault(kind, set()).add(value)
    if not by_kind:
        return {}
    part = "SELECT kind, value, contact_id FROM contact_handles WHERE user_id = ? AND kind = ?"
    params = []
    for kind, values in sorted(by_kind.items()):
        params += [user_id, kind, sorted(values)]
    sql = " UNION ALL ".join([part + " AND value IN ?"] * len(by_kind))
    rows = select_rows(db.session.connection(), sql, params)
    return {(kind, value): contact_id for kind, value, contact_id in rows}


def claim_handles(contact: Contact, handles: list[tuple[str, str]]) -> None:
    """Record handles for contact, leaving any that another contact already owns."""
    for kind, value in handles:
        owner = db.session.scalar(
            select(ContactHandle.contact_id).where(
                ContactHandle.user_id == contact.user_id,
                ContactHandle.kind == kind,
                ContactHandle.value == value,
            )
        )
        if owner is None:
            db.session.add(
                ContactHandle(
                    user_id=contact.user_id, contact_id=contact.id, kind=kind, value=value
                )
            )
            db.session.flush()
