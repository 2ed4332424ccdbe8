"""The sync writer: one process applies the phones' batches of new captures on a SQLite file.

With SQLite every write waits for the one write lock, and a batch's transaction was the
sync endpoint's limit: the writers' turn was held ~94% of the time under load
(docs/performance.md). Two things made each transaction longer than it had to be, and
neither can be helped from inside a gunicorn worker:

- SQLite empties a connection's page cache whenever another connection has written since
  its last transaction, so with two workers taking turns every batch read its ~80 pages
  again (0.7-1.1 ms a batch on a grown database).
- Each batch paid for its own commit, and only batches handled by one process can share a
  transaction (threads in one worker share the interpreter lock, which undid the gain).

So, when SYNC_WRITER_SOCKET names a Unix socket, gunicorn.conf.py starts this process
beside the workers (and starts it again should it end). A worker still checks the batch
and builds its rows (service.prepare_batch, the larger part of the work, on every core),
then sends the rows here (marshal: plain tuples of strings and numbers) and waits for
the answer. The writer takes whatever batches the workers have sent meanwhile, applies
them in one transaction in the writers' turn (database.writer_turn, which the laptop's
forms and the workers still take for every other write), commits once, and answers each.

It handles one case, the usual one at an event: every change of the batch creates a
capture of a new person, named by no contact yet and by no other capture of the batch,
whose drafts are planned later (outreach/pending.py). It checks that inside the
transaction, as service.apply_batch does; for anything else (a replay, an edit, a
deletion, a known person, a rejected change, an introduction), and whenever it is not
there, is busy or fails, the answer is None and the worker applies the batch itself as
before. Every change is idempotent, so a batch the writer applied after its worker gave
up waiting is answered "duplicate" by the worker's own attempt: nothing is applied twice.

What it writes is what store_captures writes for such a batch (tests/test_sync_writer.py
compares the two row by row).
"""

import contextlib
import hashlib
import logging
import marshal
import os
import selectors
import signal
import socket
import struct
import sys
from typing import Any

from flask import Flask

from webapp.bulk import _plan, _run, select_rows

logger = logging.getLogger(__name__)

_LENGTH = struct.Struct("!I")
#: The largest message either side accepts: a sync batch is at most 1 MB of JSON.
MAX_MESSAGE = 8 * 1024 * 1024
#: The exit status of a writer that cannot serve this database: not started again.
CANNOT_SERVE = 3


# ---------------------------------------------------------------- the wire


def _send(sock: socket.socket, message: Any) -> None:
    data = marshal.dumps(message)
    sock.sendall(_LENGTH.pack(len(data)) + data)


def _receive(sock: socket.socket) -> Any:
    (size,) = _LENGTH.unpack(_exactly(sock, _LENGTH.size))
    if size > MAX_MESSAGE:
        raise ConnectionError(f"message of {size} bytes")
    # Only this user's processes can reach the socket (_listen): the app's own workers.
    return marshal.loads(_exactly(sock, size))  # noqa: S302


def _exactly(sock: socket.socket, size: int) -> bytes:
    buffer = bytearray()
    while len(buffer) < size:
        part = sock.recv(size - len(buffer))
        if not part:
            raise ConnectionError("connection closed")
        buffer += part
    return bytes(buffer)


class _Tables:
    """The four tables' INSERT plans (bulk.py) and where the ids go in their rows."""

    def __init__(self, dialect) -> None:
        from webapp.capture.store import _CONTACTS, _ENCOUNTERS, _HOOKS
        from webapp.contacts.models import ContactHandle
        from webapp.sync.models import ChangeRecord

        self.records = _plan(ChangeRecord.__table__, dialect, False)
        self.contacts = _plan(_CONTACTS, dialect, True)
        self.handles = _plan(ContactHandle.__table__, dialect, False)
        self.encounters = _plan(_ENCOUNTERS, dialect, True)
        self.hooks = _plan(_HOOKS, dialect, True)
        self.tables = (_CONTACTS, _ENCOUNTERS, _HOOKS)
        self.contact_id = self.contacts.names.index("id")
        self.encounter_id = self.encounters.names.index("id")
        self.encounter_contact = self.encounters.names.index("contact_id")
        self.encounter_log = self.encounters.names.index("log_seq")
        self.hook_id = self.hooks.names.index("id")
        self.hook_encounter = self.hooks.names.index("encounter_id")
        if self.handles.names != ["user_id", "contact_id", "kind", "value"]:
            raise RuntimeError(f"contact_handles columns changed: {self.handles.names}")
        # Both sides must mean the same columns by a row's places: a worker of another
        # release (gunicorn reloads its workers, not this process) is answered None.
        layout = repr([p.names for p in (self.records, self.contacts, self.encounters, self.hooks)])
        self.version = hashlib.sha256(layout.encode()).hexdigest()[:16]


