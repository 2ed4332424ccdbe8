"""The lean path for a batch of new captures: one set of statements, the same outcome."""

from datetime import datetime

import pytest
from flask import Flask
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from tests.outreach_support import add_event
from tests.test_sync_api import DEVICE, T0, new_id, push, statuses, token_for, upsert
from webapp.auth.models import User
from webapp.capture.ingest import CaptureData, HookData
from webapp.capture.store import record_capture, record_captures
from webapp.contacts.models import Contact, ContactHandle, Encounter, Hook
from webapp.events.models import Event
from webapp.extensions import db
from webapp.outreach import pending
from webapp.outreach.models import Draft, Introduction, UserTemplate
from webapp.sync import service
from webapp.sync.models import ChangeRecord


@pytest.fixture
def alice_token(app: Flask, alice: int) -> str:
    return token_for(app, alice)


def _contact_of(app: Flask, user_id: int, capture_id: str) -> int:
    with app.app_context():
        return db.session.scalar(
            select(Encounter.contact_id).where(
                Encounter.user_id == user_id, Encounter.uuid == capture_id
            )
        )


def test_a_batch_matches_people_within_itself_and_to_known_contacts(
    app, client, alice, alice_token
):
    with app.app_context():
        known = record_capture(alice, CaptureData(name="Ada", email="ada@example.com")).contact_id
        db.session.commit()
    hook = [{"type": "send_resource", "detail": "the write-up", "owed_by": "me"}]
    ada = upsert(email="ADA@example.com", hooks=hook)
    sam = upsert(name="Sam", email="sam@example.com", phone="+49 170 1234567", hooks=hook)
    sam_again = upsert(name="Sam L.", phone="+49 (170) 123 4567", org="Acme")
    lee = upsert(name="Lee")
    response = push(client, alice_token, [ada, sam, sam_again, lee])
    assert statuses(response) == ["applied"] * 4
    assert _contact_of(app, alice, ada["id"]) == known
    assert _contact_of(app, alice, sam["id"]) == _contact_of(app, alice, sam_again["id"])
    assert len({known, _contact_of(app, alice, sam["id"]), _contact_of(app, alice, lee["id"])}) == 3
    with app.app_context():
        sam_contact = db.session.get(Contact, _contact_of(app, alice, sam["id"]))
        assert (sam_contact.name, sam_contact.org) == ("Sam", "Acme")  # filled, not overwritten
        assert sam_contact.phones == ["+49 170 1234567", "+49 (170) 123 4567"]
        handles = db.session.execute(
            select(ContactHandle.kind, ContactHandle.value, ContactHandle.contact_id).where(
                ContactHandle.user_id == alice
            )
        ).all()
        assert sorted(handles) == sorted(
            [
                ("email", "ada@example.com", known),
                ("email", "sam@example.com", sam_contact.id),
                ("phone", "+491701234567", sam_contact.id),
            ]
        )
        drafts = db.session.execute(
            select(Draft.contact_id, Draft.kind).where(Draft.user_id == alice)
        ).all()
        assert sorted(drafts) == sorted([(known, "email"), (sam_contact.id, "email")])
    pulled = client.get("/api/v1/changes", headers={"Authorization": f"Bearer {alice_token}"})
    listed = [c["capture_id"] for c in pulled.get_json()["changes"]]
    assert listed[-4:] == [ada["id"], sam["id"], sam_again["id"], lee["id"]]


def test_record_captures_refuses_the_whole_list_before_writing(app, alice):
    with app.app_context():
        with pytest.raises(ValueError):
            record_captures(
                alice,
                [CaptureData(name="Fine"), CaptureData(name="X", raw="BEGIN:VCARD\x07")],
            )
        assert db.session.scalar(select(func.count()).select_from(Encounter)) == 0


def _racing_store(monkeypatch, failures: int) -> list[int]:
    """Make service.store_captures fail its first `failures` calls after doing its inserts,
    as if a racing writer had taken a handle just then; return the calls' capture counts."""
    real = service.store_captures
    calls: list[int] = []

    def racing(*args, **kwargs):
        encounter_ids = real(*args, **kwargs)
        calls.append(len(encounter_ids))
        if len(calls) <= failures:
            raise IntegrityError("INSERT", {}, Exception("simulated race"))
        return encounter_ids

    monkeypatch.setattr(service, "store_captures", racing)
    return calls


