"""The issue's measuring stick: a hand-tuned SQLite upsert endpoint, for bench/reference.py.

Issue 4 puts its target next to "a hand-tuned SQLite upsert endpoint reaches about 11% of the
hello ceiling (~14k captures/s)" on this 2-core machine. This is such an endpoint, written
to be fast rather than complete, so that its ratio can be measured on the same machine in
the same minutes as the app's: POST /api/v1/sync with the app's request and answer shapes,

- authentication: a bearer token, looked up by its SHA-256 in an indexed table;
- validation: every field's type and length, the UUIDs, the time and its offset, the rating
  and the hooks' types, as the issue's contract names them; a bad change is rejected by
  itself;
- writing: one ``INSERT ... ON CONFLICT DO UPDATE`` (executemany) of every valid change
  into one table, in one ``BEGIN IMMEDIATE`` transaction, committed before the answer.

It leaves out what the app does beyond that: idempotency records and duplicate answers,
contacts matched by their e-mail, phone or link, hooks and their drafts, per-field merge
and history, tombstones, the change feed. It is never part of the app, and it imports
nothing from it. One SQLite connection per worker, opened after gunicorn forks, with the
app's settings: WAL, synchronous=NORMAL, busy_timeout 5000 ms.
"""

import hashlib
import os
import re
import secrets
import sqlite3
from datetime import UTC, datetime

