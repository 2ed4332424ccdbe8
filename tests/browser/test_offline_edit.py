"""Editing and deleting captures on the phone, offline, through the outbox; and the two sync
triggers the other tests do not reach: the Retry button and Background Sync.

Chromium with a Pixel 7 profile against the live server of test_offline.py; every request not
to 127.0.0.1 is aborted. What reached the server is checked in its database and its export.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select

from tests.browser import test_offline as offline
from tests.browser.conftest import screenshot
from tests.browser.test_offline import (
    Live,
    _capture,
    _capture_online,
    _local_only,
    _login,
    _phone,
    _status,
    _wait_controlled,
    expect,
)
from webapp.sync.models import ChangeRecord, Tombstone

# The offline tests' fixtures: a live server for this module, the Pixel 7 profile, and the
# check that Chromium is there (a failure under CI, a skip elsewhere).
live = offline.live
pixel = offline.pixel
_chromium = offline._chromium


def _export(live: Live, email: str) -> dict:
    result = live.app.test_cli_runner().invoke(args=["export", "--user", email])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _sync_posts(page) -> list[dict]:
    """Collect the bodies the phone posts to /api/v1/sync."""
    posts: list[dict] = []

    def seen(request) -> None:
        if request.url.endswith("/api/v1/sync") and request.method == "POST":
            posts.append(json.loads(request.post_data or "{}"))

    page.on("request", seen)
    return posts


def _editor(page):
    return page.get_by_role("region", name=re.compile(r"^Edit "))


def _open_editor(page, label: str):
    page.get_by_role("button", name=f"Edit {label}", exact=True).or_(
        page.get_by_role("link", name=f"Edit {label}", exact=True)
    ).click()
    editor = _editor(page)
    expect(editor.get_by_role("heading", name=f"Edit {label}")).to_be_visible()
    return editor


def _delete_in_editor(page, label: str, shot: str = "") -> None:
    editor = _open_editor(page, label)
    editor.get_by_role("button", name="Delete this capture").click()
    expect(editor).to_contain_text(f"{label} will be deleted")
    if shot:
        screenshot(page, shot)
    editor.get_by_role("button", name="Tap again to delete").click()
    expect(editor).to_be_hidden()


def _records(live: Live, user_id: int) -> list[ChangeRecord]:
    with live.app.app_context():
        from webapp.extensions import db

        rows = db.session.scalars(
            select(ChangeRecord).where(ChangeRecord.user_id == user_id).order_by(ChangeRecord.id)
        ).all()
        db.session.expunge_all()
        return list(rows)


def _tombstones(live: Live, user_id: int) -> set[str]:
    with live.app.app_context():
        from webapp.extensions import db

        return set(
            db.session.scalars(select(Tombstone.capture_uuid).where(Tombstone.user_id == user_id))
        )


def test_offline_edits_and_deletes_upload_once_and_merge(browser, pixel, live):
    """Edit and delete a waiting and an uploaded capture with no network; the laptop edits too."""
    nia = live.user("nia@example.com", "Nia Nord")
    context, page = _phone(browser, pixel)
    posts = _sync_posts(page)
    _login(page, live, "nia@example.com")
    _wait_controlled(page)

    # Two captures uploaded while online; the Today screen is then cached with their data.
    _capture_online(page, "Uma Up", "uma@example.com", note="Talked about queues")
    _capture_online(page, "Dov Gone", "dov@example.com", note="Wrong badge scanned")
    expect(_status(page)).to_have_text("All captures uploaded", timeout=15_000)
    uploaded = {e.name: e for e in live.encounters(nia)}
    assert set(uploaded) == {"Uma Up", "Dov Gone"}
    page.get_by_role("link", name="Today", exact=True).click()
    people = page.get_by_role("region", name="People captured")
    expect(people).to_contain_text("Uma Up")
    expect(people).to_contain_text("Dov Gone")

    # No network from here. Two new captures wait on the phone.
    created_online = sum(len(p["changes"]) for p in posts)
    assert created_online == 2
    context.set_offline(True)
    page.get_by_role("link", name="Capture", exact=True).click()
    _capture(page, "Wes Wait", "wes@example.com", note="Met at the bar")
    _capture(page, "Pia Oops", "pia@example.com")
    page.get_by_role("link", name="Today", exact=True).click()
    waiting = page.get_by_role("region", name="Waiting to upload")
    expect(waiting).to_contain_text("Waiting to upload (2)")

    # Edit the waiting capture: the form is the capture form, filled with what was saved.
    editor = _open_editor(page, "Wes Wait")
    expect(editor.get_by_label("Name", exact=True)).to_have_value("Wes Wait")
    expect(editor.get_by_label("Email")).to_have_value("wes@example.com")
    expect(editor.get_by_label("Note")).to_have_value("Met at the bar")
    expect(editor).to_contain_text("Waiting to upload.")
    editor.get_by_label("Company").fill("Wait & Co")
    editor.get_by_text("Set up a chat", exact=True).click()
    editor.get_by_label("Set up a chat: detail").fill("coffee on Friday")
    editor.get_by_text("Hot", exact=True).click()
    editor.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status").filter(has_text="Saved changes to Wes Wait")).to_have_text(
        "Saved changes to Wes Wait — waiting to upload"
    )
    wes = waiting.get_by_role("listitem").filter(has_text="Wes Wait")
    expect(wes).to_contain_text("Wait & Co")
    expect(wes.get_by_role("list", name="Follow-up hooks")).to_have_text(
        "Set up a chat: coffee on Friday"
    )
    expect(wes.get_by_text("edited", exact=True)).to_be_visible()
    expect(wes.get_by_text("waiting to upload", exact=True)).to_be_visible()

    # Edit the uploaded capture, from the data the cached page carries.
    editor = _open_editor(page, "Uma Up")
    expect(editor.get_by_label("Email")).to_have_value("uma@example.com")
    expect(editor.get_by_label("Note")).to_have_value("Talked about queues")
    expect(editor.get_by_role("radio", name="None")).to_be_checked()  # not Wes's "Hot"
    expect(editor.get_by_role("checkbox", name="Set up a chat")).not_to_be_checked()
    expect(editor).to_contain_text("Uploaded.")
    editor.get_by_label("Company").fill("Queue GmbH")
    editor.get_by_label("Note").fill("Talked about queues; wants the benchmark")
    screenshot(page, "offline-edit-form")
    editor.get_by_role("button", name="Save changes").click()
    uma = people.get_by_role("listitem").filter(has_text="Uma Up").filter(visible=True)
    expect(uma).to_contain_text("edited — waiting to upload")
    expect(uma).to_contain_text("Queue GmbH")

    # Delete both kinds: each needs a second tap on the same button.
    _delete_in_editor(page, "Pia Oops")
    expect(page.get_by_role("status").filter(has_text="Deleted Pia Oops")).to_contain_text(
        "It had not been uploaded"
    )
    expect(waiting).not_to_contain_text("Pia Oops")
    expect(waiting).to_contain_text("Waiting to upload (1)")
    _delete_in_editor(page, "Dov Gone", shot="offline-delete-confirm")
    dov = people.get_by_role("listitem").filter(has_text="Dov Gone").filter(visible=True)
    expect(dov).to_contain_text("deleted — waiting to upload")
    expect(dov.get_by_role("button", name="Edit Dov Gone")).to_have_count(0)
    expect(_status(page)).to_contain_text("3 waiting")
    page.evaluate("() => window.scrollTo(0, 0)")
    screenshot(page, "offline-today-edits-waiting")

    # Still there after an offline reload: the outbox and the cached page survive.
    page.reload()
    expect(waiting).to_contain_text("Wes Wait")
    expect(dov).to_contain_text("deleted — waiting to upload")
    expect(uma).to_contain_text("Queue GmbH")
    assert not [p for p in posts if p["changes"] and "Wes Wait" in json.dumps(p)]

    # Meanwhile the laptop (online) fixes Uma's title on the server's edit page.
    laptop = browser.new_context(viewport={"width": 1280, "height": 800})
    laptop.route("**/*", _local_only)
    desk = laptop.new_page()
    _login(desk, live, "nia@example.com")
    desk.goto(f"{live.url}/captures/{uploaded['Uma Up'].id}/edit")
    desk.get_by_label("Title").fill("Head of Platform")
    desk.get_by_role("button", name="Save changes").click()
    # The contact's page follows the save as a whole page, not nested in the edit form.
    desk.wait_for_url(f"{live.url}/contacts/{uploaded['Uma Up'].contact_id}")
    expect(desk.get_by_role("article")).to_contain_text("Head of Platform")
    expect(desk.get_by_role("heading", name="Edit capture")).to_have_count(0)
    expect(desk.get_by_role("heading", level=1)).to_have_count(1)
    expect(desk.get_by_role("heading", level=1)).to_have_text("Uma Up")
    expect(desk.get_by_role("button", name="Save changes")).to_have_count(0)
    assert live.encounters(nia)[0].title == "Head of Platform"
    laptop.close()

    context.set_offline(False)
    expect(_status(page)).to_have_text("All captures uploaded", timeout=15_000)
    # The list is reloaded from the server once the changes are in.
    expect(people).to_contain_text("Wes Wait", timeout=15_000)
    expect(people).not_to_contain_text("Dov Gone")
    expect(waiting).to_be_hidden()
    screenshot(page, "offline-today-after-upload")

    rows = {e.name: e for e in live.encounters(nia)}
    assert set(rows) == {"Uma Up", "Wes Wait"}
    uma_row, wes_row = rows["Uma Up"], rows["Wes Wait"]
    assert (uma_row.org, uma_row.title) == ("Queue GmbH", "Head of Platform")  # per field
    assert uma_row.rating is None
    assert uma_row.note == "Talked about queues; wants the benchmark"
    assert uma_row.uuid == uploaded["Uma Up"].uuid
    assert (wes_row.org, wes_row.rating) == ("Wait & Co", "hot")

    # Exactly once: every change the phone made was applied once, and the one never
    # uploaded before its deletion never left the phone.
    sent = [c for p in posts for c in p["changes"]]
    records = _records(live, nia)
    assert len({r.change_id for r in records}) == len(records)
    assert {c["id"] for c in sent} == {r.change_id for r in records}
    assert "Pia Oops" not in json.dumps(sent)
    later = sent[created_online:]
    assert sorted((c["op"], c["data"].get("name") or c["data"]["capture_id"]) for c in later) == [
        ("delete", uploaded["Dov Gone"].uuid),
        ("upsert", "Uma Up"),
        ("upsert", "Wes Wait"),
        ("upsert", "Wes Wait"),
    ]
    assert _tombstones(live, nia) == {uploaded["Dov Gone"].uuid}

    exported = _export(live, "nia@example.com")
    uuids = [e["id"] for c in exported["contacts"] for e in c["encounters"]]
    assert sorted(uuids) == sorted([uma_row.uuid, wes_row.uuid])
    assert [d["capture"] for d in exported["deleted_captures"]] == [uploaded["Dov Gone"].uuid]
    history = [h for h in exported["capture_history"] if h["capture"] == uma_row.uuid]
    by_field = {(h["field"], h["source"] == "web") for h in history}
    assert ("title", True) in by_field  # the laptop's edit
    assert ("org", False) in by_field and ("note", False) in by_field  # the phone's
    org = next(h for h in history if h["field"] == "org")
    assert (org["old"], org["new"], org["outcome"]) == ("", "Queue GmbH", "applied")

    # The tombstone holds: a stale upsert of the deleted capture cannot bring it back.
    stale = next(c for c in sent if c["op"] == "upsert")
    status, answer = page.evaluate(
        """async ([change, captureId]) => {
            const headers = JSON.parse(document.body.getAttribute("hx-headers"));
            const body = {device_id: crypto.randomUUID(), changes: [{...change,
                id: crypto.randomUUID(), data: {...change.data, capture_id: captureId}}]};
            const response = await fetch("/api/v1/sync", {method: "POST",
                body: JSON.stringify(body),
                headers: {"Content-Type": "application/json", ...headers}});
            return [response.status, await response.json()];
        }""",
        [stale, uploaded["Dov Gone"].uuid],
    )
    assert status == 200 and answer["results"][0]["status"] == "rejected"
    assert answer["results"][0]["error"] == "capture was deleted"
    assert "Dov Gone" not in {e.name for e in live.encounters(nia)}
    context.close()


def test_a_capture_whose_upload_answer_was_lost_is_deleted_on_the_server_too(browser, pixel, live):
    """The phone cannot know the server has it: the deletion is sent, never just dropped."""
    lia = live.user("lia@example.com", "Lia Lang")
    context, page = _phone(browser, pixel, service_workers="block")
    _login(page, live, "lia@example.com")
    answers = {"lost": 0}

    def lose_answers(route) -> None:
        """The first upload reaches the server, its answer does not; then no network."""
        if answers["lost"] == 0:
            route.fetch()
        answers["lost"] += 1
        route.abort()

    context.route("**/api/v1/sync", lose_answers)
    _capture(page, "Lee Lost", "lee@example.com")
    expect(_status(page)).to_contain_text("Offline · 1 waiting")
    [on_server] = live.encounters(lia)

    page.get_by_role("link", name="Today", exact=True).click()
    lee = (
        page.get_by_role("region", name="People captured")
        .get_by_role("listitem")
        .filter(has_text="Lee Lost", visible=True)
    )
    # Its first save is not confirmed, though the server's list shows it.
    expect(lee.get_by_text("waiting to upload", exact=True)).to_be_visible()
    _delete_in_editor(page, "Lee Lost")
    notice = page.get_by_role("status").filter(has_text="Deleted Lee Lost")
    expect(notice).to_have_text("Deleted Lee Lost — waiting to upload")
    expect(lee).to_contain_text("deleted — waiting to upload")

    context.unroute("**/api/v1/sync")
    page.evaluate("() => window.hooklineOutbox.flush({reason: 'online'})")
    expect(_status(page)).to_have_text("All captures uploaded", timeout=15_000)
    expect(notice).to_have_text("Deleted Lee Lost — uploaded")
    assert live.encounters(lia) == []
    assert _tombstones(live, lia) == {on_server.uuid}
    context.close()


def _put_in_outbox(page, entry: dict) -> None:
    """Write an outbox entry as an older version of the app might have."""
    page.evaluate(
        """async (entry) => {
          const { deviceId } = await import("/static/js/outbox.js");
          const device = await deviceId();
          return new Promise((resolve, reject) => {
            const request = indexedDB.open("hookline-outbox-u" + document.body.dataset.userId, 1);
            request.onsuccess = () => {
                const tx = request.result.transaction(["outbox"], "readwrite");
                tx.objectStore("outbox").put({device_id: device,
                    created_ms: Date.now(), attempts: 0, last_error: "", ...entry});
                tx.oncomplete = () => { request.result.close(); resolve(); };
                tx.onerror = () => reject(tx.error);
            };
            request.onerror = () => reject(request.error);
          });
        }""",
        entry,
    )


def test_needs_attention_retry_sends_again_and_edit_fixes(browser, pixel, live):
    """Retry re-sends a rejected change under a new id; Edit fixes what Retry cannot."""
    max_ = live.user("max@example.com", "Max Mohr")
    context, page = _phone(browser, pixel)
    posts = _sync_posts(page)
    _login(page, live, "max@example.com")
    _wait_controlled(page)
    expect(_status(page)).to_have_text("All captures uploaded")
    attention = page.get_by_role("region", name="Captures that need attention")

    # 1. A change id the server already holds with other content (an old app's bug): the
    #    server rejects it; Retry sends the same capture as a new change, which applies.
    reused = page.evaluate(
        """async () => {
            const headers = JSON.parse(document.body.getAttribute("hx-headers"));
            const id = crypto.randomUUID();
            const change = {id, seq: 1, kind: "capture", op: "upsert",
                            at: "2026-11-21T10:00:00+01:00",
                            data: {name: "Ann Before", email: "ann@example.com"}};
            const body = {device_id: crypto.randomUUID(), changes: [change]};
            await fetch("/api/v1/sync", {method: "POST", body: JSON.stringify(body),
                headers: {"Content-Type": "application/json", ...headers}});
            return id;
        }"""
    )
    capture_id = page.evaluate("() => crypto.randomUUID()")
    _put_in_outbox(
        page,
        {
            "id": reused,
            "seq": 1,
            "kind": "capture",
            "op": "upsert",
            "at": "2026-11-21T10:05:00+01:00",
            "creates": True,
            "data": {"capture_id": capture_id, "name": "Ray Retry", "email": "ray@example.com"},
        },
    )
    page.evaluate("() => window.hooklineOutbox.flush({reason: 'save'})")
    expect(attention).to_contain_text("Needs attention (1)")
    expect(attention).to_contain_text("change id reused with different content")
    with page.expect_response("**/api/v1/sync") as answer:
        attention.get_by_role("button", name="Retry").click()
    [result] = answer.value.json()["results"]
    assert result["status"] == "applied" and result["id"] != reused
    expect(attention).to_be_hidden()
    expect(_status(page)).to_have_text("All captures uploaded")
    assert sorted(e.name for e in live.encounters(max_)) == ["Ann Before", "Ray Retry"]
    assert next(e for e in live.encounters(max_) if e.name == "Ray Retry").uuid == capture_id

    # 2. A note the server finds too long (the form would have refused it): Retry sends it
    #    again as a new change and the server refuses it again; nothing is stored or lost.
    page.evaluate(
        """() => window.hooklineOutbox.addCapture({name: "Rex Long", email: "rex@example.com",
                                                   note: "x".repeat(4001)})"""
    )
    page.evaluate("() => window.hooklineOutbox.flush({reason: 'save'})")
    expect(attention).to_contain_text("“Note” is too long: keep it under 4,000 characters")
    rejected_before = [c for p in posts for c in p["changes"] if c["data"]["name"] == "Rex Long"]
    with page.expect_response("**/api/v1/sync") as answer:
        attention.get_by_role("button", name="Retry").click()
    assert answer.value.json()["results"][0]["status"] == "rejected"
    expect(attention).to_contain_text("Needs attention (1)")
    expect(attention).to_contain_text("“Note” is too long: keep it under 4,000 characters")
    rex = [c for p in posts for c in p["changes"] if c["data"].get("name") == "Rex Long"]
    assert len(rex) == len(rejected_before) + 1
    assert len({c["id"] for c in rex}) == len(rex)  # a new change id for each try
    assert len({c["data"]["capture_id"] for c in rex}) == 1  # of the same capture
    assert "Rex Long" not in {e.name for e in live.encounters(max_)}
    attention.scroll_into_view_if_needed()
    screenshot(page, "needs-attention-retry-edit")

    # Edit opens the rejected capture in the Today screen's editor: shorten it, save.
    attention.get_by_role("link", name="Edit").click()
    editor = _editor(page)
    expect(editor.get_by_role("heading", name="Edit Rex Long")).to_be_visible()
    expect(editor).to_contain_text("The server did not accept it: “Note” is too long")
    expect(editor.get_by_label("Note")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "needs-attention-fix-in-editor")
    editor.get_by_label("Note").fill("Wants the short version")
    editor.get_by_role("button", name="Save changes").click()
    expect(_status(page)).to_have_text("All captures uploaded", timeout=15_000)
    expect(page.get_by_role("status").filter(has_text="Saved changes to Rex Long")).to_have_text(
        "Saved changes to Rex Long — uploaded"
    )
    stored = [e for e in live.encounters(max_) if e.name == "Rex Long"]
    assert [(e.note, e.uuid) for e in stored] == [
        ("Wants the short version", rex[0]["data"]["capture_id"])
    ]
    page.get_by_role("link", name="Capture", exact=True).click()
    expect(page.get_by_role("button", name="Save contact")).to_be_visible()
    expect(attention).to_be_hidden()
    context.close()


def test_a_refusal_names_the_field_by_its_label_on_the_form(browser, pixel, live):
    """The server's "data.<field>" becomes the capture form's label for that field."""
    live.user("lee@example.com", "Lee Label")
    context, page = _phone(browser, pixel)
    _login(page, live, "lee@example.com")
    readable = page.evaluate(
        """async () => {
            const { readableError } = await import("/static/js/capture-offline.js");
            const form = document.querySelector("form.capture-form");
            const data = {hooks: [{type: "meet"}, {type: "send_resource"}]};
            return [
                "data.note is too long: keep it under 4,000 characters",
                "data.org is too long: keep it under 200 characters",
                "data.ask is too long: keep it under 1,000 characters",
                "data.rating must be hot, warm, cold or null",
                "data.hooks[1].detail is too long: keep it under 500 characters",
                "data.hooks[0] must be an object",
                "data.hooks[5].detail is too long: keep it under 500 characters",
                "data needs a name, an email, a phone, a link or the scanned text",
                "change id reused with different content",
            ].map((error) => readableError(error, data, form));
        }"""
    )
    assert readable == [
        {"field": "note", "message": "“Note” is too long: keep it under 4,000 characters"},
        {"field": "org", "message": "“Company” is too long: keep it under 200 characters"},
        {
            "field": "ask",
            "message": "“What they can help with” is too long: keep it under 1,000 characters",
        },
        {"field": "rating", "message": "“Rating” must be hot, warm, cold or null"},
        {
            "field": "detail_send_resource",
            "message": "“Send a resource: detail” is too long: keep it under 500 characters",
        },
        {"field": "hook_meet", "message": "“Set up a chat” must be an object"},
        {
            "field": None,
            "message": "data.hooks[5].detail is too long: keep it under 500 characters",
        },
        {
            "field": None,
            "message": "data needs a name, an email, a phone, a link or the scanned text",
        },
        {"field": None, "message": "change id reused with different content"},
    ]
    context.close()


def test_a_background_sync_event_uploads_what_waits(browser, pixel, live):
    """The worker's "sync" event alone makes the page upload (Chromium's Background Sync)."""
    ona = live.user("ona@example.com", "Ona Ott")
    context, page = _phone(browser, pixel)
    _login(page, live, "ona@example.com")
    _wait_controlled(page)
    expect(_status(page)).to_have_text("All captures uploaded")

    # Chromium fires Background Sync by itself as soon as the page registers it while online.
    # Granting only "notifications" denies every other permission, Background Sync included,
    # so the page's own registration fails and the only sync event is the one sent below.
    context.grant_permissions(["notifications"], origin=live.url)
    state = "() => navigator.permissions.query({name: 'background-sync'}).then((p) => p.state)"
    assert page.evaluate(state) == "denied"
    posts = _sync_posts(page)
    # A capture waits with none of the other triggers: no Save tap, no online or visibility
    # event, no page load, and no backoff timer (the last upload succeeded).
    page.evaluate(
        """() => window.hooklineOutbox.addCapture({name: "Bo Background",
                                                   email: "bo@example.com"})"""
    )
    expect(_status(page)).to_contain_text("1 waiting")
    assert posts == [] and live.encounters(ona) == []

    cdp = context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.extend(event["registrations"]),
    )
    cdp.send("ServiceWorker.enable")
    scope = f"{live.url}/"
    for _ in range(100):
        mine = [r for r in registrations if r["scopeURL"] == scope and not r["isDeleted"]]
        if mine:
            break
        page.wait_for_timeout(50)
    else:
        raise AssertionError(f"no service worker registration for {scope}: {registrations}")
    assert posts == []
    cdp.send(
        "ServiceWorker.dispatchSyncEvent",
        {
            "origin": live.url,
            "registrationId": mine[0]["registrationId"],
            "tag": "hookline-outbox",
            "lastChance": False,
        },
    )
    expect(_status(page)).to_have_text("All captures uploaded", timeout=15_000)
    assert [e.name for e in live.encounters(ona)] == ["Bo Background"]
    assert len(posts) == 1
    context.close()
