"""Request plumbing shared by every feature: sessions, fragments, errors, headers."""

import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
)
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge

from webapp.capture.photos import MAX_PHOTO_BYTES
from webapp.database import ABORTED_FOR_ANOTHER, Busy, sqlstate
from webapp.extensions import db, htmx, login_manager

T = TypeVar("T")

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "object-src 'none'",
    ]
)


def wants_fragment() -> bool:
    """Tell whether to answer with a fragment rather than a whole page."""
    if not htmx or htmx.boosted or htmx.history_restore_request:
        return False
    return request.headers.get("HX-Request-Type", "partial") != "full"


def render(page: str, fragment: str, status: int = 200, **context) -> Response:
    """Render the fragment for htmx or the full page otherwise, varying on HX-Request."""
    template = fragment if wants_fragment() else page
    response = Response(render_template(template, **context), status=status)
    response.vary.add("HX-Request")
    return response


def redirect_after_save(location: str) -> Response:
    """Send the browser to location as a whole page once a form is saved."""
    # A plain redirect would be followed inside htmx's XHR (keeping HX-Request), and the
    # next page's fragment would be swapped into the form: HX-Redirect loads it whole.
    if htmx:
        response = Response(status=204)
        response.headers["HX-Redirect"] = location
    else:
        response = redirect(location, code=303)
    response.vary.add("HX-Request")
    return response


def owned_or_404(
    model: type[T],
    ident: object,
    user_id: int | None = None,
    *,
    for_update: bool = False,
    gone: str | None = None,
) -> T:
    """Return model row ident if the current user owns it, else abort with 404.

    for_update: lock the row until the commit (PostgreSQL; SQLite has one writer) and read
    it afresh, for a save that starts from what it reads. gone: the 404's words, where
    "There is nothing here." would leave the user guessing (a capture deleted meanwhile).
    """
    try:
        key = int(ident)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        abort(404, gone)
    owner = user_id if user_id is not None else current_user.id
    query = select(model).where(model.id == key, model.user_id == owner)  # type: ignore[attr-defined]
    if for_update:
        query = query.with_for_update(of=model).execution_options(populate_existing=True)
    row = db.session.scalar(query)
    if row is None:
        abort(404, gone)
    return row


def localtime(value: datetime, fmt: str = "%a %-d %b, %H:%M") -> str:
    """Format an aware datetime in the signed-in user's time zone."""
    name = current_user.timezone if current_user.is_authenticated else "UTC"
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return value.astimezone(zone).strftime(fmt)


def _load_user(user_id: str):
    """Load the user only while their server-side session is still open."""
    from webapp.auth.models import LoginSession, User

    token = session.get("sid")
    if not token or not user_id.isdigit():
        return None
    live = db.session.scalar(
        select(LoginSession).where(
            LoginSession.token == token,
            LoginSession.user_id == int(user_id),
            LoginSession.revoked_at.is_(None),
        )
    )
    return db.session.get(User, int(user_id)) if live else None


def _is_api(path: str) -> bool:
    """Whether a request for path is for the JSON API (/api/...), which answers in JSON,
    has no forms and, with a token, no session."""
    return path.startswith("/api/")


class Sessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session, but none for an API request that carries a token.

    Such a request is authenticated by its token alone (sync/views.py), so its session
    cookie, if any, is neither read nor written back: opening the session made a new
    serializer and reading it back marked the answer "Vary: Cookie", 0.23 M instructions
    a sync request. Flask gives it its empty, read-only null session instead.
    """

    def open_session(self, app: Flask, request):
        if _is_api(request.path) and "Authorization" in request.headers:
            return None
        return super().open_session(app, request)


_STRICT = tuple(
    (name, name.lower(), value)
    for name, value in (
        ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(self), geolocation=()"),
    )
)


def _security_headers(response: Response) -> Response:
    """Add the strict headers every response carries, unless the view set its own.

    The names present are read once: Headers.setdefault scans the list and raises and
    catches a KeyError for each header it then adds (0.11 M instructions a request).
    """
    present = {name.lower() for name, _value in response.headers}
    for name, key, value in _STRICT:
        if key not in present:
            response.headers.add(name, value)
    if "cache-control" in present:
        return response
    if _is_api(request.path):
        # The API's answers are a user's data (or an error) whoever asked, by token or by
        # cookie: never stored, and no need to load the signed-in user to say so (every
        # sync request passes here).
        response.headers.add("Cache-Control", "private, no-store")
    elif (
        request.endpoint
        and not request.endpoint.startswith("static")
        and current_user.is_authenticated
    ):
        # Private pages must never be served to the next person from a shared cache.
        response.headers.add("Cache-Control", "private, no-store")
    return response


def _csrf_error(error: CSRFError):
    """Ask the user to retry, keeping what they typed when the form allows it."""
    handler = _CSRF_RETRY.get(request.endpoint or "")
    if handler is not None:
        return handler()
    message = "Your form expired. Go back, reload the page and try again."
    return render_template("error.html", code=400, message=message), 400


_CSRF_RETRY: dict[str, Callable[[], object]] = {}


def retry_on_csrf(endpoint: str, handler: Callable[[], object]) -> None:
    """Register a view that re-renders its form (data kept) when the CSRF token is stale."""
    _CSRF_RETRY[endpoint] = handler


def _error_answer(code: int, message: str, headers=()):
    """Answer an error in its words: JSON under /api/, else the app's error page."""
    if _is_api(request.path):
        return {"error": message}, code, headers
    return render_template("error.html", code=code, message=message), code, headers


