"""Apply a device's batch of changes, exactly once each, and list what changed since a cursor.

No HTTP here: the view checks the request and commits; these functions do the work inside
the caller's transaction. Each change runs in its own SAVEPOINT together with its
idempotency record, so one bad change never takes its neighbours down and a change is
either applied with its record or not at all. The exception is a run of new captures on a
first attempt (apply_new): it goes without a savepoint, and if it fails the caller rolls
the whole transaction back and applies the batch again with careful=True.
"""

import json
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from webapp.bulk import driver_row, insert_rows, select_rows
from webapp.capture.ingest import (
    CaptureData,
    HookData,
    forget_capture,
    prepare_capture,
    update_capture,
)
from webapp.capture.store import Staged, record_capture, stage_captures, store_captures
from webapp.contacts.models import HOOK_TYPES, Encounter
from webapp.db_types import utcnow
from webapp.events.models import Event
from webapp.extensions import db
from webapp.sync.history import add_revision, field_clocks, history, snapshot
from webapp.sync.models import ChangeRecord, Tombstone
from webapp.sync.validate import Change, Rejected, parse_change, same_payload

NOTE_MARKER = "\n\n--- also written on another device ---\n"
CAPTURE_DELETED = "capture was deleted"
REUSED = "change id reused with different content"


@dataclass
class Batch:
    """What one batch needs from the database, fetched once rather than per change.

    log_position: the user's latest change log position before the batch (the cursor the
    answer hands back), read with the rest.
    """

    user_id: int
    device_id: str
    known: dict[str, ChangeRecord] = field(default_factory=dict)
    tombstoned: set[str] = field(default_factory=set)
    encounters: dict[str, Encounter] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    log_position: int = 0


@dataclass
class Applied:
    """A batch applied (not yet committed): one result per change, and the feed position
    from before it."""

    results: list[dict]
    log_position: int


@dataclass
class Prepared:
    """A batch checked and partly worked out before its write transaction (prepare_batch).

    changes: each change parsed, or its rejection. records: by change id, for the upserts
    that may create a capture (their data filled from the scanned text, their event
    found), the idempotency record to insert, as bulk.driver_row made it. staged: what
    store_captures can use for those (rows and handles; their people's drafts, if new,
    are planned later: outreach/pending.py).
    """

    changes: list[Change | dict]
    records: dict[str, dict] = field(default_factory=dict)
    staged: Staged | None = None


def prepare_batch(user_id: int, device_id: str, changes: list[Any]) -> Prepared:
    """Check every change and do what needs no write, so the write transaction stays short.

    Reads only (the batch's events); the transaction (apply_batch) checks again whatever
    a concurrent writer could have changed.
    """
    parsed: list[Change | dict] = []
    for raw in changes:
        try:
            parsed.append(parse_change(raw))
        except Rejected as error:
            given = raw.get("id") if isinstance(raw, dict) else None
            change_id = given if isinstance(given, str) else None
            parsed.append({"id": change_id, "status": "rejected", "error": str(error)})
    prepared = Prepared(parsed)
    candidates = _once(c for c in parsed if isinstance(c, Change))
    event_uuids = {c.event_uuid for c in candidates if c.event_uuid}
    events = (
        {
            e.uuid: e
            for e in db.session.scalars(
                select(Event).where(Event.user_id == user_id, Event.uuid.in_(event_uuids))
            )
        }
        if event_uuids
        else {}
    )
    ready = []
    for change in candidates:
        assert change.data is not None
        if change.event_uuid is not None and change.event_uuid not in events:
            continue  # apply_change rejects it
        event = events.get(change.event_uuid or "")
        change.data.event_id = event.id if event else None
        change.data.device_id = device_id
        try:
            prepare_capture(change.data)
        except ValueError:
            continue  # apply_change rejects it with the parser's words
        ready.append(change)
    if ready:
        by_id = {e.id: e for e in events.values()}
        prepared.staged = stage_captures(user_id, [c.data for c in ready], by_id, later=True)
        dialect, memo = db.engine.dialect, {}
        for change in ready:
            row = _record(user_id, device_id, change, prepared.staged.now)
            prepared.records[change.id] = driver_row(dialect, ChangeRecord.__table__, row, memo)
    return prepared


def _record(user_id: int, device_id: str, change: Change, now: datetime) -> dict:
    """Return the idempotency record of a change applied as it is."""
    return {
        "user_id": user_id,
        "change_id": change.id,
        "payload_hash": change.payload_hash,
        "result": "applied",
        "capture_uuid": change.capture_id,
        "device_id": device_id,
        "data": change.values if change.op == "upsert" else None,
        "received_at": now,
    }


