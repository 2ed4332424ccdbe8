"""The hot path's own SQL: rows in the driver's terms, plain lookups, reserved ids, UUIDv7."""

import json
import os
import shutil
import sqlite3
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.bulk import COPY_FROM_ROWS, driver_row, driver_value, insert_rows, select_rows
from webapp.contacts.models import Contact, ContactHandle, Hook
from webapp.database import allocate_ids
from webapp.db_types import json_text, new_uuid
from webapp.extensions import db

ROOT = Path(__file__).resolve().parent.parent
WHEN = datetime(2026, 11, 21, 15, 4, 5, 120000, tzinfo=UTC)


def _stored(connection, names: list[str]) -> list[tuple]:
    rows = connection.exec_driver_sql(
        "SELECT name, org, emails, phones, urls, rating, created_at, updated_at,"
        " last_interaction_at FROM contacts ORDER BY id"
    ).all()
    assert [row[0] for row in rows] == names
    return [tuple(str(value) for value in row[1:]) for row in rows]


def test_rows_are_stored_exactly_as_the_orm_stores_them(app, alice):
    fields = {"user_id": alice, "emails": ["ada@example.com"], "created_at": WHEN}
    with app.app_context():
        db.session.add(Contact(name="Orm", updated_at=WHEN, **fields))
        db.session.flush()
        connection = db.session.connection()
        insert_rows(connection, Contact.__table__, [{"name": "Rows", "updated_at": WHEN, **fields}])
        ready = driver_row(
            connection.dialect,
            Contact.__table__,
            {"id": 1000, "name": "Ready", "updated_at": WHEN, **fields},
        )
        insert_rows(connection, Contact.__table__, [ready], ready=True)
        stored = _stored(connection, ["Orm", "Rows", "Ready"])
        assert stored[0] == stored[1] == stored[2]  # the same text, JSON and time formats
        loaded = db.session.scalars(select(Contact).order_by(Contact.id)).all()
        assert [(c.emails, c.phones, c.created_at) for c in loaded] == [
            (["ada@example.com"], [], WHEN)
        ] * 3


def test_many_rows_are_stored_exactly_as_one_row_is(app, alice):
    """From COPY_FROM_ROWS rows PostgreSQL gets a COPY: what it stores is what an INSERT does."""
    fields = {"user_id": alice, "emails": ["ada@example.com"], "created_at": WHEN}
    with app.app_context():
        connection = db.session.connection()
        insert_rows(connection, Contact.__table__, [{"name": "One", "updated_at": WHEN, **fields}])
        many = [
            {"name": f"Many {n}", "updated_at": WHEN, "rating": None, **fields}
            for n in range(COPY_FROM_ROWS)
        ]
        insert_rows(connection, Contact.__table__, many)
        ready = [
            driver_row(connection.dialect, Contact.__table__, {"id": 1000 + n, **row})
            for n, row in enumerate(many)
        ]
        insert_rows(connection, Contact.__table__, ready, ready=True)
        names = ["One"] + [row["name"] for row in many] * 2
        stored = _stored(connection, names)
        assert len(set(stored)) == 1  # the same text, JSON, NULL and time formats
        loaded = db.session.scalars(select(Contact).order_by(Contact.id)).all()
        assert {(c.emails[0], c.phones == [], c.rating, c.created_at) for c in loaded} == {
            ("ada@example.com", True, None, WHEN)
        }


def _contact_id(user_id: int) -> int:
    """Add a contact for user_id through the ORM and return its id (flushed, in the session)."""
    contact = Contact(user_id=user_id, name="Ada")
    db.session.add(contact)
    db.session.flush()
    return contact.id


def test_a_violation_among_many_rows_fails_them_all_as_an_integrity_error(app, alice):
    with app.app_context():
        contact_id = _contact_id(alice)
        connection = db.session.connection()
        handles = [
            {"user_id": alice, "contact_id": contact_id, "kind": "email", "value": f"{n}@x.io"}
            for n in range(COPY_FROM_ROWS + 1)
        ]
        # IntegrityError is what the sync fallback and retry catch.
        with pytest.raises(IntegrityError), db.session.begin_nested():
            insert_rows(db.session.connection(), ContactHandle.__table__, handles + handles[:1])
        insert_rows(connection, ContactHandle.__table__, handles)  # nothing of it stayed
        count = connection.exec_driver_sql("SELECT count(*) FROM contact_handles").scalar()
        assert count == len(handles)


def test_a_missing_column_takes_the_models_default_per_row(app, alice):
    with app.app_context():
        connection = db.session.connection()
        insert_rows(connection, Contact.__table__, [{"user_id": alice}, {"user_id": alice}])
        first, second = db.session.scalars(select(Contact).order_by(Contact.id)).all()
        assert (first.name, first.emails, first.rating) == ("", [], None)
        assert first.created_at <= second.created_at  # made per row, not once
        first.emails.append("x@example.com")
        assert second.emails == []  # and never one list shared by the rows


def test_driver_value_converts_one_column_as_driver_row_does(app):
    with app.app_context():
        dialect = db.session.connection().dialect
        row = driver_row(dialect, Hook.__table__, {"id": 1, "encounter_id": 2, "type": "meet"})
        assert row["done"] == driver_value(dialect, Hook.__table__, "done", False)
        assert driver_value(dialect, Contact.__table__, "emails", None) is None
        emails = driver_value(dialect, Contact.__table__, "emails", [3, 4])
        # SQLite takes JSON as text; psycopg as its Json wrapper around the value.
        assert (json.loads(emails) if isinstance(emails, str) else emails.obj) == [3, 4]


