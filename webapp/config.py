"""Default configuration; the environment and instance config override it."""

import os
from datetime import timedelta
from pathlib import Path

MAX_FIELD = 200
MAX_NOTE = 4000


def database_url(instance_path: str) -> str:
    """Return the database URL: DATABASE_URL, or a SQLite file under instance/."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return "sqlite:///" + str(Path(instance_path) / "hookline.sqlite3")
    # Hosting platforms still hand out the old scheme name, which SQLAlchemy 2 refuses.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def defaults(instance_path: str) -> dict:
    """Build the default settings for an app whose instance folder is instance_path."""
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY", "dev-only-change-me"),
        "SQLALCHEMY_DATABASE_URI": database_url(instance_path),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("SESSION_COOKIE_SECURE", "") == "1",
        "PERMANENT_SESSION_LIFETIME": timedelta(days=30),
        "WTF_CSRF_TIME_LIMIT": None,
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "10 per minute;50 per hour"),
        "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
        "SEND_FILE_MAX_AGE_DEFAULT": 3600,
    }
