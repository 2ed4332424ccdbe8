"""Browser tests for static/js/scanner.js, driven through tests/scanner_harness/ in Chromium.

The camera is Chromium's fake device playing a .y4m made by tests/fakecam.py. Every request
that is not to 127.0.0.1 is aborted and recorded, so a CDN fetch would fail the test.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:  # fakecam and the harness server live beside this file
    sys.path.insert(0, str(TESTS_DIR))

import fakecam  # noqa: E402
from scanner_harness.server import serve_harness  # noqa: E402

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, require_chromium  # noqa: E402


@pytest.fixture(autouse=True)
def _chromium() -> None:
    """Fail under CI when Chromium is missing (make test installs it); skip elsewhere."""
    require_chromium()


DENIED = (
    "Camera permission was denied. You can allow it in your browser's site settings, "
    "or type the details instead."
)
NO_CAMERA = (
    "No camera was found on this device. Type the details instead, or take a photo of the badge."
)
SETTLED = "window.harness.log.decodes.length > 0 || window.harness.log.errors.length > 0"
ARTIFACTS = TESTS_DIR / "artifacts"


@dataclass
class Session:
    """One phone-sized browser context on the harness page, with its request log."""

    page: Any
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def log(self) -> dict[str, Any]:
        return self.page.evaluate("window.harness.log")

    def scan(self) -> None:
        self.page.get_by_role("button", name="Scan badge").click()

    def wait_settled(self, timeout: float = 10_000) -> None:
        self.page.wait_for_function(SETTLED, timeout=timeout)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("scanner-media")
    photo = fakecam.qr_frame(fakecam.SAMPLE_VCARD, 4000, 3000, fraction=0.25)
    photo.save(folder / "badge-12mp.jpg", quality=90)
    blank = fakecam.blank_frame(800, 600)
    blank.save(folder / "wall.png")
    return {
        "camera": fakecam.qr_y4m(fakecam.SAMPLE_VCARD, folder / "badge.y4m"),
        "png": fakecam.qr_png(fakecam.SAMPLE_VCARD, folder / "badge.png"),
        "jpg_12mp": folder / "badge-12mp.jpg",
        "blank_png": folder / "wall.png",
    }


@pytest.fixture(scope="module")
def harness_url() -> Iterator[str]:
    with serve_harness() as url:
        yield url


@pytest.fixture(scope="module")
def pw(playwright: Any) -> Any:
    return playwright


@pytest.fixture(scope="module")
def phone(pw: Any) -> dict[str, Any]:
    device = dict(pw.devices["Pixel 7"])
    device.pop("default_browser_type", None)
    return device


@pytest.fixture(scope="module")
def camera_browser(pw: Any, media: dict[str, Path]) -> Iterator[Any]:
    """Chromium whose camera is granted and shows the badge QR."""
    browser = pw.chromium.launch(
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS + fakecam.chromium_camera_args(media["camera"]),
    )
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def prompting_browser(pw: Any) -> Iterator[Any]:
    """Chromium with a fake camera but no auto-accepted permission prompt."""
    browser = pw.chromium.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--use-fake-device-for-media-stream"]
    )
    yield browser
    browser.close()


def open_harness(
    browser: Any, phone: dict[str, Any], harness_url: str, query: str = "", init_script: str = ""
) -> Session:
    context = browser.new_context(**phone)
    session = Session(page=None)

    def only_loopback(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            session.blocked.append(url)
            route.abort()

    context.route("**/*", only_loopback)
    context.on("request", lambda request: session.requests.append(request.url))
    if init_script:
        context.add_init_script(init_script)
    session.page = context.new_page()
    session.page.goto(f"{harness_url}/harness/index.html{query}")
    session.page.wait_for_function("window.harness?.ready === true")
    return session


@pytest.fixture
def harness(camera_browser: Any, phone: dict[str, Any], harness_url: str) -> Iterator[Session]:
    session = open_harness(camera_browser, phone, harness_url)
    yield session
    session.page.context.close()


def test_it_reads_a_vcard_badge_and_releases_the_camera(harness: Session) -> None:
    harness.scan()
    harness.wait_settled()

    log = harness.log()
    assert log["errors"] == []
    assert [d["text"] for d in log["decodes"]] == [fakecam.SAMPLE_VCARD]
    assert harness.page.locator("#result").text_content() == fakecam.SAMPLE_VCARD
    assert log["states"] == ["starting", "scanning", "found"]
    states = harness.page.evaluate("window.harness.trackStates()")
    assert states and set(states) == {"ended"}
    assert harness.page.evaluate("document.getElementById('preview').srcObject") is None
    assert harness.page.evaluate("window.harness.scanner.running") is False
    assert harness.blocked == []
    ARTIFACTS.mkdir(exist_ok=True)
    harness.page.screenshot(path=str(ARTIFACTS / "scanner-harness-after-scan.png"))


def test_it_loads_the_decoder_from_our_origin_only_when_scanning_starts(harness: Session) -> None:
    harness.page.wait_for_load_state("networkidle")
    assert [u for u in harness.requests if "/static/vendor/" in u] == []

    with harness.page.expect_response("**/zxing_reader.wasm") as wasm:
        harness.scan()
    harness.wait_settled()

    assert wasm.value.status == 200
    assert wasm.value.header_value("content-type") == "application/wasm"
    vendor = [urlsplit(u).path for u in harness.requests if "/static/vendor/" in u]
    assert "/static/vendor/barcode-detector/ponyfill.js" in vendor
    assert "/static/vendor/zxing-wasm/reader/zxing_reader.wasm" in vendor
    assert harness.page.evaluate("window.harness.scanner.decoder") == "zxing-wasm"
    assert harness.blocked == []


def test_it_ignores_the_same_badge_when_scanning_again_within_four_seconds(
    harness: Session,
) -> None:
    harness.scan()
    harness.wait_settled()
    harness.scan()  # "scan next" with the same badge still in view
    harness.page.wait_for_function("window.harness.log.states.at(-1) === 'scanning'")
    harness.page.wait_for_timeout(1200)  # ~36 camera frames of the same code

    log = harness.log()
    assert len(log["decodes"]) == 1
    assert log["states"][-1] == "scanning"
    harness.page.get_by_role("button", name="Stop").click()
    assert set(harness.page.evaluate("window.harness.trackStates()")) == {"ended"}
    assert harness.log()["states"][-1] == "stopped"


def test_it_reports_a_badge_once_in_continuous_mode(
    camera_browser: Any, phone: dict[str, Any], harness_url: str
) -> None:
    session = open_harness(camera_browser, phone, harness_url, query="?continuous=1")
    session.scan()
    session.wait_settled()
    session.page.wait_for_timeout(1200)

    assert len(session.log()["decodes"]) == 1
    assert session.page.evaluate("window.harness.scanner.running") is True
    session.page.get_by_role("button", name="Stop").click()
    assert set(session.page.evaluate("window.harness.trackStates()")) == {"ended"}
    session.page.context.close()


def test_the_dedupe_window_is_four_seconds_since_last_seen(harness: Session) -> None:
    seen = harness.page.evaluate(
        """() => {
            const { isDuplicateScan, resetScanHistory } = window.harness;
            resetScanHistory();
            return [
                isDuplicateScan("A", 0),
                isDuplicateScan("A", 1000),
                isDuplicateScan("B", 1500),
                isDuplicateScan("A", 4999),
                isDuplicateScan("A", 9000),
                isDuplicateScan("B", 9000),
            ];
        }"""
    )
    assert seen == [False, True, False, True, False, False]


@pytest.mark.parametrize(
    ("photo", "expected"),
    [
        ("png", fakecam.SAMPLE_VCARD),
        ("jpg_12mp", fakecam.SAMPLE_VCARD),
        ("blank_png", None),
    ],
)
def test_it_decodes_a_photo_of_a_badge(
    harness: Session, media: dict[str, Path], photo: str, expected: str | None
) -> None:
    harness.page.get_by_label("Photo of badge").set_input_files(media[photo])
    harness.page.wait_for_selector("#photo-result[data-status]")

    photos = harness.log()["photos"]
    assert len(photos) == 1
    assert photos[0].get("error") is None
    assert photos[0]["text"] == expected
    assert harness.page.evaluate("window.harness.log.streams.length") == 0  # no camera opened
    assert harness.blocked == []


def test_a_denied_camera_permission_says_what_to_do(
    prompting_browser: Any, phone: dict[str, Any], harness_url: str
) -> None:
    session = open_harness(prompting_browser, phone, harness_url)  # headless denies the prompt
    session.scan()
    session.wait_settled()

    log = session.log()
    assert log["errors"] == [{"code": "denied", "message": DENIED, "name": "NotAllowedError"}]
    assert session.page.get_by_role("alert").text_content() == DENIED
    assert log["states"] == ["starting", "error"]
    assert session.page.evaluate("window.harness.scanner.running") is False
    session.page.context.close()


NO_DEVICE = """
    navigator.mediaDevices.getUserMedia = () =>
        Promise.reject(new DOMException("Requested device not found", "NotFoundError"));
