"""A phone that captures, edits, deletes and syncs over a flaky network, checked against a model.

Hypothesis drives a RuleBasedStateMachine: the phone keeps an outbox; a sync may lose its
response (so the phone sends the same changes again), old batches are replayed, and the
server restarts (a new app and client on the same database). After every step the server
must hold exactly what the model says: nothing duplicated, nothing lost, nothing deleted
coming back.
"""

import shutil
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import func, select

from tests.conftest import add_user, make_app
from webapp.auth.tokens import issue_token
from webapp.contacts.models import Encounter
from webapp.extensions import db
from webapp.sync.models import ChangeRecord

DEVICE = "0b9d3f4e-4a52-4d8e-9f57-1f0d2c3b4a50"
START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
names = st.text(alphabet="abcdefghij KLM", min_size=1, max_size=12).map(str.strip).filter(bool)
notes = st.text(alphabet="xyz .,!", max_size=20)


class PhoneSync(RuleBasedStateMachine):
    """One user's phone syncing with the server."""

    def __init__(self) -> None:
        super().__init__()
        # A RAM disk where there is one: this test commits hundreds of times per example.
        shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
        self.dir = Path(tempfile.mkdtemp(prefix="hookline-stateful-", dir=shm))
        self.app = make_app("sqlite", self.dir, None)
        user_id = add_user(self.app, "alice@example.com", "Alice")
        with self.app.app_context():
            _row, self.token = issue_token(user_id)
            db.session.commit()
        self.user_id = user_id
        self.client = self.app.test_client()
        self.clock = 0
        self.phone: dict[str, dict] = {}  # what the phone shows
        self.outbox: list[dict] = []
        self.sent: list[list[dict]] = []  # batches the server has seen
        self.server: dict[str, dict] = {}  # the model of the server
        self.applied_ids: set[str] = set()
        self.restarted = False  # restart again only after something new was sent
        self.feed_checked = -1

    def teardown(self) -> None:
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _change(self, op: str, data: dict) -> dict:
        self.clock += 1
        return {
            "id": str(uuid.uuid4()),
            "seq": self.clock,
            "kind": "capture",
            "op": op,
            "at": (START + timedelta(minutes=self.clock)).isoformat(),
            "data": data,
        }

    @rule(name=names, note=notes)
    def capture(self, name: str, note: str) -> None:
        capture_id = str(uuid.uuid4())
        fields = {"name": name, "note": note}
        self.phone[capture_id] = fields
        self.outbox.append(self._change("upsert", {"capture_id": capture_id, **fields}))

    @precondition(lambda self: self.phone)
    @rule(data=st.data(), note=notes)
    def edit(self, data, note: str) -> None:
        capture_id = data.draw(st.sampled_from(sorted(self.phone)))
        fields = {**self.phone[capture_id], "note": note}
        self.phone[capture_id] = fields
        self.outbox.append(self._change("upsert", {"capture_id": capture_id, **fields}))

    @precondition(lambda self: self.phone)
    @rule(data=st.data())
    def delete(self, data) -> None:
        capture_id = data.draw(st.sampled_from(sorted(self.phone)))
        del self.phone[capture_id]
        self.outbox.append(self._change("delete", {"capture_id": capture_id}))

    def _push(self, batch: list[dict]) -> dict:
        response = self.client.post(
            "/api/v1/sync",
            json={"device_id": DEVICE, "changes": batch},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    def _model_apply(self, batch: list[dict], results: list[dict]) -> None:
        for change, result in zip(batch, results, strict=True):
            first_time = change["id"] not in self.applied_ids
            assert result["status"] == ("applied" if first_time else "duplicate"), result
            if not first_time:
                continue
            self.applied_ids.add(change["id"])
            data = change["data"]
            if change["op"] == "delete":
                self.server[data["capture_id"]] = None
            else:
                assert self.server.get(data["capture_id"], {}) is not None
                self.server[data["capture_id"]] = {
                    "name": data["name"],
                    "note": data["note"].strip(),
                }

    @precondition(lambda self: self.outbox)
    @rule(lose_response=st.booleans())
    def sync(self, lose_response: bool) -> None:
        batch = list(self.outbox)
        results = self._push(batch)["results"]
        self._model_apply(batch, results)
        self.sent.append(batch)
        self.restarted = False
        if not lose_response:
            self.outbox.clear()  # else the phone never heard back and will send them again

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def replay(self, data) -> None:
        batch = data.draw(st.sampled_from(self.sent))
        results = self._push(batch)["results"]
        assert [r["status"] for r in results] == ["duplicate"] * len(batch)

    @precondition(lambda self: not self.restarted)
    @rule()
    def restart(self) -> None:
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()
        self.app = make_app("sqlite", self.dir, None)
        self.client = self.app.test_client()
        self.restarted = True

    @invariant()
    def server_matches_the_model(self) -> None:
        with self.app.app_context():
            rows = db.session.execute(
                select(Encounter.uuid, Encounter.name, Encounter.note).where(
                    Encounter.user_id == self.user_id
                )
            ).all()
            records = db.session.scalar(select(func.count()).select_from(ChangeRecord))
        live = {uuid: fields for uuid, fields in self.server.items() if fields is not None}
        assert len(rows) == len({row.uuid for row in rows})
        assert {row.uuid: {"name": row.name, "note": row.note} for row in rows} == live
        assert records == len(self.applied_ids)

    @invariant()
    def the_feed_agrees(self) -> None:
        if self.feed_checked == len(self.applied_ids):
            return  # nothing new on the server since the last look
        self.feed_checked = len(self.applied_ids)
        page = self.client.get(
            "/api/v1/changes?limit=500", headers={"Authorization": f"Bearer {self.token}"}
        ).get_json()
        live = {c["capture_id"] for c in page["changes"] if c["op"] == "upsert"}
        gone = {c["capture_id"] for c in page["changes"] if c["op"] == "delete"}
        assert live == {u for u, fields in self.server.items() if fields is not None}
        assert gone == {u for u, fields in self.server.items() if fields is None}


PhoneSync.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestPhoneSync = PhoneSync.TestCase
