"""The sync writer (webapp/sync/writer.py): one process applying batches of new captures.

In these tests the writer runs in a thread of the test process, on the test's SQLite file
and its own connection, as gunicorn.conf.py runs it in a process of its own (the last
tests run it so, under gunicorn).
"""

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from tests.conftest import add_user, make_app
from tests.outreach_support import free_port
from tests.test_sync_api import DEVICE, new_id, push, statuses, token_for, upsert
from webapp.contacts.models import Contact, Encounter
from webapp.database import writer_turn
from webapp.events.models import Event
from webapp.extensions import db
from webapp.sync import service, writer
from webapp.sync.models import ChangeRecord
from webapp.sync.writer import Writer

ROOT = Path(__file__).resolve().parent.parent

VCARD = "BEGIN:VCARD\nVERSION:3.0\nFN:Jonas Berg\nORG:Acme\nTEL:+49 30 {}\nEND:VCARD"


class Running:
    """A writer serving on a socket from a thread, stopped by stop()."""

    def __init__(self, app: Flask, path: str) -> None:
        self.writer = Writer(app)
        self.path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.writer.serve, args=(path, self._stop))
        self._thread.start()
        deadline = time.monotonic() + 5
        while not os.path.exists(path):
            assert time.monotonic() < deadline, "the writer did not listen"
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        assert not self._thread.is_alive()


def _app(tmp_path: Path, name: str = "test") -> Flask:
    folder = tmp_path / name
    folder.mkdir()
    return make_app("sqlite", folder, None, SYNC_WRITER_SOCKET=str(folder / "writer.sock"))


@pytest.fixture
def wapp(tmp_path) -> Flask:
    return _app(tmp_path)


@pytest.fixture
def running(wapp: Flask):
    serving = Running(wapp, wapp.config["SYNC_WRITER_SOCKET"])
    yield serving
    serving.stop()
    writer.disconnect()


_made = iter(range(1000, 10**6))


def _people(event_uuid: str | None = None) -> list[dict]:
    """Three new people, as varied as a phone sends them (new ones each call)."""
    n = next(_made)
    return [
        upsert(
            new_id(),
            name="Maria Keller",
            email=f"Maria.{n}@Example.org",
            org="Globex",
            title="CTO",
            note="talked about sync",
            rating="hot",
            offer="intro to Jonas",
            ask="a referral",
            event_id=event_uuid,
            hooks=[
                {"type": "send_resource", "detail": "the write-up", "owed_by": "me"},
                {"type": "meet", "detail": "next week", "owed_by": "them"},
            ],
        ),
        upsert(
            new_id(),
            raw=VCARD.format(n),
            name="",
            hooks=[{"type": "stay_in_touch", "owed_by": "me"}],
        ),
        upsert(
            new_id(), name="Ana Silva", url=f"https://www.linkedin.com/in/ana-silva-{n}", hooks=[]
        ),
    ]


def _tables(app: Flask) -> dict[str, list[tuple]]:
    """Every row the sync writes, without the times of writing (which two runs differ in)."""
    times = {"received_at", "updated_at", "created_at"}
    out = {}
    with app.app_context():
        for name in (
            "change_records",
            "contacts",
            "contact_handles",
            "encounters",
            "hooks",
            "pending_plans",
        ):
            table = db.metadata.tables[name]
            columns = [c for c in table.columns if c.name not in times]
            out[name] = [
                tuple(r) for r in db.session.execute(select(*columns).order_by(table.c.id))
            ]
        out["users"] = [
            tuple(r) for r in db.session.execute(text("SELECT id, log_position FROM users"))
        ]
    return out


def _event(app: Flask, user_id: int, uuid: str) -> None:
    with app.app_context():
        db.session.add(Event(user_id=user_id, name="PyCon DE", uuid=uuid))
        db.session.commit()