def _error_page(code: int, message: str):
    def handler(_error):
        return _error_answer(code, message)

    return handler


def _not_found(error: NotFound):
    """Answer 404 in the words a view gave abort() (owned_or_404's gone=), else the app's."""
    given = error.description
    if not given or given == NotFound.description:
        given = "There is nothing here."
    return _error_answer(404, given)


NUL_MESSAGE = "The form holds a NUL character, which cannot be saved. Remove it and try again."
BUSY_MESSAGE = "The database was busy, and nothing was saved. "
#: After BUSY_MESSAGE: a page loaded whole replaced the form; an htmx request left it as typed.
BUSY_AGAIN = "Go back and send the form again in a moment: your browser keeps what you typed."
BUSY_AGAIN_HTMX = "Send it again in a moment: what you typed is still here."
#: Aborted for another transaction, or PostgreSQL's lock_not_available.
_BUSY_SQLSTATES = (*ABORTED_FOR_ANOTHER, "55P03")


def _database_busy(error: Exception):
    """Answer 503 with Retry-After when the database stayed locked past its busy timeout
    (SQLite) or aborted the transaction for another one (PostgreSQL), instead of a bare 500.

    The transaction is rolled back whole, so nothing of the request is half saved. Other
    database errors are not the user's moment to retry: they stay a 500. The sync API has
    its own answer (sync/views.py).
    """
    if not isinstance(error, Busy) and not _is_busy(error):
        raise error
    db.session.rollback()
    again = BUSY_AGAIN_HTMX if htmx and not htmx.boosted else BUSY_AGAIN
    return _error_answer(503, BUSY_MESSAGE + again, {"Retry-After": "2"})


def _http_error(error: HTTPException):
    """Answer any other HTTP error (abort(409, "This draft was already handled."), a 500)
    with the app's own page in the error's own words, or JSON under /api/, instead of
    werkzeug's bare page. In-place (htmx) requests show those words above the form's
    buttons (static/js/app.js)."""
    if error.response is not None or error.code is None or error.code < 400:
        return error
    headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    return _error_answer(error.code, error.description or error.name, headers)


def _too_large(_error: RequestEntityTooLarge):
    """Answer a request body over MAX_CONTENT_LENGTH: in this app that is a badge photo
    (the only upload), so say how large one may be. A view's own 413 (a photo over 10 MB
    but under the body limit, a sync batch over 1 MB) keeps its own words."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    message = (
        f"That upload is larger than {_megabytes(limit)}, so nothing was saved. A badge photo "
        f"can be at most {_megabytes(MAX_PHOTO_BYTES)}: take it again at a lower resolution, "
        "or save without it."
    )
    return _error_answer(413, message)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


def _is_busy(error: Exception) -> bool:
    if sqlstate(error) in _BUSY_SQLSTATES:
        return True
    orig = getattr(error, "orig", None)
    return isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig)


def _refuse_nul():
    """Answer 400 to a form or query that holds a NUL character.

    No person types one, and no page could use it: PostgreSQL refuses it in any text value,
    so it would fail at the database instead. The sync API checks its JSON itself, change
    by change (sync/validate.py).
    """
    if _is_api(request.path):
        return None
    given = request.args.items(multi=True)
    if request.method == "POST":
        try:
            given = [*given, *request.form.items(multi=True)]
        except RequestEntityTooLarge:
            return None  # the view refuses it in its own words (a photo's "10 MB", say)
    if any("\x00" in value for _, value in given):
        return render_template("error.html", code=400, message=NUL_MESSAGE), 400
    return None


def init_app(app: Flask) -> None:
    """Wire sessions, error pages and headers into app."""
    app.session_interface = Sessions()
    app.before_request(_refuse_nul)
    login_manager.user_loader(_load_user)
    login_manager.login_view = "auth.login"
    # No flash on the way to the login page: flashing writes the anonymous session, and a
    # background request (the service worker warming pages) answered after the login response
    # would then overwrite the fresh login cookie with the anonymous one.
    login_manager.login_message = None
    login_manager.session_protection = None  # the server-side session record does this job
    app.after_request(_security_headers)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(Busy, _database_busy)
    app.register_error_handler(OperationalError, _database_busy)
    app.register_error_handler(HTTPException, _http_error)  # the codes above keep their own
    app.register_error_handler(404, _not_found)
    app.register_error_handler(405, _error_page(405, "That action is not allowed here."))
    app.register_error_handler(413, _too_large)
    app.register_error_handler(
        429,
        _error_page(429, "Too many attempts. Wait a minute, then try again."),
    )

    from webapp.badges import safe_link

    app.jinja_env.filters["safe_link"] = safe_link
    app.jinja_env.filters["localtime"] = localtime

    @app.context_processor
    def _globals() -> dict:
        from webapp.contacts.models import HOOK_TYPES, OWED_BY, RATINGS

        return {"HOOK_TYPES": HOOK_TYPES, "OWED_BY": OWED_BY, "RATINGS": RATINGS}