def _three_new_and_a_bad_one() -> list[dict]:
    changes = [
        upsert(
            name=f"Person {i}",
            email=f"p{i}@example.com",
            hooks=[{"type": "meet", "detail": "", "owed_by": "me"}],
        )
        for i in range(3)
    ]
    bad = upsert(name="Zed", event_id=new_id())  # not one of alice's events
    return [*changes[:2], bad, changes[2]]


def _assert_applied_once(app, client, alice, alice_token, batch) -> None:
    with app.app_context():
        count = lambda model: db.session.scalar(select(func.count()).select_from(model))  # noqa: E731
        assert count(Encounter) == 3
        assert count(Contact) == 3
        assert count(Hook) == 3
        assert count(ChangeRecord) == 3
        positions = db.session.scalars(select(Encounter.log_seq)).all()
        assert len(set(positions)) == 3 and min(positions) > 0  # each logged, once
        pending.plan_pending(alice)  # the new people of the bulk runs are planned later
        db.session.commit()
        assert count(Draft) == 3
    replay = push(client, alice_token, batch)
    assert statuses(replay) == ["duplicate", "duplicate", "rejected", "duplicate"]


def test_a_batch_of_new_captures_takes_no_savepoint(app, client, alice, alice_token):
    """The first attempt writes a run of new captures without a SAVEPOINT (and its RELEASE),
    a tenth of the write lock's time on SQLite."""
    sent: list[str] = []

    def log(_conn, _cursor, statement, *_args) -> None:
        sent.append(statement.split()[0].upper())

    batch = [upsert(name=f"Person {i}", email=f"p{i}@example.com") for i in range(3)]
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", log)
    try:
        assert statuses(push(client, alice_token, batch)) == ["applied"] * 3
    finally:
        event.remove(engine, "before_cursor_execute", log)
    assert "SAVEPOINT" not in sent
    assert "RELEASE" not in sent


@pytest.mark.parametrize(
    "failures",
    [
        # The first attempt's first run failed after its inserts; everything was rolled
        # back and the second attempt applied both runs, each in a savepoint.
        pytest.param(1, id="a-race-on-the-first-attempt-rolls-back-and-applies-again"),
        # The first attempt failed whole; in the second the run's savepoint failed and its
        # two changes went one at a time (record_capture, not store_captures); the last
        # run in bulk.
        pytest.param(2, id="a-failed-bulk-savepoint-falls-back-to-one-change-at-a-time"),
    ],
)
def test_a_raced_batch_is_applied_once(app, client, alice, alice_token, monkeypatch, failures):
    calls = _racing_store(monkeypatch, failures=failures)
    batch = _three_new_and_a_bad_one()
    response = push(client, alice_token, batch)
    assert response.status_code == 200
    assert statuses(response) == ["applied", "applied", "rejected", "applied"]
    assert calls == [2, 2, 1]
    _assert_applied_once(app, client, alice, alice_token, batch)


def test_one_capture_and_a_list_take_the_same_path(app, alice):
    with app.app_context():
        one = record_capture(
            alice,
            CaptureData(
                name="Kim",
                email="kim@example.com",
                hooks=[HookData("meet", "coffee", "them")],
                happened_at=None,
            ),
        )
        assert one.contact.emails == ["kim@example.com"]
        assert [(h.type, h.detail, h.owed_by) for h in one.hooks] == [("meet", "coffee", "them")]
        assert one.device_id is None and one.uuid
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Draft)) == 1  # the nudge


def test_device_and_time_are_kept_by_the_bulk_path(app, client, alice, alice_token):
    change = upsert(email="t@example.com")
    assert statuses(push(client, alice_token, [change])) == ["applied"]
    with app.app_context():
        encounter = db.session.scalar(select(Encounter).where(Encounter.uuid == change["id"]))
        assert encounter.device_id == DEVICE
        assert encounter.happened_at == T0
        assert encounter.received_at > T0