def test_the_writer_stores_what_the_worker_would(tmp_path):
    """The same batches, once through the writer and once by the worker itself."""
    here, there = _app(tmp_path, "writer"), _app(tmp_path, "worker")
    there.config["SYNC_WRITER_SOCKET"] = ""  # this one writes for itself
    event_uuid = new_id()
    tokens = []
    for app in (here, there):
        user = add_user(app, "alice@example.com", "Alice Adams")
        _event(app, user, event_uuid)
        tokens.append(token_for(app, user))
    batches = [_people(event_uuid), _people()]
    serving = Running(here, here.config["SYNC_WRITER_SOCKET"])
    try:
        for app, token in zip((here, there), tokens, strict=True):
            client = app.test_client()
            for batch in batches:
                response = push(client, token, batch)
                assert response.status_code == 200
                assert statuses(response) == ["applied"] * 3
    finally:
        serving.stop()
        writer.disconnect()
    assert serving.writer.applied == 2 and serving.writer.declined == 0
    ours, theirs = _tables(here), _tables(there)
    assert ours == theirs
    assert len(ours["encounters"]) == 6 and len(ours["hooks"]) == 6
    assert len(ours["pending_plans"]) == 2  # the drafts are planned when Alice looks


def test_a_batch_through_the_writer_answers_as_the_api_does(wapp, running):
    alice = add_user(wapp, "alice@example.com", "Alice Adams")
    token = token_for(wapp, alice)
    client = wapp.test_client()
    first = push(client, token, _people())
    second = push(client, token, _people())
    assert running.writer.applied == 2
    assert [r["status"] for r in first.get_json()["results"]] == ["applied"] * 3
    # The cursor is the change log's position before the batch, as the worker's own.
    changes = client.get(
        f"/api/v1/changes?since={first.get_json()['cursor']}",
        headers={"Authorization": f"Bearer {token}"},
    ).get_json()
    assert len(changes["changes"]) == 6
    later = client.get(
        f"/api/v1/changes?since={second.get_json()['cursor']}",
        headers={"Authorization": f"Bearer {token}"},
    ).get_json()
    assert len(later["changes"]) == 3
    # The drafts come when Alice opens her follow-ups, as for any sync batch.
    with wapp.app_context():
        names = set(db.session.scalars(select(Contact.name)))
    assert {"Maria Keller", "Jonas Berg", "Ana Silva"} <= names


def test_what_the_writer_declines_the_worker_applies(wapp, running):
    alice = add_user(wapp, "alice@example.com", "Alice Adams")
    token = token_for(wapp, alice)
    client = wapp.test_client()
    batch = _people()
    assert statuses(push(client, token, batch)) == ["applied"] * 3
    assert running.writer.applied == 1
    # A replay: duplicates, nothing twice.
    assert statuses(push(client, token, batch)) == ["duplicate"] * 3
    # An edit of a capture the server has: merged by the worker.
    edit = upsert(batch[0]["data"]["capture_id"], minutes=5, name="Maria Keller", note="new")
    # A known person (her e-mail), two captures of one new person, a rejected change.
    known = upsert(new_id(), name="Maria K.", email=batch[0]["data"]["email"].lower())
    twice = [upsert(new_id(), name="Lee", email="lee@example.org") for _ in range(2)]
    bad = upsert(new_id(), rating="lukewarm")
    for changes, expected in (
        ([edit], ["applied"]),
        ([known], ["applied"]),
        (twice, ["applied", "applied"]),
        ([bad, upsert(new_id(), name="Kim")], ["rejected", "applied"]),
    ):
        assert statuses(push(client, token, changes)) == expected
    assert running.writer.applied == 1
    # Sent and declined: the replay, the edit, the known person, the same one twice (a
    # batch with a rejected change is not sent).
    assert running.writer.declined == 4
    with wapp.app_context():
        assert db.session.scalar(select(func.count()).select_from(Encounter)) == 7
        maria = db.session.scalars(select(Contact).where(Contact.name == "Maria Keller")).one()
        assert len(maria.encounters) == 2  # her capture and "Maria K."
        lee = db.session.scalars(select(Contact).where(Contact.name == "Lee")).all()
        assert len(lee) == 1
        note = db.session.scalar(
            select(Encounter.note).where(Encounter.uuid == batch[0]["data"]["capture_id"])
        )
        assert note == "new"


