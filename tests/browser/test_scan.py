"""Scanning a badge on the capture screen, in Chromium on a Pixel 7 with a fake camera.

The camera is Chromium's fake device playing a .y4m made by tests/fakecam.py. Every request
not to 127.0.0.1 is aborted and recorded, which proves the decoder comes from our origin.
"""

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect
from sqlalchemy import select

from tests import fakecam
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, require_chromium, screenshot
from tests.conftest import PASSWORD, add_user
from tests.helpers import add_event
from webapp.capture.models import CapturePhoto
from webapp.contacts.models import Encounter
from webapp.extensions import db

DENIED = (
    "Camera permission was denied. You can allow it in your browser's site settings, "
    "or type the details instead."
)
WIFI = "WIFI:T:WPA;S:ConfGuest;P:hunter22;;"
DENY_CAMERA = """
navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
"""


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("scan-media")
    fakecam.blank_frame(800, 600).save(folder / "wall.png")
    return {
        "badge_camera": fakecam.qr_y4m(fakecam.SAMPLE_VCARD, folder / "badge.y4m"),
        "blank_camera": fakecam.blank_y4m(folder / "wall.y4m"),
        "badge_png": fakecam.qr_png(fakecam.SAMPLE_VCARD, folder / "badge.png"),
        "wifi_png": fakecam.qr_png(WIFI, folder / "wifi.png"),
        "control_png": fakecam.qr_png("FN:Ada\x07Lovelace", folder / "control.png"),
        "wall_png": folder / "wall.png",
    }


def _launch(playwright: Playwright, y4m: Path) -> Browser:
    require_chromium()
    return playwright.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS + fakecam.chromium_camera_args(y4m)
    )


@pytest.fixture(scope="module")
def badge_browser(playwright: Playwright, media) -> Iterator[Browser]:
    """Chromium whose camera shows the badge's QR code."""
    browser = _launch(playwright, media["badge_camera"])
    yield browser
    browser.close()


