"""The sync API: idempotent pushes, validation, limits, merges, tombstones and the feed."""

import fcntl
import html
import json
import re
import sqlite3
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.orm import selectinload

from webapp.auth.tokens import issue_token
from webapp.contacts.models import Contact, Encounter
from webapp.database import begin_write
from webapp.events.models import Event
from webapp.extensions import db
from webapp.sync import validate
from webapp.sync.history import history, hook_value
from webapp.sync.models import ChangeRecord, Tombstone
from webapp.sync.service import NOTE_MARKER, Batch, apply_change
from webapp.sync.validate import parse_change

T0 = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)


def token_for(app: Flask, user_id: int) -> str:
    """Issue a personal API token for user_id."""
    with app.app_context():
        _row, token = issue_token(user_id, "test phone")
        db.session.commit()
        return token


def new_id() -> str:
    return str(uuid.uuid4())


def at(minutes: float = 0) -> str:
    """Return an ISO time with an offset, minutes after T0."""
    return (T0 + timedelta(minutes=minutes)).astimezone().isoformat()


def upsert(capture_id: str | None = None, minutes: float = 0, change_id: str | None = None, **data):
    """Build an upsert change; capture_id goes into data when given."""
    data.setdefault("name", "Maria Keller")
    if capture_id is not None:
        data["capture_id"] = capture_id
    return {
        "id": change_id or new_id(),
        "seq": 1,
        "kind": "capture",
        "op": "upsert",
        "at": at(minutes),
        "data": data,
    }


def delete(capture_id: str, minutes: float = 0) -> dict:
    return {
        "id": new_id(),
        "seq": 1,
        "kind": "capture",
        "op": "delete",
        "at": at(minutes),
        "data": {"capture_id": capture_id},
    }