"""
NO_MEDIA_DEVICES = """
    Object.defineProperty(Navigator.prototype, "mediaDevices", { get: () => undefined });
"""
OVERCONSTRAINED = """
    navigator.mediaDevices.getUserMedia = () =>
        Promise.reject(new DOMException("", "OverconstrainedError"));
"""


@pytest.mark.parametrize(
    "init_script",
    [NO_DEVICE, NO_MEDIA_DEVICES, OVERCONSTRAINED],
    ids=["not-found", "no-media-devices", "overconstrained"],
)
def test_no_camera_says_to_type_or_take_a_photo(
    camera_browser: Any, phone: dict[str, Any], harness_url: str, init_script: str
) -> None:
    session = open_harness(camera_browser, phone, harness_url, init_script=init_script)
    session.scan()
    session.wait_settled()

    errors = session.log()["errors"]
    assert [(e["code"], e["message"]) for e in errors] == [("no-camera", NO_CAMERA)]
    assert session.page.get_by_role("alert").text_content() == NO_CAMERA
    session.page.context.close()


def test_an_insecure_page_gets_the_insecure_error(
    camera_browser: Any, phone: dict[str, Any], harness_url: str
) -> None:
    session = open_harness(
        camera_browser,
        phone,
        harness_url,
        init_script='Object.defineProperty(window, "isSecureContext", { value: false });',
    )
    session.scan()
    session.wait_settled()

    assert [e["code"] for e in session.log()["errors"]] == ["insecure"]
    assert session.page.evaluate("window.harness.log.streams.length") == 0
    session.page.context.close()


def test_a_decoder_that_cannot_load_is_reported_and_the_camera_released(
    camera_browser: Any, phone: dict[str, Any], harness_url: str
) -> None:
    session = open_harness(camera_browser, phone, harness_url)
    session.page.context.route("**/*.wasm", lambda route: route.abort())
    session.scan()
    session.wait_settled()

    assert [e["code"] for e in session.log()["errors"]] == ["decoder"]
    assert set(session.page.evaluate("window.harness.trackStates()")) <= {"ended"}
    session.page.context.close()


TORCH = """
    const realCapabilities = MediaStreamTrack.prototype.getCapabilities;
    MediaStreamTrack.prototype.getCapabilities = function () {
        return { ...realCapabilities.call(this), torch: true };
    };
    window.appliedConstraints = [];
    MediaStreamTrack.prototype.applyConstraints = function (constraints) {
        window.appliedConstraints.push(constraints);
        return Promise.resolve();
    };
