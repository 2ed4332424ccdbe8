"""The drafts of synced new people are planned when the user next looks, and only then."""

import fcntl
import json
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.outreach_support import MET, MORNING, Clock, add_event, start_inbox
from tests.test_sync_api import delete, push, statuses, token_for, upsert
from webapp.capture.ingest import CaptureData, HookData, update_capture
from webapp.contacts.merge import merge_contacts
from webapp.contacts.models import Contact, Encounter
from webapp.events.models import Event
from webapp.extensions import db
from webapp.outreach import pending
from webapp.outreach import runner as morning_run
from webapp.outreach.models import Draft, PendingPlan

MEET = [{"type": "meet", "detail": "next week", "owed_by": "me"}]


@pytest.fixture
def alice_token(app: Flask, alice: int) -> str:
    return token_for(app, alice)


def _count(app: Flask, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _drafts(app: Flask) -> list[tuple[str, str, int | None]]:
    with app.app_context():
        rows = db.session.execute(
            select(Draft.kind, Contact.name, Draft.event_id)
            .join(Contact, Contact.id == Draft.contact_id)
            .order_by(Draft.id)
        )
        return [tuple(row) for row in rows]


def _plan(app: Flask, user_id: int) -> int:
    with app.app_context():
        planned = pending.plan_pending(user_id)
        db.session.commit()
        return planned


def test_a_synced_capture_is_planned_when_the_review_opens(app, client, auth, alice, alice_token):
    change = upsert(name="Ada Lovelace", email="ada@example.com", hooks=MEET)
    assert statuses(push(client, alice_token, [change])) == ["applied"]
    assert _count(app, Draft) == 0
    assert _count(app, PendingPlan) == 1
    auth.login()
    page = client.get("/followups")
    assert page.status_code == 200
    assert "Ada Lovelace" in page.get_data(as_text=True)
    assert _drafts(app) == [("email", "Ada Lovelace", None)]
    assert _count(app, PendingPlan) == 0
    client.get("/followups")  # nothing left to plan: nothing planned twice
    assert len(_drafts(app)) == 1


def test_the_contacts_page_plans_too(app, client, auth, alice, alice_token):
    push(client, alice_token, [upsert(name="Ada Lovelace", email="ada@example.com", hooks=MEET)])
    auth.login()
    assert client.get("/contacts").status_code == 200
    assert _count(app, PendingPlan) == 0 and _count(app, Draft) == 1


def test_the_phone_screens_and_another_user_plan_nothing(app, client, auth, alice, bob):
    token = token_for(app, alice)
    push(client, token, [upsert(email="ada@example.com", hooks=MEET)])
    auth.login()
    for path in ("/capture", "/today", "/card", "/api/v1/changes", "/sw.js"):
        client.get(path)
    assert _count(app, PendingPlan) == 1
    auth.logout()
    auth.login("bob@example.com")
    assert client.get("/followups").status_code == 200
    assert _count(app, PendingPlan) == 1 and _count(app, Draft) == 0


def test_a_capture_without_hooks_leaves_nothing_to_plan(app, client, alice, alice_token):
    assert statuses(push(client, alice_token, [upsert(email="ada@example.com")])) == ["applied"]
    assert _count(app, PendingPlan) == 0


def test_a_capture_deleted_before_planning_leaves_no_draft(app, client, alice, alice_token):
    change = upsert(email="ada@example.com", hooks=MEET)
    push(client, alice_token, [change])
    push(client, alice_token, [delete(change["id"], minutes=1)])
    assert _plan(app, alice) == 1
    assert _count(app, Draft) == 0 and _count(app, PendingPlan) == 0


def test_a_capture_edited_before_planning_keeps_one_draft_with_the_edit(
    app, client, alice, alice_token
):
    change = upsert(name="Ada Lovelace", email="ada@example.com", hooks=MEET)
    push(client, alice_token, [change])
    with app.app_context():
        encounter = db.session.scalar(select(Encounter).where(Encounter.uuid == change["id"]))
        update_capture(
            encounter,
            CaptureData(
                name="Ada Lovelace",
                email="ada@example.com",
                note="graph databases",
                hooks=[HookData("meet", "next week", "me")],
            ),
        )
        db.session.commit()
    bodies = lambda: [  # noqa: E731
        d.body for d in db.session.scalars(select(Draft))
    ]
    with app.app_context():
        (body,) = bodies()  # the edit planned her at once
        assert "graph databases" in body
    _plan(app, alice)
    with app.app_context():
        assert bodies() == [body]


def test_people_merged_before_planning_are_planned_as_the_one_kept(app, client, alice, alice_token):
    first = upsert(name="Ada Lovelace", email="ada@example.com", hooks=MEET)
    second = upsert(name="Ada King", email="ada@work.example", hooks=MEET)
    push(client, alice_token, [first, second])
    with app.app_context():
        ids = {
            e.uuid: e.contact_id
            for e in db.session.scalars(select(Encounter).where(Encounter.user_id == alice))
        }
        merge_contacts(alice, ids[first["id"]], ids[second["id"]])
        db.session.commit()
    _plan(app, alice)
    assert _drafts(app) == [("email", "Ada Lovelace", None)]


def test_an_event_deleted_before_planning_is_planned_without_it(app, client, alice, alice_token):
    with app.app_context():
        event_id = add_event(alice, "Gone Conf")
        event_uuid = db.session.get(Event, event_id).uuid
    push(
        client,
        alice_token,
        [upsert(name="Ada", email="ada@example.com", hooks=MEET, event_id=event_uuid)],
    )
    with app.app_context():
        db.session.delete(db.session.get(Event, event_id))
        db.session.commit()
    _plan(app, alice)
    assert _drafts(app) == [("email", "Ada", None)]


def test_a_busy_database_leaves_the_plans_for_the_next_page(app, client, auth, alice):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("the writer queue is SQLite's")
    push(client, token_for(app, alice), [upsert(email="ada@example.com", hooks=MEET)])
    auth.login()
    app.config["SYNC_BUSY_TIMEOUT_MS"] = 50
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    with open(f"{path}-writer.lock", "a+") as other_writer:
        fcntl.flock(other_writer, fcntl.LOCK_EX)
        page = client.get("/followups")
        fcntl.flock(other_writer, fcntl.LOCK_UN)
    assert page.status_code == 200  # the page still shows what there is
    assert _count(app, PendingPlan) == 1 and _count(app, Draft) == 0
    client.get("/followups")
    assert _count(app, PendingPlan) == 0 and _count(app, Draft) == 1


@pytest.fixture
def smtp(app: Flask) -> Iterator:
    inbox, controller, settings = start_inbox()
    app.config["MAIL_SETTINGS"] = settings
    app.config["BASE_URL"] = "https://hookline.example/"
    app.config["CLOCK"] = Clock(MORNING)
    yield inbox
    controller.stop()


def test_the_morning_digest_plans_what_the_phone_synced(app, client, alice, alice_token, smtp):
    change = upsert(name="Ada Lovelace", email="ada@example.com", hooks=MEET)
    change["at"] = MET.isoformat()
    assert statuses(push(client, alice_token, [change])) == ["applied"]
    with app.app_context():
        report = morning_run.send_due()
    assert report.digests == ["alice@example.com"]
    (digest,) = smtp.messages()
    assert "Ada Lovelace" in digest.get_content()
    assert _count(app, PendingPlan) == 0


def test_the_export_carries_the_drafts_of_synced_captures(app, client, runner, alice, alice_token):
    push(client, alice_token, [upsert(name="Ada Lovelace", email="ada@example.com", hooks=MEET)])
    result = runner.invoke(args=["export", "--user", "alice@example.com"])
    assert result.exit_code == 0, result.output
    drafts = json.loads(result.stdout)["drafts"]
    assert [(d["kind"], d["contact"]["name"]) for d in drafts] == [("email", "Ada Lovelace")]


def test_one_users_plans_are_never_planned_for_another(app, client, alice, bob, alice_token):
    push(client, alice_token, [upsert(email="ada@example.com", hooks=MEET)])
    assert _plan(app, bob) == 0
    assert _count(app, PendingPlan) == 1
    assert _plan(app, alice) == 1
    with app.app_context():
        assert db.session.scalars(select(Draft.user_id)).all() == [alice]
