"""The per-connection SQLite settings that docs/performance.md lists, as the app applies them."""

import os
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import make_app
from webapp.database import WAL_AUTOCHECKPOINT_PAGES
from webapp.extensions import db


@pytest.fixture
def sqlite_app(tmp_path):
    return make_app("sqlite", tmp_path, None)


def _pragma(name: str):
    return db.session.execute(text(f"PRAGMA {name}")).scalar()


def test_every_connection_gets_the_documented_settings(sqlite_app):
    with sqlite_app.app_context():
        assert _pragma("journal_mode") == "wal"
        assert _pragma("synchronous") == 1  # NORMAL
        assert _pragma("foreign_keys") == 1
        assert _pragma("wal_autocheckpoint") == WAL_AUTOCHECKPOINT_PAGES
        assert _pragma("temp_store") == 2  # MEMORY


def _open_temp_files() -> list[str]:
    """Return the SQLite temporary files this process has open (they are unlinked at once)."""
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor)
        if "etilqs_" in target:  # SQLite's prefix for its temporary files
            found.append(target)
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
def test_a_large_savepoint_keeps_its_journal_in_memory(sqlite_app):
    """A savepoint that changes more than 64 KB of pages must not spill to a temp file.

    A sync push that is applied again after a race puts its new captures in a savepoint
    that changes ~260 KB of pages (so did every push until the first attempt went
    without one); with SQLite's default temp_store each created and deleted a file on disk.
    """
    with sqlite_app.app_context():
        db.session.execute(text("CREATE TABLE spill (body TEXT)"))
        for _ in range(300):  # ~300 KB of pages
            db.session.execute(text("INSERT INTO spill VALUES (:body)"), {"body": "x" * 1000})
        db.session.commit()
        with db.session.begin_nested():
            # Changing pages that were there before the savepoint journals their old content.
            db.session.execute(text("UPDATE spill SET body = upper(body)"))
            assert _open_temp_files() == []
        db.session.commit()
        assert db.session.execute(text("SELECT count(*) FROM spill WHERE body LIKE 'X%'")).scalar()
