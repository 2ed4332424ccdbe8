"""Hookline: capture the people you meet, with a reason to follow up."""

import mimetypes
import os
from pathlib import Path

from flask import Flask

from webapp.extensions import csrf, db, htmx, limiter, login_manager, migrate, spare_from_limiter

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None) -> Flask:
    """Create and configure the Hookline application."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        static_folder=str(ROOT / "static"),
        template_folder=str(ROOT / "templates"),
    )
    from webapp.config import check_secret_key, defaults

    app.config.from_mapping(defaults(app.instance_path))
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("HOOKLINE")
    if test_config:
        app.config.update(test_config)
    check_secret_key(app.config)
    os.makedirs(app.instance_path, exist_ok=True)
    mimetypes.add_type("application/wasm", ".wasm")
    mimetypes.add_type("text/javascript", ".js")

    from webapp import database

    database.configure(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    htmx.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)

    from webapp import models, web  # noqa: F401  (models registers the tables)

    database.init_app(app)
    web.init_app(app)

    from webapp.auth.views import bp as auth_bp
    from webapp.capture.photo_views import bp as photos_bp
    from webapp.capture.views import bp as capture_bp
    from webapp.cards.views import bp as cards_bp
    from webapp.contacts.merge_views import bp as merge_bp
    from webapp.contacts.views import bp as contacts_bp
    from webapp.events.views import bp as events_bp
    from webapp.profile.views import bp as profile_bp
    from webapp.pwa.views import bp as pwa_bp

    for bp in (auth_bp, profile_bp, events_bp, capture_bp, contacts_bp, cards_bp):
        app.register_blueprint(bp)
    for bp in (photos_bp, merge_bp):
        app.register_blueprint(bp)

    app.register_blueprint(pwa_bp)

    from webapp.sync.views import bp as sync_bp

    app.register_blueprint(sync_bp)
    # The sync API has no rate limits (its batches are capped instead: sync/views.py).
    app.extensions["hookline_spared_from_limiter"] = spare_from_limiter(app, sync_bp.name)

    from webapp.outreach.library import bp as outreach_library_bp
    from webapp.outreach.views import bp as outreach_bp

    app.register_blueprint(outreach_bp)
    app.register_blueprint(outreach_library_bp)

    from webapp.outreach import pending

    pending.init_app(app)

    from webapp import cli

    cli.init_app(app)
    return app
