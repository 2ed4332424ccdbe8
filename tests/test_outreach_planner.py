"""The planner: hooks become one draft per person per event, idempotently, via the ingest path."""

from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import func, select

from webapp.capture.ingest import CaptureData, HookData, forget_capture, update_capture
from webapp.capture.store import record_capture
from webapp.contacts.models import Contact, ContactHandle, Encounter
from webapp.events.models import Event
from webapp.extensions import db
from webapp.outreach import planner
from webapp.outreach.models import Draft, Introduction, Resource, UserTemplate

# Tuesday 14:00 in Berlin (alice's zone), so the draft is due Wednesday 09:00 Berlin = 08:00 UTC.
MET = datetime(2026, 11, 17, 13, 0, tzinfo=UTC)
WEDNESDAY_9 = datetime(2026, 11, 18, 8, 0, tzinfo=UTC)


@pytest.fixture
def ctx(app: Flask, alice: int):
    with app.app_context():
        yield alice


def _event(user_id: int, name: str = "PyCon DE") -> int:
    event = Event(user_id=user_id, name=name)
    db.session.add(event)
    db.session.flush()
    return event.id


def _capture(user_id: int, event_id: int | None, *hooks: HookData, **fields) -> Encounter:
    data = CaptureData(
        name=fields.pop("name", "Maria García"),
        email=fields.pop("email", "maria@example.org"),
        note=fields.pop("note", "pricing for dev tools"),
        event_id=event_id,
        hooks=list(hooks),
        happened_at=fields.pop("happened_at", MET),
        **fields,
    )
    encounter = record_capture(user_id, data)
    db.session.commit()
    return encounter


def _drafts(user_id: int, kind: str | None = None) -> list[Draft]:
    query = select(Draft).where(Draft.user_id == user_id).order_by(Draft.id)
    if kind:
        query = query.where(Draft.kind == kind)
    return list(db.session.scalars(query))


def test_it_queues_a_draft_for_the_next_morning(ctx: int) -> None:
    encounter = _capture(ctx, _event(ctx), HookData("stay_in_touch"))
    [draft] = _drafts(ctx)
    assert draft.kind == "email" and draft.status == "queued"
    assert draft.contact_id == encounter.contact_id
    assert draft.due_at == WEDNESDAY_9
    assert draft.to_email == "maria@example.org"
    assert draft.body.startswith("Hi Maria,")
    assert "PyCon DE" in draft.body and "pricing for dev tools" in draft.body
    # Nobody has heard from alice yet: the first message carries the privacy line.
    assert "forget me" in draft.body


def test_a_capture_without_hooks_queues_nothing(ctx: int) -> None:
    _capture(ctx, _event(ctx))
    assert _drafts(ctx) == []


def test_syncing_or_editing_the_same_capture_five_times_keeps_one_draft(ctx: int) -> None:
    event_id = _event(ctx)
    uuid = "0b8a3c55-3b7c-4f7e-9a55-1c2d3e4f5a6b"
    hooks = [HookData("send_resource", "the pricing deck")]
    encounter = _capture(ctx, event_id, *hooks, uuid=uuid)
    first = _drafts(ctx)[0]
    body, updated = first.body, first.updated_at
    for _ in range(5):
        data = CaptureData(
            name="Maria García", email="maria@example.org", note="pricing for dev tools",
            event_id=event_id, hooks=list(hooks), happened_at=MET, uuid=uuid,
        )  # fmt: skip
        update_capture(encounter, data)
        db.session.commit()
    drafts = _drafts(ctx)
    assert len(drafts) == 1
    assert drafts[0].body == body
    assert drafts[0].updated_at == updated  # nothing was even rewritten


