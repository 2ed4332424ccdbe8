"""Shared helpers for the follow-up tests: a local SMTP inbox, a settable clock, captures."""

import email
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from webapp.capture.ingest import CaptureData, HookData
from webapp.capture.store import record_capture
from webapp.events.models import Event
from webapp.extensions import db
from webapp.mail import MailSettings

# Tuesday 17 Nov 2026, 14:00 in Berlin; drafts are due Wednesday 09:00 Berlin (08:00 UTC).
MET = datetime(2026, 11, 17, 13, 0, tzinfo=UTC)
DUE = datetime(2026, 11, 18, 8, 0, tzinfo=UTC)
MORNING = datetime(2026, 11, 18, 8, 30, tzinfo=UTC)


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps every envelope it receives."""

    envelopes: list[Envelope] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        """Store the envelope and accept it."""
        with self.lock:
            self.envelopes.append(envelope)
        return "250 Message accepted"

    def messages(self) -> list[EmailMessage]:
        """Return the received messages, parsed the way a mail client would."""
        with self.lock:
            return [
                email.message_from_bytes(e.content, policy=policy.default) for e in self.envelopes
            ]


def free_port() -> int:
    """Return a port nobody listens on; aiosmtpd cannot start on port 0."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_inbox() -> tuple[Inbox, Controller, MailSettings]:
    """Start a plain local SMTP server; return the inbox, its controller and settings for it."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings = MailSettings(host="127.0.0.1", port=controller.port, starttls=False, timeout=5)
    return inbox, controller, settings


class Clock:
    """A settable 'now' for app.config["CLOCK"]."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def add_event(user_id: int, name: str = "PyCon DE") -> int:
    """Create an event for user_id and return its id."""
    event = Event(user_id=user_id, name=name)
    db.session.add(event)
    db.session.commit()
    return event.id


def capture(user_id: int, event_id: int | None, name: str, *hooks: HookData, **fields) -> int:
    """Record a capture through the one ingest path and commit; return the encounter id."""
    data = CaptureData(
        name=name,
        email=fields.pop("email", name.split()[0].lower() + "@example.org"),
        event_id=event_id,
        hooks=list(hooks) or [HookData("stay_in_touch")],
        happened_at=fields.pop("happened_at", MET),
        **fields,
    )
    encounter = record_capture(user_id, data)
    db.session.commit()
    return encounter.id
