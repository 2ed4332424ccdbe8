"""The morning review in Chromium on a laptop: sync -> one draft -> edit, send, snooze, keys."""

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from tests.browser.conftest import LiveServer, screenshot
from tests.conftest import PASSWORD, add_user
from tests.outreach_support import DUE, MET, MORNING, Clock, start_inbox
from webapp.auth.tokens import issue_token
from webapp.events.models import Event
from webapp.extensions import db
from webapp.outreach.models import Draft

DEVICE = "6f1c2a8e-0d4b-4a52-9a1e-3c7d5b9e2f10"
TRIAGE = ["Ana Uno", "Ben Dos", "Cy Tres", "Dee Cuatro", "Eve Cinco"]


@pytest.fixture
def review_app(live_server: LiveServer) -> Iterator[tuple[LiveServer, Clock, object]]:
    """The live app with a settable clock and a local SMTP server."""
    inbox, controller, settings = start_inbox()
    clock = Clock(MET)
    live_server.app.config.update(CLOCK=clock, MAIL_SETTINGS=settings)
    yield live_server, clock, inbox
    controller.stop()


def _change(event_uuid: str, name: str, email: str, hooks: list[dict], rating: str | None) -> dict:
    return {
        "id": str(uuid.uuid4()), "seq": 1, "kind": "capture", "op": "upsert",
        "at": MET.isoformat(),
        "data": {
            "capture_id": str(uuid.uuid4()), "name": name, "email": email, "event_id": event_uuid,
            "note": "usage-based pricing", "hooks": hooks, "rating": rating,
        },
    }  # fmt: skip