def test_two_captures_of_one_person_at_one_event_share_one_draft(ctx: int) -> None:
    event_id = _event(ctx)
    _capture(ctx, event_id, HookData("send_resource", "the pricing deck"))
    later = datetime(2026, 11, 17, 18, 0, tzinfo=UTC)
    _capture(ctx, event_id, HookData("meet", "next week"), happened_at=later, note="")
    [draft] = _drafts(ctx, "email")
    assert "the pricing deck" in draft.body
    assert "Would one of these times work for you?" in draft.body
    assert draft.slot_at is not None and draft.slot_at > draft.due_at
    assert draft.due_at == WEDNESDAY_9  # still the morning after the first meeting
    assert len(draft.hook_ids) == 2


def test_the_same_person_at_another_event_gets_a_second_draft(ctx: int) -> None:
    _capture(ctx, _event(ctx, "PyCon DE"), HookData("stay_in_touch"))
    _capture(ctx, _event(ctx, "FOSDEM"), HookData("stay_in_touch"))
    drafts = _drafts(ctx, "email")
    assert len(drafts) == 2
    assert drafts[0].contact_id == drafts[1].contact_id
    assert {d.event.name for d in drafts} == {"PyCon DE", "FOSDEM"}


def test_a_capture_without_an_event_is_planned_once_too(ctx: int) -> None:
    encounter = _capture(ctx, None, HookData("stay_in_touch"))
    planner.plan_encounter(encounter)
    planner.plan_encounter(encounter)
    assert len(_drafts(ctx)) == 1


def test_what_they_owe_becomes_a_nudge_three_mornings_later(ctx: int) -> None:
    _capture(ctx, _event(ctx), HookData("send_resource", "their deck", owed_by="them"))
    assert _drafts(ctx, "email") == []
    [nudge] = _drafts(ctx, "nudge")
    assert nudge.due_at == datetime(2026, 11, 21, 8, 0, tzinfo=UTC)  # Saturday 09:00 Berlin
    assert nudge.side_note.startswith("Maria García promised to send you their deck")
    assert nudge.body.startswith("Hi Maria,")
    assert "nudge about their deck" in nudge.body


def test_an_edit_that_removes_the_hooks_drops_an_untouched_draft(ctx: int) -> None:
    event_id = _event(ctx)
    encounter = _capture(ctx, event_id, HookData("stay_in_touch"))
    update_capture(encounter, CaptureData(name="Maria García", event_id=event_id, hooks=[]))
    db.session.commit()
    assert _drafts(ctx) == []


def test_a_draft_the_user_edited_keeps_their_text_and_notes_new_hooks(ctx: int) -> None:
    event_id = _event(ctx)
    _capture(ctx, event_id, HookData("stay_in_touch"))
    [draft] = _drafts(ctx)
    draft.body, draft.edited = "My own words.", True
    db.session.commit()
    _capture(ctx, event_id, HookData("share_lead", "Acme is hiring"))
    db.session.refresh(draft)
    assert draft.body == "My own words."
    assert draft.side_note == "Added after you edited this draft: Share a lead: Acme is hiring"


def test_a_sent_draft_is_never_rewritten_or_queued_again(ctx: int) -> None:
    event_id = _event(ctx)
    _capture(ctx, event_id, HookData("stay_in_touch"))
    [draft] = _drafts(ctx)
    draft.status = "sent"
    db.session.commit()
    _capture(ctx, event_id, HookData("share_lead", "Acme is hiring"))
    assert len(_drafts(ctx)) == 1
    assert "Acme" not in _drafts(ctx)[0].body


def test_a_send_resource_hook_picks_the_resource_by_name(ctx: int) -> None:
    db.session.add_all(
        [
            Resource(
                user_id=ctx,
                title="Pricing for developer tools",
                url="https://ex.org/p",
                why="The best primer on usage pricing.",
            ),  # fmt: skip
            Resource(user_id=ctx, title="Hiring your first DevRel", url="https://ex.org/d"),
        ]
    )
    db.session.commit()
    _capture(ctx, _event(ctx), HookData("send_resource", "the pricing for developer tools article"))
    [draft] = _drafts(ctx)
    assert "https://ex.org/p" in draft.body
    assert "The best primer on usage pricing." in draft.body
    assert draft.missing == []


