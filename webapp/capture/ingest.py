"""What a capture is, and how an edit or a deletion of one is applied.

New captures are stored by webapp/capture/store.py (record_capture and its batch forms);
an edit from any device goes through update_capture, a deletion through forget_capture.
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select, union_all

from webapp.capture.raw import fill_from_raw
from webapp.contacts.matching import claim_handles, handles_for
from webapp.contacts.models import HOOK_TYPES, RATINGS, Contact, ContactHandle, Encounter, Hook
from webapp.db_types import utcnow
from webapp.extensions import db
from webapp.outreach.models import Draft
from webapp.outreach.planner import (
    plan_contact_event,
    plan_encounter,
)

TEXT_FIELDS = ("name", "org", "title", "email", "phone", "url", "note", "offer", "ask")


@dataclass
class HookData:
    """A follow-up hook as captured."""

    type: str
    detail: str = ""
    owed_by: str = "me"

    def __post_init__(self) -> None:
        if self.type not in HOOK_TYPES:
            raise ValueError(f"Unknown hook type {self.type!r}.")
        if self.owed_by not in ("me", "them"):
            raise ValueError("owed_by must be 'me' or 'them'.")


@dataclass
class CaptureData:
    """Everything a capture says about a person and the meeting."""

    name: str = ""
    org: str = ""
    title: str = ""
    email: str = ""
    phone: str = ""
    url: str = ""
    note: str = ""
    offer: str = ""
    ask: str = ""
    rating: str | None = None
    raw: str | None = None
    event_id: int | None = None
    hooks: list[HookData] = field(default_factory=list)
    happened_at: datetime | None = None
    device_id: str | None = None
    uuid: str | None = None

    def identifies_someone(self) -> bool:
        """Tell whether there is anything to find this person by again."""
        return any(
            value.strip() for value in (self.name, self.email, self.phone, self.url, self.raw or "")
        )


def _append_new(values: list, value: str) -> list:
    """Return values with value added at the end, if it is new and not empty."""
    value = value.strip()
    if not value or value.lower() in (v.lower() for v in values):
        return values
    return [*values, value]


def fill_contact(contact: Contact, data: CaptureData) -> None:
    """Fill the contact from a capture: empty fields filled, new identifiers added."""
    for name in ("name", "org", "title"):
        value = getattr(data, name).strip()
        if value and not getattr(contact, name):
            setattr(contact, name, value)
    contact.emails = _append_new(list(contact.emails or []), data.email.lower())
    contact.phones = _append_new(list(contact.phones or []), data.phone)
    contact.urls = _append_new(list(contact.urls or []), data.url)
    if data.rating in RATINGS:
        contact.rating = data.rating


def prepare_capture(data: CaptureData) -> None:
    """Check a capture and fill its empty fields from the scanned text; raise ValueError.

    Runs once per capture (record_captures calls it unless the caller already did): a
    second call would parse the badge again for nothing.
    """
    if data.rating is not None and data.rating not in RATINGS:
        raise ValueError(f"Unknown rating {data.rating!r}.")
    fill_from_raw(data)  # raises BadgeError (a ValueError) for a refused payload


def _copy_fields(encounter: Encounter, data: CaptureData) -> None:
    for name in ("name", "org", "title", "email", "phone", "url", "note", "offer", "ask"):
        setattr(encounter, name, getattr(data, name).strip())
    encounter.rating = data.rating


def update_capture(
    encounter: Encounter, data: CaptureData, source: str = "web", at: datetime | None = None
) -> Encounter:
    """Apply an edit to an existing capture and to what its contact knows.

    Every changed field is kept in the capture's history with its source and time.
    """
    from webapp.sync.history import record_revisions, snapshot

    before = snapshot(encounter)
    _copy_fields(encounter, data)
    if data.event_id is not None:
        encounter.event_id = data.event_id
    _sync_hooks(encounter, data.hooks)
    fill_contact(encounter.contact, data)
    db.session.flush()
    claim_handles(encounter.contact, handles_for([data.email], [data.phone], [data.url]))
    record_revisions(encounter, before, source, at or utcnow())
    plan_encounter(encounter)  # the same draft is updated, never a second one queued
    return encounter


def _sync_hooks(encounter: Encounter, wanted: list[HookData]) -> None:
    """Make the encounter's hooks match wanted, keeping rows (and their state) that stay."""
    existing: dict[str, list[Hook]] = {}
    for hook in encounter.hooks:
        existing.setdefault(hook.type, []).append(hook)
    kept: list[Hook] = []
    for item in wanted:
        same_type = existing.get(item.type)
        hook = same_type.pop(0) if same_type else Hook(type=item.type)
        hook.detail = item.detail.strip()
        hook.owed_by = item.owed_by
        kept.append(hook)
    encounter.hooks = kept


def forget_capture(encounter: Encounter) -> None:
    """Delete a capture, then what only it was keeping: untouched drafts, a bare contact.

    The person's drafts for that event are planned again without it (an untouched draft
    about nothing goes; one the user edited, sent or skipped stays). If the contact then has
    no capture, no draft, no logged interaction and no introduction, it is deleted too
    (its handles with it), so a mistaken scan leaves no stray person behind.
    """
    from webapp.outreach.models import Interaction, Introduction

    user_id, contact_id, event_id = encounter.user_id, encounter.contact_id, encounter.event_id
    db.session.delete(encounter)
    db.session.flush()
    plan_contact_event(user_id, contact_id, event_id)
    db.session.flush()
    kept = [
        select(Encounter.id).where(Encounter.contact_id == contact_id),
        select(Draft.id).where(Draft.contact_id == contact_id),
        select(Interaction.id).where(Interaction.contact_id == contact_id),
        select(Introduction.id).where(
            (Introduction.a_id == contact_id) | (Introduction.b_id == contact_id)
        ),
    ]
    if db.session.scalar(select(union_all(*kept).exists())):
        return
    contact = db.session.get(Contact, contact_id)
    if contact is not None:
        db.session.execute(delete(ContactHandle).where(ContactHandle.contact_id == contact_id))
        db.session.delete(contact)