def _once(changes: Iterable[Change]) -> list[Change]:
    """Return the upserts with data whose change id and capture id appear once in the batch."""
    changes = list(changes)
    seen_changes = Counter(change.id for change in changes)
    seen_captures = Counter(change.capture_id for change in changes)
    return [
        change
        for change in changes
        if change.op == "upsert"
        and change.data is not None
        and seen_changes[change.id] == 1
        and seen_captures[change.capture_id] == 1
    ]


def apply_batch(
    user_id: int, device_id: str, prepared: Prepared, *, careful: bool = False
) -> Applied:
    """Apply each change for user_id: one result per change, in order.

    careful=False (a first attempt): runs of new captures go without a savepoint, and an
    IntegrityError from one (a racing writer took an id or a handle first) leaves the
    transaction half done: the caller must roll it back and call again with careful=True,
    which puts each run in a savepoint and falls back to one change at a time.
    """
    valid = [change for change in prepared.changes if isinstance(change, Change)]
    batch = _prefetch(user_id, device_id, valid)
    new = _new_captures(batch, valid, prepared.records.keys())
    results: list[dict] = []
    run: list[Change] = []
    for change in prepared.changes:
        if isinstance(change, Change) and change.id in new:
            run.append(change)
            continue
        results += apply_new(batch, run, prepared, careful=careful)
        run = []
        results.append(change if isinstance(change, dict) else apply_change(batch, change))
    results += apply_new(batch, run, prepared, careful=careful)
    return Applied(results, batch.log_position)


def _new_captures(batch: Batch, changes: list[Change], ready: Collection[str]) -> set[str]:
    """Return the ids of the changes that create a capture and need nothing else checked.

    Such a change is ready (prepare_batch: an upsert whose change id and capture id appear
    once in the batch, with a known event or none and a scanned text the badge parser
    accepts) and, as the transaction sees it, unknown to the server and not deleted, its
    event still there. Everything else goes through apply_change.
    """
    return {
        change.id
        for change in changes
        if change.id in ready
        and change.id not in batch.known
        and change.capture_id not in batch.encounters
        and change.capture_id not in batch.tombstoned
        and (change.event_uuid is None or change.event_uuid in batch.events)
    }


def apply_new(
    batch: Batch, changes: list[Change], prepared: Prepared, *, careful: bool = True
) -> list[dict]:
    """Apply new captures together, with their idempotency records.

    careful: in one savepoint; if it fails (a racing writer took a change id, capture id
    or handle first), nothing of it stays and each change goes through apply_change on its
    own, which sorts out what the race left. Not careful: with no savepoint (no SAVEPOINT
    and RELEASE, and no journal of the ~65 pages the run changes: about a tenth of the
    write lock's time on SQLite), and an IntegrityError goes to the caller, who rolls the
    whole transaction back (see apply_batch). On SQLite no writer can race the batch (it
    holds the write lock from before its checks), so that happens on PostgreSQL only.
    """
    if not changes:
        return []
    if careful:
        try:
            with db.session.begin_nested():
                _insert_new(batch, changes, prepared)
        except IntegrityError:
            return [apply_change(batch, change) for change in changes]
    else:
        _insert_new(batch, changes, prepared)
    # Nothing later in the batch names these changes or captures (see _new_captures), so
    # the batch's caches need no entries for them.
    return [{"id": change.id, "status": "applied"} for change in changes]


def _insert_new(batch: Batch, changes: list[Change], prepared: Prepared) -> None:
    # The records go first: a racing twin fails here, before touching captures.
    records = [prepared.records[change.id] for change in changes]
    insert_rows(db.session.connection(), ChangeRecord.__table__, records, ready=True)
    # prepare_batch filled in their event and device; _new_captures checked the event.
    items = [change.data for change in changes]  # ready ones all have data
    store_captures(batch.user_id, items, prepared=True, staged=prepared.staged)


def _prefetch(user_id: int, device_id: str, changes: list[Change]) -> Batch:
    """Load the idempotency records, tombstones, captures and events the batch names.

    One query says which of them exist, and where the user's change log stands; the
    records and captures are loaded only if some exist. A batch of new captures, the usual
    case, costs one round trip here.
    """
    batch = Batch(user_id, device_id)
    sql, params = known_query(
        user_id,
        sorted({c.id for c in changes}),
        sorted({c.capture_id for c in changes}),
        sorted({c.event_uuid for c in changes if c.event_uuid}),
    )
    found: dict[str, dict[str, int | None]] = {}
    for kind, key, ident in select_rows(db.session.connection(), sql, params):
        found.setdefault(kind, {})[key] = ident
    batch.log_position = found.pop("position", {}).get(None) or 0
    if "record" in found:
        batch.known = {
            r.change_id: r
            for r in db.session.scalars(
                select(ChangeRecord).where(
                    ChangeRecord.user_id == user_id, ChangeRecord.change_id.in_(found["record"])
                )
            )
        }
    batch.tombstoned = set(found.get("tombstone", ()))
    if "capture" in found:
        # Locked (FOR UPDATE on PostgreSQL; SQLite's writer already holds the database),
        # in one order, until the commit: an edit is merged with what it read, so a
        # concurrent edit of the same capture (another device, the laptop) must wait
        # rather than commit in between and be overwritten, and two batches naming the
        # same captures queue here, before either holds anything else the other needs.
        batch.encounters = {
            e.uuid: e
            for e in db.session.scalars(
                select(Encounter)
                .where(Encounter.user_id == user_id, Encounter.uuid.in_(found["capture"]))
                .order_by(Encounter.id)
                .with_for_update(of=Encounter)
                .options(selectinload(Encounter.hooks), selectinload(Encounter.contact))
            )
        }
    batch.events = {uuid: ident for uuid, ident in found.get("event", {}).items() if ident}
    return batch