def test_an_unmatched_resource_asks_for_the_link(ctx: int) -> None:
    _capture(ctx, _event(ctx), HookData("send_resource", "my notes on hiring"))
    [draft] = _drafts(ctx)
    assert "[add the link]" in draft.body
    assert draft.missing == ["Add the link for my notes on hiring."]


def test_match_resource_prefers_the_closest_title() -> None:
    resources = [
        Resource(title="Pricing"), Resource(title="Pricing for developer tools"),
        Resource(title="Fundraising guide"),
    ]  # fmt: skip
    assert planner.match_resource(resources, "PRICING").title == "Pricing"
    assert planner.match_resource(resources, "pricing for developer tools").title.endswith("tools")
    assert planner.match_resource(resources, "the fundraising guide").title == "Fundraising guide"
    assert planner.match_resource(resources, "something else entirely") is None
    assert planner.match_resource(resources, "") is None


def test_user_templates_are_used(ctx: int) -> None:
    db.session.add(UserTemplate(user_id=ctx, key="greeting", text="Hello {name}!"))
    db.session.commit()
    _capture(ctx, _event(ctx), HookData("stay_in_touch"))
    assert _drafts(ctx)[0].body.startswith("Hello Maria García!")


def test_a_second_message_to_someone_has_no_privacy_line(ctx: int) -> None:
    encounter = _capture(ctx, _event(ctx, "PyCon DE"), HookData("stay_in_touch"))
    db.session.get(Contact, encounter.contact_id).last_interaction_at = MET
    db.session.commit()
    _capture(ctx, _event(ctx, "FOSDEM"), HookData("stay_in_touch"))
    assert "forget me" not in _drafts(ctx)[1].body


def _sam(user_id: int) -> Contact:
    encounter = _capture(user_id, None, name="Sam Lee", email="sam@acme.test", org="Acme")
    return encounter.contact


def test_an_introduction_asks_the_other_person_first(ctx: int) -> None:
    sam = _sam(ctx)
    encounter = _capture(ctx, _event(ctx), HookData("introduce", "Sam Lee at Acme"))
    [intro] = db.session.scalars(select(Introduction)).all()
    assert (intro.a_id, intro.b_id, intro.state) == (encounter.contact_id, sam.id, "asked")
    [ask] = _drafts(ctx, "intro_ask")
    assert ask.contact_id == sam.id and ask.to_email == "sam@acme.test"
    assert ask.subject == "Introduction to Maria García?"
    assert ask.due_at == WEDNESDAY_9
    # Syncing again does not ask twice.
    planner.plan_encounter(encounter)
    db.session.commit()
    assert len(_drafts(ctx, "intro_ask")) == 1


def test_agreeing_queues_the_introduction_and_sending_it_completes(app: Flask, ctx: int) -> None:
    from webapp.outreach import runner

    sam = _sam(ctx)
    _capture(ctx, _event(ctx), HookData("introduce", "Sam Lee"))
    intro = db.session.scalar(select(Introduction))
    draft = planner.agree(intro)
    db.session.commit()
    assert intro.state == "agreed"
    assert _drafts(ctx, "intro_ask")[0].status == "skipped"  # answered before it went out
    assert (draft.to_email, draft.cc_email) == ("maria@example.org", "sam@acme.test")
    assert "Maria, meet Sam Lee. Sam is at Acme. I think you two" in draft.body
    assert "Sam, meet Maria García. We met at PyCon DE." in draft.body
    runner.mark_sent(draft)
    db.session.commit()
    assert intro.state == "introduced"
    assert sam.last_interaction_at is not None
    with pytest.raises(planner.IntroError):
        planner.decline(intro)


