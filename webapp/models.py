"""Import every model module so that SQLAlchemy and Alembic see all tables."""

from webapp.auth.models import LoginSession, User
from webapp.auth.tokens import ApiToken  # noqa: F401  (API tokens)
from webapp.capture.models import CapturePhoto  # noqa: F401  (badge photos)
from webapp.contacts.models import Contact, ContactHandle, Encounter, Hook
from webapp.events.models import Event
from webapp.outreach.models import Draft, Interaction, Introduction  # noqa: F401  (follow-ups)
from webapp.sync.models import CaptureRevision, ChangeRecord, Tombstone  # noqa: F401

__all__ = ["Contact", "ContactHandle", "Encounter", "Event", "Hook", "LoginSession", "User"]
