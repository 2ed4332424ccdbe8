"""Import every model module so that SQLAlchemy and Alembic see all tables."""

from webapp.auth.models import LoginSession, User
from webapp.contacts.models import Contact, ContactHandle, Encounter, Hook
from webapp.events.models import Event

__all__ = ["Contact", "ContactHandle", "Encounter", "Event", "Hook", "LoginSession", "User"]
