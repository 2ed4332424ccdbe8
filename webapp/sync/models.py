"""Idempotency records, tombstones, capture history and the per-user change log."""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    event,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from webapp.bulk import select_rows
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
    __table_args__ = (
        UniqueConstraint("user_id", "capture_uuid"),
        Index("ix_tombstones_user_log", "user_id", "log_seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    capture_uuid: Mapped[str] = mapped_column(String(36))
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The deletion's place in the owner's change log, and when the server logged it.
    log_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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


# The change log, the feed's order (feed.py): each of a user's captures and tombstones
# carries the position of its latest change (log_seq), taken from the user's counter
# (users.log_position) when the change is written. A position is never handed out twice,
# and on PostgreSQL the counter's row lock makes a user's positions commit in order. Every
# write to a capture, from any path (form, sync, import, outreach marking a hook done),
# moves that capture to the end: new captures take their positions in the INSERT itself
# (capture/store.py), the unit of work's writes at commit (below).

_TOUCHED = "hookline_touched_captures"


def take_log_positions(connection, user_id: int, count: int) -> int:
    """Reserve count positions in the user's change log; return the first of them.

    On PostgreSQL the user's row stays locked until the transaction ends, so a concurrent
    writer for the same user waits here, and positions commit in the order handed out.
    """
    ((last,),) = select_rows(
        connection,
        "UPDATE users SET log_position = log_position + ? WHERE id = ? RETURNING log_position",
        [count, user_id],
    )
    return last - count + 1


@event.listens_for(Session, "after_flush")
def _collect_touched_captures(session: Session, _context) -> None:
    """Remember which captures this transaction wrote; they are logged once, at commit."""
    from webapp.contacts.models import Encounter, Hook

    # A dict as an ordered set: the feed lists a transaction's captures in the order written.
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


@event.listens_for(Session, "before_commit")
def _write_change_log(session: Session) -> None:
    """Move every capture the transaction touched to the end of its owner's change log.

    The capture's row takes a new position, or its tombstone if it was deleted. A capture
    named here whose savepoint was rolled back is merely listed again in the feed, which is
    harmless; a capture left out would be missed by other devices.
    """
    if session.in_nested_transaction():
        return  # a SAVEPOINT being released: the log is written with the real commit
    session.flush()  # the commit would flush after this hook; collect those writes too
    touched: dict[tuple[int, str], None] = session.info.pop(_TOUCHED, {})
    if not touched:
        return
    from webapp.contacts.models import Encounter

    connection = session.connection()
    now = utcnow()
    # Each capture is in one of the two: its row, or its tombstone if it was deleted.
    logged = (
        (Encounter.__table__, "uuid", "updated_at"),
        (Tombstone.__table__, "capture_uuid", "logged_at"),
    )
    for user_id in sorted({user_id for user_id, _ in touched}):
        uuids = [uuid for owner, uuid in touched if owner == user_id]
        first = take_log_positions(connection, user_id, len(uuids))
        rows = [
            {"owner": user_id, "capture": uuid, "position": first + k, "now": now}
            for k, uuid in enumerate(uuids)
        ]
        for table, capture, stamp in logged:
            connection.execute(
                update(table)
                .where(table.c.user_id == bindparam("owner"))
                .where(table.c[capture] == bindparam("capture"))
                .values({"log_seq": bindparam("position"), stamp: bindparam("now")}),
                rows,
            )


@event.listens_for(Session, "after_rollback")
def _forget_touched_captures(session: Session) -> None:
    if not session.in_transaction():
        session.info.pop(_TOUCHED, None)
