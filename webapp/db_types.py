"""Column types and helpers shared by the models."""

import json
import os
import time
import uuid
from datetime import UTC, datetime

import orjson
from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def json_text(value: object) -> str:
    """Return value as JSON text for a JSON column (the engine's json_serializer).

    orjson: the JSON columns are written on the sync hot path (each capture's idempotency
    record and contact), where the standard encoder was 6% of a batch's instructions
    (docs/performance.md). What orjson refuses (integers beyond 64 bits, lone surrogates)
    goes through json.dumps, as everything did before; either is read back the same.
    """
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def new_uuid() -> str:
    """Return a new time-ordered UUID (version 7, RFC 9562) as text.

    The millisecond comes first and 74 random bits follow, so ids made one after another
    sort together: a unique index on them takes its new entries at one end instead of on a
    random page each (the phone makes its capture and change ids the same way).
    """
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # the RFC 4122 / 9562 variant
    return str(uuid.UUID(int=value))


class UTCDateTime(TypeDecorator):
    """Store aware datetimes as UTC and always read them back aware.

    SQLite forgets the offset, so without this a value read back would be naive and
    could not be compared with the aware values the code makes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        """Convert to UTC before storing; refuse naive values."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        """Attach UTC to what the database returns."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
