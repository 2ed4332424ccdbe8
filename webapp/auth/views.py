"""Sign up, log in and log out."""

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf.csrf import generate_csrf

from webapp.auth.forms import LoginForm, SignupForm
from webapp.auth.service import AccountError, close_session, create_user, find_user, open_session
from webapp.extensions import db, limiter

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Return a local redirect target, never another site."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.netloc and not parts.scheme:
            return target
    return url_for("capture.new")


def _start_session(user) -> None:
    """Replace whatever session the browser had with a fresh one for user."""
    session.clear()
    record = open_session(user, request.headers.get("User-Agent", ""))
    db.session.commit()
    session.permanent = True
    session["sid"] = record.token
    # Mint the CSRF token now, in the login response's cookie: otherwise the pages the browser
    # fetches at once after login (page, service worker precache) each mint their own, and the
    # last cookie written wins, leaving the other pages with a token that no longer matches.
    g.pop("csrf_token", None)  # generate_csrf caches per request; session.clear() dropped it
    generate_csrf()
    login_user(user)


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    """Create an account and sign in."""
    if current_user.is_authenticated:
        return redirect(url_for("capture.new"))
    form = SignupForm()
    if form.validate_on_submit():
        try:
            user = create_user(form.email.data, form.password.data, name=form.name.data)
        except AccountError as error:
            form.email.errors.append(str(error))
        else:
            db.session.commit()
            _start_session(user)
            flash("Welcome to Hookline. Create your first event to get started.", "success")
            return redirect(url_for("events.new"))
    status = 422 if form.errors else 200
    return render_template("auth/signup.html", form=form), status


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _failed(response) -> bool:
    """Whether a login attempt counts against the limit: only one that did not sign in (a
    success redirects). At a conference a hundred people may log in from the venue's one
    address within minutes; the limit is there for guessed passwords."""
    return response.status_code != 302


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed)
def login():
    """Check the password and sign in."""
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        user = find_user(form.email.data)
        if user is not None and user.check_password(form.password.data):
            _start_session(user)
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors.append("Wrong email or password.")
    status = 422 if form.errors else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    """End the session on the server and in the browser."""
    token = session.get("sid")
    if token:
        close_session(token)
        db.session.commit()
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.errorhandler(AccountError)
def _account_error(error: AccountError):
    return render_template("error.html", code=400, message=str(error)), 400
