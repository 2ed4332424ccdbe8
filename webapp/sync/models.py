"""Idempotency records, tombstones, capture history and the per-user change log."""

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    delete,
    event,
    select,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from webapp.bulk import insert_rows
from webapp.database import drop_rolled_back, track_in_transaction
from webapp.db_types import UTCDateTime, utcnow
from webapp.extensions import db


class ChangeRecord(db.Model):
    """One applied change from a device: the idempotency key and what it said."""

    __tablename__ = "change_records"
    __table_args__ = (
        UniqueConstraint("user_id", "change_id"),
        Index("ix_change_records_capture", "user_id", "capture_uuid", "device_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    change_id: Mapped[str] = mapped_column(String(36))
    payload_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(12))
    capture_uuid: Mapped[str] = mapped_column(String(36))
    device_id: Mapped[str] = mapped_column(String(36))
    # What the device sent: its view of the capture, the base for its next edit.
    data: Mapped[dict | None] = mapped_column(db.JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Tombstone(db.Model):
    """A deleted capture, so a stale device cannot bring it back."""

    __tablename__ = "tombstones"
    __table_args__ = (UniqueConstraint("user_id", "capture_uuid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    capture_uuid: Mapped[str] = mapped_column(String(36))
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaptureRevision(db.Model):
    """One change to one field of a capture, with the value it replaced."""

    __tablename__ = "capture_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    encounter_id: Mapped[int] = mapped_column(
        ForeignKey("encounters.id", ondelete="CASCADE"), index=True
    )
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    # applied: new_value replaced old_value; merged: both notes kept; kept: new_value lost
    # to a newer edit and is kept here only.
    outcome: Mapped[str] = mapped_column(String(8), default="applied")
    source: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncLog(db.Model):
    """The latest change to each of a user's captures, in commit order (the feed's cursor)."""

    __tablename__ = "sync_log"
    # AUTOINCREMENT: SQLite would otherwise reuse the id of a deleted last row, and a
    # cursor must never point at a position that is handed out again.
    __table_args__ = (
        Index("ix_sync_log_user_id_id", "user_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    capture_uuid: Mapped[str] = mapped_column(String(36), index=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Every write to a capture, from any path (form, sync, import, outreach marking a hook done),
# moves that capture to the end of its owner's change log, so the feed misses nothing.
_LOG_LOCK_BASE = 0x486B_0000_0000  # namespace for pg_advisory_xact_lock keys


def lock_user_log(connection, user_id: int) -> None:
    """On PostgreSQL, serialize a user's writers so log ids commit in order."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOG_LOCK_BASE + user_id}
        )


_TOUCHED = "hookline_touched_captures"
_FRESH = "hookline_fresh_captures"


@event.listens_for(Session, "after_flush")
def _collect_touched_captures(session: Session, _context) -> None:
    """Remember which captures this transaction wrote; the log is written once, at commit."""
    from webapp.contacts.models import Encounter, Hook

    # A dict as an ordered set: the feed lists a batch's captures in the order written.
    touched: dict[tuple[int, str], None] = session.info.setdefault(_TOUCHED, {})
    hook_encounters: set[int] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Encounter):
            touched[(obj.user_id, obj.uuid)] = None
        elif isinstance(obj, Hook):
            owner = obj.__dict__.get("encounter")
            if owner is not None:
                touched[(owner.user_id, owner.uuid)] = None
            elif obj.encounter_id is not None:
                hook_encounters.add(obj.encounter_id)
    if hook_encounters:
        rows = session.connection().execute(
            select(Encounter.user_id, Encounter.uuid).where(Encounter.id.in_(hook_encounters))
        )
        touched.update(dict.fromkeys((user_id, uuid) for user_id, uuid in rows))


def touch_captures(session: Session, user_id: int, uuids: list[str], *, new: bool = False) -> None:
    """Log captures written around the unit of work (bulk inserts), as after_flush would.

    new: the captures were just inserted, so the log has no earlier row of theirs to move
    (the commit skips the DELETE for them). Forgotten again if their savepoint rolls back.
    """
    touched: dict[tuple[int, str], None] = session.info.setdefault(_TOUCHED, {})
    touched.update(dict.fromkeys((user_id, uuid) for uuid in uuids))
    if new:
        track_in_transaction(session, _FRESH, {(user_id, uuid) for uuid in uuids})


def _fresh(session: Session) -> set[tuple[int, str]]:
    return {key for _transaction, keys in session.info.pop(_FRESH, []) for key in keys}


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back_fresh(session: Session, previous_transaction) -> None:
    drop_rolled_back(session, _FRESH, previous_transaction)


@event.listens_for(Session, "before_commit")
def _write_change_log(session: Session) -> None:
    """Move every capture the transaction touched to the end of its owner's change log.

    A capture named here whose savepoint was rolled back is merely listed again in the
    feed, which is harmless; a capture left out would be missed by other devices.
    """
    if session.in_nested_transaction():
        return  # a SAVEPOINT being released: the log is written with the real commit
    session.flush()  # the commit would flush after this hook; collect those writes too
    touched: dict[tuple[int, str], None] = session.info.pop(_TOUCHED, {})
    fresh = _fresh(session)
    if not touched:
        return
    connection = session.connection()
    now = utcnow()
    for user_id in sorted({user_id for user_id, _ in touched}):
        lock_user_log(connection, user_id)
        uuids = [uuid for owner, uuid in touched if owner == user_id]
        logged = [uuid for uuid in uuids if (user_id, uuid) not in fresh]
        if logged:
            connection.execute(
                delete(SyncLog).where(SyncLog.user_id == user_id, SyncLog.capture_uuid.in_(logged))
            )
        insert_rows(
            connection,
            SyncLog.__table__,
            [{"user_id": user_id, "capture_uuid": uuid, "changed_at": now} for uuid in uuids],
        )


@event.listens_for(Session, "after_rollback")
def _forget_touched_captures(session: Session) -> None:
    if not session.in_transaction():
        session.info.pop(_TOUCHED, None)
        session.info.pop(_FRESH, None)
