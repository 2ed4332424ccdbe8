"""Apply a device's batch of changes, exactly once each, and list what changed since a cursor.

No HTTP here: the view checks the request and commits; these functions do the work inside
the caller's transaction. Each change runs in its own SAVEPOINT together with its
idempotency record, so one bad change never takes its neighbours down and a change is
either applied with its record or not at all.
"""

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, insert, literal, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from webapp.capture.ingest import (
    CaptureData,
    HookData,
    forget_capture,
    prepare_capture,
    record_capture,
    record_captures,
    update_capture,
)
from webapp.contacts.models import HOOK_TYPES, Encounter
from webapp.events.models import Event
from webapp.extensions import db
from webapp.sync.history import add_revision, field_clocks, history, snapshot
from webapp.sync.models import ChangeRecord, Tombstone
from webapp.sync.validate import Change, Rejected, parse_change

NOTE_MARKER = "\n\n--- also written on another device ---\n"
CAPTURE_DELETED = "capture was deleted"
REUSED = "change id reused with different content"


@dataclass
class Batch:
    """What one batch needs from the database, fetched once rather than per change."""

    user_id: int
    device_id: str
    known: dict[str, ChangeRecord] = field(default_factory=dict)
    tombstoned: set[str] = field(default_factory=set)
    encounters: dict[str, Encounter] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)


class Busy(Exception):
    """The database stayed locked for longer than the caller will wait."""


