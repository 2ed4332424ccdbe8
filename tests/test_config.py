"""Settings that guard production: the secret key."""

import pytest

from tests.conftest import _APPS
from webapp import create_app
from webapp.config import DEV_SECRET_KEY, MIN_SECRET_KEY


def _app(tmp_path, monkeypatch, **config):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    return _made(tmp_path, **config)


def _made(tmp_path, **config):
    uri = f"sqlite:///{tmp_path / 'config.sqlite3'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": uri, **config})
    _APPS.add(app)  # its connections closed after the test (conftest._close_connections)
    return app


@pytest.mark.parametrize("key", [None, "", DEV_SECRET_KEY, "x" * (MIN_SECRET_KEY - 1)])
def test_production_refuses_a_missing_public_or_short_secret_key(tmp_path, monkeypatch, key):
    config = {"PRODUCTION": True}
    if key is not None:
        config["SECRET_KEY"] = key
    with pytest.raises(RuntimeError, match="SECRET_KEY must be a random value"):
        _app(tmp_path, monkeypatch, **config)


def test_production_starts_with_a_long_random_key(tmp_path, monkeypatch):
    app = _app(tmp_path, monkeypatch, PRODUCTION=True, SECRET_KEY="k" * MIN_SECRET_KEY)
    assert app.config["SECRET_KEY"] == "k" * MIN_SECRET_KEY


def test_the_environment_turns_production_on(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOKLINE_PRODUCTION", "true")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        _app(tmp_path, monkeypatch)
    monkeypatch.setenv("SECRET_KEY", "e" * 64)
    assert _made(tmp_path).config["PRODUCTION"] is True


def test_local_use_keeps_the_development_key(tmp_path, monkeypatch):
    monkeypatch.delenv("HOOKLINE_PRODUCTION", raising=False)
    app = _app(tmp_path, monkeypatch)
    assert app.config["SECRET_KEY"] == DEV_SECRET_KEY
    assert app.config["PRODUCTION"] is False