# ---------------------------------------------------------------- a worker's side

_connections: dict[str, socket.socket] = {}
_tables: list[_Tables] = []


def submit(path: str, user_id: int, prepared, dialect, timeout_s: float) -> int | None:
    """Have the writer at path apply a prepared batch; return the user's change log
    position from before it (the answer's cursor), or None: apply it yourself.

    None also when the batch is not one the writer takes (see the module's docstring),
    or the writer is not there, too slow (timeout_s) or failing.
    """
    message = _message(user_id, prepared, dialect)
    if message is None:
        return None
    sock = _connections.pop(path, None)
    try:
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout_s)
            sock.connect(path)
        sock.settimeout(timeout_s)
        _send(sock, message)
        answer = _receive(sock)
    except (OSError, ConnectionError, EOFError, ValueError):
        # Not there, gone, or too slow: a late answer must never be read as the next
        # batch's, so this connection is dropped.
        if sock is not None:
            sock.close()
        return None
    _connections[path] = sock
    return answer if isinstance(answer, int) else None


def disconnect() -> None:
    """Close this process's connections to writers (the next batch opens a new one)."""
    while _connections:
        _connections.popitem()[1].close()


def _message(user_id: int, prepared, dialect) -> tuple | None:
    """Return the batch as the writer takes it, or None if it is not such a batch."""
    from webapp.sync.validate import Change

    staged = prepared.staged
    changes = prepared.changes
    if staged is None or not changes:
        return None
    if not all(isinstance(c, Change) and c.id in prepared.records for c in changes):
        return None  # a rejected change, a replay or edit in the batch, a capture twice
    if not _tables:
        _tables.append(_Tables(dialect))
    tables = _tables[0]
    people = []
    for change in changes:
        ready = staged.items[id(change.data)]
        if not ready.later:
            return None  # its drafts are planned in the transaction (an introduction, ...)
        people.append(
            (
                ready.handles,
                tables.contacts.row_values(ready.contact),
                tables.encounters.row_values(ready.encounter),
                [tables.hooks.row_values(hook) for hook in ready.hooks],
            )
        )
    return (
        tables.version,
        user_id,
        sorted({c.id for c in changes}),
        sorted({c.capture_id for c in changes}),
        sorted({c.event_uuid for c in changes if c.event_uuid}),
        [tables.records.row_values(prepared.records[c.id]) for c in changes],
        people,
    )


# ---------------------------------------------------------------- the writer's side