class Phone:
    """A Pixel 7 browser context logged in to the live server, with its blocked requests."""

    def __init__(self, context: BrowserContext, base_url: str) -> None:
        self.context = context
        self.base_url = base_url
        self.blocked: list[str] = []
        context.route("**/*", self._only_loopback)
        self.page: Page = context.new_page()

    def _only_loopback(self, route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def login(self, email: str) -> Page:
        page = self.page
        page.goto(f"{self.base_url}/login?next=/capture")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{self.base_url}/capture")
        expect(page.get_by_role("button", name="Scan badge")).to_be_visible()
        # Let the service worker's first caching after login finish, as it would while a person
        # looks at the screen.
        page.wait_for_load_state("networkidle")
        return page


def _phone(browser: Browser, playwright: Playwright, live_server, init_script: str = "") -> Phone:
    device = dict(playwright.devices["Pixel 7"])
    device.pop("default_browser_type", None)
    context = browser.new_context(**device)
    if init_script:
        context.add_init_script(init_script)
    return Phone(context, live_server.url)


@pytest.fixture
def user(live_server) -> str:
    add_user(live_server.app, "ana@example.com", "Ana")
    with live_server.app.app_context():
        from webapp.auth.models import User

        user_id = db.session.scalar(select(User.id).where(User.email == "ana@example.com"))
    add_event(live_server.app, user_id, name="PyCon Berlin")
    return "ana@example.com"


def _wait_for(app, page, query, timeout: float = 15.0):
    """Poll the database until query returns a row (the phone uploads in the background).

    Waiting through the page, not time.sleep, lets Playwright keep serving routes meanwhile.
    """
    deadline = time.monotonic() + timeout
    while True:
        with app.app_context():
            row = db.session.scalar(query)
            if row is not None:
                db.session.expunge(row)
                return row
        if time.monotonic() > deadline:
            with app.app_context():
                have = [(e.name, e.raw) for e in db.session.scalars(select(Encounter))]
            raise AssertionError(f"the capture never reached the server; it has {have}")
        page.wait_for_timeout(200)


def test_scan_a_badge_fill_the_form_save_and_see_the_person_today(
    badge_browser, playwright, live_server, user
):
    phone = _phone(badge_browser, playwright, live_server)
    page = phone.login(user)

    page.get_by_role("button", name="Scan badge").click()

    expect(page.get_by_label("Name", exact=True)).to_have_value("Ada Lovelace", timeout=10_000)
    expect(page.get_by_label("Company")).to_have_value("Analytical Engines Ltd")
    expect(page.get_by_label("Email")).to_have_value("ada@example.com")
    expect(page.get_by_label("Note")).to_be_focused()
    expect(page.locator("#scanner")).to_be_hidden()
    assert page.evaluate("document.querySelector('[data-scanner-video]').srcObject") is None
    assert page.locator('input[name="raw"]').input_value() == fakecam.SAMPLE_VCARD
    page.get_by_label("Note").fill("Wants the compiler talk slides")
    screenshot(page, "scan-form-filled")

    page.get_by_role("button", name="Save contact").click()
    expect(page.locator(".saved").first).to_contain_text("Saved Ada Lovelace")
    expect(page.get_by_role("button", name="Scan next")).to_be_visible()

    saved = _wait_for(
        live_server.app, page, select(Encounter).where(Encounter.name == "Ada Lovelace")
    )
    assert saved.raw == fakecam.SAMPLE_VCARD
    assert saved.title == "Head of Computing"  # filled by the server's parser from raw
    assert saved.note == "Wants the compiler talk slides"

    page.get_by_role("link", name="Today").click()
    expect(page.locator(".people .row-title")).to_have_text(["Ada Lovelace"])
    assert phone.blocked == []
    phone.context.close()


def test_scan_next_ignores_the_same_badge_and_keep_scanning_reopens_the_camera(
    badge_browser, playwright, live_server, user
):
    phone = _phone(badge_browser, playwright, live_server)
    page = phone.login(user)
    page.get_by_label("Keep scanning after each save").check()
    page.reload()
    expect(page.get_by_label("Keep scanning after each save")).to_be_checked()

    page.get_by_role("button", name="Scan badge").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Ada Lovelace", timeout=10_000)
    page.get_by_role("button", name="Save contact").click()
    expect(page.locator(".saved").first).to_contain_text("Saved Ada Lovelace")

    # Keep scanning: the camera is open again, with no tap...
    expect(page.locator("#scanner")).to_be_visible()
    expect(page.get_by_text("Point the camera at the QR code on the badge.")).to_be_visible()
    # ...and the same badge, still in view, is not captured a second time.
    page.wait_for_timeout(1500)
    expect(page.get_by_label("Name", exact=True)).to_have_value("")
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#scanner")).to_be_hidden()
    assert page.evaluate("document.querySelector('[data-scanner-video]').srcObject") is None
    assert phone.blocked == []
    phone.context.close()


def test_the_scanner_panel_shows_an_aiming_frame_and_cancel_releases_the_camera(
    playwright, live_server, user, media
):
    browser = _launch(playwright, media["blank_camera"])
    try:
        phone = _phone(browser, playwright, live_server)
        page = phone.login(user)
        page.get_by_role("button", name="Scan badge").click()
        expect(page.get_by_text("Point the camera at the QR code on the badge.")).to_be_visible()
        expect(page.locator(".scanner-frame")).to_be_visible()
        expect(page.get_by_role("button", name="Torch")).to_be_hidden()  # no torch here
        page.wait_for_timeout(400)  # a few frames, so the screenshot shows the camera
        screenshot(page, "scan-panel")
        page.get_by_role("button", name="Cancel").click()
        expect(page.locator("#scanner")).to_be_hidden()
        assert page.evaluate("document.querySelector('[data-scanner-video]').srcObject") is None
        expect(page.get_by_role("button", name="Save contact")).to_be_visible()
        assert phone.blocked == []
    finally:
        browser.close()


def test_denied_permission_explains_and_keeps_the_form_one_tap_away(
    badge_browser, playwright, live_server, user
):
    phone = _phone(badge_browser, playwright, live_server, init_script=DENY_CAMERA)
    page = phone.login(user)
    page.get_by_role("button", name="Scan badge").click()
    expect(page.get_by_text(DENIED)).to_be_visible()
    expect(page.get_by_role("button", name="Take a photo", exact=True)).to_be_visible()
    screenshot(page, "scan-denied")
    page.get_by_role("button", name="Type it instead").click()
    expect(page.locator("#scanner")).to_be_hidden()
    expect(page.get_by_label("Name", exact=True)).to_be_focused()
    phone.context.close()


def test_a_photo_of_the_badge_fills_the_form(badge_browser, playwright, live_server, user, media):
    phone = _phone(badge_browser, playwright, live_server)
    page = phone.login(user)
    page.get_by_label("Take a photo of the badge").set_input_files(media["badge_png"])
    expect(page.get_by_label("Name", exact=True)).to_have_value("Ada Lovelace", timeout=10_000)
    expect(page.get_by_text("Read the code on the photo.")).to_be_visible()
    assert page.get_by_label("Take a photo of the badge").input_value() == ""  # not kept
    assert phone.blocked == []
    phone.context.close()


def test_a_photo_nothing_can_read_is_kept_and_shown_on_the_contact_page(
    badge_browser, playwright, live_server, user, media
):
    phone = _phone(badge_browser, playwright, live_server)
    page = phone.login(user)
    with page.expect_response("**/captures/decode-photo") as answer:
        page.get_by_label("Take a photo of the badge").set_input_files(media["wall_png"])
    assert answer.value.status == 200  # the server tried too (and found nothing)
    expect(page.get_by_text("It is kept for later")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("Pat Photo")
    page.get_by_role("button", name="Save contact").click()
    expect(page.locator(".saved").first).to_contain_text("Saved Pat Photo")

    try:
        photo = _wait_for(live_server.app, page, select(CapturePhoto), timeout=20)
    except AssertionError as error:
        status = page.locator("#outbox-status").text_content()
        raise AssertionError(f"no photo on the server; outbox says {status!r}") from error
    with live_server.app.app_context():
        contact_id = db.session.get(Encounter, photo.encounter_id).contact_id
        assert db.session.get(Encounter, photo.encounter_id).name == "Pat Photo"
    page.goto(f"{live_server.url}/contacts/{contact_id}")
    expect(page.get_by_text("Badge photo — couldn't be read yet")).to_be_visible()
    image = page.get_by_role("img", name="Badge photo of Pat Photo")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth") == 800
    screenshot(page, "scan-photo-kept", full_page=True)
    assert phone.blocked == []
    phone.context.close()


def test_a_code_that_is_not_a_contact_or_is_refused_fills_nothing(
    badge_browser, playwright, live_server, user, media
):
    phone = _phone(badge_browser, playwright, live_server)
    page = phone.login(user)
    page.get_by_label("Take a photo of the badge").set_input_files(media["wifi_png"])
    expect(
        page.get_by_text(
            "That QR code isn't a contact (Wi-Fi network). Try the badge's other code, "
            "or type the details."
        )
    ).to_be_visible(timeout=10_000)
    page.get_by_label("Take a photo of the badge").set_input_files(media["control_png"])
    expect(
        page.get_by_text("The scanned code was not kept: The QR text contains control characters.")
    ).to_be_visible(timeout=10_000)
    expect(page.get_by_label("Name", exact=True)).to_have_value("")
    assert page.locator('input[name="raw"]').input_value() == ""
    phone.context.close()