def known_query(
    user_id: int, change_ids: list[str], capture_ids: list[str], event_uuids: list[str]
) -> tuple[str, list]:
    """Return the one query (for bulk.select_rows) that says where the user's change log
    stands ('position') and which of these change ids ('record'), capture ids
    ('tombstone', 'capture') and events ('event', with its id) exist. Each part is a
    lookup in a unique (user_id, ...) index."""
    # The change log's latest position (sync/models.py).
    sql = "SELECT 'position', NULL, log_position FROM users WHERE id = ?"
    params: list = [user_id]
    if change_ids:
        sql += (
            " UNION ALL SELECT 'record', change_id, NULL FROM change_records"
            " WHERE user_id = ? AND change_id IN ?"
            " UNION ALL SELECT 'tombstone', capture_uuid, NULL FROM tombstones"
            " WHERE user_id = ? AND capture_uuid IN ?"
            " UNION ALL SELECT 'capture', uuid, NULL FROM encounters"
            " WHERE user_id = ? AND uuid IN ?"
        )
        params += [user_id, change_ids, user_id, capture_ids, user_id, capture_ids]
        if event_uuids:
            sql += " UNION ALL SELECT 'event', uuid, id FROM events WHERE user_id = ? AND uuid IN ?"
            params += [user_id, event_uuids]
    return sql, params


def _answer_known(record: ChangeRecord, change: Change) -> dict:
    if same_payload(record.payload_hash, change):
        return {"id": change.id, "status": "duplicate"}
    return {"id": change.id, "status": "rejected", "error": REUSED}


def apply_change(batch: Batch, change: Change) -> dict:
    """Apply one change with its idempotency record in one savepoint; return its result."""
    known = batch.known.get(change.id)
    if known is not None:
        return _answer_known(known, change)
    for attempt in range(2):
        try:
            with db.session.begin_nested():
                # The record goes first: a racing twin of this change fails here, on the
                # unique (user_id, change_id), before it can touch the capture.
                record = ChangeRecord(**_record(batch.user_id, batch.device_id, change, utcnow()))
                base = _device_base(batch, change)
                db.session.add(record)
                db.session.flush()
                if change.op == "delete":
                    _delete(batch, change)
                else:
                    _upsert(batch, change, base)
                db.session.flush()
        except Rejected as error:
            _reload(batch, change.capture_id)
            return {"id": change.id, "status": "rejected", "error": str(error)}
        except ValueError as error:  # e.g. BadgeError: the parser refused the QR text
            _reload(batch, change.capture_id)
            return {"id": change.id, "status": "rejected", "error": f"data.raw: {error}"}
        except IntegrityError:
            _reload(batch, change.capture_id)
            record = db.session.scalar(
                select(ChangeRecord).where(
                    ChangeRecord.user_id == batch.user_id, ChangeRecord.change_id == change.id
                )
            )
            if record is not None:
                return _answer_known(record, change)
            if attempt:
                raise
            # Another writer created the same capture or handle first: try again as an edit.
            continue
        batch.known[change.id] = record
        return {"id": change.id, "status": "applied"}
    raise AssertionError("unreachable")


def _reload(batch: Batch, capture_id: str) -> None:
    """Re-read a capture after a rolled-back savepoint left the cached one unreliable."""
    encounter = db.session.scalar(
        select(Encounter).where(Encounter.user_id == batch.user_id, Encounter.uuid == capture_id)
    )
    if encounter is None:
        batch.encounters.pop(capture_id, None)
    else:
        batch.encounters[capture_id] = encounter


