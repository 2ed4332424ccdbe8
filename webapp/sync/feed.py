"""What changed on the server since a cursor: the feed a user's other devices pull."""

import base64
import binascii

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.contacts.models import Encounter
from webapp.extensions import db
from webapp.sync.models import SyncLog, Tombstone

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
    """Return the user's captures and deletions changed after cursor, oldest change first."""
    position = decode_cursor(cursor)
    limit = max(1, min(limit, MAX_LIMIT))
    rows = db.session.execute(
        select(SyncLog.id, SyncLog.capture_uuid, SyncLog.changed_at)
        .where(SyncLog.user_id == user_id, SyncLog.id > position)
        .order_by(SyncLog.id)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    uuids = [row.capture_uuid for row in rows]
    encounters = {
        e.uuid: e
        for e in db.session.scalars(
            select(Encounter)
            .where(Encounter.user_id == user_id, Encounter.uuid.in_(uuids))
            .options(selectinload(Encounter.hooks), selectinload(Encounter.event))
        )
    }
    deleted = dict(
        db.session.execute(
            select(Tombstone.capture_uuid, Tombstone.deleted_at).where(
                Tombstone.user_id == user_id, Tombstone.capture_uuid.in_(uuids)
            )
        ).all()
    )
    changes = []
    for row in rows:
        encounter = encounters.get(row.capture_uuid)
        if encounter is not None:
            changes.append(
                {
                    "kind": "capture",
                    "op": "upsert",
                    "capture_id": row.capture_uuid,
                    "updated_at": row.changed_at.isoformat(),
                    "data": capture_json(encounter),
                }
            )
        else:
            when = deleted.get(row.capture_uuid, row.changed_at)
            changes.append(
                {
                    "kind": "capture",
                    "op": "delete",
                    "capture_id": row.capture_uuid,
                    "updated_at": row.changed_at.isoformat(),
                    "deleted_at": when.isoformat(),
                }
            )
    last = rows[-1].id if rows else position
    return {"changes": changes, "cursor": encode_cursor(last), "more": more}