class Writer:
    """Applies the batches sent to it, on one connection of app's SQLite database."""

    def __init__(self, app: Flask) -> None:
        from webapp.extensions import db

        self.app = app
        with app.app_context():
            self.engine = db.engine
        self.tables = _Tables(self.engine.dialect)
        self.wait_ms = int(app.config.get("SYNC_BUSY_TIMEOUT_MS") or 5000)
        self.connection = None
        self.applied = self.declined = 0

    def apply_group(self, messages: list) -> list[int | None]:
        """Apply the batches in one transaction; return each one's answer, in order."""
        from webapp.database import Busy, _begin_immediate, writer_turn

        if self.connection is None:
            self.connection = self.engine.connect()
        connection = self.connection
        answers: list[int | None] = []
        try:
            with writer_turn(self.wait_ms, self.engine):
                _begin_immediate(connection)
                for message in messages:
                    position = self._check(message)
                    if position is not None:
                        self._apply(message)
                    answers.append(position)
                connection.connection.commit()
        except Busy:
            connection.connection.rollback()
            return [None] * len(messages)
        except Exception:
            logger.exception("sync writer: a group of %d batches failed", len(messages))
            self._reset()
            return [None] * len(messages)
        checkpointer = getattr(self.engine, "_hookline_checkpointer", None)
        if checkpointer is not None:
            checkpointer.poke()
        self.applied += sum(a is not None for a in answers)
        self.declined += sum(a is None for a in answers)
        return answers

    def _reset(self) -> None:
        try:
            self.connection.connection.rollback()
        except Exception:  # the connection is gone: a new one next time
            logger.warning("sync writer: rollback failed", exc_info=True)
        try:
            self.connection.close()
        finally:
            self.connection = None

    def _check(self, message: tuple) -> int | None:
        """Return the change log position if the batch is one to apply here, else None.

        The same checks as service.apply_batch makes of new captures (service._prefetch,
        _new_captures), and that each person is new (store_captures): no change id or
        capture id known, no capture deleted, every event there, no handle owned by a
        contact or named twice in the batch.
        """
        version, user_id, change_ids, capture_ids, event_uuids, _records, people = message
        if version != self.tables.version or not change_ids:
            return None
        from webapp.sync.service import known_query

        sql, params = known_query(user_id, change_ids, capture_ids, event_uuids)
        position, events = None, 0
        for kind, _key, ident in select_rows(self.connection, sql, params):
            if kind == "position":
                position = ident or 0
            elif kind == "event":
                events += bool(ident)
            else:
                return None
        if position is None or events != len(event_uuids):
            return None
        seen: set[tuple[str, str]] = set()
        by_kind: dict[str, list[str]] = {}
        for handles, *_rows in people:
            for kind, value in handles:
                if (kind, value) in seen:
                    return None  # one person in two captures: store_captures decides
                seen.add((kind, value))
                by_kind.setdefault(kind, []).append(value)
        if by_kind:
            part = "SELECT 1 FROM contact_handles WHERE user_id = ? AND kind = ? AND value IN ?"
            params = []
            for kind, values in sorted(by_kind.items()):
                params += [user_id, kind, sorted(values)]
            if select_rows(self.connection, " UNION ALL ".join([part] * len(by_kind)), params):
                return None
        return position

    def _apply(self, message: tuple) -> None:
        """Insert the batch's rows as store_captures inserts a batch of new people."""
        from webapp.database import allocate_ids
        from webapp.outreach.pending import leave_for_later
        from webapp.sync.models import take_log_positions

        _version, user_id, _c, _k, _e, records, people = message
        t, connection = self.tables, self.connection
        _run(connection, t.records.sql, records, many=True)
        n_hooks = sum(len(person[3]) for person in people)
        counts = dict(zip(t.tables, (len(people), len(people), n_hooks), strict=True))
        contact_ids, encounter_ids, hook_ids = allocate_ids(connection, counts).values()
        contacts = [
            _with(row, {t.contact_id: ident})
            for (_h, row, _e, _k), ident in zip(people, contact_ids, strict=True)
        ]
        _run(connection, t.contacts.sql, contacts, many=True)
        handles = [
            (user_id, ident, kind, value)
            for (person_handles, *_rows), ident in zip(people, contact_ids, strict=True)
            for kind, value in person_handles
        ]
        if handles:
            _run(connection, t.handles.sql, handles, many=True)
        first = take_log_positions(connection, user_id, len(people))
        encounters = [
            _with(
                row,
                {t.encounter_id: ident, t.encounter_contact: contact, t.encounter_log: first + k},
            )
            for k, ((_h, _c, row, _k), ident, contact) in enumerate(
                zip(people, encounter_ids, contact_ids, strict=True)
            )
        ]
        _run(connection, t.encounters.sql, encounters, many=True)
        next_hook = iter(hook_ids)
        hooks = [
            _with(row, {t.hook_id: next(next_hook), t.hook_encounter: ident})
            for (*_rows, hook_rows), ident in zip(people, encounter_ids, strict=True)
            for row in hook_rows
        ]
        if hooks:
            _run(connection, t.hooks.sql, hooks, many=True)
        with_hooks = zip(people, encounter_ids, strict=True)
        leave_for_later(connection, user_id, [ident for person, ident in with_hooks if person[3]])

    def serve(self, path: str, stop=None) -> None:
        """Answer the workers on the Unix socket at path until stop (an Event) is set."""
        listener = _listen(path)
        selector = selectors.DefaultSelector()
        selector.register(listener, selectors.EVENT_READ)
        try:
            while stop is None or not stop.is_set():
                arrived = []
                for key, _events in selector.select(timeout=0.5):
                    if key.fileobj is listener:
                        sock, _address = listener.accept()
                        sock.settimeout(5)
                        selector.register(sock, selectors.EVENT_READ)
                        continue
                    try:
                        arrived.append((key.fileobj, _receive(key.fileobj)))
                    except (OSError, ConnectionError, EOFError, ValueError):
                        selector.unregister(key.fileobj)
                        key.fileobj.close()
                if not arrived:
                    continue
                answers = self.apply_group([message for _sock, message in arrived])
                for (sock, _message), answer in zip(arrived, answers, strict=True):
                    try:
                        _send(sock, answer)
                    except OSError:
                        selector.unregister(sock)
                        sock.close()
        finally:
            for key in list(selector.get_map().values()):
                key.fileobj.close()
            selector.close()
            if os.path.exists(path):
                os.unlink(path)
            if self.connection is not None:
                self.connection.close()


