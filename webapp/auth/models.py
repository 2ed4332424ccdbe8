"""The user and the server-side record of each signed-in session."""

import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.db_types import UTCDateTime, utcnow
from webapp.extensions import db


def new_card_slug() -> str:
    """Return an unguessable slug for the user's public card."""
    return secrets.token_urlsafe(9)


class User(UserMixin, db.Model):
    """A person using Hookline, with the profile shown on their card and drafts."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200), default="")
    headline: Mapped[str] = mapped_column(String(200), default="")
    company: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(60), default="")
    linkedin: Mapped[str] = mapped_column(String(300), default="")
    website: Mapped[str] = mapped_column(String(300), default="")
    pitch: Mapped[str] = mapped_column(Text, default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    morning_hour: Mapped[int] = mapped_column(default=9)
    card_slug: Mapped[str] = mapped_column(String(32), unique=True, default=new_card_slug)
    current_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("events.id", ondelete="SET NULL", use_alter=True, name="fk_users_current_event")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The last position handed out in the user's change log (webapp/sync/models.py).
    log_position: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    current_event = relationship("Event", foreign_keys=[current_event_id], post_update=True)

    def set_password(self, password: str) -> None:
        """Hash and store a new password (scrypt, werkzeug's default)."""
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        """Tell whether password matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    @property
    def display_name(self) -> str:
        """Return the name to show, falling back to the email."""
        return self.name or self.email


class LoginSession(db.Model):
    """One signed-in browser; logout revokes it so an old cookie is worthless."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(
        String(64), unique=True, default=lambda: secrets.token_urlsafe(32)
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_agent: Mapped[str] = mapped_column(String(300), default="")
