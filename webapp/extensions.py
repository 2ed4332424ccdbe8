"""Flask extensions, created unbound and attached in create_app."""

from collections.abc import Callable
from functools import partial, wraps

from flask import Flask, current_app, request
from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base shared by every model."""


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
htmx = HTMX()
csrf = CSRFProtect()
login_manager = LoginManager()


def client_address() -> str:
    """Return the client's address, for the rate limits.

    Behind a proxy (Fly's) every request comes from the proxy, and a limit per address would
    be one limit for everyone: one person's failed logins would lock all out. The proxy
    names the client in a header of its own (CLIENT_ADDRESS_HEADER), which it sets whatever
    the client sent; without that setting the header is ignored, as any client can write it.
    """
    header = current_app.config.get("CLIENT_ADDRESS_HEADER")
    if header:
        given = request.headers.get(header, "").strip()
        if given:
            return given
    return get_remote_address()


limiter = Limiter(key_func=client_address, default_limits=[])


def signed_in_user_or_address() -> str:
    """Rate-limit key of pages for signed-in users: the user, else the client's address.

    At a conference many phones share the venue's one public address, and a limit per
    address would let one busy attendee's badge photos use up everyone's.
    """
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return client_address()


def spare_from_limiter(app: Flask, blueprint: str) -> list[str]:
    """Skip the limiter's hooks for every request of a blueprint that has no limits.

    Flask-Limiter runs three hooks on every request (its check before it, its headers after
    it, its context's reset at teardown), even where no limit applies and a request filter
    exempts the request: on the sync API that was 0.24 M instructions, 1.6% of a 20-capture
    batch (docs/performance.md). Returns which hooks were found and wrapped ("before",
    "after", "teardown"); tests check that all three still are. A limit added to the
    blueprint must remove this.
    """

    def ours(hook: Callable) -> bool:
        owner = hook.args[0] if isinstance(hook, partial) and hook.args else None
        return getattr(hook, "__self__", owner) is limiter

    def unless_spared(hook: Callable, kind: str) -> Callable:
        @wraps(hook.func if isinstance(hook, partial) else hook)
        def run(*args):
            if request.blueprint == blueprint:
                return args[0] if kind == "after" else None  # after_request hands on the response
            return hook(*args)

        return run

    wrapped = []
    registries = (
        ("before", app.before_request_funcs),
        ("after", app.after_request_funcs),
        ("teardown", app.teardown_request_funcs),
    )
    for kind, registry in registries:
        hooks = registry.get(None, [])
        for index, hook in enumerate(hooks):
            if ours(hook):
                hooks[index] = unless_spared(hook, kind)
                wrapped.append(kind)
    return wrapped