def push(client: FlaskClient, token: str | None, changes: list, device: str | None = None):
    """POST a batch; return the response."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"device_id": device or DEVICE, "changes": changes}
    return client.post("/api/v1/sync", json=body, headers=headers)


def statuses(response) -> list[str]:
    return [r["status"] for r in response.get_json()["results"]]


DEVICE = "0b9d3f4e-4a52-4d8e-9f57-1f0d2c3b4a50"
LAPTOP = "6f0e9a1c-2b3d-4e5f-8a9b-0c1d2e3f4a5b"


def _count(app: Flask, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _encounter(app: Flask, user_id: int, capture_id: str) -> Encounter | None:
    with app.app_context():
        found = db.session.scalar(
            select(Encounter)
            .where(Encounter.user_id == user_id, Encounter.uuid == capture_id)
            .options(selectinload(Encounter.hooks), selectinload(Encounter.contact))
        )
        if found is not None:
            db.session.expunge(found)
        return found


@pytest.fixture
def alice_token(app: Flask, alice: int) -> str:
    return token_for(app, alice)


@pytest.fixture
def bob_token(app: Flask, bob: int) -> str:
    return token_for(app, bob)


def test_it_applies_a_new_capture_with_its_hooks(app, client, alice, alice_token):
    change = upsert(
        email="Maria@Northwind.example",
        note="Postgres replication",
        rating="hot",
        hooks=[{"type": "meet", "detail": "coffee", "owed_by": "them"}],
    )
    response = push(client, alice_token, [change])
    assert response.status_code == 200
    body = response.get_json()
    assert body["results"] == [{"id": change["id"], "status": "applied"}]
    assert isinstance(body["cursor"], str)
    encounter = _encounter(app, alice, change["id"])  # no capture_id: the change id is it
    assert encounter is not None
    assert encounter.email == "maria@northwind.example"
    assert encounter.device_id == DEVICE
    assert encounter.happened_at == T0
    assert encounter.received_at > T0
    assert [(h.type, h.detail, h.owed_by) for h in encounter.hooks] == [("meet", "coffee", "them")]
    assert encounter.contact.emails == ["maria@northwind.example"]


def test_replaying_a_batch_creates_nothing_twice(app, client, alice, alice_token):
    capture_id = new_id()
    batch = [
        upsert(capture_id, email="maria@northwind.example"),
        upsert(capture_id, minutes=5, note="edited"),
        upsert(name="Tomás Ruiz", phone="+34 600 000 000"),
    ]
    assert statuses(push(client, alice_token, batch)) == ["applied"] * 3
    for _ in range(3):
        assert statuses(push(client, alice_token, batch)) == ["duplicate"] * 3
    assert _count(app, Encounter) == 2
    assert _count(app, Contact) == 2
    assert _count(app, ChangeRecord) == 3
    assert _encounter(app, alice, capture_id).note == "edited"


def test_a_change_id_reused_with_other_content_is_rejected(app, client, alice, alice_token):
    change = upsert(note="first")
    push(client, alice_token, [change])
    other = {**change, "data": {**change["data"], "note": "second"}}
    result = push(client, alice_token, [other]).get_json()["results"][0]
    assert result == {
        "id": change["id"],
        "status": "rejected",
        "error": "change id reused with different content",
    }
    assert _encounter(app, alice, change["id"]).note == "first"


def test_concurrent_replays_apply_each_change_once(app, alice, alice_token):
    batch = [upsert(name=f"Person {i}", email=f"p{i}@example.com") for i in range(20)]
    batch += [upsert(batch[0]["id"], minutes=1, name="Person 0", note="later edit")]
    start = threading.Barrier(6)
    answers: list[list[str]] = []
    failures: list[BaseException] = []

    def replay() -> None:
        client = app.test_client()
        start.wait()
        try:
            for _ in range(3):
                response = push(client, alice_token, batch)
                if response.status_code == 503:  # busy: a phone would retry
                    continue
                answers.append(statuses(response))
        except BaseException as error:  # noqa: BLE001
            failures.append(error)

    threads = [threading.Thread(target=replay) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures
    assert answers
    for position in range(len(batch)):
        applied = sum(answer[position] == "applied" for answer in answers)
        assert applied <= 1
        assert all(answer[position] in ("applied", "duplicate") for answer in answers)
    assert _count(app, Encounter) == 20
    assert _count(app, Contact) == 20
    assert _count(app, ChangeRecord) == 21


def test_a_racing_twin_is_caught_by_the_unique_record(app, client, alice, alice_token):
    change = upsert(email="twin@example.com")
    assert statuses(push(client, alice_token, [change])) == ["applied"]
    with app.app_context():
        # As if another request committed this change after our batch looked it up.
        parsed = parse_change(change)
        batch = Batch(alice, DEVICE)
        begin_write()
        assert apply_change(batch, parsed) == {"id": change["id"], "status": "duplicate"}
        changed = parse_change({**change, "data": {"name": "Someone else"}})
        assert apply_change(batch, changed)["status"] == "rejected"
        db.session.commit()
    assert _count(app, Encounter) == 1


def test_more_than_500_changes_are_refused_whole(app, client, alice, alice_token):
    batch = [upsert(name=f"P{i}") for i in range(501)]
    response = push(client, alice_token, batch)
    assert response.status_code == 413
    assert "split" in response.get_json()["error"]
    assert _count(app, Encounter) == 0
    assert statuses(push(client, alice_token, batch[:500])) == ["applied"] * 500


def test_a_batch_over_one_megabyte_is_refused_whole(app, client, alice, alice_token):
    batch = [upsert(name=f"P{i}", note="x" * 3900) for i in range(300)]
    response = push(client, alice_token, batch)
    assert response.status_code == 413
    assert response.is_json
    assert _count(app, Encounter) == 0


def test_invalid_changes_are_rejected_beside_applied_ones(app, client, alice, bob, alice_token):
    with app.app_context():
        bobs_event = Event(user_id=bob, name="Bob's party")
        alices_event = Event(user_id=alice, name="RustConf")
        db.session.add_all([bobs_event, alices_event])
        db.session.commit()
        bobs_event_uuid, alices_event_uuid = bobs_event.uuid, alices_event.uuid
    naive = upsert()
    naive["at"] = "2026-11-21T16:04:05"
    cases = [
        (upsert(name=5), "data.name must be a string"),
        (upsert(note="n" * 4001), "data.note is too long"),
        (upsert(email="x" * 250 + "@example.com"), "data.email is too long"),
        (upsert(email="not-an-address"), "data.email is not a valid email"),
        (upsert(url="javascript:alert(1)"), "data.url must be an http or https link"),
        (upsert(raw="r" * 4097), "data.raw is too long"),
        (upsert(rating="lukewarm"), "data.rating must be"),
        (upsert(hooks=[{"type": "bribe"}]), "data.hooks[0].type 'bribe'"),
        (upsert(hooks=[{"type": "meet", "detail": "d" * 501}]), "data.hooks[0].detail is too"),
        (upsert(hooks="meet"), "data.hooks must be a list"),
        # JSON can spell both; PostgreSQL refuses a NUL, UTF-8 a lone surrogate.
        (upsert(name="Ada\x00Lovelace"), "data.name contains a NUL character"),
        (upsert(org="Acme \ud800"), "data.org contains characters that are not valid Unicode"),
        (upsert(hooks=[{"type": "meet", "detail": "at 5\x00"}]), "data.hooks[0].detail contains a"),
        (upsert(event_id=bobs_event_uuid), "data.event_id is not one of your events"),
        (upsert(name="", email=""), "data needs a name"),
        ({**upsert(), "kind": "contact"}, "unknown kind 'contact'"),
        ({**upsert(), "op": "merge"}, "unknown op 'merge'"),
        (naive, "at must include a UTC offset"),
        ({**upsert(), "data": []}, "data must be a JSON object"),
        ({**upsert(), "id": "42"}, "id must be a UUID"),
    ]
    good = [upsert(name="Valid One"), upsert(name="Valid Two", event_id=alices_event_uuid)]
    batch = [good[0], *(change for change, _ in cases), good[1]]
    response = push(client, alice_token, batch)
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert [r["status"] for r in (results[0], results[-1])] == ["applied", "applied"]
    for (change, expected), result in zip(cases, results[1:-1], strict=True):
        assert result["status"] == "rejected", expected
        assert result["id"] == change["id"]
        assert expected in result["error"]
    assert _count(app, Encounter) == 2
    with app.app_context():
        encounter = db.session.scalar(select(Encounter).where(Encounter.name == "Valid Two"))
        assert encounter.event.uuid == alices_event_uuid


def test_a_json_badge_cannot_smuggle_in_what_no_column_holds(app, client, alice, alice_token):
    raw = '{"name": "Ada\\u0000 Lovelace\\ud800", "company": "Analytical\\u0007 Engines"}'
    response = push(client, alice_token, [upsert(name="", raw=raw)])
    assert statuses(response) == ["applied"]
    with app.app_context():
        encounter = db.session.scalar(select(Encounter).where(Encounter.user_id == alice))
        assert (encounter.name, encounter.org, encounter.raw) == (
            "Ada Lovelace",
            "Analytical Engines",
            raw,
        )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'["a list"]', "body must be"),
        (b'{"device_id": "' + DEVICE.encode() + b'"}', "body must be"),
        (b'{"device_id": "phone", "changes": []}', "device_id must be a UUID"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_a_malformed_body_is_a_400_with_a_json_error(client, alice_token, body, message):
    response = client.post(
        "/api/v1/sync",
        data=body,
        headers={"Authorization": f"Bearer {alice_token}"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert message in response.get_json()["error"]


@pytest.mark.parametrize("header", [None, "Bearer hl_wrong", "Basic abc", "Bearer "])
def test_a_missing_or_bad_credential_is_a_401_json(client, alice, header, alice_token):
    headers = {"Authorization": header} if header else {}
    for response in (
        client.post("/api/v1/sync", json={"device_id": DEVICE, "changes": []}, headers=headers),
        client.get("/api/v1/changes", headers=headers),
    ):
        assert response.status_code == 401
        assert response.is_json
        assert "error" in response.get_json()
        assert "Location" not in response.headers


def test_no_api_answer_may_be_stored_by_a_cache(app, client, auth, alice, alice_token):
    """Token, cookie or no credential at all: a user's data or an error, never cached."""
    headers = {"Authorization": f"Bearer {alice_token}"}
    answers = [
        push(client, alice_token, [upsert()]),
        client.get("/api/v1/changes", headers=headers),
        client.get("/api/v1/changes"),  # 401
        client.get("/api/v1/ping"),
    ]
    assert auth.login().status_code == 302  # the same client, now with a session cookie
    answers.append(client.get("/api/v1/changes"))
    assert [r.headers.get("Cache-Control") for r in answers] == ["private, no-store"] * 5


