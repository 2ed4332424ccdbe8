"""Read-only queries over contacts and encounters, always scoped to one user."""

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from webapp.contacts.models import Contact, Encounter
from webapp.extensions import db


def encounters_at(user_id: int, event_id: int | None, limit: int = 500) -> list[Encounter]:
    """Return the user's encounters at an event, newest first, with contact and hooks."""
    query = (
        select(Encounter)
        .where(Encounter.user_id == user_id, Encounter.event_id == event_id)
        .options(selectinload(Encounter.hooks), selectinload(Encounter.contact))
        .order_by(Encounter.happened_at.desc(), Encounter.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(query))


def search_contacts(user_id: int, text: str = "", limit: int = 200) -> list[Contact]:
    """Return the user's contacts matching text in name, org or title, by name."""
    query = select(Contact).where(Contact.user_id == user_id)
    text = text.strip()
    if text:
        pattern = f"%{text.replace('%', '').replace('_', '')}%"
        query = query.where(
            or_(
                Contact.name.ilike(pattern),
                Contact.org.ilike(pattern),
                Contact.title.ilike(pattern),
            )
        )
    return list(db.session.scalars(query.order_by(Contact.name, Contact.id).limit(limit)))
