"""Store new captures: match each to its person, insert the rows, plan the follow-ups.

This is the one path every new capture takes: the capture form, the phone's sync and
imports all call record_capture, record_captures or store_captures, so a person is
matched and a draft planned in exactly one place. The sync batch runs stage_captures
first, outside the database's write lock, and hands its work to store_captures.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import event, select
from sqlalchemy.orm import Session, selectinload

from webapp.bulk import driver_row, driver_value, insert_rows
from webapp.capture.ingest import TEXT_FIELDS, CaptureData, fill_contact, prepare_capture
from webapp.contacts.matching import handles_for, owners_of
from webapp.contacts.models import Contact, ContactHandle, Encounter, Hook
from webapp.database import allocate_ids, drop_rolled_back, track_in_transaction
from webapp.db_types import new_uuid, utcnow
from webapp.events.models import Event
from webapp.extensions import db
from webapp.outreach.models import Draft
from webapp.outreach.pending import leave_for_later
from webapp.outreach.planner import Inputs, compose_new, plan_many, planning_inputs
from webapp.sync.models import take_log_positions


class _NewContact:
    """A contact to insert: fill_contact fills it like a loaded one, the planner reads it."""

    label = Contact.label
    first_name = Contact.first_name

    def __init__(self, user_id: int) -> None:
        self.id = 0  # given by allocate_ids before anything reads it
        self.user_id = user_id
        self.name = self.org = self.title = ""
        self.emails: list = []
        self.phones: list = []
        self.urls: list = []
        self.rating: str | None = None
        self.last_interaction_at: datetime | None = None

    def row(self, now: datetime) -> dict:
        """Return the contacts row to insert."""
        return {
            "id": self.id,
            "user_id": self.user_id,
            "name": self.name,
            "org": self.org,
            "title": self.title,
            "emails": self.emails,
            "phones": self.phones,
            "urls": self.urls,
            "rating": self.rating,
            "created_at": now,
            "updated_at": now,
        }


@dataclass
class _NewHook:
    """A hook just inserted, as the planner reads it."""

    id: int
    type: str
    detail: str
    owed_by: str

    label = Hook.label


@dataclass
class _NewEncounter:
    """A capture just inserted, with what the planner reads of it."""

    id: int
    happened_at: datetime
    note: str
    offer: str
    contact: _NewContact
    event: Event | None
    hooks: list[_NewHook]


def record_capture(user_id: int, data: CaptureData) -> Encounter:
    """Store a capture for user_id, attaching it to the person it names."""
    return record_captures(user_id, [data])[0]


def record_captures(
    user_id: int, items: list[CaptureData], *, prepared: bool = False
) -> list[Encounter]:
    """Store new captures for user_id (see store_captures) and return them, in order.

    The encounters come back with their hooks, contact and event loaded. If the (nested)
    transaction they were written in rolls back, they and their new contacts leave the
    session again (see _forget_rolled_back), as the unit of work does with its own objects.
    """
    stored = _store(user_id, items, prepared, None)
    if not stored.encounter_ids:
        return []
    loaded = {
        e.id: e
        for e in db.session.scalars(
            select(Encounter)
            .where(Encounter.id.in_(stored.encounter_ids))
            .options(
                selectinload(Encounter.hooks),
                selectinload(Encounter.contact),
                selectinload(Encounter.event),
            )
        )
    }
    encounters = [loaded[ident] for ident in stored.encounter_ids]
    made = {e.contact for e in encounters if e.contact_id in stored.new_contact_ids}
    objects = [*encounters, *made, *(h for e in encounters for h in e.hooks)]
    track_in_transaction(db.session, _BULK, objects)
    return encounters


@dataclass
class _Ready:
    """One capture worked out before the write transaction, its rows in the driver's terms.

    encounter and hooks: its rows, their ids (and the encounter's contact_id) still to fill
    in. contact and drafts: its person's rows, for use if the person turns out to be new
    and named by no other capture of the list; each draft comes with the places, among the
    capture's hooks, of the hooks its hook_ids will name. drafts is None when the person
    must be planned inside the transaction (see stage_captures). later: the person, if new
    and named by no other capture of the list, is planned later (outreach/pending.py).
    """

    handles: list[tuple[str, str]]
    encounter: dict
    hooks: list[dict]
    contact: dict
    drafts: list[tuple[dict, list[int]]] | None = None
    later: bool = False


@dataclass
class Staged:
    """What store_captures can work out for a list of captures before the write transaction.

    inputs: what the drafts were composed with (None: none were); now: the time the rows
    carry; events: the items' events by id. items: keyed by id(item), for the items given
    to stage_captures.
    """

    inputs: Inputs | None
    now: datetime
    events: dict[int, Event]
    items: dict[int, _Ready] = field(default_factory=dict)


def stage_captures(
    user_id: int, items: list[CaptureData], events: dict[int, Event], *, later: bool = False
) -> Staged:
    """Do the part of store_captures that needs no write, so the write lock is held briefly.

    The items must be prepared (prepare_capture) and carry their happened_at; events maps
    their event ids to the events. Their rows are built and converted for the driver, and
    the drafts for each person are composed as if the person were new (as almost all are
    in a sync batch); store_captures uses the drafts only if that turns out true and the
    templates and resources are still those composed with (Inputs.still_current).
    later (the phone's sync): compose nothing; the drafts of a person who turns out new
    are planned when the user next looks (outreach/pending.py), the others' as usual.
    """
    dialect = db.engine.dialect
    staged = Staged(None if later else planning_inputs(user_id), utcnow(), events)
    memo: dict = {}
    for data in items:
        contact = _NewContact(user_id)
        fill_contact(contact, data)
        hooks = [_NewHook(k, h.type, h.detail.strip(), h.owed_by) for k, h in enumerate(data.hooks)]
        ready = _Ready(
            handles=handles_for([data.email], [data.phone], [data.url]),
            encounter=driver_row(
                dialect, _ENCOUNTERS, _encounter_row(user_id, data, staged.now), memo
            ),
            hooks=[driver_row(dialect, _HOOKS, _hook_row(hook), memo) for hook in hooks],
            contact=driver_row(dialect, _CONTACTS, contact.row(staged.now), memo),
        )
        staged.items[id(data)] = ready
        if data.happened_at is None or any(
            h.type == "introduce" and h.owed_by == "me" for h in data.hooks
        ):
            continue  # planned in the transaction (an introduction looks up the other person)
        if later:
            ready.later = True
            continue
        encounter = _NewEncounter(
            id=0,
            happened_at=data.happened_at,
            note=data.note.strip(),
            offer=data.offer.strip(),
            contact=contact,
            event=events.get(data.event_id) if data.event_id is not None else None,
            hooks=hooks,
        )
        stamps = {"created_at": staged.now, "updated_at": staged.now}
        ready.drafts = [
            (driver_row(dialect, _DRAFTS, {**row, **stamps}, memo), row["hook_ids"])
            for row in compose_new(staged.inputs, [encounter])
        ]
    return staged


_CONTACTS, _ENCOUNTERS, _HOOKS = Contact.__table__, Encounter.__table__, Hook.__table__
_DRAFTS = Draft.__table__


def _encounter_row(user_id: int, data: CaptureData, now: datetime) -> dict:
    """Return the encounters row for a capture; id and contact_id are filled in later."""
    row: dict = {name: getattr(data, name).strip() for name in TEXT_FIELDS}
    row.update(
        id=0,
        uuid=data.uuid or new_uuid(),
        user_id=user_id,
        contact_id=0,
        event_id=data.event_id,
        raw=data.raw,
        rating=data.rating,
        device_id=data.device_id,
        happened_at=data.happened_at or now,
        received_at=now,
        updated_at=now,
    )
    return row


def _hook_row(hook: _NewHook) -> dict:
    """Return the hooks row for a hook; id and encounter_id are filled in later."""
    return {
        "id": 0,
        "encounter_id": 0,
        "type": hook.type,
        "detail": hook.detail,
        "owed_by": hook.owed_by,
    }


def store_captures(
    user_id: int,
    items: list[CaptureData],
    *,
    prepared: bool = False,
    staged: Staged | None = None,
) -> list[int]:
    """Store new captures for user_id, in order, with a few statements for the whole list.

    The rules are those of one capture at a time: a person is matched by the first of
    their handles (email, LinkedIn, phone) that a contact owns, counting contacts made by
    earlier items of the list; a new handle goes to the first contact that names it.
    Contacts, handles, encounters and hooks are inserted in bulk with their ids reserved
    first (allocate_ids), and drafts are planned once per person and event (staged: what
    stage_captures worked out beforehand; without it, it is worked out here). Flushes,
    never commits; returns the new encounters' ids. Raises ValueError before writing
    anything if an item is refused (prepared=True: the caller ran prepare_capture on each).
    """
    return _store(user_id, items, prepared, staged).encounter_ids


@dataclass
class _Stored:
    encounter_ids: list[int]
    new_contact_ids: set[int]


def _store(
    user_id: int, items: list[CaptureData], prepared: bool, staged: Staged | None
) -> _Stored:
    if not items:
        return _Stored([], set())
    if not prepared:
        for data in items:
            prepare_capture(data)
    db.session.flush()  # pending ORM writes first: the statements below go around the ORM
    if staged is None:
        staged = stage_captures(user_id, items, _events_of(items))
    ready = [staged.items[id(data)] for data in items]
    owners = owners_of(user_id, [h for item in ready for h in item.handles])
    existing: dict[int, Contact] = {}
    if owners:
        ids = set(owners.values())
        existing = {c.id: c for c in db.session.scalars(select(Contact).where(Contact.id.in_(ids)))}
    # Each item's contact: an existing one (its id) or a new one (its place in `fresh`).
    fresh: list[_NewContact] = []
    owner_of: dict[tuple[str, str], int | tuple[int]] = dict(owners)
    targets: list[int | tuple[int]] = []
    for item in ready:
        target = next((owner_of[h] for h in item.handles if h in owner_of), None)
        if target is None:
            fresh.append(_NewContact(user_id))
            target = (len(fresh) - 1,)
        for handle in item.handles:
            owner_of.setdefault(handle, target)
        targets.append(target)
    people = Counter(t for t in targets if isinstance(t, tuple))
    alone = {t for t, n in people.items() if n == 1}  # new, and named by no other item
    # Places planned later (outreach/pending.py): new people named by no other item, whose
    # contact row was built when staged, so nothing here reads their contact.
    later = [
        place
        for place, (item, target) in enumerate(zip(ready, targets, strict=True))
        if item.later and target in alone
    ]
    skip = set(later)
    for place, (data, target) in enumerate(zip(items, targets, strict=True)):
        if place not in skip:
            fill_contact(existing[target] if isinstance(target, int) else fresh[target[0]], data)
    n_hooks = sum(len(item.hooks) for item in ready)
    counts = {_CONTACTS: len(fresh), _ENCOUNTERS: len(items), _HOOKS: n_hooks}
    connection = db.session.connection()
    dialect = connection.dialect
    contact_ids, encounter_ids, hook_ids = allocate_ids(connection, counts).values()
    for contact, ident in zip(fresh, contact_ids, strict=True):
        contact.id = ident
    contact_rows = {}
    for item, target in zip(ready, targets, strict=True):
        if isinstance(target, tuple) and target not in contact_rows:
            contact = fresh[target[0]]
            if target in alone:
                row = item.contact  # as staged: the person's only capture filled it
            else:
                row = driver_row(dialect, _CONTACTS, contact.row(staged.now))
            contact_rows[target] = {**row, "id": contact.id}
    insert_rows(connection, _CONTACTS, list(contact_rows.values()), ready=True)
    contacts = [existing[t] if isinstance(t, int) else fresh[t[0]] for t in targets]
    claims = [
        {"user_id": user_id, "contact_id": _id_of(t, existing, fresh), "kind": kind, "value": value}
        for (kind, value), t in owner_of.items()
        if (kind, value) not in owners
    ]
    # Every column given, none needing conversion: as driver_row would make them (tested).
    insert_rows(connection, ContactHandle.__table__, claims, ready=True)
    # Their places in the change log, taken in the INSERT itself (sync/models.py).
    first = take_log_positions(connection, user_id, len(items))
    encounter_rows = [
        {**item.encounter, "id": ident, "contact_id": contact.id, "log_seq": first + k}
        for k, (item, contact, ident) in enumerate(zip(ready, contacts, encounter_ids, strict=True))
    ]
    insert_rows(connection, _ENCOUNTERS, encounter_rows, ready=True)
    next_hook = iter(hook_ids)
    hook_rows = [
        {**row, "id": next(next_hook), "encounter_id": ident}
        for item, ident in zip(ready, encounter_ids, strict=True)
        for row in item.hooks
    ]
    insert_rows(connection, _HOOKS, hook_rows, ready=True)
    # The hooks as the planner reads them, for the places planned now (nothing here reads
    # those of the places planned later).
    hooks: list[list[_NewHook]] = []
    at = 0
    for place, data in enumerate(items):
        ids = hook_ids[at : at + len(data.hooks)]
        at += len(data.hooks)
        if place in skip:
            hooks.append([])
            continue
        hooks.append(
            [
                _NewHook(ident, h.type, h.detail.strip(), h.owed_by)
                for ident, h in zip(ids, data.hooks, strict=True)
            ]
        )
    for contact in existing.values():
        if "encounters" in contact.__dict__:
            db.session.expire(contact, ["encounters"])
    leave_for_later(connection, user_id, [encounter_ids[p] for p in later if items[p].hooks])
    drafts = _ready_drafts(staged, ready, targets, alone, contacts, hooks, dialect)
    drafts.update(dict.fromkeys(later, []))  # nothing to insert now
    _plan(user_id, encounter_ids, items, contacts, hooks, staged, drafts)
    return _Stored(encounter_ids, set(contact_ids))


def _events_of(items: list[CaptureData]) -> dict[int, Event]:
    ids = {data.event_id for data in items if data.event_id is not None}
    if not ids:
        return {}
    return {e.id: e for e in db.session.scalars(select(Event).where(Event.id.in_(ids)))}


def _ready_drafts(
    staged: Staged,
    ready: list[_Ready],
    targets: list[int | tuple[int]],
    alone: set,
    contacts: list,
    hooks: list[list[_NewHook]],
    dialect,
) -> dict[int, list[dict]]:
    """Return, by place in the list, the composed drafts that hold, with their ids filled in.

    They hold for an item whose person is new and named by no other item, if the templates
    and resources are those they were composed with.
    """
    usable = [
        place
        for place, (item, target) in enumerate(zip(ready, targets, strict=True))
        if target in alone and item.drafts is not None
    ]
    if not usable or staged.inputs is None or not staged.inputs.still_current():
        return {}
    drafts: dict[int, list[dict]] = {}
    for place in usable:
        ids = [hook.id for hook in hooks[place]]
        drafts[place] = [
            {
                **row,
                "contact_id": contacts[place].id,
                "hook_ids": driver_value(dialect, _DRAFTS, "hook_ids", [ids[k] for k in places]),
            }
            for row, places in ready[place].drafts
        ]
    return drafts


def _plan(
    user_id: int,
    encounter_ids: list[int],
    items: list[CaptureData],
    contacts: list,
    hooks: list[list[_NewHook]],
    staged: Staged,
    ready: dict[int, list[dict]],
) -> None:
    """Queue or update the follow-up drafts once per person and event (outreach/planner.py).

    People first met in this list have no other captures and no drafts: they are planned
    from what is in hand, without reloading anything (or were composed beforehand: ready,
    by place in the list); the others from the database.
    """
    rest = [place for place in range(len(items)) if place not in ready]
    complete: dict[tuple[int, int | None], list] = {}
    keys = []
    for place in rest:
        data, contact = items[place], contacts[place]
        key = (contact.id, data.event_id)
        keys.append(key)
        if isinstance(contact, _NewContact):
            encounter = _NewEncounter(
                id=encounter_ids[place],
                happened_at=data.happened_at or staged.now,
                note=data.note.strip(),
                offer=data.offer.strip(),
                contact=contact,
                event=staged.events.get(data.event_id) if data.event_id is not None else None,
                hooks=hooks[place],
            )
            complete.setdefault(key, []).append(encounter)
    drafts = [row for place in sorted(ready) for row in ready[place]]
    if keys or drafts:
        plan_many(user_id, keys, complete=complete, ready=drafts)


def _id_of(target: int | tuple[int], existing: dict[int, Contact], fresh: list[_NewContact]) -> int:
    return existing[target].id if isinstance(target, int) else fresh[target[0]].id


_BULK = "hookline_bulk_inserted"


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
