"""Offline first, in Chromium with a Pixel 7 profile against a live server.

The phone loads the app once online, goes offline (Playwright cuts the service worker's
network too), captures people into the IndexedDB outbox, is killed, comes back, and uploads
each capture exactly once. Every request not to 127.0.0.1 is aborted.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LiveServer,
    require_chromium,
    screenshot,
)
from tests.conftest import add_user, make_app
from webapp.auth.models import User
from webapp.contacts.models import Contact, Encounter
from webapp.events.models import Event
from webapp.extensions import db

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _chromium() -> None:
    require_chromium()


sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


@dataclass
class Live:
    app: Any
    url: str

    def user(self, email: str, name: str) -> int:
        user_id = add_user(self.app, email, name, timezone="Europe/Berlin")
        with self.app.app_context():
            event = Event(user_id=user_id, name="DevConf Berlin")
            db.session.add(event)
            db.session.flush()
            db.session.get(User, user_id).current_event_id = event.id
            db.session.commit()
        return user_id

    def encounters(self, user_id: int) -> list[Encounter]:
        with self.app.app_context():
            rows = db.session.scalars(
                select(Encounter).where(Encounter.user_id == user_id).order_by(Encounter.id)
            ).all()
            db.session.expunge_all()
            return list(rows)

    def contacts(self, user_id: int) -> int:
        with self.app.app_context():
            return db.session.scalar(
                select(func.count()).select_from(Contact).where(Contact.user_id == user_id)
            )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("offline-server")
    app = make_app("sqlite", folder, None, WTF_CSRF_ENABLED=True)
    server = LiveServer(app)
    try:
        yield Live(app, server.url)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def pixel(playwright) -> dict[str, Any]:
    """The Pixel 7 profile, usable for persistent contexts too."""
    device = dict(playwright.devices["Pixel 7"])
    device.pop("default_browser_type", None)
    return device


def _local_only(route) -> None:
    host = route.request.url.split("/")[2].split(":")[0]
    if host == "127.0.0.1":
        route.fallback()
    else:
        route.abort()


def _launch_phone(pw, phone: dict, profile: Path):
    context = pw.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, **phone
    )
    context.route("**/*", _local_only)
    return context


def _kill(profile: Path) -> int:
    """SIGKILL the Chromium processes of this one profile (found by its unique directory)."""
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if f"--user-data-dir={profile}" in cmdline:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
    return killed


def _phone(browser, pixel: dict, **options):
    """Return a phone browser context that reaches only the local server, and a page in it."""
    context = browser.new_context(**pixel, **options)
    context.route("**/*", _local_only)
    return context, context.new_page()


def _login(page, live: Live, email: str) -> None:
    page.goto(f"{live.url}/login?next=/capture")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live.url}/capture")
    page.wait_for_function("() => Boolean(document.body.dataset.userId && window.hooklineOutbox)")


def _capture(page, name: str, email: str = "", note: str = "") -> None:
    page.get_by_label("Name", exact=True).fill(name)
    if email:
        page.get_by_label("Email").fill(email)
    if note:
        page.get_by_label("Note").fill(note)
    page.get_by_role("button", name="Save contact").click()
    expect(page.locator("[data-offline-saved]")).to_contain_text(f"Saved {name} — ")


def _capture_online(page, name: str, email: str = "", note: str = "") -> None:
    """Capture with the network up, and wait until the server has it, as the phone says.

    Not by the status line: right after Save it can still show the "All captures
    uploaded" of before, until the outbox has been counted again.
    """
    _capture(page, name, email, note)
    saved = page.locator("[data-offline-saved]")
    expect(saved).to_contain_text(f"Saved {name} — uploaded", timeout=15_000)


def _save_with_photo(page, tmp_path: Path, name: str, **fields: Any) -> None:
    """Save a capture with a badge photo straight into the outbox, as the form's Save does
    (without its upload: the caller flushes, or comes online)."""
    from PIL import Image

    photo = tmp_path / "badge.png"
    Image.new("RGB", (64, 48), (200, 200, 200)).save(photo)
    empty = dict.fromkeys(("email", "phone", "org", "title", "url", "note", "offer", "ask"), "")
    data = {"raw": None, **empty, "rating": None, "event_id": None, "hooks": []}
    page.evaluate(
        """([data, bytes]) => window.hooklineOutbox.addCapture(data,
            {bytes: new Uint8Array(bytes).buffer, type: "image/png", name: "badge.png",
             label: data.name})""",
        [{**data, "name": name, **fields}, list(photo.read_bytes())],
    )


def _hold_first(context, pattern: str) -> list[Any]:
    """Route the first request matching pattern nowhere: it stays open, unanswered (as on Wi-Fi
    that takes a request and drops it), until the test settles the route it returns in the
    list. Later requests go through."""
    held: list[Any] = []

    def hold(route) -> None:
        if held:
            route.fallback()
        else:
            held.append(route)

    context.route(pattern, hold)
    return held


def _wait_held(page, held: list[Any]) -> None:
    """Wait until a route handler has held its request (handlers run while the test waits on
    the browser)."""
    for _ in range(100):
        if held:
            return
        page.wait_for_timeout(100)
    raise AssertionError("the request was never sent")


def _status(page):
    return page.locator("#outbox-status")


def _cached_pages(page) -> list[str]:
    return page.evaluate(
        """async () => {
            const cache = await caches.open("hookline-pages");
            return (await cache.keys()).map((r) => new URL(r.url).pathname);
        }"""
    )


def _wait_cached(page, paths: set[str], tries: int = 75) -> None:
    for _ in range(tries):
        cached = set(_cached_pages(page))
        if paths <= cached:
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"not cached: {paths - cached}")


def _wait_controlled(page, timeout: float = 15_000) -> None:
    """Wait until a service worker controls the page, reloading once if it came too late.

    A worker that activates while the page is navigating (the redirect after logging in) can
    claim the document that is going away; the next load is controlled, as for a person.
    """
    page.evaluate(
        """(ms) => Promise.race([navigator.serviceWorker.ready,
                                  new Promise((resolve) => setTimeout(resolve, ms))])
                    .then(() => true)""",
        timeout,
    )
    if page.evaluate("() => navigator.serviceWorker.controller === null"):
        page.reload()
    try:
        page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=timeout)
    except sync_api.TimeoutError:
        state = page.evaluate(
            """async () => {
                const r = await navigator.serviceWorker.getRegistration();
                return {installing: r?.installing?.state, waiting: r?.waiting?.state,
                        active: r?.active?.state, error: document.body.dataset.swError};
            }"""
        )
        raise AssertionError(f"no service worker controls the page: {state}") from None


def test_offline_capture_survives_a_killed_browser_and_uploads_once(
    playwright, pixel, live, tmp_path
):
    alice = live.user("alice@example.com", "Alice Adams")
    profile = tmp_path / "phone-profile"
    context = _launch_phone(playwright, pixel, profile)
    page = context.pages[0] if context.pages else context.new_page()
    _login(page, live, "alice@example.com")
    _wait_controlled(page)
    _wait_cached(page, {"/capture", "/today", "/card", "/card.png"})

    cdp = context.new_cdp_session(page)
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    assert errors == [], errors

    # Offline from here: the capture screen comes from the service worker.
    context.set_offline(True)
    page.reload()
    expect(page.get_by_role("button", name="Save contact")).to_be_visible()
    expect(_status(page)).to_contain_text("All captures uploaded")

    # Phone-side validation keeps what was typed.
    page.get_by_label("Note").fill("met at the coffee line")
    page.get_by_role("button", name="Save contact").click()
    expect(page.get_by_text("Add a name, an email, a phone or a link")).to_be_visible()
    expect(page.get_by_label("Note")).to_have_value("met at the coffee line")
    page.get_by_label("Note").fill("")

    people = [
        ("Maria Keller", "maria@example.org"),
        ("Jon Ode", "jon@example.net"),
        ("Li Wei", "li@example.com"),
    ]
    for name, email in people:
        _capture(page, name, email, note=f"Talked to {name}")
        expect(page.get_by_label("Name", exact=True)).to_be_focused()
        expect(page.get_by_label("Name", exact=True)).to_have_value("")
    expect(page.locator("[data-offline-saved]")).to_have_text("Saved Li Wei — waiting to upload")
    expect(_status(page)).to_contain_text("3 waiting · oldest just now")
    screenshot(page, "offline-capture-3-waiting", full_page=True)

    # Today's list and my card also work offline; waiting captures are listed as such.
    page.goto(f"{live.url}/today")
    waiting = page.get_by_role("region", name="Waiting to upload")
    expect(waiting).to_contain_text("Waiting to upload (3)")
    expect(waiting.get_by_text("waiting to upload", exact=True)).to_have_count(3)
    expect(waiting).to_contain_text("Maria Keller")
    page.goto(f"{live.url}/card")
    qr = page.get_by_role("img", name="QR code of my contact card")
    expect(qr).to_be_visible()
    page.wait_for_function("() => document.querySelector('.card-qr img').naturalWidth > 0")
    assert live.encounters(alice) == []

    # Kill the browser without letting it shut down cleanly.
    assert _kill(profile) > 0
    with contextlib.suppress(Exception):  # the browser is already gone
        context.close()

    context = _launch_phone(playwright, pixel, profile)
    context.set_offline(True)
    page = context.pages[0] if context.pages else context.new_page()
    posts: list[str] = []
    page.on(
        "request",
        lambda r: posts.append(r.post_data or "") if r.url.endswith("/api/v1/sync") else None,
    )
    page.goto(f"{live.url}/capture")
    expect(_status(page)).to_contain_text("3 waiting")
    context.set_offline(False)
    # Chromium writes cookies to disk lazily, so the kill may have cost the session cookie:
    # then the phone keeps the captures and asks to log in again, which we do.
    uploaded = _status(page).get_by_text("All captures uploaded")
    relogin = page.get_by_role("alert").filter(has_text="Log in again")
    expect(uploaded.or_(relogin)).to_be_visible(timeout=15_000)
    if relogin.is_visible():
        expect(relogin).to_contain_text("3 waiting captures")
        assert live.encounters(alice) == []
        relogin.get_by_role("link", name="Log in").click()
        page.get_by_label("Email").fill("alice@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live.url}/capture")
    expect(_status(page)).to_contain_text("All captures uploaded", timeout=15_000)

    rows = live.encounters(alice)
    assert sorted(e.name for e in rows) == sorted(n for n, _ in people)
    assert len({e.uuid for e in rows}) == 3
    assert live.contacts(alice) == 3
    assert all(e.device_id for e in rows)
    assert all(e.event_id for e in rows)
    assert all(e.happened_at.utcoffset() is not None for e in rows)

    # Replay what the phone sent: the server answers duplicate and stores nothing new.
    assert posts, "the phone never posted to /api/v1/sync"
    replayed = page.evaluate(
        """async (body) => {
            const headers = JSON.parse(document.body.getAttribute("hx-headers"));
            const response = await fetch("/api/v1/sync", {
                method: "POST", body,
                headers: {"Content-Type": "application/json", ...headers},
            });
            return [response.status, await response.json()];
        }""",
        posts[0],
    )
    assert replayed[0] == 200
    assert {r["status"] for r in replayed[1]["results"]} == {"duplicate"}
    assert len(live.encounters(alice)) == 3
    assert live.contacts(alice) == 3

    exported = live.app.test_cli_runner().invoke(args=["export", "--user", "alice@example.com"])
    assert exported.exit_code == 0, exported.output
    assert exported.output.count("maria@example.org") >= 1
    context.close()


def test_a_second_device_edit_keeps_both_values(pixel, browser, live, tmp_path):
    """The phone edits a capture offline while the laptop edits it online; both notes stay."""
    erin = live.user("erin@example.com", "Erin Ek")
    phone_context = browser.new_context(**pixel)
    phone_context.route("**/*", _local_only)
    page = phone_context.new_page()
    _login(page, live, "erin@example.com")
    _capture_online(page, "Sam Rao", "sam@example.com", note="First chat")
    expect(_status(page)).to_contain_text("All captures uploaded", timeout=15_000)
    [encounter] = live.encounters(erin)

    phone_context.set_offline(True)
    page.evaluate(
        """async (captureId) => {
            await window.hooklineOutbox.add({op: "upsert", data: {
                capture_id: captureId, raw: null, name: "Sam Rao", email: "sam@example.com",
                phone: "", org: "Rao Labs", title: "", url: "", note: "Phone: send the deck",
                rating: "hot", offer: "", ask: "", event_id: null, hooks: []}});
        }""",
        encounter.uuid,
    )
    expect(_status(page)).to_contain_text("1 waiting")

    laptop = browser.new_context(viewport={"width": 1280, "height": 800})
    laptop.route("**/*", _local_only)
    desk = laptop.new_page()
    _login(desk, live, "erin@example.com")
    desk.goto(f"{live.url}/captures/{encounter.id}/edit")
    desk.get_by_label("Note").fill("Laptop: intro to Maria")
    desk.get_by_role("button", name="Save changes").click()
    for _ in range(50):
        if live.encounters(erin)[0].note == "Laptop: intro to Maria":
            break
        desk.wait_for_timeout(100)
    else:
        raise AssertionError("the laptop's edit was not saved")

    phone_context.set_offline(False)
    expect(_status(page)).to_contain_text("All captures uploaded", timeout=15_000)
    [after] = live.encounters(erin)
    assert "Laptop: intro to Maria" in after.note
    assert "Phone: send the deck" in after.note
    assert after.org == "Rao Labs"  # the phone's field edit is kept too
    assert after.rating == "hot"
    laptop.close()
    phone_context.close()


def test_401_keeps_the_capture_and_asks_to_log_in(browser, pixel, live):
    carol = live.user("carol@example.com", "Carol Cho")
    context = browser.new_context(**pixel, service_workers="block")
    context.route("**/*", _local_only)
    calls: list[int] = []

    def unauthorized(route) -> None:
        calls.append(1)
        if len(calls) == 1:
            route.fulfill(
                status=401,
                content_type="application/json",
                body=json.dumps({"error": "authentication required"}),
            )
        else:
            route.fallback()

    context.route("**/api/v1/sync", unauthorized)
    page = context.new_page()
    _login(page, live, "carol@example.com")
    _capture(page, "Ana Costa", "ana@example.com")
    alert = page.get_by_role("alert").filter(has_text="Log in again")
    expect(alert).to_contain_text("1 waiting capture")
    link = alert.get_by_role("link", name="Log in")
    assert link.get_attribute("href") == "/login?next=%2Fcapture"
    expect(_status(page)).to_contain_text("1 waiting")
    assert live.encounters(carol) == []

    link.click()  # still logged in: /login sends us back to /capture, which flushes on open
    page.wait_for_url(f"{live.url}/capture")
    expect(_status(page)).to_contain_text("All captures uploaded", timeout=15_000)
    assert [e.name for e in live.encounters(carol)] == ["Ana Costa"]
    context.close()


def test_retry_after_is_honoured(browser, pixel, live):
    dave = live.user("dave@example.com", "Dave Dunn")
    context = browser.new_context(**pixel, service_workers="block")
    context.route("**/*", _local_only)
    times: list[float] = []

    def busy_once(route) -> None:
        times.append(time.monotonic())
        if len(times) == 1:
            route.fulfill(
                status=503,
                headers={"Retry-After": "2", "Content-Type": "application/json"},
                body=json.dumps({"error": "database busy, try again"}),
            )
        else:
            route.fallback()

    context.route("**/api/v1/sync", busy_once)
    page = context.new_page()
    _login(page, live, "dave@example.com")
    _capture(page, "Bo Berg", "bo@example.com")
    expect(_status(page)).to_contain_text("1 waiting")
    # Saving again inside the server's window must not bring the retry forward.
    _capture(page, "Cy Chu", "cy@example.com")
    expect(_status(page)).to_contain_text("All captures uploaded", timeout=15_000)
    assert len(times) >= 2
    assert times[1] - times[0] >= 2.0, times
    assert sorted(e.name for e in live.encounters(dave)) == ["Bo Berg", "Cy Chu"]
    context.close()


def test_an_upload_whose_answer_never_comes_is_given_up_and_sent_again(browser, pixel, live):
    """Conference Wi-Fi: the request reaches the server, the answer never reaches the phone."""
    noor = live.user("noor@example.com", "Noor Nash")
    context, page = _phone(browser, pixel, service_workers="block")
    bodies: list[str] = []
    held: list[Any] = []

    def answer_lost_once(route) -> None:
        bodies.append(route.request.post_data or "")
        if held:
            route.fallback()
            return
        route.fetch()  # the server applies the batch ...
        held.append(route)  # ... and its answer is lost: the phone's request never ends

    context.route("**/api/v1/sync", answer_lost_once)
    context.clock.install()
    _login(page, live, "noor@example.com")
    _capture(page, "Fay Fox", "fay@example.com")
    expect(_status(page)).to_contain_text("1 waiting · oldest just now · uploading…")
    _wait_held(page, held)
    assert [e.name for e in live.encounters(noor)] == ["Fay Fox"]
    # Saved while the upload hangs: it waits on the phone behind it.
    _capture(page, "Gil Gray", "gil@example.com")
    expect(_status(page)).to_contain_text("2 waiting")
    assert len(bodies) == 1

    # Past the upload's deadline (20 s and a second per 16 KB) the phone gives up on it and
    # sends both again; the server knows the first and stores it once.
    page.clock.fast_forward("00:30")
    expect(_status(page)).to_contain_text("All captures uploaded", timeout=15_000)
    assert sorted(e.name for e in live.encounters(noor)) == ["Fay Fox", "Gil Gray"]
    assert live.contacts(noor) == 2
    assert len(bodies) == 2 and "Fay Fox" in bodies[1] and "Gil Gray" in bodies[1]
    with contextlib.suppress(Exception):
        held[0].abort()
    context.close()


def test_logout_warns_and_never_uploads_into_another_account(browser, pixel, live):
    fay = live.user("fay@example.com", "Fay Fox")
    gil = live.user("gil@example.com", "Gil Gomez")
    context, page = _phone(browser, pixel, service_workers="block")
    _login(page, live, "fay@example.com")
    context.set_offline(True)
    for name in ("One Person", "Two Person", "Three Person"):
        _capture(page, name)
    expect(_status(page)).to_contain_text("3 waiting")
    context.route("**/api/v1/sync", lambda route: route.abort())  # keep them waiting
    context.set_offline(False)
    page.get_by_role("link", name="Me", exact=True).click()
    # The warning needs the page's module loaded; a tap before that would log out unwarned.
    expect(page.locator("form[data-logout][data-guarded]")).to_have_count(1)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("alert")).to_have_text(
        "3 captures are still waiting to upload. If you log out now they stay on this phone "
        "and upload when you log back in as fay@example.com."
    )
    page.get_by_role("button", name="Log out anyway").click()
    page.wait_for_url(f"{live.url}/login")
    assert page.evaluate("() => caches.has('hookline-pages')") is False

    # Someone else on the same phone: Fay's captures are not theirs to see or send.
    context.unroute("**/api/v1/sync")
    _login(page, live, "gil@example.com")
    expect(_status(page)).to_have_text("All captures uploaded")
    page.get_by_role("link", name="Today", exact=True).click()
    expect(page.get_by_role("region", name="Waiting to upload")).to_be_hidden()
    page.get_by_role("link", name="Me", exact=True).click()
    expect(page.locator("[data-storage-status]")).to_contain_text("Storage on this phone:")
    expect(page.locator("form[data-logout][data-guarded]")).to_have_count(1)
    page.get_by_role("button", name="Log out").click()  # nothing waiting: no warning
    page.wait_for_url(f"{live.url}/login")
    assert live.encounters(gil) == [] and live.encounters(fay) == []

    # Fay logs back in: her captures upload into her account.
    _login(page, live, "fay@example.com")
    expect(_status(page)).to_have_text("All captures uploaded", timeout=15_000)
    assert sorted(e.name for e in live.encounters(fay)) == [
        "One Person",
        "Three Person",
        "Two Person",
    ]
    assert live.encounters(gil) == []
    context.close()


def test_a_rejected_capture_needs_attention_and_is_never_dropped(browser, pixel, live):
    hal = live.user("hal@example.com", "Hal Holm")
    context, page = _phone(browser, pixel, service_workers="block")
    _login(page, live, "hal@example.com")
    # A change the phone's form would refuse, put in the outbox directly (an old app version).
    page.evaluate(
        """() => window.hooklineOutbox.addCapture({
            raw: null, name: "Ivy Ito", email: "ivy@example.com", phone: "", org: "",
            title: "", url: "", note: "", rating: "lukewarm", offer: "", ask: "",
            event_id: null, hooks: []})"""
    )
    page.evaluate("() => window.hooklineOutbox.flush({reason: 'save'})")
    attention = page.get_by_role("region", name="Captures that need attention")
    expect(attention).to_contain_text("Needs attention (1)")
    expect(attention).to_contain_text("Ivy Ito")
    expect(attention).to_contain_text("“Rating” must be hot, warm, cold or null")
    expect(_status(page)).to_contain_text("1 need attention")
    page.reload()  # still there after a reload: nothing is dropped silently
    expect(attention).to_contain_text("Ivy Ito")
    expect(attention.get_by_role("button", name="Retry")).to_be_visible()
    assert live.encounters(hal) == []
    discard = attention.get_by_role("button", name="Discard")
    discard.click()
    expect(attention.get_by_role("button", name="Discard for good")).to_be_visible()
    attention.get_by_role("button", name="Discard for good").click()
    expect(attention).to_be_hidden()
    context.close()


def test_a_badge_photo_follows_its_capture(browser, pixel, live, tmp_path):
    from webapp.capture.models import CapturePhoto

    ida = live.user("ida@example.com", "Ida Iles")
    context, page = _phone(browser, pixel, service_workers="block")
    _login(page, live, "ida@example.com")
    context.set_offline(True)
    _save_with_photo(page, tmp_path, "Jo Jung")
    expect(_status(page)).to_contain_text("1 waiting · oldest just now · 1 photo to upload")
    context.set_offline(False)
    expect(_status(page)).to_have_text("All captures uploaded", timeout=15_000)
    [encounter] = live.encounters(ida)
    with live.app.app_context():
        photos = db.session.scalars(
            select(CapturePhoto).where(CapturePhoto.encounter_id == encounter.id)
        ).all()
    assert len(photos) == 1
    context.close()


def test_a_photo_upload_that_hangs_does_not_hold_up_the_next_capture(
    browser, pixel, live, tmp_path
):
    from webapp.capture.models import CapturePhoto

    pia = live.user("pia@example.com", "Pia Park")
    context, page = _phone(browser, pixel, service_workers="block")
    held = _hold_first(context, "**/captures/photo")
    context.clock.install()
    _login(page, live, "pia@example.com")
    _save_with_photo(page, tmp_path, "Lu Lind")
    page.evaluate("() => { window.hooklineOutbox.flush({reason: 'save'}); }")  # as Save does
    expect(_status(page)).to_have_text("All captures uploaded · 1 photo to upload")
    _wait_held(page, held)
    # The photo hangs; the next person met goes to the server beside it, not after it.
    _capture_online(page, "Mo Marr", "mo@example.com")
    assert [e.name for e in live.encounters(pia)] == ["Lu Lind", "Mo Marr"]
    expect(_status(page)).to_have_text("All captures uploaded · 1 photo to upload")

    page.clock.fast_forward("00:30")  # past the photo's deadline: given up, sent again
    expect(_status(page)).to_have_text("All captures uploaded", timeout=15_000)
    lu, mo = live.encounters(pia)
    assert (lu.name, mo.name) == ("Lu Lind", "Mo Marr")
    with live.app.app_context():
        stored = db.session.scalars(
            select(CapturePhoto.encounter_id).where(CapturePhoto.encounter_id.in_([lu.id, mo.id]))
        ).all()
    assert stored == [lu.id]
    with contextlib.suppress(Exception):
        held[0].abort()
    context.close()


def test_a_capture_saved_while_a_photo_uploads_goes_at_once(browser, pixel, live, tmp_path):
    rex = live.user("rex@example.com", "Rex Roe")
    context, page = _phone(browser, pixel, service_workers="block")
    posts: list[str] = []
    context.on(
        "request",
        lambda r: posts.append(r.url.split("/", 3)[3]) if r.method == "POST" else None,
    )
    held = _hold_first(context, "**/captures/photo")
    _login(page, live, "rex@example.com")
    posts.clear()
    context.set_offline(True)
    _save_with_photo(page, tmp_path, "Sam Sato")
    _save_with_photo(page, tmp_path, "Tia Toll")
    context.set_offline(False)
    expect(_status(page)).to_have_text("All captures uploaded · 2 photos to upload")
    _wait_held(page, held)
    assert posts == ["api/v1/sync", "captures/photo"]

    _capture_online(page, "Uma Ueda", "uma@example.com")  # while the first photo is on its way
    assert posts == ["api/v1/sync", "captures/photo", "api/v1/sync"]
    assert [e.name for e in live.encounters(rex)] == ["Sam Sato", "Tia Toll", "Uma Ueda"]
    expect(_status(page)).to_have_text("All captures uploaded · 2 photos to upload")
    held[0].fallback()
    expect(_status(page)).to_have_text("All captures uploaded", timeout=15_000)
    assert posts == ["api/v1/sync", "captures/photo", "api/v1/sync", "captures/photo"]
    assert [e.name for e in live.encounters(rex)] == ["Sam Sato", "Tia Toll", "Uma Ueda"]
    context.close()


def test_a_photo_refused_as_one_too_many_waits_as_the_server_says(browser, pixel, live, tmp_path):
    """A phone back from a day offline may hold more badge photos than the photo endpoint
    takes in a minute: its 429 (or a busy 503) says when to come back, and the photos wait
    exactly that long, while a capture saved meanwhile goes to the server at once."""
    from webapp.capture.models import CapturePhoto

    vic = live.user("vic@example.com", "Vic Vale")
    context, page = _phone(browser, pixel, service_workers="block")
    tries: list[float] = []

    def limited_once(route) -> None:
        tries.append(time.monotonic())
        if len(tries) == 1:
            route.fulfill(
                status=429,
                headers={"Retry-After": "6", "Content-Type": "text/html"},
                body="Too many attempts. Wait a minute, then try again.",
            )
        else:
            route.fallback()

    context.route("**/captures/photo", limited_once)
    _login(page, live, "vic@example.com")
    _save_with_photo(page, tmp_path, "Wes Wu")
    page.evaluate("() => { window.hooklineOutbox.flush({reason: 'save'}); }")  # as Save does
    _wait_held(page, tries)
    expect(_status(page)).to_have_text("All captures uploaded · 1 photo to upload")

    _capture_online(page, "Xia Xu", "xia@example.com")  # the photos' wait is not the captures'
    saved_at = time.monotonic()
    assert [e.name for e in live.encounters(vic)] == ["Wes Wu", "Xia Xu"]

    expect(_status(page)).to_have_text("All captures uploaded", timeout=20_000)
    assert len(tries) == 2, tries
    assert tries[1] - tries[0] >= 6.0, tries  # not the plain backoff's 0-2 s
    assert saved_at < tries[1]
    wes = live.encounters(vic)[0]
    with live.app.app_context():
        stored = db.session.scalars(
            select(CapturePhoto.encounter_id).where(CapturePhoto.encounter_id == wes.id)
        ).all()
    assert stored == [wes.id]
    context.close()


def _photo_rows(page) -> list[str]:
    return page.evaluate(
        """() => new Promise((resolve, reject) => {
            const request = indexedDB.open("hookline-outbox-u" + document.body.dataset.userId, 1);
            request.onsuccess = () => {
                const store = request.result.transaction(["photos"]).objectStore("photos");
                const all = store.getAllKeys();
                all.onsuccess = () => { request.result.close(); resolve(all.result); };
                all.onerror = () => reject(all.error);
            };
            request.onerror = () => reject(request.error);
        })"""
    )


def test_a_first_tap_on_discard_survives_the_list_being_redrawn(browser, pixel, live):
    """The Needs attention list is redrawn on every outbox change (a background retry):
    Discard, once tapped, still asks "Discard for good" afterwards, and the second tap
    discards."""
    live.user("ivo@example.com", "Ivo Ilic")
    context, page = _phone(browser, pixel, service_workers="block")
    _login(page, live, "ivo@example.com")
    page.evaluate(
        """() => window.hooklineOutbox.addCapture(
            {raw: null, name: "Ole Old", email: "ole@example.com", phone: "", org: "",
             title: "", url: "", note: "", rating: "lukewarm", offer: "", ask: "",
             event_id: null, hooks: []})"""
    )
    page.evaluate("() => window.hooklineOutbox.flush({reason: 'save'})")
    attention = page.get_by_role("region", name="Captures that need attention")
    expect(attention).to_contain_text("Ole Old")
    attention.get_by_role("button", name="Discard", exact=True).click()
    expect(attention.get_by_role("button", name="Discard for good")).to_be_visible()
    for _ in range(3):  # what a retry of something else, or a save, sets off
        page.evaluate("() => window.hooklineOutbox.changed()")
    page.wait_for_timeout(200)  # let the redraws run; the button must still be armed
    attention.get_by_role("button", name="Discard for good").click(timeout=5_000)
    expect(attention).to_be_hidden()
    expect(_status(page)).to_have_text("All captures uploaded")
    context.close()


def test_discarding_a_rejected_new_capture_drops_its_badge_photo(browser, pixel, live, tmp_path):
    """The photo of a capture the server refused and never had is not posted forever."""
    kai = live.user("kai@example.com", "Kai Kern")
    context, page = _phone(browser, pixel, service_workers="block")
    photo_posts: list[str] = []
    page.on(
        "request",
        lambda r: (
            photo_posts.append(r.url)
            if r.method == "POST" and r.url.endswith("/captures/photo")
            else None
        ),
    )
    _login(page, live, "kai@example.com")
    # A change the server refuses (an old app version's rating), with a badge photo.
    _save_with_photo(page, tmp_path, "Lou Lenz", email="lou@example.com", rating="lukewarm")
    page.evaluate("() => window.hooklineOutbox.flush({reason: 'save'})")
    attention = page.get_by_role("region", name="Captures that need attention")
    expect(attention).to_contain_text("Lou Lenz")
    expect(_status(page)).to_contain_text("1 photo to upload · 1 need attention")
    assert len(_photo_rows(page)) == 1

    attention.get_by_role("button", name="Discard").click()
    attention.get_by_role("button", name="Discard for good").click()
    expect(attention).to_be_hidden()
    expect(_status(page)).to_have_text("All captures uploaded")
    assert _photo_rows(page) == []
    posted = len(photo_posts)
    # Every trigger that would send a waiting photo: a flush, coming online, a reload.
    page.evaluate("() => window.hooklineOutbox.flush({reason: 'online'})")
    page.reload()
    page.wait_for_function("() => Boolean(window.hooklineOutbox)")
    page.evaluate("() => window.hooklineOutbox.flush({reason: 'online'})")
    expect(_status(page)).to_have_text("All captures uploaded")
    assert _photo_rows(page) == []
    assert len(photo_posts) == posted
    assert live.encounters(kai) == []
    context.close()


def test_a_discarded_rejected_edit_keeps_the_photo_of_a_capture_the_server_has(
    browser, pixel, live, tmp_path
):
    """Once the server has the capture, discarding a refused edit leaves its photo to upload."""
    from PIL import Image

    from webapp.capture.models import CapturePhoto

    lea = live.user("lea@example.com", "Lea Lund")
    context, page = _phone(browser, pixel, service_workers="block")
    _login(page, live, "lea@example.com")
    photo = tmp_path / "badge.png"
    Image.new("RGB", (64, 48), (120, 120, 120)).save(photo)
    # The photo upload fails for now, so the photo is still on the phone when the edit is
    # discarded (the capture itself is on the server).
    context.route("**/captures/photo", lambda route: route.abort())
    capture_id = page.evaluate(
        """async (bytes) => {
            const entry = await window.hooklineOutbox.addCapture(
                {raw: null, name: "Max Moll", email: "max@example.com", phone: "", org: "",
                 title: "", url: "", note: "", rating: null, offer: "", ask: "",
                 event_id: null, hooks: []},
                {bytes: new Uint8Array(bytes).buffer, type: "image/png", name: "badge.png",
                 label: "Max Moll"});
            await window.hooklineOutbox.flush({reason: "save"});
            await window.hooklineOutbox.editCapture({...entry.data, rating: "lukewarm"});
            await window.hooklineOutbox.flush({reason: "save"});
            return entry.data.capture_id;
        }""",
        list(photo.read_bytes()),
    )
    attention = page.get_by_role("region", name="Captures that need attention")
    expect(attention).to_contain_text("Max Moll")
    [encounter] = live.encounters(lea)
    assert encounter.uuid == capture_id
    attention.get_by_role("button", name="Discard").click()
    attention.get_by_role("button", name="Discard for good").click()
    expect(attention).to_be_hidden()
    assert _photo_rows(page) == [capture_id]
    context.unroute("**/captures/photo")
    page.evaluate("() => window.hooklineOutbox.flush({reason: 'online'})")
    expect(_status(page)).to_have_text("All captures uploaded", timeout=15_000)
    with live.app.app_context():
        kept = db.session.scalars(
            select(CapturePhoto).where(CapturePhoto.encounter_id == encounter.id)
        ).all()
    assert len(kept) == 1
    context.close()


def test_a_new_version_waits_until_the_user_reloads(browser, pixel, live):
    live.user("gus@example.com", "Gus Gray")
    context, page = _phone(browser, pixel)
    _login(page, live, "gus@example.com")
    _wait_controlled(page)
    version = """() => new Promise((resolve) => {
        const channel = new MessageChannel();
        channel.port1.onmessage = (event) => resolve(event.data.version);
        navigator.serviceWorker.controller.postMessage({type: "version"}, [channel.port2]);
    })"""
    old = page.evaluate(version)
    assert old == live.app.extensions["pwa_version"]
    page.get_by_label("Name", exact=True).fill("Typed before the update")

    live.app.extensions["pwa_version"] = "0" * 16  # a deploy: /sw.js now differs
    try:
        page.evaluate("() => navigator.serviceWorker.getRegistration().then((r) => r.update())")
        banner = page.get_by_role("status").filter(has_text="A new version is ready")
        expect(banner).to_be_visible(timeout=15_000)
        # The open session keeps its worker and what was typed until the user decides.
        assert page.evaluate(version) == old
        expect(page.get_by_label("Name", exact=True)).to_have_value("Typed before the update")
        with page.expect_navigation():
            banner.get_by_role("button", name="Reload").click()
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        assert page.evaluate(version) == "0" * 16
        static_caches = page.evaluate(
            "() => caches.keys().then((k) => k.filter((n) => n.startsWith('hookline-static-')))"
        )
        assert static_caches == ["hookline-static-" + "0" * 16]
    finally:
        live.app.extensions["pwa_version"] = old
    context.close()


def test_a_network_that_never_answers_falls_back_to_the_cached_page(browser, pixel, live):
    live.user("kim@example.com", "Kim Kerr")
    context, page = _phone(browser, pixel)
    _login(page, live, "kim@example.com")
    _wait_controlled(page)
    _wait_cached(page, {"/today"})
    stuck: list[Any] = []
    context.route("**/today", lambda route: stuck.append(route))  # connected, no answer
    started = time.monotonic()
    page.goto(f"{live.url}/today")
    expect(page.get_by_role("heading", name="Today at DevConf Berlin")).to_be_visible()
    assert stuck, "the service worker's fetch was not seen"
    assert 3.5 < time.monotonic() - started < 10
    for route in stuck:
        route.abort()
    context.close()


def test_batches_hold_at_most_200_changes_and_413_splits_them(browser, pixel, live):
    live.user("lou@example.com", "Lou Lund")
    context, page = _phone(browser, pixel, service_workers="block")
    _login(page, live, "lou@example.com")
    sizes: list[int] = []
    limit = {"max": 1000}

    def fake_server(route) -> None:
        """Answer like the server would, so only the phone's batching is under test."""
        changes = json.loads(route.request.post_data or "{}")["changes"]
        sizes.append(len(changes))
        if len(changes) > limit["max"]:
            route.fulfill(status=413, json={"error": "batch larger than 1 MB: split it"})
        else:
            results = [{"id": c["id"], "status": "applied"} for c in changes]
            route.fulfill(status=200, json={"results": results, "cursor": "x"})

    context.route("**/api/v1/sync", fake_server)
    context.set_offline(True)
    seqs = page.evaluate(
        """async () => {
            const seqs = [];
            for (let i = 0; i < 250; i++) {
                const e = await window.hooklineOutbox.addCapture({name: `Person ${i}`});
                seqs.push(e.seq);
            }
            return seqs;
        }"""
    )
    assert seqs == list(range(1, 251))  # per-device sequence, monotonic
    expect(_status(page)).to_contain_text("250 waiting")
    context.set_offline(False)
    expect(_status(page)).to_have_text("All captures uploaded", timeout=15_000)
    assert sizes == [200, 50]

    sizes.clear()
    limit["max"] = 1
    context.set_offline(True)
    page.evaluate(
        """async () => {
            for (const name of ["A", "B", "C"]) await window.hooklineOutbox.addCapture({name});
        }"""
    )
    context.set_offline(False)
    expect(_status(page)).to_have_text("All captures uploaded", timeout=15_000)
    assert sizes == [3, 2, 1, 1, 1]
    context.close()
