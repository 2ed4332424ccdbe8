"""Default configuration; the environment and instance config override it."""

import os
from datetime import timedelta
from pathlib import Path

MAX_FIELD = 200
MAX_NOTE = 4000
#: The key of local use (`make run`, the tests): public, so production refuses it.
DEV_SECRET_KEY = "dev-only-change-me"  # noqa: S105  (public on purpose: refused in production)
MIN_SECRET_KEY = 32


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
        "SECRET_KEY": os.environ.get("SECRET_KEY", DEV_SECRET_KEY),
        # The production image sets HOOKLINE_PRODUCTION=true (Dockerfile): see check_secret_key.
        "PRODUCTION": False,
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
        # The header in which the proxy in front of the app names the client's address
        # (fly.toml: Fly-Client-IP), for the rate limits. Unset, the header is ignored: any
        # client can write one.
        "CLIENT_ADDRESS_HEADER": os.environ.get("CLIENT_ADDRESS_HEADER", "").strip(),
        # On a SQLite file under gunicorn: the Unix socket of the sync writer, one process
        # that applies the phones' batches of new captures (webapp/sync/writer.py), which
        # gunicorn.conf.py starts beside the workers. Empty: each worker writes its own.
        "SYNC_WRITER_SOCKET": os.environ.get("HOOKLINE_SYNC_WRITER_SOCKET", "").strip(),
        "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
        "SEND_FILE_MAX_AGE_DEFAULT": 3600,
    }


def check_secret_key(config: dict) -> None:
    """In production, refuse to start with the development key or a short one.

    The key signs the session cookies and CSRF tokens: with the public development key
    anyone could sign a cookie that logs them in as any user. Raises RuntimeError, so
    gunicorn, the release command and the mailer stop with the reason instead of serving.
    """
    if not config.get("PRODUCTION"):
        return
    key = config.get("SECRET_KEY") or ""
    if key == DEV_SECRET_KEY or len(key) < MIN_SECRET_KEY:
        raise RuntimeError(
            f"SECRET_KEY must be a random value of at least {MIN_SECRET_KEY} characters in "
            "production, and it is unset, the development key or shorter. Set it, e.g. fly "
            "secrets set SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
        )
