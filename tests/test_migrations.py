"""The migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from tests.conftest import make_app
from webapp.extensions import db


def test_migrations_match_the_models(tmp_path, pg_schema):
    app = make_app(
        "sqlite", tmp_path, pg_schema, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/m.db"
    )
    with app.app_context():
        db.drop_all()
        upgrade()
        with db.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
        db.engine.dispose()
    assert diff == []


def test_the_change_log_moves_into_the_captures_and_back(tmp_path, pg_schema):
    """Upgrading keeps every position sync_log gave (cursors stay valid); downgrading
    numbers the rows again after every position handed out."""
    app = make_app(
        "sqlite", tmp_path, pg_schema, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/m.db"
    )
    with app.app_context():
        db.drop_all()
        upgrade(revision="5e1f0a7c9d21")
        run = lambda sql: db.session.execute(text(sql))  # noqa: E731
        run(
            "INSERT INTO users (id, email, password_hash, name, headline, company, phone,"
            " linkedin, website, pitch, timezone, morning_hour, card_slug, created_at) VALUES"
            " (1, 'a@x.test', '-', '', '', '', '', '', '', '', 'UTC', 9, 'a', '2026-11-30'),"
            " (2, 'b@x.test', '-', '', '', '', '', '', '', '', 'UTC', 9, 'b', '2026-11-30')"
        )
        run(
            "INSERT INTO contacts (id, user_id, name, org, title, emails, phones, urls,"
            " created_at, updated_at) VALUES (1, 1, 'Ann', '', '', '[]', '[]', '[]',"
            " '2026-11-30', '2026-11-30')"
        )
        run(
            "INSERT INTO encounters (id, uuid, user_id, contact_id, name, org, title, email,"
            " phone, url, note, offer, ask, happened_at, received_at, updated_at) VALUES"
            " (1, 'c-kept', 1, 1, 'Ann', '', '', '', '', '', '', '', '', '2026-11-30',"
            " '2026-11-30', '2026-11-30'), (2, 'c-quiet', 1, 1, 'Ann', '', '', '', '', '', '',"
            " '', '', '2026-11-30', '2026-11-30', '2026-11-30')"
        )
        run(
            "INSERT INTO hooks (id, encounter_id, type, detail, owed_by, done)"
            " VALUES (1, 1, 'meet', '', 'me', 0)"
        )
        run(
            "INSERT INTO tombstones (id, user_id, capture_uuid, deleted_at)"
            " VALUES (1, 1, 'c-gone', '2026-11-30 10:00:00')"
        )
        # c-kept logged at 3 (moved from 1), c-gone at 4, user 2's one capture at 5.
        run(
            "INSERT INTO sync_log (id, user_id, capture_uuid, changed_at) VALUES"
            " (3, 1, 'c-kept', '2026-11-30 09:00:00'), (4, 1, 'c-gone', '2026-11-30 11:00:00'),"
            " (5, 2, 'c-other', '2026-11-30 12:00:00')"
        )
        db.session.commit()
        upgrade()
        rows = lambda sql: db.session.execute(text(sql)).all()  # noqa: E731
        assert rows("SELECT uuid, log_seq FROM encounters ORDER BY id") == [
            ("c-kept", 3),
            ("c-quiet", 0),  # never logged: listed by no cursor, as before
        ]
        assert rows("SELECT capture_uuid, log_seq, logged_at FROM tombstones") == [
            ("c-gone", 4, "2026-11-30 11:00:00")
        ]
        assert rows("SELECT id, log_position FROM users ORDER BY id") == [(1, 4), (2, 5)]
        assert "sync_log" not in inspect(db.engine).get_table_names()
        assert rows("SELECT count(*) FROM hooks") == [(1,)]  # nothing copied, nothing cascaded
        db.session.commit()
        downgrade(revision="5e1f0a7c9d21")
        assert rows("SELECT id, user_id, capture_uuid FROM sync_log ORDER BY id") == [
            (6, 1, "c-kept"),
            (7, 1, "c-gone"),
        ]
        assert rows("SELECT count(*) FROM users") == [(2,)]
        assert rows("SELECT count(*) FROM hooks") == [(1,)]
        db.session.commit()
        db.engine.dispose()
