"""Sign up, log in, log out, sessions and rate limiting."""

import pytest
from sqlalchemy import select

from tests.conftest import PASSWORD, Auth, add_user, make_app
from webapp.auth.models import LoginSession, User
from webapp.extensions import db, limiter


def test_it_signs_up_and_lands_on_new_event(client, app):
    response = client.post(
        "/signup",
        data={
            "name": "Carol Chen",
            "email": "Carol@Example.com",
            "password": "a long passphrase",
            "confirm": "a long passphrase",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/events/new")
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "carol@example.com"))
        assert user is not None
        assert user.password_hash.startswith("scrypt:")
        assert user.morning_hour == 9
    assert client.get("/capture").status_code == 200


def test_it_refuses_a_taken_email(client, alice):
    response = client.post(
        "/signup",
        data={
            "name": "A",
            "email": "ALICE@example.com",
            "password": "a long passphrase",
            "confirm": "a long passphrase",
        },
    )
    assert response.status_code == 422
    assert b"already exists" in response.data


def test_it_refuses_a_short_password(client):
    response = client.post(
        "/signup",
        data={"name": "A", "email": "a@example.com", "password": "short", "confirm": "short"},
    )
    assert response.status_code == 422
    assert b"at least 10 characters" in response.data


def test_it_rejects_a_wrong_password(client, alice, auth):
    response = auth.login(password="nope")
    assert response.status_code == 422
    assert b"Wrong email or password" in response.data
    assert client.get("/capture").status_code == 302


def test_login_starts_a_new_session(client, app, alice, auth):
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    auth.login()
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["sid"]
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(LoginSession)) == 1


def test_logout_ends_the_session_on_the_server(client, app, alice, auth):
    auth.login()
    with client.session_transaction() as session:
        stolen = dict(session)
    response = auth.logout()
    assert response.status_code == 302
    # Replaying the old cookie contents must not sign anyone in.
    with client.session_transaction() as session:
        session.update(stolen)
    response = client.get("/capture")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    with app.app_context():
        record = db.session.scalar(select(LoginSession))
        assert record.revoked_at is not None


def test_logout_refuses_get(as_alice):
    assert as_alice.get("/logout").status_code == 405


def test_login_redirects_only_to_local_pages(client, alice):
    response = client.post(
        "/login?next=https://evil.example/x",
        data={"email": "alice@example.com", "password": PASSWORD},
    )
    assert response.headers["Location"] == "/capture"


def test_login_follows_a_local_next(client, alice):
    response = client.post(
        "/login?next=/contacts", data={"email": "alice@example.com", "password": PASSWORD}
    )
    assert response.headers["Location"] == "/contacts"


@pytest.mark.parametrize(
    "path", ["/capture", "/today", "/contacts", "/events", "/profile", "/card", "/card.png"]
)
def test_every_page_requires_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_login_attempts_are_rate_limited(tmp_path, pg_schema):
    app = make_app("sqlite", tmp_path, pg_schema, LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    for _ in range(3):
        client.post("/login", data={"email": "x@example.com", "password": "wrong"})
    response = client.post("/login", data={"email": "x@example.com", "password": "wrong"})
    assert response.status_code == 429
    assert b"Too many attempts" in response.data
    # Reading the page is never limited.
    assert client.get("/login").status_code == 200


def test_only_failed_logins_count_against_the_limit(tmp_path, pg_schema):
    """A venue's Wi-Fi gives a hundred attendees one address: their logins must not lock
    each other out, while guessed passwords still do."""
    app = make_app("sqlite", tmp_path, pg_schema, LOGIN_RATE_LIMIT="3 per minute")
    add_user(app, "ok@example.com", "Oke Kay")
    client = app.test_client()
    auth = Auth(client)
    for _ in range(5):
        assert auth.login("ok@example.com").status_code == 302
        assert auth.logout().status_code == 302
    wrong = [auth.login("ok@example.com", "not-the-password").status_code for _ in range(4)]
    assert wrong == [422, 422, 422, 429]


def _login_from(client, header: str, address: str) -> int:
    data = {"email": "x@example.com", "password": "wrong"}
    return client.post("/login", data=data, headers={header: address}).status_code


def test_behind_a_proxy_each_client_address_has_its_own_login_limit(tmp_path, pg_schema):
    """Behind Fly's proxy every request comes from the proxy: without CLIENT_ADDRESS_HEADER
    one person's failed logins would lock everyone out."""
    app = make_app(
        "sqlite",
        tmp_path,
        pg_schema,
        LOGIN_RATE_LIMIT="2 per minute",
        CLIENT_ADDRESS_HEADER="Fly-Client-IP",
    )
    client = app.test_client()
    assert [_login_from(client, "Fly-Client-IP", "203.0.113.5") for _ in range(3)][-1] == 429
    # Someone else behind the same proxy still gets in.
    assert _login_from(client, "Fly-Client-IP", "198.51.100.7") != 429
    # Other headers a client could write change nothing.
    assert _login_from(client, "X-Forwarded-For", "192.0.2.1") != 429
    assert _login_from(client, "X-Forwarded-For", "192.0.2.2") != 429
    assert _login_from(client, "X-Forwarded-For", "192.0.2.3") == 429


def test_without_a_proxy_a_client_address_header_is_ignored(tmp_path, pg_schema):
    """Any client can write Fly-Client-IP: unless the setting names it, it changes nothing."""
    app = make_app("sqlite", tmp_path, pg_schema, LOGIN_RATE_LIMIT="2 per minute")
    client = app.test_client()
    assert _login_from(client, "Fly-Client-IP", "203.0.113.5") != 429
    assert _login_from(client, "Fly-Client-IP", "203.0.113.6") != 429
    assert _login_from(client, "Fly-Client-IP", "203.0.113.7") == 429


def test_the_api_skips_the_rate_limiter_and_the_login_keeps_it(app, client, monkeypatch):
    """The sync API has no limits, so the limiter's hooks are skipped there (its check, its
    headers and its teardown cost 1.6% of a sync batch); every other request is checked."""
    # All three of Flask-Limiter's hooks were found (a new release registering them
    # differently would silently put them back on every API request).
    assert app.extensions["hookline_spared_from_limiter"] == ["before", "after", "teardown"]
    resolved: list[str | None] = []
    manager = limiter.limit_manager
    real = manager.resolve_limits

    def resolve(app_, endpoint, *args, **kwargs):
        resolved.append(endpoint)
        return real(app_, endpoint, *args, **kwargs)

    monkeypatch.setattr(manager, "resolve_limits", resolve)
    assert client.get("/api/v1/ping").status_code == 200
    assert client.post("/api/v1/sync", json={}).status_code == 401
    assert resolved == []
    client.post("/login", data={"email": "x@example.com", "password": "wrong"})
    assert "auth.login" in resolved


def test_an_anonymous_redirect_to_login_does_not_write_the_session(client):
    # A late anonymous answer must never carry a cookie that replaces a fresh login.
    response = client.get("/capture")
    assert response.status_code == 302
    assert "Set-Cookie" not in response.headers
