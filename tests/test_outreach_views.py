"""The review screen and its actions, the library pages and introductions, over HTTP."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.outreach_support import DUE, MORNING, Clock, add_event, capture, start_inbox
from webapp.capture.ingest import HookData
from webapp.contacts.models import Contact
from webapp.extensions import db
from webapp.outreach.models import Draft, Interaction, Introduction, Resource, Target, UserTemplate

HX = {"HX-Request": "true"}


@pytest.fixture
def clock(app: Flask) -> Clock:
    clock = Clock(MORNING)
    app.config["CLOCK"] = clock
    app.config["MAIL_SETTINGS"] = None  # no SMTP unless a test starts one
    return clock


@pytest.fixture
def drafts(app: Flask, alice: int, clock: Clock) -> dict[str, int]:
    """Three due drafts at one event: Maria hot, Sam cold at a target company, Kim cold."""
    with app.app_context():
        event = add_event(alice)
        db.session.add(Target(user_id=alice, name="Acme"))
        capture(alice, event, "Maria Hot", rating="hot", note="talked pricing")
        capture(alice, event, "Kim Cold", rating="cold")
        capture(
            alice,
            event,
            "Sam Target",
            org="Acme Corp",
            rating="cold",
            url="https://www.linkedin.com/in/sam",
        )
        capture(alice, event, "Lee Later", happened_at=MORNING)  # due tomorrow, not today
        db.session.commit()
        ids = {d.to_name.split()[0]: d.id for d in db.session.scalars(select(Draft))}
    return ids


@pytest.fixture
def bobs_draft(app: Flask, bob: int) -> int:
    with app.app_context():
        capture(bob, add_event(bob), "Bob Contact")
        return db.session.scalar(select(Draft.id).where(Draft.user_id == bob))


def _draft(app: Flask, ident: int) -> Draft:
    with app.app_context():
        draft = db.session.get(Draft, ident)
        db.session.expunge(draft)
        return draft


def test_the_review_screen_lists_due_drafts_hottest_first(as_alice, drafts) -> None:
    page = as_alice.get("/followups").get_data(as_text=True)
    assert "<html" in page and "Today&#39;s follow-ups" in page
    order = [page.index(f'id="draft-{drafts[n]}"') for n in ("Maria", "Sam", "Kim")]
    assert order == sorted(order)  # hot, then the target company, then cold
    assert f'id="draft-{drafts["Lee"]}"' not in page
    assert "<strong>3</strong> due" in page
    assert "talked pricing" in page  # the note beside the draft
    assert "PyCon DE" in page
    assert 'href="https://www.linkedin.com/in/sam"' in page
    assert "Mail is not set up" in page and ">Send<" not in page
    assert 'data-key="s"' in page  # s marks as sent instead
    assert "js/review-keys.js" in page


def test_the_review_queue_fragment_has_no_page_around_it(as_alice, drafts) -> None:
    response = as_alice.get("/followups", headers=HX)
    body = response.get_data(as_text=True)
    assert "<html" not in body and f'id="draft-{drafts["Maria"]}"' in body
    assert "HX-Request" in response.headers["Vary"]


def test_later_drafts_show_under_upcoming(as_alice, drafts) -> None:
    page = as_alice.get("/followups/upcoming").get_data(as_text=True)
    assert f'id="draft-{drafts["Lee"]}"' in page and f'id="draft-{drafts["Maria"]}"' not in page
    assert "<html" not in as_alice.get("/followups/upcoming", headers=HX).get_data(as_text=True)


def test_an_empty_queue_says_what_is_coming(app, as_alice, alice, clock) -> None:
    assert "Nothing is due. Drafts appear here" in as_alice.get("/followups").get_data(True)
    with app.app_context():
        event = add_event(alice)
        capture(alice, event, "Lee Later", happened_at=MORNING)  # due tomorrow morning
        capture(alice, event, "Max Later", happened_at=MORNING + timedelta(hours=1))
        db.session.commit()
        first = min(db.session.scalars(select(Draft.due_at)))
    assert first > MORNING
    page = as_alice.get("/followups").get_data(as_text=True)
    assert "Nothing is due yet. 2 drafts are queued, the first due" in page
    assert f'<time datetime="{first.isoformat()}">' in page
    assert 'href="/followups/upcoming">See upcoming</a>' in page
    clock.moment = first - timedelta(days=15)  # further ahead than Upcoming lists: not counted
    assert "Nothing is due. Drafts appear here" in as_alice.get("/followups").get_data(True)
    clock.moment = first  # the morning: the queue lists them instead
    page = as_alice.get("/followups").get_data(as_text=True)
    assert "Nothing is due yet" not in page and "Lee Later" in page


def test_the_review_screen_needs_a_login(client: FlaskClient) -> None:
    assert client.get("/followups").status_code == 302


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/followups"), ("post", "/followups/upcoming"), ("get", "/followups/{}/send"),
        ("get", "/followups/{}/mark-sent"), ("get", "/followups/{}/snooze"),
        ("get", "/followups/{}/skip"), ("get", "/followups/{}/schedule"),
        ("get", "/followups/{}/invite"), ("get", "/followups/{}/resolve"),
        ("post", "/followups/{}.eml"), ("post", "/followups/{}"), ("put", "/followups/{}/edit"),
        ("get", "/followups/resources/1/delete"), ("get", "/followups/targets/1/delete"),
        ("get", "/followups/introductions/1/agree"), ("get", "/followups/introductions/1/decline"),
        ("get", "/followups/introductions/1/pick"), ("post", "/followups/introductions"),
        ("put", "/followups/resources"), ("put", "/followups/targets"),
        ("put", "/followups/templates"),
    ],
)  # fmt: skip
def test_wrong_methods_are_refused(as_alice, drafts, method: str, path: str) -> None:
    response = getattr(as_alice, method)(path.format(drafts["Maria"]))
    assert response.status_code == 405


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/followups/{}"), ("get", "/followups/{}/edit"), ("post", "/followups/{}/edit"),
        ("post", "/followups/{}/send"), ("post", "/followups/{}/mark-sent"),
        ("post", "/followups/{}/snooze"), ("post", "/followups/{}/skip"),
        ("post", "/followups/{}/schedule"), ("post", "/followups/{}/invite"),
        ("get", "/followups/{}.eml"), ("post", "/followups/{}/resolve"),
    ],
)  # fmt: skip
def test_another_users_draft_is_not_found(as_alice, drafts, bobs_draft, method, path) -> None:
    data = {"choice": "tomorrow", "subject": "x", "body": "y"}
    for headers in ({}, HX):
        kwargs = {"data": data} if method == "post" else {}
        response = getattr(as_alice, method)(path.format(bobs_draft), headers=headers, **kwargs)
        assert response.status_code == 404


def test_edit_shows_the_form_as_page_and_fragment(as_alice, drafts) -> None:
    url = f"/followups/{drafts['Maria']}/edit"
    page = as_alice.get(url).get_data(as_text=True)
    assert "<html" in page and 'name="subject"' in page
    fragment = as_alice.get(url, headers=HX).get_data(as_text=True)
    assert "<html" not in fragment and "data-editing" in fragment


def test_saving_an_edit_keeps_the_users_text(app, as_alice, drafts) -> None:
    url = f"/followups/{drafts['Maria']}/edit"
    data = {"to_name": "Maria H", "to_email": "mh@example.org", "subject": "Hi!", "body": "Mine."}
    response = as_alice.post(url, data=data, headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body and "Mine." in body
    draft = _draft(app, drafts["Maria"])
    assert (draft.to_email, draft.subject, draft.body, draft.edited) == (
        "mh@example.org", "Hi!", "Mine.", True,
    )  # fmt: skip
    page = as_alice.post(url, data=data)
    assert page.status_code == 303


def test_an_invalid_edit_is_refused_with_the_text_kept(app, as_alice, drafts) -> None:
    url = f"/followups/{drafts['Maria']}/edit"
    data = {"to_email": "not an address", "subject": "Kept subject", "body": ""}
    response = as_alice.post(url, data=data, headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "is not valid" in body and "Write a message." in body and "Kept subject" in body
    assert _draft(app, drafts["Maria"]).subject != "Kept subject"
    assert as_alice.post(url, data=data).status_code == 422


def test_mark_as_sent_removes_the_row_and_updates_the_counts(app, as_alice, drafts) -> None:
    response = as_alice.post(f"/followups/{drafts['Maria']}/mark-sent", headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert 'id="review-counts"' in body and 'hx-swap-oob="true"' in body
    assert "<strong>2</strong> due" in body and "<strong>1</strong> done today" in body
    assert "draft-" not in body  # the row itself is replaced by nothing
    with app.app_context():
        draft = db.session.get(Draft, drafts["Maria"])
        assert draft.status == "sent" and draft.sent_at == MORNING and draft.sent_via == "manual"
        assert draft.contact.last_interaction_at == MORNING
        [touch] = db.session.scalars(select(Interaction)).all()
        assert (touch.contact_id, touch.kind) == (draft.contact_id, "email_manual")
    again = as_alice.post(f"/followups/{drafts['Maria']}/mark-sent", headers=HX)
    assert again.status_code == 409
    # The app's error page, in the abort's words (shown above the buttons: static/js/app.js).
    assert '<p class="error-message">This draft was already handled.</p>' in again.text


def test_mark_as_sent_without_htmx_goes_back_to_the_screen(as_alice, drafts) -> None:
    response = as_alice.post(f"/followups/{drafts['Kim']}/mark-sent")
    assert response.status_code == 303 and response.location.endswith("/followups")


def test_send_without_mail_set_up_explains(app, as_alice, drafts) -> None:
    response = as_alice.post(f"/followups/{drafts['Maria']}/send", headers=HX)
    assert response.status_code == 422
    assert "Mail is not set up" in response.get_data(as_text=True)
    assert _draft(app, drafts["Maria"]).status == "queued"


@pytest.fixture
def smtp(app: Flask) -> Iterator:
    inbox, controller, settings = start_inbox()
    app.config["MAIL_SETTINGS"] = settings
    yield inbox
    controller.stop()


def test_send_delivers_through_smtp_and_logs_the_touch(app, as_alice, drafts, smtp) -> None:
    page = as_alice.get("/followups").get_data(as_text=True)
    assert ">Send<" in page and "Mail is not set up" not in page
    response = as_alice.post(f"/followups/{drafts['Maria']}/send", headers=HX)
    assert response.status_code == 200 and "Sent to Maria Hot." in response.get_data(as_text=True)
    [message] = smtp.messages()
    assert message["To"].addresses[0].addr_spec == "maria@example.org"
    assert message["From"].addresses[0].addr_spec == "alice@example.com"
    assert "forget me" in message.get_body().get_content()
    draft = _draft(app, drafts["Maria"])
    assert draft.status == "sent" and draft.sent_via == "smtp"


def test_a_refused_send_keeps_the_draft_and_says_why(app, as_alice, drafts, smtp) -> None:
    with app.app_context():
        db.session.get(Draft, drafts["Kim"]).to_email = ""
        db.session.commit()
    response = as_alice.post(f"/followups/{drafts['Kim']}/send", headers=HX)
    assert response.status_code == 422
    assert "is not valid" in response.get_data(as_text=True)
    assert _draft(app, drafts["Kim"]).status == "queued" and smtp.messages() == []


def test_the_chat_invitation_goes_with_the_send(app, as_alice, alice, clock, smtp) -> None:
    with app.app_context():
        capture(alice, add_event(alice), "Ona Chat", HookData("meet", "next week"))
        ident = db.session.scalar(select(Draft.id))
    response = as_alice.post(f"/followups/{ident}/invite", data={"attach_invite": "on"}, headers=HX)
    assert response.status_code == 200 and "checked" in response.get_data(as_text=True)
    eml = as_alice.get(f"/followups/{ident}.eml")
    assert eml.mimetype == "message/rfc822" and b"invite.ics" in eml.data
    as_alice.post(f"/followups/{ident}/send", headers=HX)
    [message] = smtp.messages()
    [invite] = [p for p in message.iter_attachments() if p.get_filename() == "invite.ics"]
    content = invite.get_content()
    assert "METHOD:REQUEST" in (content.decode() if isinstance(content, bytes) else content)


def test_snooze_until_tomorrow_next_week_or_a_date(app, as_alice, drafts) -> None:
    tomorrow = as_alice.post(f"/followups/{drafts['Maria']}/snooze", data={"choice": "tomorrow"},
                             headers=HX)  # fmt: skip
    assert "<strong>1</strong> snoozed" in tomorrow.get_data(as_text=True)
    assert _draft(app, drafts["Maria"]).due_at == DUE + timedelta(days=1)
    as_alice.post(f"/followups/{drafts['Kim']}/snooze", data={"choice": "next_week"}, headers=HX)
    assert _draft(app, drafts["Kim"]).due_at == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    picked = as_alice.post(f"/followups/{drafts['Sam']}/snooze",
                           data={"choice": "date", "date": "2026-12-01"})  # fmt: skip
    assert picked.status_code == 303
    assert _draft(app, drafts["Sam"]).status == "snoozed"


def test_a_past_or_missing_snooze_date_is_refused(app, as_alice, drafts) -> None:
    url = f"/followups/{drafts['Maria']}/snooze"
    past = as_alice.post(url, data={"choice": "date", "date": "2026-11-01"}, headers=HX)
    assert past.status_code == 422 and "not in the future" in past.get_data(as_text=True)
    none = as_alice.post(url, data={"choice": "date"}, headers=HX)
    assert none.status_code == 422
    odd = as_alice.post(url, data={"choice": "someday"}, headers=HX)
    assert odd.status_code == 422
    assert _draft(app, drafts["Maria"]).status == "queued"


def test_skip_keeps_the_reason(app, as_alice, drafts) -> None:
    response = as_alice.post(f"/followups/{drafts['Kim']}/skip", data={"reason": "Not a fit\n"},
                             headers=HX)  # fmt: skip
    assert response.status_code == 200 and "<strong>1</strong> done today" in response.text
    draft = _draft(app, drafts["Kim"])
    assert (draft.status, draft.skip_reason) == ("skipped", "Not a fit")


def test_schedule_send_needs_mail_then_hands_the_draft_to_the_runner(app, as_alice, drafts, smtp):
    url = f"/followups/{drafts['Maria']}/schedule"
    assert as_alice.post(url, headers=HX).status_code == 200
    assert _draft(app, drafts["Maria"]).status == "scheduled"
    upcoming = as_alice.get("/followups/upcoming").get_data(as_text=True)
    assert f'id="draft-{drafts["Maria"]}"' in upcoming and "Don't send automatically" in upcoming
    as_alice.post(url, data={"action": "unschedule"}, headers=HX)
    assert _draft(app, drafts["Maria"]).status == "queued"


def test_schedule_send_is_refused_without_mail(app, as_alice, drafts) -> None:
    response = as_alice.post(f"/followups/{drafts['Maria']}/schedule", headers=HX)
    assert response.status_code == 422
    assert _draft(app, drafts["Maria"]).status == "queued"


def test_the_eml_download_is_an_unsent_draft(as_alice, drafts) -> None:
    response = as_alice.get(f"/followups/{drafts['Maria']}.eml")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.data.startswith(b"X-Unsent: 1\r\n")


def test_open_in_mail_app_redirects_to_the_mailto_link(app, as_alice, drafts) -> None:
    page = as_alice.get("/followups").get_data(as_text=True)
    assert f'href="/followups/{drafts["Maria"]}/mailto"' in page
    response = as_alice.get(f"/followups/{drafts['Maria']}/mailto")
    assert response.status_code == 303
    assert response.location.startswith("mailto:maria@example.org?subject=")
    assert "%0D%0A" in response.location  # line breaks as CRLF, RFC 6068
    with app.app_context():
        db.session.get(Draft, drafts["Kim"]).to_email = ""
        db.session.commit()
    assert as_alice.get(f"/followups/{drafts['Kim']}/mailto").status_code == 422


def test_another_users_mailto_is_not_found(as_alice, bobs_draft) -> None:
    assert as_alice.get(f"/followups/{bobs_draft}/mailto").status_code == 404
    assert as_alice.post(f"/followups/{bobs_draft}/mailto").status_code == 405


def test_a_stuck_draft_is_reported_and_resolved_by_the_user(app, as_alice, drafts) -> None:
    with app.app_context():
        db.session.get(Draft, drafts["Maria"]).status = "sending"
        db.session.commit()
    page = as_alice.get("/followups").get_data(as_text=True)
    assert "Interrupted while sending" in page
    url = f"/followups/{drafts['Maria']}/resolve"
    response = as_alice.post(url, data={"outcome": "queue"}, headers=HX)
    assert response.status_code == 200 and "<html" not in response.text
    assert _draft(app, drafts["Maria"]).status == "queued"
    assert as_alice.post(url, data={"outcome": "sent"}).status_code == 409


def test_resources_can_be_added_listed_and_removed(app, as_alice, alice, clock) -> None:
    with app.app_context():
        capture(alice, add_event(alice), "Rae Res", HookData("send_resource", "pricing primer"))
    assert "<html" in as_alice.get("/followups/resources").get_data(as_text=True)
    data = {"title": "Pricing primer", "url": "https://ex.org/p", "why": "Short and good."}
    response = as_alice.post("/followups/resources", data=data, headers=HX)
    assert response.status_code == 200 and "<html" not in response.text
    assert "https://ex.org/p" in response.text
    with app.app_context():
        # The waiting draft now carries the link.
        assert "https://ex.org/p" in db.session.scalar(select(Draft.body))
        ident = db.session.scalar(select(Resource.id))
    assert as_alice.post(f"/followups/resources/{ident}/delete").status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Resource.id)) is None


def test_a_resource_link_must_be_http(as_alice) -> None:
    data = {"title": "Bad", "url": "javascript:alert(1)"}
    response = as_alice.post("/followups/resources", data=data, headers=HX)
    assert response.status_code == 422 and "Only http and https" in response.text


def test_another_users_resource_or_target_is_not_found(app, as_alice, bob) -> None:
    with app.app_context():
        resource = Resource(user_id=bob, title="Bob's")
        target = Target(user_id=bob, name="Bobco")
        db.session.add_all([resource, target])
        db.session.commit()
        ids = resource.id, target.id
    assert as_alice.post(f"/followups/resources/{ids[0]}/delete").status_code == 404
    assert as_alice.post(f"/followups/targets/{ids[1]}/delete", headers=HX).status_code == 404


def test_targets_can_be_added_once_and_removed(app, as_alice) -> None:
    assert "<html" in as_alice.get("/followups/targets").get_data(as_text=True)
    first = as_alice.post("/followups/targets", data={"name": "Acme"}, headers=HX)
    assert first.status_code == 200 and "<html" not in first.text and "Acme" in first.text
    again = as_alice.post("/followups/targets", data={"name": "Acme"}, headers=HX)
    assert again.status_code == 422 and "already on the list" in again.text
    assert as_alice.post("/followups/targets", data={"name": ""}).status_code == 422
    with app.app_context():
        ident = db.session.scalar(select(Target.id))
    assert as_alice.post(f"/followups/targets/{ident}/delete", headers=HX).status_code == 200


def test_templates_are_edited_and_rewrite_waiting_drafts(app, as_alice, alice, clock) -> None:
    with app.app_context():
        capture(alice, add_event(alice), "Tia Tmpl")
    page = as_alice.get("/followups/templates").get_data(as_text=True)
    assert "<html" in page and "{first_name}" in page
    response = as_alice.post("/followups/templates", data={"greeting": "Hello {name},"},
                             headers=HX)  # fmt: skip
    assert response.status_code == 200 and "<html" not in response.text
    with app.app_context():
        assert db.session.scalar(select(Draft.body)).startswith("Hello Tia Tmpl,")
        assert db.session.scalar(select(UserTemplate.key)) == "greeting"
    # An emptied box goes back to the default.
    as_alice.post("/followups/templates", data={"greeting": ""})
    with app.app_context():
        assert db.session.scalar(select(UserTemplate.key)) is None


def test_templates_that_try_to_run_code_are_refused(app, as_alice) -> None:
    data = {"greeting": "Hi {name.__class__}", "signoff": "{nickname}"}
    response = as_alice.post("/followups/templates", data=data, headers=HX)
    assert response.status_code == 422
    assert (
        "must be a plain name" in response.text
        and "Unknown placeholder {nickname}." in response.text
    )
    with app.app_context():
        assert db.session.scalar(select(UserTemplate.id)) is None


@pytest.fixture
def intro(app: Flask, alice: int, clock: Clock) -> int:
    with app.app_context():
        capture(alice, None, "Sam Lee", email="sam@acme.test")
        capture(alice, add_event(alice), "Maria García", HookData("introduce", "Sam Lee"))
        return db.session.scalar(select(Introduction.id))


def test_introductions_page_and_the_yes_button(app, as_alice, intro) -> None:
    page = as_alice.get("/followups/introductions").get_data(as_text=True)
    assert "<html" in page and "Sam said yes" in page and "Sam declined" in page
    fragment = as_alice.post(f"/followups/introductions/{intro}/agree", headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.text
    with app.app_context():
        assert db.session.get(Introduction, intro).state == "agreed"
        draft = db.session.scalar(select(Draft).where(Draft.kind == "introduction"))
        assert draft.cc_email == "sam@acme.test"
    again = as_alice.post(f"/followups/introductions/{intro}/decline", headers=HX)
    assert again.status_code == 409 and "still waiting" in again.text


def test_declining_an_introduction(app, as_alice, intro) -> None:
    response = as_alice.post(f"/followups/introductions/{intro}/decline")
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(Introduction, intro).state == "declined"


def test_picking_the_other_person_of_an_introduction(app, as_alice, alice, bob, clock) -> None:
    with app.app_context():
        capture(alice, add_event(alice), "Maria García", HookData("introduce", "my banker"))
        capture(alice, None, "Pat Banker")
        capture(bob, None, "Bob Only")
        intro = db.session.scalar(select(Introduction.id))
        pat = db.session.scalar(select(Contact.id).where(Contact.name == "Pat Banker"))
        bobs = db.session.scalar(select(Contact.id).where(Contact.name == "Bob Only"))
    page = as_alice.get("/followups/introductions").get_data(as_text=True)
    assert "Choose a contact" in page and "Bob Only" not in page
    url = f"/followups/introductions/{intro}/pick"
    assert as_alice.post(url, data={"contact_id": bobs}, headers=HX).status_code == 404
    assert as_alice.post(url, data={"contact_id": pat}, headers=HX).status_code == 200
    with app.app_context():
        ask = db.session.scalar(select(Draft).where(Draft.kind == "intro_ask"))
        assert ask.contact_id == pat


def test_another_users_introduction_is_not_found(app, as_alice, bob) -> None:
    with app.app_context():
        capture(bob, None, "Sam Lee")
        capture(bob, None, "Maria García", HookData("introduce", "Sam Lee"))
        intro = db.session.scalar(select(Introduction.id))
    for step in ("agree", "decline", "pick"):
        response = as_alice.post(f"/followups/introductions/{intro}/{step}", headers=HX)
        assert response.status_code == 404


@pytest.mark.csrf
def test_actions_need_the_csrf_token(as_alice, drafts) -> None:
    response = as_alice.post(f"/followups/{drafts['Maria']}/mark-sent", headers=HX)
    assert response.status_code == 400


def test_the_export_lists_drafts_with_local_due_times(app, runner, drafts) -> None:
    result = runner.invoke(args=["export", "--user", "alice@example.com"])
    assert result.exit_code == 0, result.output
    exported = json.loads(result.output)["drafts"]
    maria = next(d for d in exported if d["to"] == "maria@example.org")
    assert maria["due_at"] == "2026-11-18T09:00:00+01:00"  # Berlin, with its offset
    assert maria["status"] == "queued" and maria["subject"] and maria["body"]
    assert maria["contact"]["name"] == "Maria Hot"


def test_user_create_takes_time_zone_and_morning_hour(app, runner) -> None:
    args = ["user", "create", "zed@example.com", "--password", "long enough pw 1",
            "--timezone", "America/New_York", "--morning-hour", "7"]  # fmt: skip
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    from webapp.auth.models import User

    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "zed@example.com"))
        assert (user.timezone, user.morning_hour) == ("America/New_York", 7)
    bad = runner.invoke(args=[*args[:3], "--password", "x" * 12, "--morning-hour", "25"])
    assert bad.exit_code != 0


def test_a_single_row_comes_back_for_htmx_and_the_page_otherwise(as_alice, drafts) -> None:
    fragment = as_alice.get(f"/followups/{drafts['Maria']}", headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert f'id="draft-{drafts["Maria"]}"' in fragment.text
    page = as_alice.get(f"/followups/{drafts['Maria']}")
    assert page.status_code == 302 and page.location.endswith("/followups")


def test_an_introduce_hook_links_to_the_introductions_page(as_alice, intro) -> None:
    page = as_alice.get("/followups").get_data(as_text=True)
    assert 'href="/followups/introductions">who and when</a>' in page
