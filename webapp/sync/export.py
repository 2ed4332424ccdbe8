"""The sync sections of the account export: capture history and deleted captures."""

from sqlalchemy import select

from webapp.auth.models import User
from webapp.contacts.models import Encounter
from webapp.exchange.export import SECTIONS
from webapp.extensions import db
from webapp.sync.models import CaptureRevision, Tombstone


def history_section(user: User) -> list[dict]:
    """Return every recorded field change of the user's captures, oldest first."""
    rows = db.session.execute(
        select(CaptureRevision, Encounter.uuid)
        .join(Encounter, Encounter.id == CaptureRevision.encounter_id)
        .where(Encounter.user_id == user.id)
        .order_by(CaptureRevision.id)
    )
    return [
        {
            "capture": capture_uuid,
            "field": revision.field,
            "old": revision.old_value,
            "new": revision.new_value,
            "outcome": revision.outcome,
            "source": revision.source,
            "at": revision.at.isoformat(),
        }
        for revision, capture_uuid in rows
    ]


def deleted_section(user: User) -> list[dict]:
    """Return the user's deleted captures (tombstones)."""
    query = select(Tombstone).where(Tombstone.user_id == user.id).order_by(Tombstone.id)
    return [
        {"capture": t.capture_uuid, "deleted_at": t.deleted_at.isoformat()}
        for t in db.session.scalars(query)
    ]


SECTIONS["capture_history"] = history_section
SECTIONS["deleted_captures"] = deleted_section
