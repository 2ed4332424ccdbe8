"""SQLite's WAL is copied into the database by a background thread, not inside commits."""

import fcntl
import os
import threading
import time

import pytest
from sqlalchemy import text

from tests.conftest import make_app
from webapp.database import WalCheckpointer
from webapp.extensions import db


def _writers_turn_taken(engine) -> bool:
    fd = os.open(f"{engine.url.database}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


@pytest.fixture
def sqlite_app(tmp_path, monkeypatch):
    """An app on a SQLite file whose checkpoints are recorded.

    app.extensions["seen_checkpoints"]: (frames in the WAL, thread name, whether the
    writers' turn was held) for each checkpoint.
    """
    seen: list[tuple[int, str, bool]] = []
    real = WalCheckpointer.checkpoint

    def recorded(self):
        held = _writers_turn_taken(self.engine)
        frames = real(self)
        seen.append((frames, threading.current_thread().name, held))
        return frames

    monkeypatch.setattr(WalCheckpointer, "checkpoint", recorded)
    monkeypatch.setattr(WalCheckpointer, "PAUSE", 0.0)
    app = make_app("sqlite", tmp_path, None)
    app.extensions["seen_checkpoints"] = seen
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _write(n: int = 1) -> None:
    for _ in range(n):
        db.session.execute(text("CREATE TABLE IF NOT EXISTS notes (body TEXT)"))
        db.session.execute(text("INSERT INTO notes VALUES (:body)"), {"body": "x" * 3000})
        db.session.commit()


def _wait_for(predicate, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "the checkpoint thread did not get there"
        time.sleep(0.01)


def _checkpointer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "wal-checkpoint"]


def test_a_commit_wakes_a_checkpoint_off_the_committing_thread(sqlite_app):
    seen = sqlite_app.extensions["seen_checkpoints"]
    with sqlite_app.app_context():
        seen.clear()
        _write()
        _wait_for(lambda: seen)
        frames, where, held = seen[0]
        assert frames > 0 and where == "wal-checkpoint" and not held


def test_a_long_wal_is_started_afresh_once_a_checkpoint_has_copied_it_all(sqlite_app, monkeypatch):
    """Under steady writes a checkpoint beside them never finishes the WAL, so it would only
    grow; past RESET_AT frames the thread takes the writers' turn for a final checkpoint,
    and the next write starts the WAL from its beginning again."""
    monkeypatch.setattr(WalCheckpointer, "RESET_AT", 5)
    seen = sqlite_app.extensions["seen_checkpoints"]
    with sqlite_app.app_context():
        _write(20)
        _wait_for(lambda: any(held for _, _, held in seen))
        first = next(place for place, (_, _, held) in enumerate(seen) if held)
        assert first > 0 and seen[first - 1][0] > 5  # after one that found a long WAL
        _wait_for(lambda: not _writers_turn_taken(db.engine))
        seen.clear()
        _write()
        _wait_for(lambda: seen)
        frames, _, held = seen[0]
        assert frames <= 5 and not held  # the one commit since, not the twenty before it


def test_disposing_the_engine_ends_the_thread(sqlite_app):
    with sqlite_app.app_context():
        _write()
        _wait_for(lambda: _checkpointer_threads())
        db.engine.dispose()
        assert not _checkpointer_threads()
        _write()  # a commit after that starts a new one
        _wait_for(lambda: _checkpointer_threads())


def test_an_idle_thread_ends_and_the_next_commit_starts_another(sqlite_app, monkeypatch):
    monkeypatch.setattr(WalCheckpointer, "IDLE", 0.05)
    seen = sqlite_app.extensions["seen_checkpoints"]
    with sqlite_app.app_context():
        _write()
        _wait_for(lambda: seen)
        _wait_for(lambda: not _checkpointer_threads())
        seen.clear()
        _write()
        _wait_for(lambda: seen)
