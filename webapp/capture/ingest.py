"""Turn a capture into a contact, an encounter and its hooks.

This is the one path every capture takes: the capture form, the phone's sync and
imports all call record_capture, so a person is matched in exactly one place.
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, event, insert, select, union_all
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from webapp.capture.raw import fill_from_raw
from webapp.contacts.matching import claim_handles, handles_for, owners_of
from webapp.contacts.models import HOOK_TYPES, RATINGS, Contact, ContactHandle, Encounter, Hook
from webapp.database import drop_rolled_back, track_in_transaction
from webapp.db_types import new_uuid, utcnow
from webapp.events.models import Event
from webapp.extensions import db
from webapp.outreach.planner import plan_contact_event, plan_encounter, plan_many
from webapp.sync.models import touch_captures

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


def prepare_capture(data: CaptureData) -> None:
    """Check a capture and fill its empty fields from the scanned text; raise ValueError.

    Runs once per capture (record_captures calls it unless the caller already did): a
    second call would parse the badge again for nothing.
    """
    if data.rating is not None and data.rating not in RATINGS:
        raise ValueError(f"Unknown rating {data.rating!r}.")
    fill_from_raw(data)  # raises BadgeError (a ValueError) for a refused payload


class _NewContact:
    """A contact to insert: _update_contact fills it like a loaded one."""

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        self.name = self.org = self.title = ""
        self.emails: list = []
        self.phones: list = []
        self.urls: list = []
        self.rating: str | None = None


def record_capture(user_id: int, data: CaptureData) -> Encounter:
    """Store a capture for user_id, attaching it to the person it names."""
    return record_captures(user_id, [data])[0]


def record_captures(
    user_id: int, items: list[CaptureData], *, prepared: bool = False
) -> list[Encounter]:
    """Store new captures for user_id, in order, with a few statements for the whole list.

    The rules are those of one capture at a time: a person is matched by the first of
    their handles (email, LinkedIn, phone) that a contact owns, counting contacts made by
    earlier items of the list; a new handle goes to the first contact that names it.
    Contacts, handles, encounters and hooks are inserted in bulk and drafts are planned
    once per person and event. Flushes, never commits. Raises ValueError before writing
    anything if an item is refused (prepared=True: the caller ran prepare_capture on each).
    """
    if not items:
        return []
    if not prepared:
        for data in items:
            prepare_capture(data)
    db.session.flush()  # pending ORM writes first: the statements below go around the ORM
    handles = [handles_for([d.email], [d.phone], [d.url]) for d in items]
    owners = owners_of(user_id, [h for item in handles for h in item])
    existing: dict[int, Contact] = {}
    if owners:
        ids = set(owners.values())
        existing = {c.id: c for c in db.session.scalars(select(Contact).where(Contact.id.in_(ids)))}
    # Each item's contact: an existing one (its id) or a new one (its place in `fresh`).
    fresh: list[_NewContact] = []
    owner_of: dict[tuple[str, str], int | tuple[int]] = dict(owners)
    targets: list[int | tuple[int]] = []
    for data, item_handles in zip(items, handles, strict=True):
        target = next((owner_of[h] for h in item_handles if h in owner_of), None)
        if target is None:
            fresh.append(_NewContact(user_id))
            target = (len(fresh) - 1,)
        for handle in item_handles:
            owner_of.setdefault(handle, target)
        _update_contact(existing[target] if isinstance(target, int) else fresh[target[0]], data)
        targets.append(target)
    made: list[Contact] = []
    if fresh:
        made = _insert_returning(Contact, [vars(c) for c in fresh])
    contacts = [existing[t] if isinstance(t, int) else made[t[0]] for t in targets]
    claims = [
        {"user_id": user_id, "contact_id": _id_of(t, existing, made), "kind": kind, "value": value}
        for (kind, value), t in owner_of.items()
        if (kind, value) not in owners
    ]
    if claims:
        db.session.execute(insert(ContactHandle), claims)
    now = utcnow()
    rows = []
    for data, contact in zip(items, contacts, strict=True):
        row: dict = {name: getattr(data, name).strip() for name in TEXT_FIELDS}
        row.update(
            uuid=data.uuid or new_uuid(),
            user_id=user_id,
            contact_id=contact.id,
            event_id=data.event_id,
            raw=data.raw,
            rating=data.rating,
            device_id=data.device_id,
            happened_at=data.happened_at or now,
            received_at=now,
        )
        rows.append(row)
    encounters = _insert_returning(Encounter, rows)
    hook_rows = [
        {"encounter_id": e.id, "type": h.type, "detail": h.detail.strip(), "owed_by": h.owed_by}
        for data, e in zip(items, encounters, strict=True)
        for h in data.hooks
    ]
    hooks = _insert_returning(Hook, hook_rows) if hook_rows else []
    by_encounter: dict[int, list[Hook]] = {e.id: [] for e in encounters}
    for hook in hooks:
        by_encounter[hook.encounter_id].append(hook)
    event_ids = {e.event_id for e in encounters if e.event_id is not None}
    events = (
        {e.id: e for e in db.session.scalars(select(Event).where(Event.id.in_(event_ids)))}
        if event_ids
        else {}
    )
    for encounter, contact in zip(encounters, contacts, strict=True):
        # Inserted by statement, not by the unit of work: give the session what it would
        # otherwise load with a query per encounter.
        set_committed_value(encounter, "hooks", by_encounter[encounter.id])
        for hook in by_encounter[encounter.id]:
            set_committed_value(hook, "encounter", encounter)
        set_committed_value(encounter, "contact", contact)
        set_committed_value(encounter, "event", events.get(encounter.event_id))
    for contact in (*existing.values(), *made):
        if "encounters" in contact.__dict__:
            db.session.expire(contact, ["encounters"])
    touch_captures(db.session, user_id, [e.uuid for e in encounters], new=True)
    # Queue or update the follow-up drafts once per person and event (outreach/planner.py).
    # People first met in this list have no other captures and no drafts: planned from
    # what is in hand, without reloading them.
    made_ids = {contact.id for contact in made}
    complete: dict[tuple[int, int | None], list[Encounter]] = {}
    for encounter in encounters:
        if encounter.contact_id in made_ids:
            complete.setdefault((encounter.contact_id, encounter.event_id), []).append(encounter)
    plan_many(user_id, [(e.contact_id, e.event_id) for e in encounters], complete=complete)
    return encounters


def _id_of(target: int | tuple[int], existing: dict[int, Contact], made: list[Contact]) -> int:
    return existing[target].id if isinstance(target, int) else made[target[0]].id


_BULK = "hookline_bulk_inserted"


def _insert_returning(model: type, rows: list[dict]) -> list:
    """Insert rows with one statement and return them as ORM objects, in order.

    The objects join the session as loaded rows; if the (nested) transaction they were
    inserted in rolls back, they are expunged (see _forget_rolled_back), as the unit of
    work does with its own new objects.
    """
    objects = list(
        db.session.scalars(insert(model).returning(model, sort_by_parameter_order=True), rows)
    )
    track_in_transaction(db.session, _BULK, objects)
    return objects


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction) -> None:
    for objects in drop_rolled_back(session, _BULK, previous_transaction):
        for obj in objects:
            if obj in session:
                session.expunge(obj)


@event.listens_for(Session, "after_commit")
def _forget_committed(session: Session) -> None:
    if session.get_nested_transaction() is None:  # the outermost commit, not a savepoint
        session.info.pop(_BULK, None)


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


def forget_capture(encounter: Encounter) -> None:
    """Delete a capture, then what only it was keeping: untouched drafts, a bare contact.

    The person's drafts for that event are planned again without it (an untouched draft
    about nothing goes; one the user edited, sent or skipped stays). If the contact then has
    no capture, no draft, no logged interaction and no introduction, it is deleted too
    (its handles with it), so a mistaken scan leaves no stray person behind.
    """
    from webapp.outreach.models import Draft, Interaction, Introduction

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