def test_rows_of_a_rolled_back_savepoint_leave_the_session(app, alice):
    with app.app_context():
        savepoint = db.session.begin_nested()
        gone = record_captures(alice, [CaptureData(name="Ann", hooks=[HookData("meet")])])
        contact, hooks = gone[0].contact, list(gone[0].hooks)
        savepoint.rollback()
        assert all(obj not in db.session for obj in (*gone, contact, *hooks))
        again = record_captures(alice, [CaptureData(name="Bo", email="bo@example.com")])
        db.session.commit()
        assert again[0].name == "Bo" and again[0].contact.emails == ["bo@example.com"]
        assert db.session.scalar(select(func.count()).select_from(Encounter)) == 1


def _position(capture_uuid: str) -> int:
    return db.session.scalar(select(Encounter.log_seq).where(Encounter.uuid == capture_uuid))


def test_a_new_capture_is_logged_once_and_moves_on_each_edit(app, client, alice, alice_token):
    change = upsert(name="Lou", email="lou@example.com")
    assert statuses(push(client, alice_token, [change])) == ["applied"]
    with app.app_context():
        first = _position(change["id"])
    assert first > 0
    edit = upsert(capture_id=change["id"], name="Lou Reed", email="lou@example.com")
    assert statuses(push(client, alice_token, [edit])) == ["applied"]
    with app.app_context():
        assert _position(change["id"]) > first


def test_a_rolled_back_new_capture_gives_its_position_back(app, alice):
    """Positions taken in a savepoint that rolls back were never seen: the next one reuses
    them, and the captures kept are logged in order."""
    with app.app_context():
        kept = record_captures(alice, [CaptureData(name="Xi")])[0]
        db.session.commit()
        first = _position(kept.uuid)
        savepoint = db.session.begin_nested()
        record_captures(alice, [CaptureData(name="Gone"), CaptureData(name="Also gone")])
        savepoint.rollback()
        again = record_captures(alice, [CaptureData(name="Yu")])[0]
        db.session.commit()
        assert _position(again.uuid) == first + 1
        assert db.session.get(User, alice).log_position == first + 1


HOOKS = [
    {"type": "send_resource", "detail": "the write-up", "owed_by": "me"},
    {"type": "meet", "detail": "next week", "owed_by": "me"},
    {"type": "share_lead", "detail": "a hiring manager", "owed_by": "them"},
]


def _drafts(app: Flask, user_id: int) -> list[dict]:
    with app.app_context():
        drafts = db.session.scalars(
            select(Draft).where(Draft.user_id == user_id).order_by(Draft.id)
        ).all()
        return [
            {
                "contact": d.contact_id,
                "kind": d.kind,
                "to": d.to_email,
                "subject": d.subject,
                "body": d.body,
                "side_note": d.side_note,
                "missing": d.missing,
                "hooks": d.hook_ids,
                "due_at": d.due_at,
                "slot_at": d.slot_at,
                "event": d.event_id,
            }
            for d in drafts
        ]


def _hook_ids(app: Flask, capture_id: str) -> dict[str, int]:
    with app.app_context():
        encounter = db.session.scalar(select(Encounter).where(Encounter.uuid == capture_id))
        return {hook.type: hook.id for hook in encounter.hooks}


def test_drafts_planned_after_a_sync_are_those_the_capture_form_plans_at_once(
    app, client, alice, alice_token
):
    with app.app_context():
        event = Event(user_id=alice, name="Web Summit", starts_on=T0.date())
        db.session.add(event)
        db.session.commit()
        event_id, event_uuid = event.id, event.uuid
    synced = upsert(
        email="ada@example.com", note="graph databases", hooks=HOOKS, event_id=event_uuid
    )
    assert statuses(push(client, alice_token, [synced])) == ["applied"]
    assert _drafts(app, alice) == []  # left for when Alice next looks
    with app.app_context():
        assert pending.plan_pending(alice) == 1
        db.session.commit()
    planned_later = _drafts(app, alice)
    # The same capture of another person, through the capture form, planned at once.
    with app.app_context():
        record_capture(
            alice,
            CaptureData(
                name=synced["data"]["name"],
                email="bo@example.com",
                note="graph databases",
                event_id=event_id,
                hooks=[HookData(h["type"], h["detail"], h["owed_by"]) for h in HOOKS],
                happened_at=datetime.fromisoformat(synced["at"]),
            ),
        )
        db.session.commit()
    planned_at_once = _drafts(app, alice)[len(planned_later) :]
    assert [d["kind"] for d in planned_later] == ["email", "nudge"]
    assert {d["event"] for d in planned_later} == {event_id}
    ids_later = _hook_ids(app, synced["id"])
    assert planned_later[0]["hooks"] == sorted([ids_later["send_resource"], ids_later["meet"]])
    assert planned_later[1]["hooks"] == [ids_later["share_lead"]]
    for a, b in zip(planned_later, planned_at_once, strict=True):
        assert a.pop("contact") != b.pop("contact")
        assert (a.pop("to"), b.pop("to")) == ("ada@example.com", "bo@example.com")
        a.pop("hooks"), b.pop("hooks")
        assert a == b
    assert "Web Summit" in planned_later[0]["body"] and planned_later[0]["slot_at"]