def test_wrong_methods_answer_405_json(client, alice_token):
    headers = {"Authorization": f"Bearer {alice_token}"}
    assert client.get("/api/v1/sync", headers=headers).status_code == 405
    response = client.post("/api/v1/changes", headers=headers)
    assert response.status_code == 405
    assert response.is_json


def test_the_session_cookie_works_too(as_alice, app, alice):
    change = upsert(name="From the laptop browser")
    response = as_alice.post("/api/v1/sync", json={"device_id": DEVICE, "changes": [change]})
    assert statuses(response) == ["applied"]
    assert as_alice.get("/api/v1/changes").get_json()["changes"][0]["capture_id"] == change["id"]


def test_a_token_request_ignores_the_session_cookie_it_carries(as_alice, app, bob, bob_token):
    # Signed in as Alice, called with Bob's token: Bob's, and Alice's session is untouched.
    change = upsert(name="Bob's contact")
    answer = as_alice.post(
        "/api/v1/sync",
        json={"device_id": DEVICE, "changes": [change]},
        headers={"Authorization": f"Bearer {bob_token}"},
    )
    assert statuses(answer) == ["applied"]
    assert _encounter(app, bob, change["id"]) is not None
    assert "Set-Cookie" not in answer.headers
    assert "Cookie" not in answer.headers.get("Vary", "")
    assert as_alice.get("/api/v1/changes").get_json()["changes"] == []  # still Alice, by cookie
    assert as_alice.get("/capture").status_code == 200


@pytest.mark.csrf
def test_a_cookie_post_needs_the_csrf_header_but_a_token_does_not(app, client, auth, alice):
    token = token_for(app, alice)
    assert auth.login().status_code == 302
    body = {"device_id": DEVICE, "changes": [upsert(name="Needs a header")]}
    refused = client.post("/api/v1/sync", json=body)
    assert refused.status_code == 403
    assert "X-CSRFToken" in refused.get_json()["error"]
    assert _count(app, Encounter) == 0
    html = client.get("/capture").get_data(as_text=True)
    csrf_token = re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)
    accepted = client.post("/api/v1/sync", json=body, headers={"X-CSRFToken": csrf_token})
    assert statuses(accepted) == ["applied"]
    bearer = app.test_client().post(
        "/api/v1/sync",
        json={"device_id": DEVICE, "changes": [upsert(name="Token caller")]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert statuses(bearer) == ["applied"]


def test_a_deleted_capture_never_comes_back(app, client, alice, alice_token):
    capture_id = new_id()
    create = upsert(capture_id, email="gone@example.com")
    other = upsert(email="stays@example.com")
    assert statuses(push(client, alice_token, [create, other])) == ["applied", "applied"]
    assert statuses(push(client, alice_token, [delete(capture_id, minutes=2)])) == ["applied"]
    assert _encounter(app, alice, capture_id) is None
    # A stale phone replays its create, then sends an edit it made before seeing the delete.
    assert statuses(push(client, alice_token, [create])) == ["duplicate"]
    stale = push(client, alice_token, [upsert(capture_id, minutes=9, note="still here?")])
    assert stale.get_json()["results"][0]["error"] == "capture was deleted"
    assert _encounter(app, alice, capture_id) is None
    assert _encounter(app, alice, other["id"]) is not None
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Tombstone)) == 1
        # The person met only in the deleted capture, with nothing else kept, is gone too.
        assert db.session.scalar(select(func.count()).select_from(Contact)) == 1