def test_with_no_writer_there_the_worker_writes(wapp):
    alice = add_user(wapp, "alice@example.com", "Alice Adams")
    token = token_for(wapp, alice)
    assert not os.path.exists(wapp.config["SYNC_WRITER_SOCKET"])
    assert statuses(push(wapp.test_client(), token, _people())) == ["applied"] * 3


def test_a_writer_that_went_away_and_came_back(wapp):
    alice = add_user(wapp, "alice@example.com", "Alice Adams")
    token = token_for(wapp, alice)
    client = wapp.test_client()
    path = wapp.config["SYNC_WRITER_SOCKET"]
    first = Running(wapp, path)
    assert statuses(push(client, token, _people())) == ["applied"] * 3
    first.stop()
    assert statuses(push(client, token, _people())) == ["applied"] * 3  # by the worker
    second = Running(wapp, path)
    try:
        assert statuses(push(client, token, _people())) == ["applied"] * 3
    finally:
        second.stop()
        writer.disconnect()
    assert (first.writer.applied, second.writer.applied) == (1, 1)
    with wapp.app_context():
        assert db.session.scalar(select(func.count()).select_from(Encounter)) == 9


def test_a_late_answer_is_never_taken_for_the_next_batch(wapp, running):
    """The writer waits for the turn past the worker's patience: the worker gives up and
    applies the batch itself; the writer's late work is answered "duplicate"."""
    alice = add_user(wapp, "alice@example.com", "Alice Adams")
    token = token_for(wapp, alice)
    batch = _people()
    with wapp.test_request_context():
        prepared = service.prepare_batch(alice, DEVICE, batch)
        dialect = db.engine.dialect
        with writer_turn(5000):  # another writer holds the turn
            started = time.monotonic()
            assert writer.submit(running.path, alice, prepared, dialect, 0.3) is None
            assert time.monotonic() - started < 2
        # The writer applies it once the turn is free; the worker's own try finds it done.
        deadline = time.monotonic() + 5
        while running.writer.applied < 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        db.session.remove()
    assert statuses(push(wapp.test_client(), token, batch)) == ["duplicate"] * 3
    # The next batch gets its own answer, not the one that came late.
    assert statuses(push(wapp.test_client(), token, _people())) == ["applied"] * 3
    assert running.writer.applied == 2


def test_batches_that_arrive_together_share_a_commit(wapp):
    alice = add_user(wapp, "alice@example.com", "Alice Adams")
    batches = [_people(), _people(), _people()]
    serving = Writer(wapp)
    with wapp.test_request_context():
        dialect = db.engine.dialect
        messages = [
            writer._message(alice, service.prepare_batch(alice, DEVICE, b), dialect)
            for b in batches
        ]
        db.session.remove()
    # The middle one again: inside the same transaction it is already known.
    answers = serving.apply_group([messages[0], messages[1], messages[1], messages[2]])
    assert answers[0] == 0 and answers[1] == 3 and answers[2] is None and answers[3] == 6
    serving.connection.close()
    with wapp.app_context():
        assert db.session.scalar(select(func.count()).select_from(Encounter)) == 9
        assert db.session.scalar(select(func.count()).select_from(ChangeRecord)) == 9


def test_a_worker_of_another_release_is_declined(wapp, running):
    alice = add_user(wapp, "alice@example.com", "Alice Adams")
    with wapp.test_request_context():
        message = writer._message(
            alice, service.prepare_batch(alice, DEVICE, _people()), db.engine.dialect
        )
        db.session.remove()
    assert running.writer.apply_group([("another layout", *message[1:])]) == [None]


def test_only_its_owner_can_reach_the_socket(wapp, running):
    mode = stat.S_IMODE(os.stat(running.path).st_mode)
    assert mode & 0o077 == 0


