"""The send-due runner against a real local SMTP server: scheduled drafts, digests, overlap."""

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from tests.outreach_support import DUE, MORNING, Clock, add_event, capture, start_inbox
from webapp.extensions import db
from webapp.outreach import runner
from webapp.outreach.models import DigestLog, Draft, Interaction


@pytest.fixture
def smtp(app: Flask) -> Iterator:
    inbox, controller, settings = start_inbox()
    app.config["MAIL_SETTINGS"] = settings
    app.config["BASE_URL"] = "https://hookline.example/"
    yield inbox
    controller.stop()


@pytest.fixture
def clock(app: Flask) -> Clock:
    clock = Clock(MORNING)
    app.config["CLOCK"] = clock
    return clock


def _schedule(app: Flask, user_id: int, *names: str) -> list[int]:
    with app.app_context():
        event = add_event(user_id)
        for name in names:
            capture(user_id, event, name)
        drafts = db.session.scalars(select(Draft).order_by(Draft.id)).all()
        for draft in drafts:
            draft.status = "scheduled"
        db.session.commit()
        return [d.id for d in drafts]


def _statuses(app: Flask) -> dict[int, str]:
    with app.app_context():
        rows = db.session.execute(select(Draft.id, Draft.status))
        return {ident: status for ident, status in rows}


def test_it_sends_scheduled_drafts_once_they_are_due(app, alice, smtp, clock) -> None:
    ids = _schedule(app, alice, "Maria García", "Sam Lee")
    clock.moment = DUE - timedelta(minutes=1)
    with app.app_context():
        assert runner.send_due().sent == []
    clock.moment = DUE
    with app.app_context():
        report = runner.send_due()
    assert sorted(report.sent) == ids
    assert set(_statuses(app).values()) == {"sent"}
    recipients = sorted(m["To"].addresses[0].addr_spec for m in smtp.messages() if "Subject" in m)
    assert "maria@example.org" in recipients and "sam@example.org" in recipients
    with app.app_context():
        assert len(db.session.scalars(select(Interaction)).all()) == 2
        # A second pass finds nothing to send again.
        assert runner.send_due().sent == []


def test_queued_drafts_are_never_sent_by_the_runner(app, alice, smtp, clock) -> None:
    with app.app_context():
        capture(alice, add_event(alice), "Maria García")
        report = runner.send_due()
    assert report.sent == []
    assert all(m["To"].addresses[0].addr_spec == "alice@example.com" for m in smtp.messages())


def test_overlapping_runners_never_send_a_draft_twice(app, alice, smtp, clock) -> None:
    names = [f"Person {i} Test" for i in range(8)]
    with app.app_context():
        event = add_event(alice)
        for i, name in enumerate(names):
            capture(alice, event, name, email=f"p{i}@example.org")
        for draft in db.session.scalars(select(Draft)):
            draft.status = "scheduled"
        db.session.commit()
    reports: list[runner.Report] = []
    barrier = threading.Barrier(3)

    def run() -> None:
        with app.app_context():
            barrier.wait()
            reports.append(runner.send_due())

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    sent = [ident for report in reports for ident in report.sent]
    assert len(sent) == len(set(sent)) == 8
    drafts = [m for m in smtp.messages() if m["To"].addresses[0].addr_spec != "alice@example.com"]
    assert sorted(m["To"].addresses[0].addr_spec for m in drafts) == sorted(
        f"p{i}@example.org" for i in range(8)
    )
    assert set(_statuses(app).values()) == {"sent"}


def test_a_failed_send_goes_back_to_the_queue_with_the_reason(app, alice, clock) -> None:
    [ident] = _schedule(app, alice, "Maria García")
    inbox, controller, settings = start_inbox()
    controller.stop()  # nobody listens any more
    with app.app_context():
        report = runner.send_due(settings)
        draft = db.session.get(Draft, ident)
        assert report.failed and report.failed[0][0] == ident
        assert draft.status == "queued" and "Could not reach the mail server" in draft.send_error


def test_a_crash_mid_send_is_reported_and_never_resent(app, alice, smtp, clock) -> None:
    [ident] = _schedule(app, alice, "Maria García")
    with app.app_context():
        assert runner.claim(ident, ("scheduled",), "dead-runner")  # then the process "dies"
    clock.moment = MORNING + runner.STUCK_AFTER + timedelta(minutes=1)
    with app.app_context():
        report = runner.send_due()
    assert report.stuck == [ident] and report.sent == []
    assert _statuses(app)[ident] == "sending"
    assert all(m["To"].addresses[0].addr_spec == "alice@example.com" for m in smtp.messages())


def test_the_morning_digest_lists_the_queue_once_a_day(app, alice, smtp, clock) -> None:
    with app.app_context():
        event = add_event(alice)
        capture(alice, event, "Maria García")
        capture(alice, event, "Sam Lee")
    clock.moment = DUE - timedelta(hours=1)  # 08:00 Berlin: before alice's morning hour
    with app.app_context():
        assert runner.send_due().digests == []
    clock.moment = MORNING
    with app.app_context():
        assert runner.send_due().digests == ["alice@example.com"]
        assert runner.send_due().digests == []  # once per local day
    [digest] = smtp.messages()
    assert digest["To"].addresses[0].addr_spec == "alice@example.com"
    assert digest["Subject"] == "Your follow-ups for today: 2 due"
    text = digest.get_body().get_content()
    assert "- Maria García (PyCon DE): " in text and "- Sam Lee (PyCon DE): " in text
    assert "https://hookline.example/followups" in text
    clock.moment = MORNING + timedelta(days=1)
    with app.app_context():
        assert runner.send_due().digests == ["alice@example.com"]
        assert len(db.session.scalars(select(DigestLog)).all()) == 2


def test_no_digest_when_nothing_is_due(app, alice, bob, smtp, clock) -> None:
    with app.app_context():
        assert runner.send_due().digests == []
    assert smtp.messages() == []


def test_the_command_sends_and_reports(app, alice, smtp, clock) -> None:
    _schedule(app, alice, "Maria García")
    result = app.test_cli_runner().invoke(args=["outreach", "send-due"])
    assert result.exit_code == 0, result.output
    # A scheduled draft sends itself, so it is not in the digest: nothing else is waiting.
    assert "Sent 1 scheduled drafts, 0 digests." in result.output


def test_the_command_refuses_without_mail(app) -> None:
    app.config["MAIL_SETTINGS"] = None
    result = app.test_cli_runner().invoke(args=["outreach", "send-due"])
    assert result.exit_code != 0 and "Mail is not set up" in result.output
