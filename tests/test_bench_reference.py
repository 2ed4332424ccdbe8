"""bench/reference_app.py, the issue's hand-tuned upsert endpoint that bench/reference.py
measures beside the app: it must really authenticate, check and store, or its ratio means
nothing."""

import json
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import reference_app  # noqa: E402
from sync import batch_body  # noqa: E402

DEVICE = "0190a0a0-0000-7000-8000-000000000001"


@pytest.fixture
def reference(tmp_path, monkeypatch):
    path = str(tmp_path / "reference.sqlite3")
    token = reference_app.init_db(path)
    monkeypatch.setenv("REFERENCE_DB", path)
    monkeypatch.setattr(reference_app, "_connection", None)
    yield reference_app.app.test_client(), token, path
    if reference_app._connection is not None:
        reference_app._connection.close()


def _post(client, body, token=None):
    return client.post(
        "/api/v1/sync", data=body, headers={"Authorization": f"Bearer {token or 'hl_unknown'}"}
    )


def _rows(path):
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute("SELECT count(*) FROM captures").fetchone()[0]


def test_the_reference_stores_a_batch_once_however_often_it_is_sent(reference):
    client, token, path = reference
    body = batch_body(DEVICE)
    for _ in range(2):
        answer = _post(client, body, token)
        assert answer.status_code == 200
        assert [r["status"] for r in answer.get_json()["results"]] == ["applied"] * 20
    assert _rows(path) == 20


def test_the_reference_checks_the_token_and_each_change(reference):
    client, token, path = reference
    assert _post(client, batch_body(DEVICE)).status_code == 401
    payload = json.loads(batch_body(DEVICE, 3))
    payload["changes"][1]["data"]["name"] = "x" * 201
    payload["changes"][2]["at"] = "2026-12-01T10:00:00"
    answer = _post(client, json.dumps(payload), token).get_json()
    assert [r["status"] for r in answer["results"]] == ["applied", "rejected", "rejected"]
    assert "data.name" in answer["results"][1]["error"]
    assert "UTC offset" in answer["results"][2]["error"]
    assert _rows(path) == 1


def test_the_reference_stores_each_field_in_its_own_column(reference):
    client, token, path = reference
    payload = json.loads(batch_body(DEVICE, 1))
    data = payload["changes"][0]["data"]
    data.update(offer="an intro to Maria", ask="advice on pricing", raw="MECARD:N:Li;;")
    assert _post(client, json.dumps(payload), token).status_code == 200
    with closing(sqlite3.connect(path)) as connection:
        stored = connection.execute("SELECT name, note, offer, ask, raw FROM captures").fetchone()
    assert stored == (data["name"], data["note"], data["offer"], data["ask"], data["raw"])
