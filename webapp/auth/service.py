"""Account creation and session bookkeeping, independent of HTTP."""

from sqlalchemy import func, select, update

from webapp.auth.models import LoginSession, User
from webapp.db_types import utcnow
from webapp.extensions import db


class AccountError(ValueError):
    """An account cannot be created as asked."""


def normalize_email(email: str) -> str:
    """Return the email as stored: trimmed and lower-cased."""
    return email.strip().lower()


def find_user(email: str) -> User | None:
    """Return the user with this email, if any."""
    return db.session.scalar(select(User).where(func.lower(User.email) == normalize_email(email)))


def create_user(
    email: str,
    password: str,
    name: str = "",
    timezone: str = "UTC",
    morning_hour: int = 9,
) -> User:
    """Create and return a new user; refuse a taken email or a bad setting."""
    from webapp.profile.service import check_timezone

    if find_user(email) is not None:
        raise AccountError("An account with this email already exists.")
    if not 0 <= morning_hour <= 23:
        raise AccountError("The morning hour must be between 0 and 23.")
    user = User(
        email=normalize_email(email),
        name=name.strip(),
        timezone=check_timezone(timezone),
        morning_hour=morning_hour,
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def open_session(user: User, user_agent: str = "") -> LoginSession:
    """Record a new signed-in session for user."""
    record = LoginSession(user_id=user.id, user_agent=user_agent[:300])
    db.session.add(record)
    db.session.flush()
    return record


def close_session(token: str) -> None:
    """Revoke the session with this token so its cookie stops working."""
    db.session.execute(
        update(LoginSession)
        .where(LoginSession.token == token, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
