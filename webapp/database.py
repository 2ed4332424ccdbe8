"""Database engine settings that SQLAlchemy does not apply by itself."""

import ctypes
import fcntl
import logging
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app
from sqlalchemy import Table, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, scoped_session

from webapp.bulk import select_rows
from webapp.db_types import json_text
from webapp.extensions import db

logger = logging.getLogger(__name__)

#: Pages in the WAL at which a commit checkpoints itself (SQLite's default is 1,000): a
#: backstop, twice WalCheckpointer.RESET_AT. Under a steady sync load the WAL grows ~16,000
#: frames a second or more, and the restart, checked after each background checkpoint,
#: found it up to 3,800 frames past RESET_AT; a backstop that close was within reach of a
#: slower moment. At most 384 MB of WAL beside the database.
WAL_AUTOCHECKPOINT_PAGES = 96000


#: sqlite3.h: SQLITE_CONFIG_MEMSTATUS, whether SQLite counts the memory it allocates
_SQLITE_CONFIG_MEMSTATUS = 9
_library_lock = threading.Lock()
_library_tuned = False


def stop_counting_sqlite_memory() -> bool:
    """Turn SQLite's memory statistics off in this process; return whether they are off.

    With them on (SQLite's default), every allocation and free inside SQLite takes one
    process-wide mutex to count it: ~4,800 a sync batch, beside the checkpointer thread's
    allocations, and 7% of the write transaction's instructions (docs/performance.md,
    "Settings"). Nothing here reads them (sqlite3_memory_used, the soft heap limit).
    Python's sqlite3 does not offer sqlite3_config, so it is called through ctypes on the
    library the module is linked with. SQLite takes the setting only while shut down,
    which is allowed only when nothing of it is in use: this shuts it down only when its
    statistics say it holds no memory at all (no connection open, in this process, by
    anyone), and otherwise leaves it as it is. Call it before the first connection.
    """
    global _library_tuned
    with _library_lock:
        if _library_tuned:
            return True
        try:
            import _sqlite3

            library = ctypes.CDLL(_sqlite3.__file__)  # its symbols and its SQLite's
            library.sqlite3_memory_used.restype = ctypes.c_int64
            version = library.sqlite3_libversion_number()
        except (ImportError, OSError, AttributeError):
            return False
        major, minor, patch = sqlite3.sqlite_version_info
        if version != major * 1_000_000 + minor * 1_000 + patch:
            return False  # not the SQLite the module uses
        if library.sqlite3_memory_used() != 0:
            logger.info("SQLite is in use already: its memory statistics stay on")
            return False
        library.sqlite3_shutdown()
        off = library.sqlite3_config(_SQLITE_CONFIG_MEMSTATUS, ctypes.c_int(0)) == 0
        if library.sqlite3_initialize() != 0:
            raise RuntimeError("SQLite did not start again after its configuration")
        _library_tuned = off
        return off


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """Turn on WAL, foreign keys and a busy timeout on every new SQLite connection."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    # WAL lets the phone's sync write while the laptop reads; NORMAL is durable in WAL mode.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # WalCheckpointer copies the WAL after commits; this is the backstop should it fall
    # behind (a commit that finds more pages than this checkpoints them itself).
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    # Temporary data in memory, above all the journal a SAVEPOINT keeps of the pages it
    # changes: past 64 KB SQLite spills it to a new file in /var/tmp, and a sync batch's
    # savepoint changes ~65 pages (260 KB), so every batch created, wrote and deleted a
    # file on disk (a third of the workers' system time per batch; docs/performance.md).
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def track_in_transaction(session: Session | scoped_session, key: str, value: object) -> None:
    """Keep value in session.info[key] with the (nested) transaction it was written in."""
    if isinstance(session, scoped_session):
        session = session()
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(key, []).append((transaction, value))


def drop_rolled_back(session: Session, key: str, rolled_back) -> list:
    """Forget what was tracked under key in rolled_back or a savepoint inside it; return it.

    For "after_soft_rollback" listeners: what a rolled-back savepoint wrote is gone, what
    its parent and siblings wrote stays tracked.
    """
    kept, dropped = [], []
    for transaction, value in session.info.get(key, []):
        ancestor = transaction
        while ancestor is not None and ancestor is not rolled_back:
            ancestor = ancestor.parent
        (kept if ancestor is None else dropped).append((transaction, value))
    session.info[key] = kept
    return [value for _, value in dropped]


def allocate_ids(connection: Connection, counts: dict[Table, int]) -> dict[Table, list[int]]:
    """Reserve primary keys for rows about to be inserted, with one query for every table.

    Rows inserted with their ids known need no RETURNING: SQLite cannot return the ids of
    an INSERT of many rows in a guaranteed order, so without this every row of a table
    with no other unique column took a statement of its own. PostgreSQL takes the ids from
    the tables' sequences. On SQLite the ids follow the largest one in use, which is what
    SQLite itself would pick, read under the write lock: if the transaction has not
    written yet (pysqlite runs reads outside any transaction), it takes the lock first
    with BEGIN IMMEDIATE, so no other writer can take the same ids before this one's
    INSERTs.
    """
    wanted = [(table, n) for table, n in counts.items() if n > 0]
    if not wanted:
        return {table: [] for table in counts}
    if connection.dialect.name == "sqlite" and not connection.connection.in_transaction:
        _begin_immediate(connection)
    # Table names from the models' metadata and counts as integers: nothing from input.
    if connection.dialect.name == "postgresql":
        # The sequence is looked up once per table: OFFSET 0 keeps the planner from moving
        # the lookup into every row (a batch's three tables: 0.1 ms instead of 0.3 ms).
        ids = "SELECT array_agg(nextval(s.seq)) FROM (SELECT pg_get_serial_sequence('{}', 'id')"
        ids += "::regclass AS seq OFFSET 0) s, generate_series(1, {})"
        parts = [f"({ids.format(table.name, int(n))})" for table, n in wanted]
        (row,) = select_rows(connection, "SELECT " + ", ".join(parts))  # noqa: S608
        found = {table: sorted(ids) for (table, _n), ids in zip(wanted, row, strict=True)}
    else:
        parts = [f"(SELECT max(id) FROM {table.name})" for table, _n in wanted]  # noqa: S608
        (row,) = select_rows(connection, "SELECT " + ", ".join(parts))  # noqa: S608
        found = {
            table: list(range((top or 0) + 1, (top or 0) + 1 + n))
            for (table, n), top in zip(wanted, row, strict=True)
        }
    return {table: found.get(table, []) for table in counts}


def begin_write(busy_timeout_ms: int | None = None) -> None:
    """Open the write transaction: BEGIN IMMEDIATE on SQLite; nothing extra on PostgreSQL.

    A deferred SQLite transaction that reads and then writes can fail at once with
    "database is locked" when another writer got in between; taking the write lock first
    makes writers queue for the busy timeout instead.
    """
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        # Set per connection, and only when it differs (a statement a batch otherwise).
        info = connection.connection.info
        if busy_timeout_ms is not None and info.get("busy_timeout") != busy_timeout_ms:
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            info["busy_timeout"] = busy_timeout_ms
        _begin_immediate(connection)


def _begin_immediate(connection: Connection) -> None:
    """Take SQLite's write lock now, straight through the driver (bulk.select_rows):
    SQLAlchemy's execution context and result for a statement that returns nothing cost
    more than the statement (0.08 M instructions a sync batch)."""
    select_rows(connection, "BEGIN IMMEDIATE")


class Busy(Exception):
    """The database stayed locked for longer than the caller will wait."""


#: PostgreSQL's deadlock_detected and serialization_failure: the transaction was aborted
#: for what another one held, not for what it wrote, so running it again succeeds.
ABORTED_FOR_ANOTHER = ("40P01", "40001")


def sqlstate(error: Exception) -> str | None:
    """Return the SQLSTATE of a database error raised through SQLAlchemy (PostgreSQL's
    driver gives one; SQLite's does not)."""
    return getattr(getattr(error, "orig", None), "sqlstate", None)


def _writer_lock_path(engine: Engine) -> str | None:
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    return f"{path}-writer.lock" if path and path != ":memory:" else None


@contextmanager
def writer_turn(timeout_ms: int, engine: Engine | None = None) -> Iterator["Turn | None"]:
    """On a SQLite file, queue this host's writers on a file lock that hands over at once.

    SQLite's own busy handler sleeps in steps growing to 100 ms, so a waiting writer
    usually sleeps through the moment the database is free, and under load the database
    idles between batches. Waiting on flock instead, the kernel wakes the next writer the
    moment the last one lets go (see _take_turn). SQLite's busy timeout stays as the
    backstop for writers that do not take this lock (the laptop's forms, the CLI). Raises
    Busy after timeout_ms. The lock goes with the open file, so a worker that dies holding
    it frees it.
    """
    path = _writer_lock_path(engine or db.engine)
    if path is None:
        yield None
        return
    turn = Turn(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    try:
        _take_turn(turn.fd, timeout_ms)
        yield turn
    finally:
        turn.release()


class Turn:
    """The writers' turn, held as an flock on fd; release() passes it on (once)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            os.close(self.fd)  # closing the file releases the lock


DEFAULT_WRITE_WAIT_MS = 5000


def write_wait_ms() -> int:
    """Return how long a writer waits for its turn: SYNC_BUSY_TIMEOUT_MS, or 5 s."""
    return int(current_app.config.get("SYNC_BUSY_TIMEOUT_MS") or DEFAULT_WRITE_WAIT_MS)


@contextmanager
def write_transaction(timeout_ms: int) -> Iterator[None]:
    """Take the writers' turn and open the write transaction (begin_write) in it.

    The caller commits inside, and the commit passes the turn on (_after_commit). On any
    error the session is rolled back before the turn passes on, so the next writer never
    waits behind a transaction left open. Raises Busy
    (or the driver's OperationalError) when the turn or the lock does not come in time.
    """
    with writer_turn(timeout_ms) as turn:
        session = db.session()
        if turn is not None:
            session.info[_TURN] = turn  # passed on by the commit itself (_after_commit)
        try:
            begin_write(timeout_ms)
            yield
        except BaseException:
            db.session.rollback()  # before the next writer's turn, not after
            raise
        finally:
            session.info.pop(_TURN, None)


_TURN = "hookline_writers_turn"


POLL_S = 0.0005


def _take_turn(fd: int, timeout_ms: int) -> None:
    """Take the exclusive flock on fd within timeout_ms, or raise Busy.

    The main thread (gunicorn's sync workers run requests there) blocks in flock and lets
    SIGALRM end the wait, unless an interval timer is already set (a test runner's
    timeout, say), which it leaves alone. Other threads poll every POLL_S: a polling
    writer sees the lock free on average half a poll late, which at 2 ms cost a quarter of
    the sync endpoint's throughput.
    """
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    if threading.current_thread() is threading.main_thread() and signal.getitimer(
        signal.ITIMER_REAL
    ) == (0.0, 0.0):
        previous = signal.signal(signal.SIGALRM, _waited_too_long)
        try:
            signal.setitimer(signal.ITIMER_REAL, timeout_ms / 1000)
            fcntl.flock(fd, fcntl.LOCK_EX)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        return
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise Busy("database busy") from None
            time.sleep(POLL_S)


def _waited_too_long(_signum, _frame) -> None:
    raise Busy("database busy")


class WalCheckpointer:
    """Copy a SQLite file's WAL into the database from a background thread, after commits.

    Left to itself, SQLite checkpoints inside the commit that takes the WAL past
    wal_autocheckpoint pages: that writer, and every writer queued behind it, waits for a
    whole checkpoint and its two fsyncs (a 20-capture sync batch writes ~100-170 pages, so
    every ~8th batch did). Run after each response instead, a checkpoint held its worker
    ~4-5 ms, mostly waiting for fsync, before it could take the next request. Here one
    thread per process does it, woken by commits and pausing PAUSE seconds first so that
    one checkpoint covers the commits that arrive meanwhile; sqlite3 releases the GIL
    while it copies and syncs, so requests go on beside it.

    A checkpoint that runs beside writers never finishes the WAL, and SQLite starts the
    WAL file afresh only once a checkpoint has copied all of it, so under steady load the
    file would grow for as long as the load lasts. Once it holds more than RESET_AT
    frames, the thread takes the writers' turn (writer_turn) for one more checkpoint,
    after syncing the database file and catching up beside the writers (_restart), so
    that the turn has only the last few commits to copy and sync; the next writer starts
    the WAL from the beginning. The thread ends after IDLE seconds without a commit and
    the next commit starts another. wal_autocheckpoint (see _sqlite_pragmas) stays as a
    backstop, above RESET_AT: a commit that finds more pages than that checkpoints inside
    itself.

    Each such turn holds every writer for a checkpoint's fsync, so it should come rarely:
    at 48,000 frames (192 MB) it comes every ~750 sync batches; at 16,000 it came three
    times as often and gave about 5% fewer batches a second, at 4,000 about 5% fewer again
    (docs/performance.md). Since the database file is synced before it, the turn takes
    3.5-6 ms at p50 instead of 19-30 ms.
    """

    PAUSE = 0.2
    IDLE = 10.0
    RESET_AT = 48000
    CATCH_UP = 3
    FEW = 200
    TURN_TIMEOUT_MS = 1000

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._pid = 0
        self._db_fd: int | None = None

    def poke(self) -> None:
        """Ask for a checkpoint soon; start the thread if this process has none running."""
        with self._lock:
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()  # a forked worker inherits no threads
                self._stop = threading.Event()
                self._thread = threading.Thread(
                    target=self._run, args=(self._stop,), name="wal-checkpoint", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        """End the thread, waiting for a checkpoint under way (the engine is being disposed)."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        self._wake.set()
        if thread is not None and self._pid == os.getpid():
            thread.join(timeout=5)

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if not self._wake.wait(self.IDLE):
                with self._lock:
                    if not self._wake.is_set() and self._thread is threading.current_thread():
                        self._thread = None
                        return
                continue
            self._wake.clear()
            if stop.wait(self.PAUSE):
                return
            try:
                frames, copied = self.checkpoint()
                if frames > self.RESET_AT:
                    self._restart(copied)
            except Busy:
                pass  # writers kept the turn: try again after the next commit
            except Exception:  # an optimization only: SQLite's own checkpoints still work
                logger.warning("WAL checkpoint failed", exc_info=True)

    def _restart(self, copied: int) -> None:
        """Catch up beside the writers, then take their turn for the last few commits.

        Besides the sync (_sync_database_file), the turn's checkpoint used to copy the
        ~1,000 frames written during the ~30 ms checkpoint before it. So the thread
        checkpoints beside the writers again while a pass still finds more than FEW new
        frames (at most CATCH_UP passes), and the turn is left with a few milliseconds'
        worth.
        """
        self._sync_database_file()
        for _ in range(self.CATCH_UP):
            _frames, now = self.checkpoint()
            if now - copied <= self.FEW:
                break
            copied = now
        with writer_turn(self.TURN_TIMEOUT_MS, self.engine):
            self.checkpoint()

    def _sync_database_file(self) -> None:
        """fdatasync the database file, so that the checkpoint in the turn has little to sync.

        SQLite syncs the database file only after a checkpoint that reaches the end of the
        WAL, so the checkpoints beside writers leave what they copied unsynced, and the one
        in the turn synced all of it: 19-30 ms at p50, every writer waiting. The descriptor
        stays open for the life of the process: closing any descriptor of a SQLite file
        drops the POSIX locks this process's connections hold on it
        (sqlite.org/howtocorrupt.html).
        """
        if self._db_fd is None:
            self._db_fd = os.open(self.engine.url.database, os.O_RDONLY)
        os.fdatasync(self._db_fd)

    def checkpoint(self) -> tuple[int, int]:
        """Run one PASSIVE checkpoint; return the WAL's frames and how many are copied.

        Both are -1 when the file is not in WAL mode or another checkpoint is running.
        """
        pool = self.engine.pool
        with self.engine.connect() as connection:
            _busy, frames, copied = connection.exec_driver_sql(
                "PRAGMA wal_checkpoint(PASSIVE)"
            ).one()
        if self.engine.pool is not pool:
            # The engine was disposed meanwhile (see stop): its old pool closed the
            # connections it held and then took this one back. Close it too.
            pool.dispose()
        return frames, copied


def configure(app: Flask) -> None:
    """Set engine options that depend on the database, before the engine is made.

    JSON columns are written by db_types.json_text (orjson). SQLite: no pool_pre_ping,
    and no memory statistics (stop_counting_sqlite_memory).
    PostgreSQL: no server-side prepared statements (psycopg's prepare_threshold=None), so
    every statement is planned with its actual values. Once a statement had been prepared
    (psycopg does it at the fifth run), PostgreSQL could switch to a generic plan; on tables
    without statistics yet (a new deployment, autovacuum not yet run) that plan looked up a
    batch's 20 ids by scanning every row of the user and filtering: each sync batch got
    slower as the user grew (docs/performance.md).
    """
    uri = str(app.config.get("SQLALCHEMY_DATABASE_URI", ""))
    options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    options.setdefault("json_serializer", json_text)
    if uri.startswith("postgresql"):
        options.setdefault("connect_args", {}).setdefault("prepare_threshold", None)
    elif uri.startswith("sqlite"):
        # A connection to a file cannot go stale as one to a server can: no ping on checkout
        # (a SELECT 1 before every request's first statement).
        options["pool_pre_ping"] = False
        stop_counting_sqlite_memory()


def _plain_savepoints(dialect) -> None:
    """Send SAVEPOINT, RELEASE and ROLLBACK TO as plain text (SQLite and PostgreSQL).

    SQLAlchemy compiles a fresh savepoint clause for every one of them (~0.1 ms each,
    twice per sync batch); the text is the same as its compiler's (sql/compiler.py:
    visit_savepoint and friends), and the name is SQLAlchemy's own ("sa_savepoint_N").
    """
    quote = dialect.identifier_preparer.quote
    dialect.do_savepoint = lambda connection, name: connection.exec_driver_sql(
        f"SAVEPOINT {quote(name)}"
    )
    dialect.do_release_savepoint = lambda connection, name: connection.exec_driver_sql(
        f"RELEASE SAVEPOINT {quote(name)}"
    )
    dialect.do_rollback_to_savepoint = lambda connection, name: connection.exec_driver_sql(
        f"ROLLBACK TO SAVEPOINT {quote(name)}"
    )


def init_app(app: Flask) -> None:
    """Attach engine listeners once the engine exists."""
    with app.app_context():
        engine: Engine = db.engine
        if engine.dialect.name in ("sqlite", "postgresql"):
            _plain_savepoints(engine.dialect)
        if engine.dialect.name == "postgresql":
            # A Core INSERT of many rows without RETURNING goes as one multi-row statement
            # instead of psycopg's statement per row (bulk.insert_rows does the same for
            # the sync hot path's own INSERTs).
            engine.dialect.use_insertmanyvalues_wo_returning = True
        if engine.dialect.name == "sqlite" and not getattr(engine, "_hookline_pragmas", False):
            event.listen(engine, "connect", _sqlite_pragmas)
            engine._hookline_pragmas = True  # type: ignore[attr-defined]
            if engine.url.database not in (None, "", ":memory:"):
                checkpointer = WalCheckpointer(engine)
                engine._hookline_checkpointer = checkpointer  # type: ignore[attr-defined]
                event.listen(engine, "engine_disposed", lambda _engine: checkpointer.stop())


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    """Once a commit is on the WAL: pass the writers' turn on, wake the checkpointer.

    The turn goes as soon as the database has the commit, not when write_transaction
    ends: what SQLAlchemy does after the driver's commit (expiring the session's objects,
    the connection back to its pool) and the answer need no lock, and took about a
    fifteenth of the turn.
    """
    if session.get_nested_transaction() is not None:
        return  # a savepoint released, not a commit
    turn = session.info.pop(_TURN, None)
    if turn is not None:
        turn.release()
    checkpointer = getattr(session.get_bind(), "_hookline_checkpointer", None)
    if checkpointer is not None:
        checkpointer.poke()
