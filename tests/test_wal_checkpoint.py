"""SQLite's WAL is copied into the database by a background thread, not inside commits."""

import os
import threading
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from tests.conftest import make_app
from webapp import database
from webapp.database import WalCheckpointer, writer_turn
from webapp.extensions import db


@pytest.fixture
def sqlite_app(tmp_path, monkeypatch):
    """An app on a SQLite file whose checkpoints are recorded.

    app.extensions["seen_checkpoints"]: (frames in the WAL, thread name, whether the
    checkpointer itself held the writers' turn) for each checkpoint, and ("fdatasync",
    path, whether in the turn) for each sync of the database file by the thread.
    """
    seen: list[tuple[int | str, str, bool]] = []
    inside = threading.local()
    real_turn, real_checkpoint = database.writer_turn, WalCheckpointer.checkpoint

    @contextmanager
    def turn(*args, **kwargs):
        with real_turn(*args, **kwargs):
            inside.held = True
            try:
                yield
            finally:
                inside.held = False

    def recorded(self):
        frames, copied = real_checkpoint(self)
        seen.append((frames, threading.current_thread().name, getattr(inside, "held", False)))
        return frames, copied

    real_fdatasync = os.fdatasync

    def fdatasync(fd):
        if threading.current_thread().name == "wal-checkpoint":
            path = os.readlink(f"/proc/self/fd/{fd}")
            seen.append(("fdatasync", path, getattr(inside, "held", False)))
        real_fdatasync(fd)

    monkeypatch.setattr(database, "writer_turn", turn)
    monkeypatch.setattr(WalCheckpointer, "checkpoint", recorded)
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    monkeypatch.setattr(WalCheckpointer, "PAUSE", 0.0)
    app = make_app("sqlite", tmp_path, None)
    app.extensions["seen_checkpoints"] = seen
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _write(n: int = 1) -> None:
    """Commit n small writes, each in the writers' turn, as sync batches take it."""
    for _ in range(n):
        with writer_turn(5000, db.engine):
            db.session.execute(text("CREATE TABLE IF NOT EXISTS notes (body TEXT)"))
            db.session.execute(text("INSERT INTO notes VALUES (:body)"), {"body": "x" * 3000})
            db.session.commit()


def _wait_for(predicate, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "the checkpoint thread did not get there"
        time.sleep(0.01)


def _wait_for_quiet(seen: list, seconds: float = 0.3) -> None:
    """Wait until no checkpoint has been recorded for a while (the thread has caught up)."""
    count, since = len(seen), time.monotonic()
    while time.monotonic() - since < seconds:
        time.sleep(0.02)
        if len(seen) != count:
            count, since = len(seen), time.monotonic()


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


def test_the_last_commit_before_a_quiet_spell_is_checkpointed(sqlite_app):
    """The thread is woken once a commit is in the WAL, not before it lands there (then the
    last batch before a pause would wait unsynced until the next commit)."""
    seen = sqlite_app.extensions["seen_checkpoints"]
    with sqlite_app.app_context():
        for _ in range(5):
            _write()
            _wait_for(lambda: seen)
            _wait_for_quiet(seen)
            raw = db.engine.raw_connection()
            try:
                _busy, frames, copied = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            finally:
                raw.close()
            assert seen[-1][0] == frames == copied  # the thread's own pass had it all
            seen.clear()


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
        _wait_for_quiet(seen)
        seen.clear()
        _write()
        _wait_for(lambda: seen)
        frames, _, held = seen[0]
        assert frames <= 5 and not held  # the one commit since, not the twenty before it


def test_the_restart_turn_is_left_only_the_last_commits(sqlite_app, monkeypatch):
    """A checkpoint beside writers leaves what it copied unsynced (SQLite syncs the file
    only when a checkpoint reaches the WAL's end), so the one in the writers' turn synced
    all of it. Before the turn the thread syncs the database file itself and checkpoints
    once more beside the writers; in the turn only the last commits are left."""
    monkeypatch.setattr(WalCheckpointer, "RESET_AT", 5)
    seen = sqlite_app.extensions["seen_checkpoints"]
    with sqlite_app.app_context():
        _write(20)
        _wait_for(lambda: any(entry[2] for entry in seen if entry[0] != "fdatasync"))
        _wait_for_quiet(seen)
        database_file = os.path.realpath(db.engine.url.database)
    held = next(place for place, entry in enumerate(seen) if entry[0] != "fdatasync" and entry[2])
    synced = [place for place in range(held) if seen[place][0] == "fdatasync"]
    assert synced, "the database file was not synced before the turn"
    _, path, in_turn = seen[synced[-1]]
    assert path == database_file and not in_turn  # beside the writers
    assert seen[synced[-1] - 1][0] > 5  # after a checkpoint that found a long WAL
    catch_up = seen[synced[-1] + 1 : held]
    assert catch_up and not any(entry[2] for entry in catch_up)  # once more, beside them


def test_disposing_the_engine_ends_the_thread(sqlite_app):
    with sqlite_app.app_context():
        checkpointer = db.engine._hookline_checkpointer

        def running() -> bool:  # this engine's thread: other tests' may still be idling
            thread = checkpointer._thread
            return thread is not None and thread.is_alive()

        _write()
        _wait_for(running)
        first = checkpointer._thread
        db.engine.dispose()
        assert not first.is_alive()
        _write()  # a commit after that starts a new one
        _wait_for(running)
        assert checkpointer._thread is not first


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


def test_the_restart_comes_before_sqlites_own_checkpoint_inside_a_commit():
    """Past wal_autocheckpoint pages a committing writer checkpoints inside its commit, the
    stall the background thread exists to avoid: the thread's restart must come first."""
    from webapp.database import WAL_AUTOCHECKPOINT_PAGES

    # With room for the WAL's growth between two of the thread's checks (~4,000 frames).
    assert WalCheckpointer.RESET_AT * 2 <= WAL_AUTOCHECKPOINT_PAGES


def test_a_checkpoint_under_way_when_the_engine_is_disposed_closes_its_connection(
    tmp_path, monkeypatch
):
    """The engine's old pool closes what it holds, then takes the checkpoint's connection
    back: left there, that connection stayed open until collected (Python 3.13 warns)."""
    app = make_app("sqlite", tmp_path, None)
    with app.app_context():
        engine = db.engine
        checkpointer = engine._hookline_checkpointer
        old_pool, real_connect = engine.pool, engine.connect

        def connect_then_dispose():
            connection = real_connect()
            engine.dispose()  # as an app's teardown does, from another thread
            return connection

        monkeypatch.setattr(engine, "connect", connect_then_dispose)
        checkpointer.checkpoint()
        assert engine.pool is not old_pool
        assert old_pool.checkedin() == 0