def test_declining_ends_the_introduction(ctx: int) -> None:
    _sam(ctx)
    _capture(ctx, _event(ctx), HookData("introduce", "sam lee"))
    intro = db.session.scalar(select(Introduction))
    planner.decline(intro)
    db.session.commit()
    assert intro.state == "declined"
    assert _drafts(ctx, "intro_ask")[0].status == "skipped"
    with pytest.raises(planner.IntroError):
        planner.agree(intro)


def test_an_unmatched_introduction_waits_for_the_user_to_pick(ctx: int) -> None:
    _capture(ctx, _event(ctx), HookData("introduce", "someone from the bank"))
    intro = db.session.scalar(select(Introduction))
    assert intro.b_id is None and _drafts(ctx, "intro_ask") == []
    with pytest.raises(planner.IntroError):
        planner.agree(intro)
    sam = _sam(ctx)
    with pytest.raises(planner.IntroError):
        planner.pick_other(intro, intro.a)
    planner.pick_other(intro, sam)
    db.session.commit()
    assert _drafts(ctx, "intro_ask")[0].contact_id == sam.id


def test_match_contact_needs_a_clear_name(ctx: int) -> None:
    _sam(ctx)
    _capture(ctx, None, name="Sam Leeds", email="leeds@example.org")
    assert planner.match_contact(ctx, "Sam Lee at Acme").name == "Sam Lee"
    assert planner.match_contact(ctx, "sam leeds").name == "Sam Leeds"
    assert planner.match_contact(ctx, "Sam") is None


def test_drafts_belong_to_their_owner_only(app: Flask, ctx: int, bob: int) -> None:
    _capture(ctx, _event(ctx), HookData("stay_in_touch"))
    _capture(bob, _event(bob), HookData("stay_in_touch"))
    assert db.session.scalar(select(func.count(Draft.id)).where(Draft.user_id == ctx)) == 1
    assert db.session.scalar(select(func.count(Draft.id)).where(Draft.user_id == bob)) == 1


def _contacts(user_id: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Contact).where(Contact.user_id == user_id)
    )


def test_deleting_the_only_capture_drops_its_untouched_drafts_and_bare_contact(ctx: int) -> None:
    encounter = _capture(
        ctx, _event(ctx), HookData("stay_in_touch"), HookData("meet", "coffee", "them")
    )
    assert {d.kind for d in _drafts(ctx)} == {"email", "nudge"}
    forget_capture(encounter)
    db.session.commit()
    assert _drafts(ctx) == []
    assert _contacts(ctx) == 0
    assert db.session.scalar(select(func.count()).select_from(ContactHandle)) == 0


def test_deleting_one_of_two_captures_replans_from_the_other(ctx: int) -> None:
    event_id = _event(ctx)
    first = _capture(ctx, event_id, HookData("stay_in_touch"))
    _capture(ctx, event_id, HookData("share_lead", "Acme is hiring"))
    forget_capture(first)
    db.session.commit()
    [draft] = _drafts(ctx)
    assert "Acme is hiring" in draft.body
    assert _contacts(ctx) == 1


def test_a_draft_the_user_edited_keeps_the_person_after_the_capture_goes(ctx: int) -> None:
    encounter = _capture(ctx, _event(ctx), HookData("stay_in_touch"))
    [draft] = _drafts(ctx)
    draft.body, draft.edited = "My own words.", True
    db.session.commit()
    forget_capture(encounter)
    db.session.commit()
    assert [d.body for d in _drafts(ctx)] == ["My own words."]
    assert _contacts(ctx) == 1


def test_a_sent_follow_up_keeps_the_person_after_the_capture_goes(ctx: int) -> None:
    encounter = _capture(ctx, _event(ctx), HookData("stay_in_touch"))
    [draft] = _drafts(ctx)
    draft.status = "sent"
    db.session.commit()
    forget_capture(encounter)
    db.session.commit()
    assert [d.status for d in _drafts(ctx)] == ["sent"]
    assert _contacts(ctx) == 1