def test_a_template_saved_after_the_sync_is_used_for_its_drafts(app, client, alice, alice_token):
    """The drafts of a synced capture are written when Alice next looks, with the templates
    she has then."""
    hook = [{"type": "send_resource", "detail": "the write-up", "owed_by": "me"}]
    change = upsert(email="ada@example.com", hooks=hook)
    assert statuses(push(client, alice_token, [change])) == ["applied"]
    with app.app_context():
        template = UserTemplate(
            user_id=alice, key="send_resource.subject", text="Here it is: {resource_title}"
        )
        db.session.add(template)
        db.session.commit()
        pending.plan_pending(alice)
        db.session.commit()
    assert [d["subject"] for d in _drafts(app, alice)] == ["Here it is: the write-up"]


def test_an_introduction_hook_is_planned_inside_the_transaction(app, client, alice, alice_token):
    with app.app_context():
        record_capture(alice, CaptureData(name="Priya Shah", email="priya@example.com"))
        db.session.commit()
    intro = [{"type": "introduce", "detail": "Priya Shah", "owed_by": "me"}]
    change = upsert(name="Sam Lee", email="sam@example.com", hooks=intro)
    assert statuses(push(client, alice_token, [change])) == ["applied"]
    with app.app_context():
        kinds = db.session.scalars(select(Draft.kind).where(Draft.user_id == alice)).all()
        introduction = db.session.scalar(select(Introduction))
        assert sorted(kinds) == ["email", "intro_ask"]
        assert introduction.b.name == "Priya Shah" and introduction.a.name == "Sam Lee"


def _between_prepare_and_apply(monkeypatch, act) -> None:
    """Run act() after the batch is prepared and before its transaction, as a racing
    request would."""
    real = service.prepare_batch

    def prepared_then_act(*args, **kwargs):
        prepared = real(*args, **kwargs)
        act()
        db.session.commit()
        return prepared

    monkeypatch.setattr(service, "prepare_batch", prepared_then_act)


def test_an_event_deleted_while_a_batch_waits_is_refused_inside(
    app, client, alice, alice_token, monkeypatch
):
    with app.app_context():
        event_id = add_event(alice, "Gone Conf")
        event_uuid = db.session.get(Event, event_id).uuid
    _between_prepare_and_apply(
        monkeypatch, lambda: db.session.delete(db.session.get(Event, event_id))
    )
    change = upsert(email="ada@example.com", event_id=event_uuid)
    response = push(client, alice_token, [change, upsert(email="bo@example.com")])
    assert statuses(response) == ["rejected", "applied"]
    assert "not one of your events" in response.get_json()["results"][0]["error"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Draft)) == 0  # no hooks


def test_a_change_applied_by_a_racing_request_answers_duplicate(
    app, client, alice, alice_token, monkeypatch
):
    change = upsert(email="ada@example.com", hooks=[{"type": "meet", "owed_by": "me"}])

    def the_same_change_lands_first():
        monkeypatch.undo()  # the racing request itself is a plain push
        assert statuses(push(client, alice_token, [change])) == ["applied"]

    _between_prepare_and_apply(monkeypatch, the_same_change_lands_first)
    assert statuses(push(client, alice_token, [change])) == ["duplicate"]
    with app.app_context():
        count = lambda model: db.session.scalar(select(func.count()).select_from(model))  # noqa: E731
        assert pending.plan_pending(alice) == 1
        db.session.commit()
        assert (count(Encounter), count(Contact), count(Draft), count(ChangeRecord)) == (1, 1, 1, 1)
