"""The SQLite writers' queue: a waiting writer gets the lock when it is let go, or Busy."""

import fcntl
import signal
import threading
import time

import pytest
from flask import Flask

from webapp.auth.models import User
from webapp.database import Busy, write_transaction, writer_turn
from webapp.extensions import db


@pytest.fixture
def lock_path(app: Flask) -> str:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if not uri.startswith("sqlite"):
        pytest.skip("the writer queue is SQLite's")
    return uri.removeprefix("sqlite:///") + "-writer.lock"


def _hold(path: str, seconds: float, started: threading.Event) -> threading.Thread:
    def hold() -> None:
        with open(path, "a+") as other_writer:
            fcntl.flock(other_writer, fcntl.LOCK_EX)
            started.set()
            time.sleep(seconds)
            fcntl.flock(other_writer, fcntl.LOCK_UN)

    thread = threading.Thread(target=hold)
    thread.start()
    return thread


def test_the_main_thread_waits_in_the_kernel_and_gets_the_turn(app, lock_path):
    started = threading.Event()
    thread = _hold(lock_path, 0.3, started)
    started.wait(5)
    before = signal.getsignal(signal.SIGALRM)
    with app.app_context():
        t0 = time.monotonic()
        with writer_turn(5000, db.engine):
            waited = time.monotonic() - t0
    thread.join()
    assert waited >= 0.25  # it did wait for the holder
    assert signal.getsignal(signal.SIGALRM) is before  # the handler is put back
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # and the timer cleared


def _busy_while_held(app: Flask, path: str) -> None:
    """Ask for the turn with a 50 ms limit while another writer holds it for 0.5 s."""
    started = threading.Event()
    thread = _hold(path, 0.5, started)
    started.wait(5)
    with app.app_context(), pytest.raises(Busy), writer_turn(50, db.engine):
        pass
    thread.join()


def test_the_main_thread_gives_up_after_the_timeout(app, lock_path):
    _busy_while_held(app, lock_path)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_timer_already_set_is_left_alone_and_the_wait_polls(app, lock_path):
    """A test runner's own SIGALRM timeout, say: writer_turn must not replace it."""
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
    signal.setitimer(signal.ITIMER_REAL, 30)
    try:
        _busy_while_held(app, lock_path)
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 0  # still running
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert fired == []


def test_another_thread_polls_for_its_turn(app, lock_path):
    got: list[float] = []

    def writer() -> None:
        with app.app_context():
            t0 = time.monotonic()
            with writer_turn(5000, db.engine):
                got.append(time.monotonic() - t0)

    with open(lock_path, "a+") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        thread = threading.Thread(target=writer)
        thread.start()
        time.sleep(0.2)
        assert got == []  # still waiting
        fcntl.flock(holder, fcntl.LOCK_UN)
        thread.join(5)
    assert len(got) == 1 and got[0] >= 0.15


def _free(path: str) -> bool:
    with open(path, "a+") as other_writer:
        try:
            fcntl.flock(other_writer, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(other_writer, fcntl.LOCK_UN)
        return True


def test_the_commit_passes_the_turn_on(app, lock_path, alice):
    """The next writer may start as soon as the commit is on disk, not when the block ends;
    a rolled-back transaction passes it on when the block ends."""
    with app.app_context():
        with write_transaction(5000):
            db.session.get(User, alice).name = "Alice"
            db.session.flush()
            assert not _free(lock_path)
            nested = db.session.begin_nested()
            nested.commit()  # a savepoint released is not the commit
            assert not _free(lock_path)
            db.session.commit()
            assert _free(lock_path)
        with pytest.raises(RuntimeError), write_transaction(5000):
            assert not _free(lock_path)
            raise RuntimeError("the writer fails")
        assert _free(lock_path)
        assert db.session.get(User, alice).name == "Alice"