@contextmanager
def writer_turn(timeout_ms: int) -> Iterator[None]:
    """On a SQLite file, queue this host's writers on a file lock that hands over at once.

    SQLite's own busy handler sleeps in steps growing to 100 ms, so a waiting writer
    usually sleeps through the moment the database is free, and under load the database
    idles between batches. Waiting here instead (a 2 ms poll of flock) hands the write
    lock over almost immediately; SQLite's busy timeout stays as the backstop for writers
    that do not take this lock (the laptop's forms, the CLI).
    """
    path = db.engine.url.database if db.engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        yield
        return
    fd = os.open(f"{path}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Busy("database busy") from None
                time.sleep(0.002)
        yield
    finally:
        os.close(fd)  # closing the file releases the lock


def begin_write(busy_timeout_ms: int | None = None) -> None:
    """Open the write transaction: BEGIN IMMEDIATE on SQLite; nothing extra on PostgreSQL.

    A deferred SQLite transaction that reads and then writes can fail at once with
    "database is locked" when another writer got in between; taking the write lock first
    makes writers queue for the busy timeout instead.
    """
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        if busy_timeout_ms is not None:
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def apply_batch(user_id: int, device_id: str, changes: list[Any]) -> list[dict]:
    """Apply each change for user_id; return one result per change, in order."""
    parsed: list[Change | dict] = []
    for raw in changes:
        try:
            parsed.append(parse_change(raw))
        except Rejected as error:
            given = raw.get("id") if isinstance(raw, dict) else None
            change_id = given if isinstance(given, str) else None
            parsed.append({"id": change_id, "status": "rejected", "error": str(error)})
    valid = [change for change in parsed if isinstance(change, Change)]
    batch = _prefetch(user_id, device_id, valid)
    new = _new_captures(batch, valid)
    results: list[dict] = []
    run: list[Change] = []
    for change in parsed:
        if isinstance(change, Change) and change.id in new:
            run.append(change)
            continue
        results += apply_new(batch, run)
        run = []
        results.append(change if isinstance(change, dict) else apply_change(batch, change))
    return results + apply_new(batch, run)


def _new_captures(batch: Batch, changes: list[Change]) -> set[str]:
    """Return the ids of the changes that create a capture and need nothing else checked.

    Such a change is an upsert whose change id and capture id appear once in the batch,
    unknown to the server, not deleted, with a known event (or none) and a scanned text
    the badge parser accepts. Everything else goes through apply_change.
    """
    seen_changes: dict[str, int] = {}
    seen_captures: dict[str, int] = {}
    for change in changes:
        seen_changes[change.id] = seen_changes.get(change.id, 0) + 1
        seen_captures[change.capture_id] = seen_captures.get(change.capture_id, 0) + 1
    new: set[str] = set()
    for change in changes:
        if (
            change.op != "upsert"
            or change.data is None
            or seen_changes[change.id] > 1
            or seen_captures[change.capture_id] > 1
            or change.id in batch.known
            or change.capture_id in batch.encounters
            or change.capture_id in batch.tombstoned
            or (change.event_uuid is not None and change.event_uuid not in batch.events)
        ):
            continue
        try:
            prepare_capture(change.data)
        except ValueError:
            continue  # apply_change rejects it with the parser's words
        new.add(change.id)
    return new


def apply_new(batch: Batch, changes: list[Change]) -> list[dict]:
    """Apply new captures together, with their idempotency records, in one savepoint.

    If the savepoint fails (a racing writer took a change id, capture id or handle first),
    nothing of it stays and each change goes through apply_change on its own, which sorts
    out what the race left.
    """
    if not changes:
        return []
    try:
        with db.session.begin_nested():
            # The records go first: a racing twin fails here, before touching captures.
            db.session.execute(
                insert(ChangeRecord),
                [
                    {
                        "user_id": batch.user_id,
                        "change_id": change.id,
                        "payload_hash": change.payload_hash,
                        "result": "applied",
                        "capture_uuid": change.capture_id,
                        "device_id": batch.device_id,
                        "data": change.values,
                    }
                    for change in changes
                ],
            )
            items = []
            for change in changes:
                assert change.data is not None
                change.data.event_id = batch.events.get(change.event_uuid or "")
                change.data.device_id = batch.device_id
                items.append(change.data)
            encounters = record_captures(batch.user_id, items, prepared=True)
    except IntegrityError:
        return [apply_change(batch, change) for change in changes]
    for change, encounter in zip(changes, encounters, strict=True):
        batch.encounters[change.capture_id] = encounter
        batch.known[change.id] = ChangeRecord(payload_hash=change.payload_hash)
    return [{"id": change.id, "status": "applied"} for change in changes]


def _prefetch(user_id: int, device_id: str, changes: list[Change]) -> Batch:
    """Load the idempotency records, tombstones, captures and events the batch names.

    One query says which of them exist; the records and captures are loaded only if some
    do. A batch of new captures, the usual case, costs one round trip here.
    """
    batch = Batch(user_id, device_id)
    if not changes:
        return batch
    change_ids = {c.id for c in changes}
    capture_ids = {c.capture_id for c in changes}
    event_uuids = {c.event_uuid for c in changes if c.event_uuid}
    parts = [
        select(literal("record"), ChangeRecord.change_id, literal(None, Integer)).where(
            ChangeRecord.user_id == user_id, ChangeRecord.change_id.in_(change_ids)
        ),
        select(literal("tombstone"), Tombstone.capture_uuid, literal(None, Integer)).where(
            Tombstone.user_id == user_id, Tombstone.capture_uuid.in_(capture_ids)
        ),
        select(literal("capture"), Encounter.uuid, literal(None, Integer)).where(
            Encounter.user_id == user_id, Encounter.uuid.in_(capture_ids)
        ),
    ]
    if event_uuids:
        parts.append(
            select(literal("event"), Event.uuid, Event.id).where(
                Event.user_id == user_id, Event.uuid.in_(event_uuids)
            )
        )
    found: dict[str, dict[str, int | None]] = {}
    for kind, key, ident in db.session.execute(union_all(*parts)):
        found.setdefault(kind, {})[key] = ident
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
        batch.encounters = {
            e.uuid: e
            for e in db.session.scalars(
                select(Encounter)
                .where(Encounter.user_id == user_id, Encounter.uuid.in_(found["capture"]))
                .options(selectinload(Encounter.hooks), selectinload(Encounter.contact))
            )
        }
    batch.events = {uuid: ident for uuid, ident in found.get("event", {}).items() if ident}
    return batch


def _answer_known(record: ChangeRecord, change: Change) -> dict:
    if record.payload_hash == change.payload_hash:
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
                record = ChangeRecord(
                    user_id=batch.user_id,
                    change_id=change.id,
                    payload_hash=change.payload_hash,
                    result="applied",
                    capture_uuid=change.capture_id,
                    device_id=batch.device_id,
                    data=change.values if change.op == "upsert" else None,
                )
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
    """Merge a device's edit into the capture field by field, keeping every lost value.

    A field the device did not change (its value equals what the device last sent) is
    left alone. A field it changed wins if its edit is at least as new as the field's
    last change; otherwise the newer value stays and the device's value goes to history.
    When both sides changed the note, both texts are kept, joined by a marker.
    """
    current = snapshot(encounter)
    if base is None:
        base = _initial_values(encounter, current)
    clocks = field_clocks(encounter.id)
    result = dict(current)
    kept: list[str] = []
    for name, incoming in change.values.items():
        mine = current.get(name)
        if incoming == mine or incoming == base.get(name):
            continue
        server_changed = mine != base.get(name)
        if name == "note" and server_changed and mine and incoming:
            device_is_newer = change.at >= clocks.get(name, encounter.happened_at)
            older, newer = (mine, incoming) if device_is_newer else (incoming, mine)
            result[name] = older + NOTE_MARKER + newer
        elif change.at >= clocks.get(name, encounter.happened_at):
            result[name] = incoming
        else:
            kept.append(name)
    if change.data is not None and change.data.event_id is not None:
        event_id = change.data.event_id
    else:
        event_id = None
    update_capture(encounter, _capture_from(result, event_id), source=source, at=change.at)
    for name in kept:
        add_revision(
            encounter, name, current.get(name), change.values[name], source, change.at, "kept"
        )


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
