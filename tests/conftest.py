"""Shared fixtures: an app per test on SQLite (and PostgreSQL when TEST_DATABASE_URL is set)."""

import atexit
import os
import re
import secrets
import shutil
import tempfile
import weakref
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jinja2 import FileSystemBytecodeCache
from sqlalchemy import create_engine, func, select, text
from werkzeug.security import generate_password_hash

from webapp import create_app
from webapp.auth.models import User
from webapp.extensions import db

PASSWORD = "correct horse battery"
# Hashing is deliberately slow: hash once and reuse it for every test user, with a cheap
# method, since checking werkzeug's default scrypt hash took 0.1-0.16 s a login and
# hundreds of tests log in. The app's own hashes (sign-up) keep the default, which
# tests/test_auth.py checks.
PASSWORD_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
# Every test makes a new app, whose Jinja environment would compile each template again
# (about a tenth of a second a test that renders pages); compiled templates are shared.
TEMPLATE_CACHE = FileSystemBytecodeCache(tempfile.mkdtemp(prefix="hookline-jinja-"))
atexit.register(shutil.rmtree, TEMPLATE_CACHE.directory, ignore_errors=True)

PG_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
#: every app make_app made and not yet collected, for _close_connections. pytest imports
#: this file as "conftest" and the test files import it again as "tests.conftest": two
#: modules, each with its own set.
_APPS: "weakref.WeakSet[Flask]" = weakref.WeakSet()


@pytest.fixture(autouse=True)
def _close_connections() -> Iterator[None]:
    """After each test, close the pooled database connections of the apps it made.

    An app's engine keeps its connections in a pool for the life of the process, and the
    tests make many apps, some in helpers or module fixtures without a teardown of their
    own. Since Python 3.13 a SQLite connection collected unclosed warns (ResourceWarning,
    an error under this suite's filterwarnings). A disposed engine still works: a later
    test of a module-scoped app opens new connections.
    """
    yield
    import tests.conftest as imported  # noqa: PLC0415  (the second module, see _APPS)

    for app in {*_APPS, *imported._APPS}:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "csrf: run this test with CSRF protection on")


def _pg_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@pytest.fixture(scope="session")
def playwright():
    """One Playwright driver for the whole run: a second sync driver cannot start beside it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str | None]:
    """Create one throwaway schema for this test run and drop it afterwards."""
    if not PG_URL:
        yield None
        return
    name = f"test_{os.getpid()}_{secrets.token_hex(4)}"
    engine = create_engine(_pg_url(PG_URL))
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        yield name
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        engine.dispose()


def make_app(backend: str, tmp_path, pg_schema: str | None, **extra) -> Flask:
    """Create an app on a fresh database of the given backend."""
    if backend == "postgresql":
        uri = _pg_url(PG_URL)
        engine_options = {"connect_args": {"options": f"-csearch_path={pg_schema}"}}
    else:
        uri = f"sqlite:///{tmp_path / 'test.sqlite3'}"
        engine_options = {}
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": uri,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        "WTF_CSRF_ENABLED": False,
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "SERVER_NAME": None,
    }
    config.update(extra)
    app = create_app(config)
    _APPS.add(app)
    app.jinja_env.bytecode_cache = TEMPLATE_CACHE
    with app.app_context():
        db.create_all()
        if backend == "postgresql":
            _empty_schema()
    return app


def _empty_schema() -> None:
    """Empty the run's PostgreSQL schema and restart its sequences, as a fresh one would be.

    The schema lives for the whole run; emptying it is much faster than rebuilding it. A
    DELETE of each table, children first, then every sequence set back to 1: on tables of
    a few rows that takes a few milliseconds, where one TRUNCATE of them all took 0.16-0.19 s
    (it makes new files for every table and index), about two minutes of the suite.
    """
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    sequences = db.session.scalars(
        text("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")
    ).all()
    if sequences:
        db.session.execute(select(*(func.setval(name, 1, False) for name in sequences)))
    db.session.commit()


@pytest.fixture(params=BACKENDS)
def app(request: pytest.FixtureRequest, tmp_path, pg_schema) -> Flask:
    """An application on an empty database."""
    extra = {"WTF_CSRF_ENABLED": True} if request.node.get_closest_marker("csrf") else {}
    return make_app(request.param, tmp_path, pg_schema, **extra)  # closed by _close_connections


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


def add_user(app: Flask, email: str, name: str, **fields) -> int:
    """Create a user with the shared test password; return their id."""
    with app.app_context():
        user = User(email=email, name=name, password_hash=PASSWORD_HASH, **fields)
        db.session.add(user)
        db.session.commit()
        return user.id


@pytest.fixture
def alice(app: Flask) -> int:
    return add_user(app, "alice@example.com", "Alice Adams", timezone="Europe/Berlin")


@pytest.fixture
def bob(app: Flask) -> int:
    return add_user(app, "bob@example.com", "Bob Brown")


class Auth:
    """Log a test client in and out through the real views."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, email: str = "alice@example.com", password: str = PASSWORD):
        page = self.client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        data = {"email": email, "password": password}
        if token:
            data["csrf_token"] = token.group(1)
        return self.client.post("/login", data=data)

    def logout(self):
        return self.client.post("/logout")


@pytest.fixture
def auth(client: FlaskClient) -> Auth:
    return Auth(client)


@pytest.fixture
def as_alice(client: FlaskClient, auth: Auth, alice: int) -> FlaskClient:
    """A client logged in as Alice."""
    response = auth.login()
    assert response.status_code == 302
    return client
