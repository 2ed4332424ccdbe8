"""The user's whole account as one JSON-ready object (data portability)."""

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.auth.models import User
from webapp.contacts.models import Contact, Encounter
from webapp.events.models import Event
from webapp.extensions import db

# Later features add their own top-level sections here (name -> builder(user)).
SECTIONS: dict[str, Callable[[User], Any]] = {}


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value else None


def _profile(user: User) -> dict:
    return {
        "email": user.email,
        "name": user.name,
        "headline": user.headline,
        "company": user.company,
        "phone": user.phone,
        "linkedin": user.linkedin,
        "website": user.website,
        "pitch": user.pitch,
        "timezone": user.timezone,
        "morning_hour": user.morning_hour,
        "current_event": user.current_event.uuid if user.current_event else None,
    }


def _event(event: Event) -> dict:
    return {
        "id": event.uuid,
        "name": event.name,
        "starts_on": _iso(event.starts_on),
        "ends_on": _iso(event.ends_on),
        "place": event.place,
        "goal": event.goal,
    }


def _encounter(encounter: Encounter) -> dict:
    return {
        "id": encounter.uuid,
        "event": encounter.event.uuid if encounter.event else None,
        "happened_at": _iso(encounter.happened_at),
        "received_at": _iso(encounter.received_at),
        "device_id": encounter.device_id,
        "raw": encounter.raw,
        "captured": {
            name: getattr(encounter, name)
            for name in ("name", "org", "title", "email", "phone", "url")
        },
        "note": encounter.note,
        "offer": encounter.offer,
        "ask": encounter.ask,
        "rating": encounter.rating,
        "hooks": [
            {"type": h.type, "detail": h.detail, "owed_by": h.owed_by, "done": h.done}
            for h in encounter.hooks
        ],
    }


def _contact(contact: Contact) -> dict:
    return {
        "id": contact.id,
        "name": contact.name,
        "emails": list(contact.emails or []),
        "phones": list(contact.phones or []),
        "org": contact.org,
        "title": contact.title,
        "urls": list(contact.urls or []),
        "rating": contact.rating,
        "encounters": [_encounter(e) for e in contact.encounters],
    }


def export_user(user: User) -> dict:
    """Return everything stored for user as plain JSON-ready data."""
    events = db.session.scalars(
        select(Event).where(Event.user_id == user.id).order_by(Event.id)
    ).all()
    contacts = db.session.scalars(
        select(Contact)
        .where(Contact.user_id == user.id)
        .options(
            selectinload(Contact.encounters).selectinload(Encounter.hooks),
            selectinload(Contact.encounters).selectinload(Encounter.event),
        )
        .order_by(Contact.id)
    ).all()
    data = {
        "format": "hookline-export/1",
        "profile": _profile(user),
        "events": [_event(e) for e in events],
        "contacts": [_contact(c) for c in contacts],
    }
    for name, build in SECTIONS.items():
        data[name] = build(user)
    return data