def test_lookups_expand_in_lists_and_check_their_placeholders(app, alice):
    with app.app_context():
        connection = db.session.connection()
        insert_rows(
            connection,
            Contact.__table__,
            [{"user_id": alice, "name": name} for name in ("Ada", "Bo", "Cy")],
        )
        rows = select_rows(
            connection,
            "SELECT name FROM contacts WHERE user_id = ? AND name IN ? ORDER BY name",
            [alice, ["Cy", "Ada", "Zed"]],
        )
        assert rows == [("Ada",), ("Cy",)]
        with pytest.raises(ValueError, match="placeholders"):
            select_rows(connection, "SELECT name FROM contacts WHERE user_id = ?", [])
        with pytest.raises(ValueError, match="empty IN list"):
            select_rows(connection, "SELECT name FROM contacts WHERE name IN ?", [[]])


def test_driver_errors_are_raised_as_sqlalchemys(app, alice):
    with app.app_context():
        contact_id = _contact_id(alice)
        handle = {"user_id": alice, "contact_id": contact_id, "kind": "email", "value": "a@x.io"}
        connection = db.session.connection()
        insert_rows(connection, ContactHandle.__table__, [handle])
        with pytest.raises(IntegrityError):  # what the sync fallback and retry catch
            insert_rows(connection, ContactHandle.__table__, [handle])


def test_reserved_ids_are_unused_and_the_orm_carries_on_after_them(app, alice):
    with app.app_context():
        first = Contact(user_id=alice, name="First")
        db.session.add(first)
        db.session.flush()
        connection = db.session.connection()
        ids = allocate_ids(connection, {Contact.__table__: 3, Hook.__table__: 0})
        assert ids[Hook.__table__] == []
        reserved = ids[Contact.__table__]
        assert len(set(reserved)) == 3 and min(reserved) > first.id
        rows = [{"id": ident, "user_id": alice, "name": f"R{ident}"} for ident in reserved]
        insert_rows(connection, Contact.__table__, rows)
        after = Contact(user_id=alice, name="After")
        db.session.add(after)
        db.session.flush()
        assert after.id > max(reserved)


def _version_and_time(value: str) -> tuple[int, int]:
    parsed = uuid.UUID(value)
    assert parsed.variant == uuid.RFC_4122
    return parsed.version, parsed.int >> 80


def test_server_ids_are_time_ordered_uuid7():
    before = time.time_ns() // 1_000_000
    ids = [new_uuid() for _ in range(50)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == 50
    for value in ids:
        version, ms = _version_and_time(value)
        assert version == 7 and before <= ms <= after
    later = new_uuid()
    time.sleep(0.002)
    assert new_uuid() > later  # a later millisecond sorts after


@pytest.mark.parametrize(
    "value", [["ada@example.com"], {"name": "Ø", "n": 3, "none": None}, [7, 8], {}, [], None]
)
def test_json_columns_are_written_as_compact_json_that_reads_back_the_same(value):
    assert json_text(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert json.loads(json_text(value)) == value


@pytest.mark.parametrize("value", [[2**70], ["x\ud800"]])
def test_json_orjson_refuses_goes_through_the_standard_encoder(value):
    assert json_text(value) == json.dumps(value)


def test_a_json_column_round_trips_through_the_database(app, alice):
    with app.app_context():
        contact = Contact(user_id=alice, name="Ada", emails=["ada@example.com", "Ø@x.io"])
        db.session.add(contact)
        db.session.commit()
        stored = db.session.execute(select(Contact.emails).where(Contact.id == contact.id))
        assert stored.scalar_one() == ["ada@example.com", "Ø@x.io"]


NODE = shutil.which("node")


# `make test` installs Node when it is missing, so in CI a missing node is a failure, not a skip.
@pytest.mark.skipif(
    NODE is None and not os.environ.get("CI"), reason="node is not installed (make test has it)"
)
def test_the_phones_ids_are_time_ordered_uuid7():
    script = (
        f"import {{ uuid7 }} from {json.dumps(str(ROOT / 'static' / 'js' / 'outbox.js'))};"
        "const now = Date.now();"
        "const ids = [uuid7(now), uuid7(now), uuid7(now + 1)];"
        "process.stdout.write(JSON.stringify({now, ids}));"
    )
    out = subprocess.run(
        [NODE, "--input-type=module", "-e", script], capture_output=True, text=True, check=True
    )
    found = json.loads(out.stdout)
    first, second, later = found["ids"]
    assert first != second
    for value, ms in ((first, found["now"]), (second, found["now"]), (later, found["now"] + 1)):
        assert _version_and_time(value) == (7, ms)
    assert later > max(first, second)


def test_reserving_ids_on_sqlite_takes_the_write_lock_first(app, alice):
    """The capture form's transaction has only read when it reserves ids; another writer
    must not be able to insert rows with the same ids before its INSERTs."""
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("PostgreSQL takes ids from sequences")
        connection = db.session.connection()
        assert not connection.connection.in_transaction  # reads so far, no lock
        allocate_ids(connection, {Contact.__table__: 1})
        assert connection.connection.in_transaction
        other = sqlite3.connect(db.engine.url.database, timeout=0)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()
        db.session.rollback()


def test_the_handle_rows_of_new_captures_are_already_in_the_drivers_terms(app):
    """store_captures inserts its handle rows as ready (no defaults, no conversions): a
    column added to contact_handles must be given there, or this fails."""
    claim = {"user_id": 1, "contact_id": 2, "kind": "email", "value": "ann@example.com"}
    with app.app_context():
        assert driver_row(db.engine.dialect, ContactHandle.__table__, claim) == claim