def test_it_refuses_a_database_that_is_not_a_sqlite_file(tmp_path):
    env = {**os.environ, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    done = subprocess.run(
        [sys.executable, "-m", "webapp.sync.writer", str(tmp_path / "w.sock")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == writer.CANNOT_SERVE
    assert "SQLite file" in done.stderr


def _gunicorn(tmp_path: Path, socket_path: Path) -> tuple[subprocess.Popen, int, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'g.sqlite3'}",
        SECRET_KEY="test-secret-for-gunicorn",
        HOOKLINE_SYNC_WRITER_SOCKET=str(socket_path),
        FLASK_APP="webapp",
    )
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [str(bin_dir / "flask"), "db", "upgrade"], env=env, cwd=ROOT, check=True, timeout=120
    )
    port = free_port()
    with (tmp_path / "gunicorn.log").open("w") as log:
        server = subprocess.Popen(
            [
                str(bin_dir / "gunicorn"),
                "-w",
                "2",
                "-b",
                f"127.0.0.1:{port}",
                "webapp:create_app()",
            ],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return server, port, env


def _writer_pid(socket_path: Path) -> int | None:
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            found = b"webapp.sync.writer" in command and str(socket_path).encode() in command
            if found and b"--supervise" not in command:
                return int(pid)
    return None


def _wait(condition, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return found


def _post(port: int, token: str) -> list[str]:
    body = json.dumps({"device_id": DEVICE, "changes": _people()}).encode()
    request = urllib.request.Request(  # noqa: S310
        f"http://127.0.0.1:{port}/api/v1/sync",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return [r["status"] for r in json.loads(answer.read())["results"]]


def test_under_gunicorn_the_writer_runs_beside_the_workers_and_comes_back(tmp_path):
    socket_path = tmp_path / "writer.sock"
    server, port, env = _gunicorn(tmp_path, socket_path)
    try:
        bin_dir = Path(sys.executable).parent
        flask = [str(bin_dir / "flask")]
        subprocess.run(
            [*flask, "user", "create", "a@example.org", "--password", "long-password-1"],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=60,
        )
        token = subprocess.run(
            [*flask, "user", "token", "a@example.org"],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.strip()
        pid = _wait(lambda: _writer_pid(socket_path))
        _wait(socket_path.exists)

        def posted() -> bool:
            try:
                return _post(port, token) == ["applied"] * 3
            except OSError:
                return False

        _wait(posted)
        os.kill(pid, signal.SIGKILL)  # the writer dies: the workers write, and it comes back
        assert _post(port, token) == ["applied"] * 3
        again = _wait(lambda: (p := _writer_pid(socket_path)) not in (None, pid) and p)
        assert again != pid
        _wait(socket_path.exists)
        assert _post(port, token) == ["applied"] * 3
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert _writer_pid(socket_path) is None  # stopped with gunicorn
    log = (tmp_path / "gunicorn.log").read_text()
    assert "[sync-writer] applying new captures on" in log
    export = subprocess.run(
        [str(Path(sys.executable).parent / "flask"), "export", "--user", "a@example.org"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert export.returncode == 0, export.stderr
    # Three batches of three new people, each stored once: by the writer, by a worker while
    # the writer was gone, by the writer again.
    data = json.loads(export.stdout)
    captures = [e["id"] for contact in data["contacts"] for e in contact["encounters"]]
    assert len(data["contacts"]) == 9
    assert len(captures) == len(set(captures)) == 9


def test_only_a_sqlite_file_is_handed_to_the_writer(app, alice, monkeypatch, tmp_path):
    """With PostgreSQL (or no socket) the worker writes itself and never asks a writer."""
    asked = []
    monkeypatch.setattr(writer, "submit", lambda *args: asked.append(args))
    app.config["SYNC_WRITER_SOCKET"] = str(tmp_path / "nobody-listens.sock")
    token = token_for(app, alice)
    assert statuses(push(app.test_client(), token, _people())) == ["applied"] * 3
    with app.app_context():
        sqlite = db.engine.dialect.name == "sqlite"
    assert len(asked) == (1 if sqlite else 0)  # SQLite: asked, and it declined (None)
    app.config["SYNC_WRITER_SOCKET"] = ""
    assert statuses(push(app.test_client(), token, _people())) == ["applied"] * 3
    assert len(asked) == (1 if sqlite else 0)