"""


def test_the_torch_is_switched_with_an_advanced_constraint(
    phone: dict[str, Any], harness_url: str, pw: Any, tmp_path: Path
) -> None:
    # A camera with no code in view keeps scanning, so the torch can be toggled.
    blank = fakecam.blank_y4m(tmp_path / "blank.y4m", frames=2)
    browser = pw.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS + fakecam.chromium_camera_args(blank)
    )
    try:
        session = open_harness(browser, phone, harness_url, init_script=TORCH)
        session.scan()
        session.page.wait_for_function("window.harness.log.states.at(-1) === 'scanning'")
        torch = session.page.get_by_role("button", name="Torch")
        assert torch.is_enabled()
        torch.click()
        session.page.wait_for_function("window.harness.scanner.torchOn === true")
        torch.click()
        session.page.wait_for_function("window.harness.scanner.torchOn === false")

        applied = session.page.evaluate("window.appliedConstraints")
        assert applied == [{"advanced": [{"torch": True}]}, {"advanced": [{"torch": False}]}]
        assert session.log()["decodes"] == []
    finally:
        browser.close()


def test_it_falls_back_to_animation_frames_without_video_frame_callbacks(
    camera_browser: Any, phone: dict[str, Any], harness_url: str
) -> None:
    session = open_harness(
        camera_browser,
        phone,
        harness_url,
        init_script="delete HTMLVideoElement.prototype.requestVideoFrameCallback;",
    )
    session.scan()
    session.wait_settled()

    assert [d["text"] for d in session.log()["decodes"]] == [fakecam.SAMPLE_VCARD]
    session.page.context.close()


FAKE_NATIVE = """
    window.BarcodeDetector = class {
        static async getSupportedFormats() { return FORMATS; }
        constructor(options) { window.nativeOptions = options; }
        async detect(source) {
            return [{ rawValue: "native:" + source.tagName, format: "qr_code" }];
        }
    };