def test_deleting_a_capture_the_server_never_had_blocks_its_late_create(
    app, client, alice, alice_token
):
    capture_id = new_id()
    assert statuses(push(client, alice_token, [delete(capture_id)])) == ["applied"]
    headers = {"Authorization": f"Bearer {alice_token}"}
    # Nothing was there to remove, so the other devices' feed has nothing to list ...
    assert client.get("/api/v1/changes", headers=headers).get_json()["changes"] == []
    # ... and the device whose outbox still held the create learns from its answer.
    create = upsert(capture_id, email="late@example.com")
    answer = push(client, alice_token, [create]).get_json()["results"]
    assert answer == [{"id": create["id"], "status": "rejected", "error": "capture was deleted"}]
    assert _encounter(app, alice, capture_id) is None


def test_deleting_one_capture_keeps_the_persons_other_encounters(app, client, alice, alice_token):
    first, second = new_id(), new_id()
    push(
        client,
        alice_token,
        [upsert(first, email="m@example.com"), upsert(second, email="m@example.com")],
    )
    push(client, alice_token, [delete(first)])
    kept = _encounter(app, alice, second)
    assert kept is not None
    assert kept.contact.emails == ["m@example.com"]


def test_edits_from_phone_and_laptop_merge_per_field_with_history(
    app, as_alice, alice, alice_token
):
    capture_id = new_id()
    phone = app.test_client()
    original = dict(email="maria@northwind.example", org="Northwind", note="Met at the booth.")
    push(phone, alice_token, [upsert(capture_id, **original)])
    encounter = _encounter(app, alice, capture_id)
    # The laptop fixes the company (now, later than anything the phone did).
    form = {
        "name": "Maria Keller",
        "email": "maria@northwind.example",
        "org": "Northwind Analytics",
        "note": "Met at the booth. Wants the migration write-up.",
    }
    response = as_alice.post(f"/captures/{encounter.id}/edit", data=form)
    assert response.status_code == 303
    # Offline, the phone edited the note and the title from its stale copy (older than the laptop).
    edit = upsert(
        capture_id,
        minutes=30,
        **{**original, "title": "Head of Data", "note": "Met at the booth. Loves Rust."},
    )
    assert statuses(push(phone, alice_token, [edit])) == ["applied"]
    merged = _encounter(app, alice, capture_id)
    assert merged.org == "Northwind Analytics"  # the phone did not change it: laptop's value stays
    assert merged.title == "Head of Data"  # only the phone changed it
    assert "Wants the migration write-up." in merged.note  # both notes kept
    assert "Loves Rust." in merged.note
    assert NOTE_MARKER.strip() in merged.note
    with app.app_context():
        revisions = history(merged.id)
        fields = {(r.field, r.source, r.outcome) for r in revisions}
        assert ("org", "web", "applied") in fields
        assert ("note", "web", "applied") in fields
        assert ("title", DEVICE, "applied") in fields
        assert ("note", DEVICE, "applied") in fields
        org = next(r for r in revisions if r.field == "org")
        assert (org.old_value, org.new_value) == ("Northwind", "Northwind Analytics")


def test_an_older_edit_loses_to_a_newer_one_but_is_kept_in_history(app, client, alice, alice_token):
    capture_id = new_id()
    laptop = app.test_client()
    push(client, alice_token, [upsert(capture_id, org="Acme", rating="warm")])
    push(
        laptop, alice_token, [upsert(capture_id, minutes=20, org="Acme Corp", rating="hot")], LAPTOP
    )
    # The phone was offline: its edit is older than the laptop's.
    push(client, alice_token, [upsert(capture_id, minutes=10, org="ACME Inc", rating="warm")])
    encounter = _encounter(app, alice, capture_id)
    assert (encounter.org, encounter.rating) == ("Acme Corp", "hot")
    with app.app_context():
        kept = [r for r in history(encounter.id) if r.outcome == "kept"]
        assert [(r.field, r.new_value, r.source) for r in kept] == [("org", "ACME Inc", DEVICE)]
    # Re-sending the same stale value is not a new edit; a newer, different one wins.
    push(client, alice_token, [upsert(capture_id, minutes=40, org="ACME Inc", rating="warm")])
    assert _encounter(app, alice, capture_id).org == "Acme Corp"
    push(client, alice_token, [upsert(capture_id, minutes=41, org="ACME Inc.", rating="warm")])
    assert _encounter(app, alice, capture_id).org == "ACME Inc."