def _with(row: tuple, values: dict[int, Any]) -> tuple:
    """Return row with the values at their places."""
    out = list(row)
    for place, value in values.items():
        out[place] = value
    return tuple(out)


def _listen(path: str) -> socket.socket:
    """Listen on a Unix socket at path that only this user can reach."""
    if os.path.exists(path):
        os.unlink(path)  # a socket left by a writer that ended
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(old)
    listener.listen(64)
    return listener


def can_serve(app: Flask) -> str | None:
    """Return why the writer cannot serve app's database, or None if it can."""
    from webapp.extensions import db

    with app.app_context():
        url = db.engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return "the sync writer is for a SQLite file; this database is " + url.get_backend_name()
    return None


def main(argv: list[str]) -> int:
    """Run the writer for the app's database on the socket argv[0] or SYNC_WRITER_SOCKET;
    with --supervise first, run it as a child and start it again should it end."""
    logging.basicConfig(level=logging.INFO, format="[sync-writer] %(message)s")
    if argv[:1] == ["--supervise"]:
        return supervise(argv[1:])
    from webapp import create_app

    app = create_app()
    path = argv[0] if argv else app.config.get("SYNC_WRITER_SOCKET")
    if not path:
        print("no socket: set HOOKLINE_SYNC_WRITER_SOCKET", file=sys.stderr)
        return CANNOT_SERVE
    reason = can_serve(app)
    if reason is not None:
        print(reason, file=sys.stderr)
        return CANNOT_SERVE
    signal.signal(signal.SIGTERM, _stop)
    logger.info("applying new captures on %s", path)
    writer = Writer(app)
    with contextlib.suppress(KeyboardInterrupt):
        writer.serve(path)
    logger.info("stopped: %d batches applied, %d declined", writer.applied, writer.declined)
    return 0


def _stop(_signum, _frame) -> None:
    raise KeyboardInterrupt


def supervise(argv: list[str]) -> int:
    """Keep a writer running until SIGTERM, or until the process that started this one
    (gunicorn's master) is gone; then stop it."""
    import subprocess
    import time

    parent = os.getppid()
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    signal.signal(signal.SIGINT, lambda signum, _frame: stopping.append(signum))
    command = [sys.executable, "-m", "webapp.sync.writer", *argv]
    child: subprocess.Popen | None = None
    started = 0.0
    while not stopping and os.getppid() == parent:
        if child is not None and child.poll() is not None:
            if child.returncode == CANNOT_SERVE:
                return CANNOT_SERVE
            logger.warning("the writer ended (status %s): starting it again", child.returncode)
            child = None
        # A writer that ends at once (a broken database, say) is started once a second.
        if child is None and time.monotonic() - started >= 1.0:
            started = time.monotonic()
            child = subprocess.Popen(command)  # noqa: S603  (this interpreter, this module)
        time.sleep(0.2)
    if child is not None and child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
