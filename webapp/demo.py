"""A demo account with an event and a handful of realistic contacts."""

from datetime import date, timedelta

from webapp.auth.models import User
from webapp.auth.service import create_user, find_user
from webapp.capture.ingest import CaptureData, HookData
from webapp.capture.store import record_capture
from webapp.db_types import utcnow
from webapp.events.models import Event
from webapp.extensions import db

DEMO_EMAIL = "demo@hookline.test"
DEMO_PASSWORD = "hookline-demo"  # noqa: S105  (documented demo credentials)

PEOPLE = [
    CaptureData(
        name="Maria Keller",
        org="Northwind Analytics",
        title="Head of Data Platform",
        email="maria.keller@northwind.example",
        url="https://www.linkedin.com/in/maria-keller",
        note="Talked about moving their event pipeline to Postgres logical replication.",
        offer="Our write-up on zero-downtime migrations.",
        ask="Intro to their platform hiring manager.",
        rating="hot",
        raw="BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Maria Keller\r\nORG:Northwind Analytics\r\n"
        "TITLE:Head of Data Platform\r\nEMAIL:maria.keller@northwind.example\r\nEND:VCARD",
        hooks=[
            HookData("send_resource", "the zero-downtime migration write-up"),
            HookData("meet", "coffee next week"),
        ],
    ),
    CaptureData(
        name="Tomás Ruiz",
        org="Lumen Robotics",
        title="Engineering Manager",
        email="tomas@lumen-robotics.example",
        note="Hiring two backend engineers in Q1; loves Rust.",
        rating="warm",
        hooks=[HookData("share_lead", "send him Priya's profile", "me")],
    ),
    CaptureData(
        name="Aiko Tanaka",
        org="Kintsugi Labs",
        title="Founder",
        phone="+81 90 1234 5678",
        note="Building a badge-less event app. Promised me her seed deck.",
        rating="warm",
        hooks=[HookData("custom", "send me her seed deck", "them")],
    ),
    CaptureData(
        name="Priya Natarajan",
        org="Freelance",
        title="Staff Engineer",
        email="priya@natarajan.example",
        note="Looking for a platform role in Berlin; met at the Rust meetup table.",
        rating="hot",
        hooks=[HookData("introduce", "Tomás Ruiz at Lumen Robotics")],
    ),
    CaptureData(
        name="Jonas Berg",
        org="Baltic Ventures",
        title="Partner",
        email="jonas@balticvc.example",
        note="Invests in dev tools; asked to stay in touch after our launch.",
        rating="cold",
        hooks=[HookData("stay_in_touch", "after the launch")],
    ),
]


def seed_demo() -> User:
    """Create (or refresh) the demo user with an event and contacts; return the user."""
    user = find_user(DEMO_EMAIL)
    if user is not None:
        return user
    user = create_user(DEMO_EMAIL, DEMO_PASSWORD, name="Sam Rivera", timezone="Europe/Berlin")
    user.headline = "Platform engineer · Postgres & event pipelines"
    user.company = "Hookline Demo GmbH"
    user.phone = "+49 30 1234567"
    user.linkedin = "https://www.linkedin.com/in/sam-rivera-demo"
    user.pitch = (
        "I help data teams move off fragile batch jobs to streaming pipelines they can trust. "
        "Looking to meet platform leads at companies running Postgres at scale."
    )
    today = date.today()
    event = Event(
        user_id=user.id,
        name="PGConf Europe",
        starts_on=today - timedelta(days=1),
        ends_on=today + timedelta(days=1),
        place="Riga",
        goal="Meet 3 platform leads from my target companies",
    )
    db.session.add(event)
    db.session.flush()
    user.current_event_id = event.id
    now = utcnow()
    for minutes, person in zip(range(200, 0, -40), PEOPLE, strict=True):
        person.event_id = event.id
        person.happened_at = now - timedelta(minutes=minutes)
        record_capture(user.id, person)
    return user