"""


@pytest.mark.parametrize(
    ("formats", "decoder"),
    [('["qr_code", "ean_13"]', "native"), ('["ean_13"]', "zxing-wasm")],
    ids=["reads-qr", "no-qr"],
)
def test_a_native_detector_is_used_only_if_it_reads_qr_codes(
    camera_browser: Any, phone: dict[str, Any], harness_url: str, formats: str, decoder: str
) -> None:
    session = open_harness(
        camera_browser, phone, harness_url, init_script=FAKE_NATIVE.replace("FORMATS", formats)
    )
    session.scan()
    session.wait_settled()

    assert session.page.evaluate("window.harness.scanner.decoder") == decoder
    vendor = [u for u in session.requests if "/static/vendor/" in u]
    texts = [d["text"] for d in session.log()["decodes"]]
    if decoder == "native":
        assert texts == ["native:VIDEO"]
        assert session.page.evaluate("window.nativeOptions") == {"formats": ["qr_code"]}
        assert vendor == []
    else:
        assert texts == [fakecam.SAMPLE_VCARD]
        assert vendor
    session.page.context.close()


STRICT_CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; object-src 'none'"


@pytest.mark.parametrize(
    ("csp", "outcome"),
    [(STRICT_CSP, "decoded"), (STRICT_CSP.replace(" 'wasm-unsafe-eval'", ""), "decoder")],
    ids=["with-wasm-unsafe-eval", "without"],
)
def test_it_runs_under_a_strict_content_security_policy(
    camera_browser: Any, phone: dict[str, Any], harness_url: str, csp: str, outcome: str
) -> None:
    context = camera_browser.new_context(**phone)

    def with_csp(route: Any) -> None:
        response = route.fetch()
        route.fulfill(
            response=response, headers={**response.headers, "content-security-policy": csp}
        )

    context.route("**/harness/index.html", with_csp)
    page = context.new_page()
    page.goto(f"{harness_url}/harness/index.html")
    page.wait_for_function("() => window.harness?.ready === true")
    page.get_by_role("button", name="Scan badge").click()
    page.wait_for_function(f"() => {SETTLED}", timeout=10_000)  # not eval: CSP

    log = page.evaluate("window.harness.log")
    if outcome == "decoded":
        assert [d["text"] for d in log["decodes"]] == [fakecam.SAMPLE_VCARD]
    else:
        assert [e["code"] for e in log["errors"]] == ["decoder"]
    context.close()
