"""The "drafts" section of the account export (flask --app webapp export --user EMAIL)."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.auth.models import User
from webapp.exchange.export import SECTIONS
from webapp.extensions import db
from webapp.outreach.models import Draft
from webapp.outreach.schedule import zone


def _local(value: datetime | None, tz: str) -> str | None:
    """Return ISO 8601 with the user's own offset, e.g. 2026-11-23T09:00:00+01:00."""
    return value.astimezone(zone(tz)).isoformat() if value else None


def drafts_section(user: User) -> list[dict]:
    """Return every draft of user with its recipient, text, due time, status and contact."""
    drafts = db.session.scalars(
        select(Draft)
        .where(Draft.user_id == user.id)
        .options(selectinload(Draft.contact), selectinload(Draft.event))
        .order_by(Draft.due_at, Draft.id)
    )
    return [
        {
            "id": d.id,
            "kind": d.kind,
            "contact": {"id": d.contact_id, "name": d.contact.name},
            "event": d.event.uuid if d.event else None,
            "to": d.to_email,
            "to_name": d.to_name,
            "cc": d.cc_email or None,
            "subject": d.subject,
            "body": d.body,
            "due_at": _local(d.due_at, user.timezone),
            "status": d.status,
            "sent_at": _local(d.sent_at, user.timezone),
            "skip_reason": d.skip_reason or None,
        }
        for d in drafts
    ]


SECTIONS["drafts"] = drafts_section
