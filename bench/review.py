"""Benchmark the follow-up queue: rendering the review screen and planning drafts.

Run: .venv/bin/python bench/review.py [--drafts 500] [--renders 20] [--captures 10000]

Prints figures next to their targets; asserts nothing. Uses a SQLite file database in a
temporary folder and Flask's test client (server time only, no network or browser).

1. Review screen: GET /followups with N due drafts (each from a capture with a note and two
   hooks), median and p90 over the renders. Target: under 150 ms median for 500 drafts.
2. Planning: plan_many over M stored captures with hooks (as after a bulk import), then the
   same again (the idempotent "nothing changed" path). Target: under 5 s for 10,000. Also
   record_capture with its inline planning for a smaller number, per capture, for scale.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

from webapp import create_app  # noqa: E402
from webapp.auth.models import User  # noqa: E402
from webapp.capture.ingest import CaptureData, HookData  # noqa: E402
from webapp.capture.store import record_capture  # noqa: E402
from webapp.contacts.models import Contact, Encounter, Hook  # noqa: E402
from webapp.events.models import Event  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.outreach.models import Draft  # noqa: E402
from webapp.outreach.planner import plan_many  # noqa: E402

RENDER_TARGET_MS = 150.0
PLAN_TARGET_S = 5.0
PASSWORD = "bench password 1"
MET = datetime(2026, 11, 17, 13, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
HOOKS = [
    [HookData("send_resource", "the pricing deck"), HookData("meet", "next week")],
    [HookData("stay_in_touch"), HookData("share_lead", "Acme is hiring", "them")],
    [HookData("ask_advice", "fundraising"), HookData("custom", "send the photos")],
]
RATINGS = ["hot", "warm", "cold", None]


def make_app(folder: Path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.sqlite3'}",
            "WTF_CSRF_ENABLED": False,
            "LOGIN_RATE_LIMIT": "1000 per minute",
            "CLOCK": lambda: NOW,
            "MAIL_SETTINGS": None,
        }
    )
    with app.app_context():
        db.create_all()
    return app


def add_user(app, email: str) -> int:
    with app.app_context():
        user = User(
            email=email, name="Bench User", password_hash=generate_password_hash(PASSWORD),
            timezone="Europe/Berlin",
        )  # fmt: skip
        db.session.add(user)
        db.session.commit()
        return user.id


def capture_many(user_id: int, count: int, event_id: int, start: int = 0) -> float:
    """Record count captures with hooks through the ingest path; return the seconds taken."""
    began = time.perf_counter()
    for i in range(start, start + count):
        data = CaptureData(
            name=f"Person {i} Example", email=f"p{i}@example.org", org=f"Org {i % 50}",
            note=f"talked about topic {i}", rating=RATINGS[i % 4], event_id=event_id,
            hooks=list(HOOKS[i % 3]), happened_at=MET + timedelta(seconds=i),
        )  # fmt: skip
        record_capture(user_id, data)
        if (i - start) % 500 == 499:
            db.session.commit()
    db.session.commit()
    return time.perf_counter() - began


def new_event(user_id: int, name: str) -> int:
    event = Event(user_id=user_id, name=name)
    db.session.add(event)
    db.session.commit()
    return event.id


def bench_render(drafts: int, renders: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(Path(tmp))
        user_id = add_user(app, "bench@example.com")
        with app.app_context():
            event_ids = [new_event(user_id, f"Event {n}") for n in range(3)]
            for n, event_id in enumerate(event_ids):
                share = drafts // 3 + (1 if n < drafts % 3 else 0)
                capture_many(user_id, share, event_id, start=n * drafts)
            due = db.session.scalar(
                select(func.count(Draft.id)).where(Draft.kind == "email", Draft.due_at <= NOW)
            )
        client = app.test_client()
        client.post("/login", data={"email": "bench@example.com", "password": PASSWORD})
        client.get("/followups")  # warm the template cache
        times = []
        for _ in range(renders):
            began = time.perf_counter()
            response = client.get("/followups")
            times.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200
        size = len(response.data) // 1024
        median = statistics.median(times)
        p90 = statistics.quantiles(times, n=10)[-1] if len(times) >= 2 else times[0]
        print(f"review screen, {due} due drafts ({size} KiB of HTML), {renders} renders:")
        target = f"target: median < {RENDER_TARGET_MS:.0f} ms"
        print(f"  median {median:.0f} ms, p90 {p90:.0f} ms  ({target})")


def store_without_planning(user_id: int, count: int, event_id: int) -> None:
    """Insert captures as plain rows (no ingest, no planner), as a bulk import would stage them."""
    for start in range(0, count, 1000):
        for i in range(start, min(count, start + 1000)):
            contact = Contact(
                user_id=user_id, name=f"Person {i} Example", emails=[f"p{i}@example.org"],
                phones=[], urls=[], org=f"Org {i % 50}", rating=RATINGS[i % 4],
            )  # fmt: skip
            encounter = Encounter(
                user_id=user_id, contact=contact, event_id=event_id, name=contact.name,
                note=f"topic {i}", happened_at=MET + timedelta(seconds=i),
                hooks=[Hook(type=h.type, detail=h.detail, owed_by=h.owed_by) for h in HOOKS[i % 3]],
            )  # fmt: skip
            db.session.add(encounter)
        db.session.commit()


def bench_plan(captures: int, inline: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(Path(tmp))
        user_id = add_user(app, "plan@example.com")
        with app.app_context():
            event_id = new_event(user_id, "Big conference")
            store_without_planning(user_id, captures, event_id)
            keys = db.session.execute(
                select(Encounter.contact_id, Encounter.event_id).where(Encounter.user_id == user_id)
            ).all()
            began = time.perf_counter()
            plan_many(user_id, keys)
            db.session.commit()
            seconds = time.perf_counter() - began
            drafts = db.session.scalar(select(func.count(Draft.id)))
            print(f"queue drafts for {captures:,} stored captures (plan_many): {seconds:.2f} s "
                  f"-> {drafts:,} drafts  (target < {PLAN_TARGET_S:.0f} s)")  # fmt: skip
            began = time.perf_counter()
            plan_many(user_id, keys)
            db.session.commit()
            again = time.perf_counter() - began
            after = db.session.scalar(select(func.count(Draft.id)))
            print(f"plan the same {captures:,} again (re-sync: nothing changes): {again:.2f} s, "
                  f"drafts still {after:,}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(Path(tmp))
        user_id = add_user(app, "inline@example.com")
        with app.app_context():
            seconds = capture_many(user_id, inline, new_event(user_id, "Conference"))
        each = seconds / inline * 1000
        print(f"record_capture with inline planning, {inline:,} captures: {seconds:.2f} s "
              f"({each:.1f} ms per capture, matching and history included)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drafts", type=int, default=500)
    parser.add_argument("--renders", type=int, default=20)
    parser.add_argument("--captures", type=int, default=10_000)
    parser.add_argument("--inline", type=int, default=500, help="captures through record_capture")
    args = parser.parse_args()
    bench_render(args.drafts, args.renders)
    bench_plan(args.captures, args.inline)


if __name__ == "__main__":
    main()