import orjson
from flask import Flask, Response, request

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (token_hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS captures (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    uuid TEXT NOT NULL,
    device_id TEXT NOT NULL,
    seq INTEGER,
    happened_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    name TEXT, email TEXT, phone TEXT, org TEXT, title TEXT, url TEXT, note TEXT,
    rating TEXT, offer TEXT, ask TEXT, raw TEXT, event_id TEXT, hooks TEXT,
    UNIQUE (user_id, uuid)
);
"""
TEXTS = {
    "name": 200,
    "email": 254,
    "phone": 60,
    "org": 200,
    "title": 200,
    "url": 300,
    "note": 4000,
    "offer": 1000,
    "ask": 1000,
    "raw": 4096,
}
RATINGS = {"hot", "warm", "cold"}
HOOK_TYPES = {
    "send_resource",
    "meet",
    "introduce",
    "share_lead",
    "ask_advice",
    "stay_in_touch",
    "custom",
}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
UPSERT = (
    "INSERT INTO captures (user_id, uuid, device_id, seq, happened_at, received_at, name,"
    " email, phone, org, title, url, note, rating, offer, ask, raw, event_id, hooks)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (user_id, uuid) DO UPDATE SET device_id = excluded.device_id,"
    " seq = excluded.seq, happened_at = excluded.happened_at, received_at ="
    " excluded.received_at, name = excluded.name, email = excluded.email, phone ="
    " excluded.phone, org = excluded.org, title = excluded.title, url = excluded.url,"
    " note = excluded.note, rating = excluded.rating, offer = excluded.offer, ask ="
    " excluded.ask, raw = excluded.raw, event_id = excluded.event_id, hooks = excluded.hooks"
)

app = Flask(__name__)
_connection: sqlite3.Connection | None = None


def connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, timeout=5.0)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def init_db(path: str) -> str:
    """Create the tables and a token for user 1; return the token."""
    token = "hl_" + secrets.token_urlsafe(32)
    connection = connect(path)
    connection.executescript(SCHEMA)
    connection.execute(
        "INSERT INTO tokens VALUES (?, 1)", (hashlib.sha256(token.encode()).hexdigest(),)
    )
    connection.close()
    return token


def db() -> sqlite3.Connection:
    global _connection
    if _connection is None:
        _connection = connect(os.environ["REFERENCE_DB"])
    return _connection


def _json(payload: dict, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status=status, mimetype="application/json")


def _row(user_id: int, device_id: str, change: object, now: str) -> tuple:
    """Return the change's row for UPSERT, or raise ValueError naming the problem."""
    if not isinstance(change, dict):
        raise ValueError("a change must be a JSON object")
    if not isinstance(change.get("id"), str) or not UUID.fullmatch(change["id"]):
        raise ValueError("id must be a UUID string")
    if change.get("kind") != "capture" or change.get("op") != "upsert":
        raise ValueError("unknown kind or op")
    seq = change.get("seq")
    if seq is not None and (type(seq) is not int or seq < 0):
        raise ValueError("seq must be a non-negative integer")
    at = change.get("at")
    if not isinstance(at, str) or len(at) > 40:
        raise ValueError("at must be an ISO 8601 time string")
    if datetime.fromisoformat(at).utcoffset() is None:
        raise ValueError("at must include a UTC offset")
    data = change.get("data")
    if not isinstance(data, dict):
        raise ValueError("data must be a JSON object")
    texts = []
    for name, limit in TEXTS.items():
        value = data.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise ValueError(f"data.{name} must be a string of at most {limit} characters")
        texts.append(value)
    rating = data.get("rating")
    if rating is not None and rating not in RATINGS:
        raise ValueError("data.rating must be hot, warm, cold or null")
    event_id = data.get("event_id")
    if event_id is not None and (not isinstance(event_id, str) or not UUID.fullmatch(event_id)):
        raise ValueError("data.event_id must be a UUID string")
    hooks = data.get("hooks") or []
    if not isinstance(hooks, list) or len(hooks) > len(HOOK_TYPES):
        raise ValueError("data.hooks must be a list")
    for hook in hooks:
        if not isinstance(hook, dict) or hook.get("type") not in HOOK_TYPES:
            raise ValueError("data.hooks: unknown hook type")
        detail = hook.get("detail")
        if detail is not None and (not isinstance(detail, str) or len(detail) > 500):
            raise ValueError("data.hooks: detail must be a string of at most 500 characters")
        if hook.get("owed_by", "me") not in ("me", "them"):
            raise ValueError("data.hooks: owed_by must be me or them")
    name, email, phone, org, title, url, note, offer, ask, raw = texts
    return (
        user_id, change["id"], device_id, seq, at, now, name, email, phone, org, title, url,
        note, rating, offer, ask, raw, event_id, orjson.dumps(hooks).decode(),
    )  # fmt: skip


@app.get("/api/v1/ping")
def ping() -> Response:
    """For bench/sync.py's wait_ready."""
    return _json({"ok": True})


@app.post("/api/v1/sync")
def sync() -> Response:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    found = (
        db()
        .execute(
            "SELECT user_id FROM tokens WHERE token_hash = ?",
            (hashlib.sha256(token.encode()).hexdigest(),),
        )
        .fetchone()
    )
    if scheme.lower() != "bearer" or found is None:
        return _json({"error": "invalid or revoked token"}, 401)
    try:
        payload = orjson.loads(request.get_data())
    except orjson.JSONDecodeError:
        return _json({"error": "body is not valid JSON"}, 400)
    if not isinstance(payload, dict) or not isinstance(payload.get("changes"), list):
        return _json({"error": 'body must be {"device_id": ..., "changes": [...]}'}, 400)
    changes, device_id = payload["changes"], payload.get("device_id")
    if len(changes) > 500:
        return _json({"error": "more than 500 changes in one batch: split it"}, 413)
    if not isinstance(device_id, str) or not UUID.fullmatch(device_id):
        return _json({"error": "device_id must be a UUID string"}, 400)
    now = datetime.now(UTC).isoformat()
    rows, results = [], []
    for change in changes:
        try:
            rows.append(_row(found[0], device_id, change, now))
            results.append({"id": change["id"], "status": "applied"})
        except ValueError as error:
            given = change.get("id") if isinstance(change, dict) else None
            results.append({"id": given, "status": "rejected", "error": str(error)})
    connection = db()
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(UPSERT, rows)
        connection.execute("COMMIT")
    except sqlite3.OperationalError:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        return _json({"error": "database busy, try again"}, 503)
    return _json({"results": results, "cursor": str(len(rows))})
