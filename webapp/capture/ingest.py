"""Turn a capture into a contact, an encounter and its hooks.

This is the one path every capture takes: the capture form, the phone's sync and
imports all call record_capture, so a person is matched in exactly one place.
"""

from dataclasses import dataclass, field
from datetime import datetime

from webapp.capture.raw import fill_from_raw
from webapp.contacts.matching import claim_handles, find_contact, handles_for
from webapp.contacts.models import HOOK_TYPES, RATINGS, Contact, Encounter, Hook
from webapp.db_types import utcnow
from webapp.extensions import db
from webapp.outreach.planner import plan_encounter


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


def _update_contact(contact: Contact, data: CaptureData) -> None:
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


def record_capture(user_id: int, data: CaptureData) -> Encounter:
    """Store a capture for user_id, attaching it to the person it names."""
    if data.rating is not None and data.rating not in RATINGS:
        raise ValueError(f"Unknown rating {data.rating!r}.")
    fill_from_raw(data)  # raises BadgeError (a ValueError) for a refused payload
    handles = handles_for([data.email], [data.phone], [data.url])
    contact = find_contact(user_id, handles)
    if contact is None:
        contact = Contact(user_id=user_id, emails=[], phones=[], urls=[])
        db.session.add(contact)
    _update_contact(contact, data)
    db.session.flush()
    claim_handles(contact, handles)
    now = utcnow()
    encounter = Encounter(
        user_id=user_id,
        contact=contact,
        event_id=data.event_id,
        raw=data.raw,
        happened_at=data.happened_at or now,
        received_at=now,
        device_id=data.device_id,
        hooks=[Hook(type=h.type, detail=h.detail.strip(), owed_by=h.owed_by) for h in data.hooks],
    )
    if data.uuid:
        encounter.uuid = data.uuid
    _copy_fields(encounter, data)
    db.session.add(encounter)
    db.session.flush()
    plan_encounter(encounter)  # queue or update the follow-up drafts (webapp/outreach/planner.py)
    return encounter


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
    _update_contact(encounter.contact, data)
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
