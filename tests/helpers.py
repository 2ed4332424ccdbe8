"""Small builders for test data, going through the real domain functions."""

from flask import Flask

from webapp.auth.models import User
from webapp.capture.ingest import CaptureData, HookData
from webapp.capture.store import record_capture
from webapp.events.models import Event
from webapp.extensions import db


def add_event(app: Flask, user_id: int, name: str = "RustConf", current: bool = True) -> int:
    """Create an event for user_id and return its id."""
    with app.app_context():
        event = Event(user_id=user_id, name=name)
        db.session.add(event)
        db.session.flush()
        if current:
            db.session.get(User, user_id).current_event_id = event.id
        db.session.commit()
        return event.id


def add_capture(app: Flask, user_id: int, **fields) -> tuple[int, int]:
    """Record a capture for user_id; return (encounter id, contact id)."""
    hooks = [HookData(*h) if isinstance(h, tuple) else h for h in fields.pop("hooks", [])]
    with app.app_context():
        encounter = record_capture(user_id, CaptureData(hooks=hooks, **fields))
        db.session.commit()
        return encounter.id, encounter.contact_id
