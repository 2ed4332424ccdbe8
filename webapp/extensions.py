"""Flask extensions, created unbound and attached in create_app."""

from collections.abc import Callable
from functools import partial, wraps

from flask import Flask, request
from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
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
limiter = Limiter(key_func=get_remote_address, default_limits=[])


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
