"""Browser fixtures: a live server on 127.0.0.1 and Debian's Chromium driven by Playwright."""

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Playwright
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.conftest import make_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing; `make test` installs it")
        pytest.skip("Chromium is not installed (make test installs it)")


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    require_chromium()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


RESPONSE_KEY = "hookline.tests.response"


class _ClosedOnce:
    """A response that passes close() on to the app's response once, whoever calls it first."""

    def __init__(self, response) -> None:
        self.response = response
        self.closed = False

    def __iter__(self):
        return iter(self.response)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if hasattr(self.response, "close"):
                self.response.close()


def _remembering_response(app):
    """Keep each response in its environ, where the handler below finds it."""

    def wsgi(environ, start_response):
        response = _ClosedOnce(app(environ, start_response))
        environ[RESPONSE_KEY] = response
        return response

    return wsgi


class _ClosingHandler(WSGIRequestHandler):
    """werkzeug's handler, which also closes the response when the browser drops the connection.

    After the body, werkzeug 3.1 reads what is left on the socket and only then closes the
    response. When the browser has reset the connection, that read raises, so a static file's
    response is never closed, and its ResourceWarning, raised when it is collected, fails
    whichever test is running then (filterwarnings = error).
    """

    def connection_dropped(self, error, environ=None) -> None:
        response = (environ or {}).get(RESPONSE_KEY)
        if response is not None:
            response.close()


class LiveServer:
    """The app served by werkzeug in a thread, on a free port."""

    def __init__(self, app) -> None:
        self.app = app
        self.server = make_server(
            "127.0.0.1",
            0,
            _remembering_response(app),
            threaded=True,
            request_handler=_ClosingHandler,
        )
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


@pytest.fixture
def live_server(tmp_path) -> Iterator[LiveServer]:
    app = make_app("sqlite", tmp_path, None, WTF_CSRF_ENABLED=True)
    server = LiveServer(app)
    yield server
    server.stop()


def only_local(context: BrowserContext) -> None:
    """Abort every request that leaves this machine, so a CDN dependency fails loudly."""

    def handle(route):
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "data:", "blob:")):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", handle)


@pytest.fixture
def phone(browser: Browser, playwright: Playwright, live_server: LiveServer):
    device = dict(playwright.devices["Pixel 7"])
    context = browser.new_context(**device, base_url=live_server.url)
    only_local(context)
    yield context
    context.close()


@pytest.fixture
def laptop(browser: Browser, live_server: LiveServer):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, base_url=live_server.url)
    only_local(context)
    yield context
    context.close()


def screenshot(page, name: str, full_page: bool = False) -> Path:
    """Save a screenshot under tests/artifacts/ for CI and for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def sign_up(page, name: str = "Sam Rivera", email: str = "sam@example.com") -> None:
    """Sign up through the form; the app then asks for the first event."""
    page.goto("/signup")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill("a long passphrase")
    page.get_by_label("Repeat password").fill("a long passphrase")
    page.get_by_role("button", name="Sign up").click()
