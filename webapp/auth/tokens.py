"""Personal API tokens: issued once, stored as a SHA-256 hash, revocable.

A token is 32 random bytes, so a fast hash is enough (nothing to brute-force); the plain
token is shown once when issued and never stored.
"""

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from webapp.bulk import select_rows
from webapp.db_types import UTCDateTime, utcnow
from webapp.extensions import db

PREFIX = "hl_"


class ApiToken(db.Model):
    """A personal API token; only its hash is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(12), default="")
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def hash_token(token: str) -> str:
    """Return the stored form of a token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue_token(user_id: int, name: str = "") -> tuple[ApiToken, str]:
    """Create a token for user_id; return the row and the plain token (shown once)."""
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user_id, token_hash=hash_token(token), hint=token[:7], name=name[:100])
    db.session.add(row)
    db.session.flush()
    return row, token


def user_for_token(token: str) -> int | None:
    """Return the id of the user a live token belongs to, or None, with one indexed lookup.

    Every sync request asks this first, so it is a plain statement (see bulk.select_rows).
    """
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    rows = select_rows(
        db.session.connection(),
        "SELECT user_id FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL",
        [hash_token(token)],
    )
    return rows[0][0] if rows else None


def list_tokens(user_id: int) -> list[ApiToken]:
    """Return the user's tokens, newest first."""
    query = select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())
    return list(db.session.scalars(query))


def revoke_tokens(user_id: int, token_id: int | None = None) -> int:
    """Revoke one of the user's tokens (or all when token_id is None); return how many."""
    query = update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    if token_id is not None:
        query = query.where(ApiToken.id == token_id)
    return db.session.execute(query.values(revoked_at=utcnow())).rowcount