def test_hooks_merge_as_a_set_by_type(app, client, alice, alice_token):
    capture_id = new_id()
    laptop = app.test_client()
    meet = {"type": "meet", "detail": "coffee", "owed_by": "me"}
    push(client, alice_token, [upsert(capture_id, hooks=[meet])])
    intro = {"type": "introduce", "detail": "to Priya", "owed_by": "me"}
    push(laptop, alice_token, [upsert(capture_id, minutes=5, hooks=[meet, intro])], LAPTOP)
    lead = {"type": "share_lead", "detail": "", "owed_by": "them"}
    push(client, alice_token, [upsert(capture_id, minutes=6, hooks=[meet, lead])])
    hooks = {h.type for h in _encounter(app, alice, capture_id).hooks}
    assert hooks == {"meet", "introduce", "share_lead"}


def test_a_scanned_badge_fills_only_the_empty_fields(app, client, alice, alice_token):
    vcard = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Aiko Tanaka\r\nORG:Kintsugi Labs\r\n"
        "EMAIL:aiko@kintsugi.example\r\nEND:VCARD"
    )
    scanned = upsert(name="", raw=vcard)
    typed = upsert(name="Aiko T.", raw=vcard.replace("aiko@", "a.tanaka@"))
    refused = upsert(name="", raw="WIFI:S:net;P:secret;;")
    push(client, alice_token, [scanned, typed, refused])
    first = _encounter(app, alice, scanned["id"])
    assert (first.name, first.org, first.email) == (
        "Aiko Tanaka",
        "Kintsugi Labs",
        "aiko@kintsugi.example",
    )
    assert _encounter(app, alice, typed["id"]).name == "Aiko T."


