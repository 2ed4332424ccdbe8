"""The phone's sync API: push a batch of changes, pull what changed elsewhere.

Authentication is a personal token (Authorization: Bearer ...) or the browser's session
cookie; a cookie-authenticated POST must also carry the X-CSRFToken header. Answers are
always JSON, including errors; a busy database answers 503 with Retry-After so the phone
keeps its outbox and tries again.
"""

import json

import orjson
from flask import Blueprint, Response, current_app, g, jsonify, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import IntegrityError, OperationalError

from webapp.auth.tokens import user_for_token
from webapp.database import (
    ABORTED_FOR_ANOTHER,
    Busy,
    begin_write,
    sqlstate,
    write_transaction,
    write_wait_ms,
)
from webapp.extensions import csrf, db
from webapp.sync import export as _export  # noqa: F401  (registers the export sections)
from webapp.sync import feed, service, writer
from webapp.sync.validate import Rejected, as_uuid

bp = Blueprint("sync", __name__, url_prefix="/api/v1")
# Token callers cannot have a CSRF token; cookie callers are checked in _authenticate.
csrf.exempt(bp)


MAX_CHANGES = 500
MAX_BYTES = 1024 * 1024
RETRY_AFTER_SECONDS = 2


def _error(status: int, message: str, **headers: str):
    response = jsonify(error=message)
    response.status_code = status
    response.headers.update(headers)
    return response


@bp.before_request
def _authenticate():
    """Identify the caller by token or session; refuse with 401 JSON, never a redirect."""
    if request.endpoint == "sync.ping":
        return None
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        user_id = user_for_token(token.strip()) if scheme.lower() == "bearer" else None
        if user_id is None:
            return _error(401, "invalid or revoked token", **{"WWW-Authenticate": "Bearer"})
        g.api_user_id = user_id
        return None
    if not current_user.is_authenticated:
        return _error(401, "authentication required", **{"WWW-Authenticate": "Bearer"})
    if request.method == "POST" and current_app.config.get("WTF_CSRF_ENABLED", True):
        try:
            csrf.protect()
        except CSRFError:
            return _error(403, "missing or invalid X-CSRFToken header")
    g.api_user_id = current_user.id
    return None


@bp.errorhandler(Busy)
@bp.errorhandler(OperationalError)
def _busy(_error_):
    """Tell the phone to keep its outbox and retry: the database is busy, not the data bad."""
    db.session.rollback()
    return _error(503, "database busy, try again", **{"Retry-After": str(RETRY_AFTER_SECONDS)})


@bp.get("/ping")
def ping():
    """Answer cheaply, for health checks and the benchmark's ceiling."""
    return jsonify(ok=True)


def _read_batch() -> tuple[str, list] | tuple[None, object]:
    """Return (device_id, changes) from the body, or (None, an error response)."""
    if request.content_length is not None and request.content_length > MAX_BYTES:
        return None, _error(413, "batch larger than 1 MB: split it")
    body = request.stream.read(MAX_BYTES + 1)
    if len(body) > MAX_BYTES:
        return None, _error(413, "batch larger than 1 MB: split it")
    try:
        payload = _parse(body)
    except (ValueError, UnicodeDecodeError):
        return None, _error(400, "body is not valid JSON")
    if not isinstance(payload, dict) or not isinstance(payload.get("changes"), list):
        return None, _error(400, 'body must be {"device_id": ..., "changes": [...]}')
    try:
        device_id = as_uuid(payload.get("device_id"), "device_id")
    except Rejected as error:
        return None, _error(400, str(error))
    if len(payload["changes"]) > MAX_CHANGES:
        return None, _error(413, f"more than {MAX_CHANGES} changes in one batch: split it")
    return device_id, payload["changes"]


def _parse(body: bytes) -> object:
    """Return the JSON body as json.loads reads it, by orjson (a third of the time for a
    batch of twenty). What orjson refuses and the standard library takes (a lone surrogate
    escape, NaN, a byte order mark, other encodings) goes through json.loads, which also
    raises for a body that is not JSON at all."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


@bp.post("/sync")
def push():
    """Apply a batch of changes; answer per change only once everything is committed."""
    device_id, changes = _read_batch()
    if device_id is None:
        return changes
    timeout_ms = write_wait_ms()
    # Checking the changes and building their rows need no write: done before the
    # writers' turn, so the database's write lock is held only for the writing.
    prepared = service.prepare_batch(g.api_user_id, device_id, changes)
    position = _via_writer(prepared, timeout_ms)
    if position is not None:
        results = [{"id": change.id, "status": "applied"} for change in prepared.changes]
        return _answer({"results": results, "cursor": feed.encode_cursor(position)})
    with write_transaction(timeout_ms):
        answer = _apply(device_id, prepared, timeout_ms)
    if isinstance(answer, tuple):  # committed: the answer is made after the turn
        results, cursor = answer
        return _answer({"results": results, "cursor": cursor})
    return answer


def _via_writer(prepared: service.Prepared, timeout_ms: int) -> int | None:
    """Have the sync writer apply the batch, if there is one and it takes such a batch
    (sync/writer.py); return the change log position from before it, or None."""
    path = current_app.config.get("SYNC_WRITER_SOCKET")
    dialect = db.engine.dialect
    if not path or dialect.name != "sqlite":
        return None
    # Beyond its own wait for the writers' turn the writer is not coming: write here.
    return writer.submit(path, g.api_user_id, prepared, dialect, timeout_ms / 1000 + 1)


def _answer(payload: dict) -> Response:
    """Return payload as JSON, as jsonify writes it (sorted keys, a final newline) but by
    orjson: for a batch's twenty results jsonify cost 0.17 M instructions. What orjson
    refuses (a lone surrogate in a rejected change's id) goes through jsonify, which
    escapes it."""
    try:
        body = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        return jsonify(payload)
    return current_app.response_class(body, mimetype="application/json")


ATTEMPTS = 3


def _apply(device_id: str, prepared: service.Prepared, timeout_ms: int):
    for attempt in range(ATTEMPTS):
        try:
            # The first attempt applies new captures without savepoints; after a race
            # (service.apply_batch) the batch is applied again with them.
            careful = attempt > 0
            applied = service.apply_batch(g.api_user_id, device_id, prepared, careful=careful)
            db.session.commit()
            break
        except (IntegrityError, OperationalError) as error:
            # A concurrent writer won a race: redo with savepoints, which absorb most races;
            # one that they cannot absorb gets one more try. On PostgreSQL a deadlock or a
            # serialization failure aborts the transaction for what another one held: it
            # runs again, once that one has committed. (Batches lock the captures they
            # edit first, service._prefetch, so two batches of one user's devices queue
            # there; this covers what that order does not.)
            if isinstance(error, OperationalError) and sqlstate(error) not in ABORTED_FOR_ANOTHER:
                raise
            db.session.rollback()
            if attempt == ATTEMPTS - 1:
                return _error(503, "conflicting write, try again", **{"Retry-After": "1"})
            begin_write(timeout_ms)
    return applied.results, feed.encode_cursor(applied.log_position)


@bp.get("/changes")
def changes():
    """List the user's captures and deletions changed since the cursor."""
    try:
        limit = int(request.args.get("limit", feed.DEFAULT_LIMIT))
    except ValueError:
        return _error(400, "limit must be a number")
    try:
        page = feed.changes_since(g.api_user_id, request.args.get("since"), limit)
    except feed.BadCursor as error:
        return _error(400, str(error))
    return jsonify(page)