def _sync_captures(server: LiveServer) -> None:
    """Create alice and push her captures from 'the phone' through POST /api/v1/sync."""
    app = server.app
    alice = add_user(app, "alice@example.com", "Alice Adams", timezone="Europe/Berlin")
    with app.app_context():
        event = Event(user_id=alice, name="PyCon DE")
        db.session.add(event)
        _row, token = issue_token(alice, "phone")
        db.session.commit()
        event_uuid = event.uuid
    hooks = [
        {"type": "send_resource", "detail": "the pricing deck", "owed_by": "me"},
        {"type": "meet", "detail": "next week", "owed_by": "me"},
    ]
    changes = [_change(event_uuid, "Maria García", "maria@example.org", hooks, "hot")]
    stay = [{"type": "stay_in_touch", "detail": "", "owed_by": "me"}]
    changes.append(_change(event_uuid, "Sol Snooze", "sol@example.org", stay, "warm"))
    for name in TRIAGE:
        email = name.split()[0].lower() + "@example.org"
        changes.append(_change(event_uuid, name, email, stay, None))
    body = {"device_id": DEVICE, "changes": changes}
    client = app.test_client()
    for _ in range(2):  # the phone retries the same batch: nothing is queued twice
        response = client.post(
            "/api/v1/sync", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.get_data(as_text=True)


def _log_in(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/capture")


#: Click Edit, focus the subject in the first task after htmx has put the editor in place,
#: and report what had the focus then and once htmx has settled the swap.
GO_TO_SUBJECT_AT_ONCE = """(button) => new Promise((resolve) => {
  const seen = {};
  document.addEventListener("htmx:afterSwap", () => setTimeout(() => {
    seen.first = document.activeElement?.name;
    document.querySelector("form[data-editing] input[name=subject]").focus();
  }, 0), { once: true });
  document.addEventListener("htmx:afterSettle", () => setTimeout(() => {
    seen.after = document.activeElement?.name;
    resolve(seen);
  }, 50), { once: true });
  button.click();
})"""


def _statuses(server: LiveServer) -> dict[str, str]:
    with server.app.app_context():
        rows = db.session.execute(select(Draft.to_name, Draft.status))
        return {name: status for name, status in rows}


def test_the_morning_review(review_app, laptop: BrowserContext) -> None:
    server, clock, inbox = review_app
    _sync_captures(server)
    with server.app.app_context():
        # New people from the phone are planned when Alice next looks (outreach/pending.py).
        assert db.session.scalars(select(Draft)).all() == []

    page = laptop.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" else None,
    )
    _log_in(page)
    page.get_by_role("link", name="Follow-ups").click()
    expect(page.get_by_role("heading", name="Today's follow-ups")).to_be_visible()
    # Tuesday afternoon: nothing due yet, and the screen says what is coming when.
    expect(page.locator(".review-queue .empty")).to_have_text(
        "Nothing is due yet. 7 drafts are queued, the first due Wed 18 Nov, 09:00. See upcoming"
    )
    with server.app.app_context():
        [maria] = db.session.scalars(select(Draft).where(Draft.to_name == "Maria García")).all()
        assert maria.due_at == DUE  # Wednesday 09:00 in Berlin
        assert "the pricing deck" in maria.body and "next week" in maria.body
        assert len(db.session.scalars(select(Draft)).all()) == 7

    clock.moment = MORNING  # Wednesday 09:30 in Berlin
    page.reload()
    expect(page.locator("#review-counts")).to_contain_text("7 due")
    card = page.get_by_role("article", name="Maria García")
    expect(card).to_contain_text("the pricing deck")  # the hooks beside the draft
    expect(card).to_contain_text("usage-based pricing")  # and the note
    screenshot(page, "review")

    # Edit inline, then send to the local SMTP server. The editor opens with the cursor in
    # the message; a person who goes to the subject the moment the editor is in place keeps
    # the cursor there (htmx focuses the message in the same task as the swap, base.html's
    # htmx-config: 20 ms later, as by default, typing in the subject went into the message).
    went_to = card.get_by_role("button", name="Edit").evaluate(GO_TO_SUBJECT_AT_ONCE)
    assert went_to == {"first": "body", "after": "subject"}
    editor = page.get_by_role("form", name="Edit draft to Maria García")
    expect(editor.get_by_label("Subject")).to_be_focused()
    editor.get_by_label("Subject").fill("The pricing deck, and a chat")
    editor.get_by_role("button", name="Save draft").click()
    expect(card.locator("[data-subject]")).to_have_text("The pricing deck, and a chat")
    card.get_by_role("button", name="Send", exact=True).click()
    expect(card).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="Sent to Maria García.")).to_be_visible()
    expect(page.locator("#review-counts")).to_contain_text("6 due")
    expect(page.locator("#review-counts")).to_contain_text("1 done today")
    [sent] = [m for m in inbox.messages() if m["To"].addresses[0].addr_spec == "maria@example.org"]
    assert sent["Subject"] == "The pricing deck, and a chat"
    assert "the pricing deck" in sent.get_body().get_content()

    # Snooze another one until tomorrow with the mouse.
    sol = page.get_by_role("article", name="Sol Snooze")
    sol.get_by_role("button", name="Snooze: tomorrow").click()
    expect(sol).to_have_count(0)
    expect(page.locator("#review-counts")).to_contain_text("1 snoozed")

    # Keyboard only from here: five drafts, j to pick, then s / x / z / s / x.
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
    page.keyboard.press("j")
    page.keyboard.press("k")
    for count, key in zip(range(5, 0, -1), ["s", "x", "z", "s", "x"], strict=True):
        expect(page.locator("[data-draft]")).to_have_count(count)
        expect(page.locator("[data-draft].is-current")).to_have_count(1)
        expect(page.locator("[data-draft].is-current")).to_be_focused()
        page.keyboard.press(key)
        expect(page.locator("[data-draft]")).to_have_count(count - 1)
    expect(page.locator("#review-counts")).to_contain_text("0 due")
    statuses = _statuses(server)
    triaged = sorted(statuses[name] for name in TRIAGE)
    assert triaged == ["sent", "sent", "skipped", "skipped", "snoozed"]
    assert statuses["Sol Snooze"] == "snoozed" and statuses["Maria García"] == "sent"
    assert len(inbox.messages()) == 3  # Maria's and the two sent with s; no digest was asked for
    assert errors == []