def test_two_batches_editing_one_capture_on_postgresql_both_apply_and_merge(
    app, alice, alice_token, monkeypatch
):
    """Two devices' batches edit capture E at the same time, one editing E and then adding
    a capture, the other adding one and then editing E. Neither edit may be merged with a
    stale E (and be overwritten, or overwrite), and the two must not deadlock (E's row
    against the user's change log, which a new capture takes)."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time")
    from webapp.sync import service

    client = app.test_client()
    e = upsert(name="Edited twice", note="first")
    assert statuses(push(client, alice_token, [e])) == ["applied"]
    edit_a = upsert(e["id"], minutes=1, name="Edited twice", note="from the phone")
    edit_b = upsert(e["id"], minutes=2, name="Edited twice", note="from the tablet")
    new_a, new_b = upsert(name="New from the phone"), upsert(name="New from the tablet")
    # Each batch, once it holds its first lock (a: E's row, b: the change log), waits until
    # the other holds its own, or is waiting for a lock. Without E locked when read, that
    # is a deadlock; with it, b waits for a's E from its start.
    arrived = {"a": threading.Event(), "b": threading.Event()}

    def hold(name: str, other: str) -> None:
        if arrived[name].is_set():
            return  # a retry
        arrived[name].set()
        deadline = time.monotonic() + 10
        while not arrived[other].is_set() and time.monotonic() < deadline:
            waiting = db.session.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
            if waiting:
                return
            time.sleep(0.01)

    real_change, real_new = service.apply_change, service.apply_new

    def apply_change(batch, change):
        result = real_change(batch, change)
        if change.id == edit_a["id"]:
            hold("a", "b")
        return result

    def apply_new(batch, changes, prepared, *, careful=True):
        result = real_new(batch, changes, prepared, careful=careful)
        if any(change.id == new_b["id"] for change in changes):
            hold("b", "a")
        return result

    monkeypatch.setattr(service, "apply_change", apply_change)
    monkeypatch.setattr(service, "apply_new", apply_new)
    answers: dict[str, tuple[int, dict]] = {}

    def send(name: str, changes: list, device: str) -> None:
        response = push(app.test_client(), alice_token, changes, device)
        answers[name] = (response.status_code, response.get_json())

    threads = [
        threading.Thread(target=send, args=("a", [edit_a, new_a], DEVICE)),
        threading.Thread(target=send, args=("b", [new_b, edit_b], LAPTOP)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for name in ("a", "b"):
        status, body = answers[name]
        assert status == 200, (name, body)
        assert [r["status"] for r in body["results"]] == ["applied", "applied"], body
    assert _encounter(app, alice, new_a["id"]) is not None
    assert _encounter(app, alice, new_b["id"]) is not None
    assert _count(app, Encounter) == 3
    # Both changed the note: both texts stay, the older edit's first (docs/sync.md).
    assert (
        _encounter(app, alice, e["id"]).note == "from the phone" + NOTE_MARKER + "from the tablet"
    )


def test_a_locked_database_answers_503_with_retry_after(app, client, alice, alice_token):
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("the SQLite write lock is what this test holds")
    app.config["SYNC_BUSY_TIMEOUT_MS"] = 100
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    change = upsert(name="Waits for the lock")
    holder = sqlite3.connect(path, isolation_level=None, timeout=0.1)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        response = push(client, alice_token, [change])
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "2"
        assert "busy" in response.get_json()["error"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert statuses(push(client, alice_token, [change])) == ["applied"]


def test_the_changes_feed_pages_with_a_cursor(app, client, alice, alice_token):
    ids = [new_id() for _ in range(5)]
    push(client, alice_token, [upsert(i, name=f"P{n}") for n, i in enumerate(ids)])
    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        page = client.get(
            f"/api/v1/changes?since={cursor}&limit=2",
            headers={"Authorization": f"Bearer {alice_token}"},
        ).get_json()
        pages += 1
        seen += [c["capture_id"] for c in page["changes"]]
        cursor = page["cursor"]
        if not page["more"]:
            break
    assert pages == 3
    assert seen == ids
    # Later: one edit and one deletion come after the cursor, nothing else.
    push(client, alice_token, [upsert(ids[1], minutes=3, name="P1 edited"), delete(ids[2])])
    page = client.get(
        f"/api/v1/changes?since={cursor}", headers={"Authorization": f"Bearer {alice_token}"}
    ).get_json()
    assert [(c["capture_id"], c["op"]) for c in page["changes"]] == [
        (ids[1], "upsert"),
        (ids[2], "delete"),
    ]
    data = page["changes"][0]["data"]
    assert data["name"] == "P1 edited"
    assert set(data) >= {"capture_id", "event_id", "hooks", "note", "happened_at", "raw"}
    assert page["more"] is False


def _feed(client: FlaskClient, token: str, cursor: str = "") -> list[tuple[str, str]]:
    page = client.get(
        f"/api/v1/changes?since={cursor}", headers={"Authorization": f"Bearer {token}"}
    ).get_json()
    return [(c["capture_id"], c["op"]) for c in page["changes"]]


def test_the_feed_follows_every_write_and_each_user_has_their_own(
    app, client, alice, alice_token, bob_token
):
    meet = {"type": "meet", "detail": "next week", "owed_by": "me"}
    first, last = upsert(name="Ann", hooks=[meet]), upsert(name="Bo")
    cursor = push(client, alice_token, [first, last]).get_json()["cursor"]
    assert _feed(client, alice_token, cursor) == [(first["id"], "upsert"), (last["id"], "upsert")]
    theirs = upsert(name="Bob's")
    push(client, bob_token, [theirs])
    assert len(_feed(client, alice_token)) == 2  # bob's write takes a place in bob's log only
    cursor = push(client, alice_token, []).get_json()["cursor"]
    with app.app_context():
        # A write by another path (the morning review marking a hook done) moves it too.
        encounter = db.session.scalar(select(Encounter).where(Encounter.uuid == first["id"]))
        encounter.hooks[0].done = True
        db.session.commit()
    # Deleting the capture at the end of the log gives it a later place, never the same.
    push(client, alice_token, [delete(last["id"])])
    assert _feed(client, alice_token, cursor) == [(first["id"], "upsert"), (last["id"], "delete")]
    assert _feed(client, bob_token) == [(theirs["id"], "upsert")]


def test_the_push_cursor_pulls_the_servers_version_of_the_batch(app, client, alice, alice_token):
    change = upsert(name="", raw="MECARD:N:Berg,Jonas;EMAIL:jonas@balticvc.example;;")
    cursor = push(client, alice_token, [change]).get_json()["cursor"]
    page = client.get(
        f"/api/v1/changes?since={cursor}", headers={"Authorization": f"Bearer {alice_token}"}
    ).get_json()
    assert page["changes"][0]["data"]["email"] == "jonas@balticvc.example"


def test_each_push_cursor_stands_just_before_its_own_batch(client, alice_token):
    headers = {"Authorization": f"Bearer {alice_token}"}
    first, second = upsert(name="First"), upsert(name="Second")
    push(client, alice_token, [first])
    cursor = push(client, alice_token, [second]).get_json()["cursor"]
    page = client.get(f"/api/v1/changes?since={cursor}", headers=headers).get_json()
    assert [c["data"]["name"] for c in page["changes"]] == ["Second"]
    # A batch with nothing valid in it still answers where the feed stands.
    cursor = push(client, alice_token, [{"id": "not-a-uuid"}]).get_json()["cursor"]
    page = client.get(f"/api/v1/changes?since={cursor}", headers=headers).get_json()
    assert page["changes"] == []


@pytest.mark.parametrize("cursor", ["nonsense!", "djE6", "eDox", "djE6LTE"])
def test_a_bad_cursor_is_a_400(client, alice_token, cursor):
    response = client.get(
        f"/api/v1/changes?since={cursor}", headers={"Authorization": f"Bearer {alice_token}"}
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "cursor is not valid"


def test_other_users_data_is_invisible_and_untouched(
    app, client, alice, bob, alice_token, bob_token
):
    capture_id = new_id()
    push(client, alice_token, [upsert(capture_id, name="Alice's contact")])
    feed = client.get("/api/v1/changes", headers={"Authorization": f"Bearer {bob_token}"})
    assert feed.get_json()["changes"] == []
    # Bob's device uses the same capture UUID: that is simply Bob's own capture.
    push(client, bob_token, [upsert(capture_id, name="Bob's contact")])
    push(client, bob_token, [delete(capture_id)])
    assert _encounter(app, alice, capture_id).name == "Alice's contact"
    assert _encounter(app, bob, capture_id) is None
    alice_feed = client.get("/api/v1/changes", headers={"Authorization": f"Bearer {alice_token}"})
    assert [c["op"] for c in alice_feed.get_json()["changes"]] == ["upsert"]


def test_the_ping_endpoint_needs_no_credential(client):
    assert client.get("/api/v1/ping").get_json() == {"ok": True}


def test_a_writer_kept_waiting_for_its_turn_gets_503(app, client, alice, alice_token):
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("the writer queue is for SQLite")
    app.config["SYNC_BUSY_TIMEOUT_MS"] = 50
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    with open(f"{path}-writer.lock", "a+") as other_writer:
        fcntl.flock(other_writer, fcntl.LOCK_EX)
        response = push(client, alice_token, [upsert(name="Queued too long")])
        fcntl.flock(other_writer, fcntl.LOCK_UN)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert _count(app, Encounter) == 0
    assert statuses(push(client, alice_token, [upsert(name="Next turn")])) == ["applied"]


def test_the_export_carries_history_and_deletions_of_this_user_only(
    app, client, runner, alice, bob, alice_token, bob_token
):
    capture_id, gone = new_id(), new_id()
    push(client, alice_token, [upsert(capture_id, org="Acme"), upsert(gone)])
    push(client, alice_token, [upsert(capture_id, minutes=5, org="Acme Corp"), delete(gone)])
    push(client, bob_token, [upsert(new_id(), org="Bob's"), delete(new_id())])
    result = runner.invoke(args=["export", "--user", "alice@example.com"])
    assert result.exit_code == 0, result.output
    exported = json.loads(result.stdout)
    assert [
        (h["capture"], h["field"], h["old"], h["new"]) for h in exported["capture_history"]
    ] == [(capture_id, "org", "Acme", "Acme Corp")]
    assert [d["capture"] for d in exported["deleted_captures"]] == [gone]


def test_the_payload_hash_of_a_change_is_stable_across_releases():
    """Records made by an earlier release must still tell a replay from a new change: the
    hash is of the canonical JSON of kind, op, at and data (sorted keys, no spaces, UTF-8)."""
    change = {
        "id": new_id(),
        "seq": 3,
        "kind": "capture",
        "op": "upsert",
        "at": "2026-11-21T16:04:05+01:00",
        "data": {"name": "María Ødegård", "note": "x\u2028y", "hooks": [{"type": "meet"}]},
    }
    expected = "a544fa43a6e25c46ec563d4897063155596e634022faea28d77eef8ccf79b201"
    assert validate.payload_hash(change) == expected


_json_without_floats = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text(alphabet=st.characters(codec=None), max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(data=_json_without_floats, at=st.text(max_size=30))
def test_the_fast_payload_hash_is_the_standard_one_for_anything_without_a_float(data, at):
    # Control characters, U+2028, astral characters, lone surrogates, huge integers: the
    # same hash as json.dumps(sort_keys, no spaces, ensure_ascii=False) gave (_canonical).
    change = {"kind": "capture", "op": "upsert", "at": at, "data": data}
    assert validate.payload_hash(change) == validate._standard_hash(change)


@settings(max_examples=300, deadline=None)
@given(detail=st.text(alphabet=st.characters(codec=None), max_size=20), owed=st.text(max_size=5))
def test_a_hooks_comparable_value_is_the_json_stored_values_have(detail, owed):
    # Stored records and revisions hold json.dumps([owed_by, detail], ensure_ascii=False):
    # a value written any other way would read as an edit of the hook.
    assert hook_value(detail, owed) == json.dumps([owed, detail.strip()], ensure_ascii=False)


def test_a_record_an_earlier_release_stored_still_knows_its_replay(app, client, alice, alice_token):
    # A float is the one thing orjson writes in its own way: 1e-05 as 0.00001.
    change = upsert(name="Float Fan", extra={"score": 1e-05})
    assert validate.payload_hash(change) != validate._standard_hash(change)
    assert statuses(push(client, alice_token, [change])) == ["applied"]
    with app.app_context():  # as the release before orjson stored it
        record = db.session.scalar(select(ChangeRecord).where(ChangeRecord.user_id == alice))
        record.payload_hash = validate._standard_hash(change)
        db.session.commit()
    assert statuses(push(client, alice_token, [change])) == ["duplicate"]
    other = {**change, "data": {**change["data"], "extra": {"score": 2e-05}}}
    assert statuses(push(client, alice_token, [other])) == ["rejected"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("0190a0c0-1234-7abc-8def-0123456789ab", "0190a0c0-1234-7abc-8def-0123456789ab"),
        ("0190A0C0-1234-7ABC-8DEF-0123456789AB", "0190a0c0-1234-7abc-8def-0123456789ab"),
        ("0190a0c012347abc8def0123456789ab", "0190a0c0-1234-7abc-8def-0123456789ab"),
    ],
)
def test_ids_are_read_in_any_form_uuid_takes_and_kept_canonical(given, expected):
    assert validate.as_uuid(given, "id") == expected


@pytest.mark.parametrize("given", ["", "0190a0c0-1234-7abc-8def-0123456789ag", "x" * 36, 7])
def test_an_id_that_is_not_a_uuid_is_refused(given):
    with pytest.raises(validate.Rejected, match="id must be a UUID string"):
        validate.as_uuid(given, "id")


def test_the_answer_is_json_with_sorted_keys_even_for_an_id_no_encoder_takes(client, alice_token):
    good = upsert(name="Ada")
    body = json.dumps({"device_id": DEVICE, "changes": [good, {"id": "\ud800", "kind": "x"}]})
    headers = {"Authorization": f"Bearer {alice_token}", "Content-Type": "application/json"}
    answer = client.post("/api/v1/sync", data=body, headers=headers)
    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    results = answer.get_json()["results"]
    assert results[0] == {"id": good["id"], "status": "applied"}
    # A lone surrogate (valid JSON, no valid UTF-8) comes back escaped, still the phone's id.
    assert results[1]["id"] == "\ud800" and results[1]["status"] == "rejected"
    plain = client.post(
        "/api/v1/sync",
        json={"device_id": DEVICE, "changes": [upsert()]},
        headers={"Authorization": f"Bearer {alice_token}"},
    )
    text = plain.get_data(as_text=True)
    assert text.startswith('{"cursor":"') and '"results":[{"id":"' in text and text.endswith("}\n")


def _edit_page_base(client: FlaskClient, encounter_id: int) -> str:
    page = client.get(f"/captures/{encounter_id}/edit").get_data(as_text=True)
    found = re.search(r'id="base" name="base" type="hidden" value="([^"]*)"', page)
    assert found, "the edit page carries the capture as it showed it"
    return html.unescape(found.group(1))


def _laptop_save(client: FlaskClient, encounter_id: int, base: str | None, **fields):
    data = {"name": "Maria Keller", "note": "first", **fields}
    if base is not None:
        data["base"] = base
    return client.post(f"/captures/{encounter_id}/edit", data=data)


def _page_open_while_the_phone_edits(app, client, alice, token) -> tuple[str, int, str]:
    """Sync a capture (note "first"), open its edit page on the laptop, then sync the
    phone's edit of the note; return the capture id, the encounter id and the page's base."""
    change = upsert(name="Maria Keller", note="first")
    assert statuses(push(client, token, [change])) == ["applied"]
    encounter_id = _encounter(app, alice, change["id"]).id
    base = _edit_page_base(client, encounter_id)
    phone = upsert(change["id"], minutes=1, name="Maria Keller", note="from the phone")
    assert statuses(push(client, token, [phone])) == ["applied"]
    return change["id"], encounter_id, base


def _web_changes(app, encounter_id: int) -> list[tuple]:
    with app.app_context():
        return [(r.field, r.old_value, r.new_value, r.source) for r in history(encounter_id)]


def test_a_laptop_save_keeps_a_phone_edit_made_after_the_page_was_loaded(
    app, as_alice, alice, alice_token
):
    capture_id, encounter_id, base = _page_open_while_the_phone_edits(
        app, as_alice, alice, alice_token
    )
    # The laptop fixes the name only; its form still shows the old note.
    saved = _laptop_save(as_alice, encounter_id, base, name="Maria Keller-Brandt")
    assert saved.status_code == 303
    found = _encounter(app, alice, capture_id)
    assert (found.name, found.note) == ("Maria Keller-Brandt", "from the phone")
    changes = _web_changes(app, encounter_id)
    assert ("name", "Maria Keller", "Maria Keller-Brandt", "web") in changes
    assert not any(field == "note" and source == "web" for field, _, _, source in changes)


def test_a_note_changed_on_the_laptop_and_the_phone_keeps_both(app, as_alice, alice, alice_token):
    capture_id, encounter_id, base = _page_open_while_the_phone_edits(
        app, as_alice, alice, alice_token
    )
    assert _laptop_save(as_alice, encounter_id, base, note="from the laptop").status_code == 303
    # The laptop's save is the newer: the phone's text first.
    assert _encounter(app, alice, capture_id).note == (
        "from the phone" + NOTE_MARKER + "from the laptop"
    )


@pytest.mark.parametrize("base", [None, "not json", '{"name": "Maria Keller"}'])
def test_a_laptop_save_without_a_usable_base_applies_every_field(
    app, as_alice, alice, alice_token, base
):
    capture_id, encounter_id, _ = _page_open_while_the_phone_edits(
        app, as_alice, alice, alice_token
    )
    assert _laptop_save(as_alice, encounter_id, base, name="Maria K.").status_code == 303
    found = _encounter(app, alice, capture_id)
    assert (found.name, found.note) == ("Maria K.", "first")  # the form as it was sent
    # The phone's note stays in the history.
    assert ("note", "from the phone", "first", "web") in _web_changes(app, encounter_id)
