"""The per-connection SQLite settings that docs/performance.md lists, as the app applies them."""

import os
import subprocess
import sys
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


# Run in a process of their own: SQLite's configuration is the process's, and this test
# process has had SQLite in use since long before these tests.
_MEMORY_IN_USE = """
import ctypes, sqlite3, sys
import _sqlite3
library = ctypes.CDLL(_sqlite3.__file__)
library.sqlite3_memory_used.restype = ctypes.c_int64
{before}
from webapp import create_app
from webapp.database import stop_counting_sqlite_memory
from webapp.extensions import db
from sqlalchemy import text
app = create_app({{"SQLALCHEMY_DATABASE_URI": "sqlite:///" + sys.argv[1], "SECRET_KEY": "x"}})
with app.app_context():
    db.session.execute(text("CREATE TABLE t (x)"))
    db.session.execute(text("INSERT INTO t VALUES (1)"))
    db.session.commit()
    print(stop_counting_sqlite_memory(), library.sqlite3_memory_used() > 0,
          db.session.execute(text("SELECT count(*) FROM t")).scalar(), {after})
"""


def _run_fresh(tmp_path, before: str = "", after: str = "None") -> list[str]:
    code = _MEMORY_IN_USE.format(before=before, after=after)
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "memory.sqlite3")],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_app_stops_sqlite_counting_its_memory(tmp_path):
    """With an app's connection open, SQLite has counted nothing: the statistics are off
    (with them on it would hold tens of kilobytes for that connection)."""
    off, counted, rows, _ = _run_fresh(tmp_path)
    assert (off, counted, rows) == ("True", "False", "1")


def test_sqlite_already_in_use_is_left_as_it_is(tmp_path):
    """A connection opened before the app (another library's, say) keeps SQLite from being
    shut down for the setting: the statistics stay on, and both connections work."""
    before = "early = sqlite3.connect(':memory:'); early.execute('CREATE TABLE e (x)')"
    after = "early.execute('SELECT count(*) FROM e').fetchone()[0]"
    off, counted, rows, early_rows = _run_fresh(tmp_path, before, after)
    assert (off, counted, rows, early_rows) == ("False", "True", "1", "0")