def _device_base(batch: Batch, change: Change) -> dict | None:
    """Return what this device last sent for the capture: the base of its edit."""
    if change.op != "upsert" or change.capture_id not in batch.encounters:
        return None
    return db.session.scalar(
        select(ChangeRecord.data)
        .where(
            ChangeRecord.user_id == batch.user_id,
            ChangeRecord.capture_uuid == change.capture_id,
            ChangeRecord.device_id == batch.device_id,
            ChangeRecord.data.is_not(None),
        )
        .order_by(ChangeRecord.id.desc())
        .limit(1)
    )


def _event_id(batch: Batch, change: Change) -> int | None:
    if change.event_uuid is None:
        return None
    event_id = batch.events.get(change.event_uuid)
    if event_id is None:
        raise Rejected("data.event_id is not one of your events")
    return event_id


def _upsert(batch: Batch, change: Change, base: dict | None) -> None:
    if change.capture_id in batch.tombstoned:
        raise Rejected(CAPTURE_DELETED)
    assert change.data is not None
    change.data.event_id = _event_id(batch, change)
    change.data.device_id = batch.device_id
    encounter = batch.encounters.get(change.capture_id)
    if encounter is None:
        batch.encounters[change.capture_id] = record_capture(batch.user_id, change.data)
        return
    merge_edit(encounter, change, base, batch.device_id)


def merge_edit(encounter: Encounter, change: Change, base: dict | None, source: str) -> None:
    """Merge a device's edit into the capture field by field (merge_values)."""
    event_id = change.data.event_id if change.data is not None else None
    merge_values(encounter, change.values, change.at, base, source, event_id)


def merge_values(
    encounter: Encounter,
    incoming: dict[str, str | None],
    at: datetime,
    base: dict | None,
    source: str,
    event_id: int | None = None,
) -> None:
    """Merge an edit's values (values_of) into the capture field by field, keeping every
    lost value.

    base: what the editor started from (a device: what it last sent; the laptop's form:
    the capture as the page showed it); None: each field's first known value. A field the
    edit did not change (its value equals the base) is left alone. A field it changed wins
    if the edit is at least as new as the field's last change; otherwise the newer value
    stays and the edit's value goes to history. When both sides changed the note, both
    texts are kept, joined by a marker.
    """
    current = snapshot(encounter)
    if base is None:
        base = _initial_values(encounter, current)
    clocks = field_clocks(encounter.id)
    result = dict(current)
    kept: list[str] = []
    for name, value in incoming.items():
        mine = current.get(name)
        if value == mine or value == base.get(name):
            continue
        server_changed = mine != base.get(name)
        if name == "note" and server_changed and mine and value:
            editor_is_newer = at >= clocks.get(name, encounter.happened_at)
            older, newer = (mine, value) if editor_is_newer else (value, mine)
            result[name] = older + NOTE_MARKER + newer
        elif at >= clocks.get(name, encounter.happened_at):
            result[name] = value
        else:
            kept.append(name)
    update_capture(encounter, _capture_from(result, event_id), source=source, at=at)
    for name in kept:
        add_revision(encounter, name, current.get(name), incoming[name], source, at, "kept")


def _initial_values(encounter: Encounter, current: dict) -> dict:
    """Return each field's first known value: the base for a device that never sent it."""
    values = dict(current)
    seen: set[str] = set()
    for revision in history(encounter.id):
        if revision.field not in seen:
            seen.add(revision.field)
            values[revision.field] = revision.old_value
    return values


def _capture_from(values: dict, event_id: int | None) -> CaptureData:
    hooks = []
    for kind in HOOK_TYPES:
        value = values.get(f"hook:{kind}")
        if value is not None:
            owed_by, detail = json.loads(value)
            hooks.append(HookData(type=kind, detail=detail, owed_by=owed_by))
    text_values = {
        k: values[k] or "" for k in values if not k.startswith("hook:") and k != "rating"
    }
    return CaptureData(**text_values, rating=values.get("rating"), event_id=event_id, hooks=hooks)


def _delete(batch: Batch, change: Change) -> None:
    """Delete the capture and leave a tombstone; tidy up its drafts and contact.

    The person's untouched follow-up drafts for that event go with it (forget_capture), and
    a contact left with no capture and no history (nothing sent, nothing edited, no
    introduction) is deleted too, so a mistaken scan leaves no trace.
    """
    encounter = batch.encounters.pop(change.capture_id, None)
    if encounter is not None:
        forget_capture(encounter)
    if change.capture_id not in batch.tombstoned:
        db.session.add(
            Tombstone(user_id=batch.user_id, capture_uuid=change.capture_id, deleted_at=change.at)
        )
        batch.tombstoned.add(change.capture_id)


def tombstone_time(user_id: int, capture_uuid: str) -> datetime | None:
    """Return when the user's capture was deleted, if it was."""
    return db.session.scalar(
        select(Tombstone.deleted_at).where(
            Tombstone.user_id == user_id, Tombstone.capture_uuid == capture_uuid
        )
    )
