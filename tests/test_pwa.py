"""The installable app's routes: /manifest.webmanifest, /sw.js, /offline, and the page hooks."""

import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from webapp.events.models import Event
from webapp.extensions import db
from webapp.pwa.views import precached_files, shell_version

ROOT = Path(__file__).resolve().parent.parent


def _precache(body: str) -> list[str]:
    match = re.search(r"const PRECACHE = (\[.*?\]);", body, re.S)
    assert match, "the worker has no precache list"
    return json.loads(match.group(1))


def test_manifest_makes_an_installable_app(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.mimetype == "application/manifest+json"
    manifest = response.get_json(force=True)
    assert manifest["name"] == "Hookline"
    assert manifest["short_name"]
    assert manifest["display"] == "standalone"
    assert manifest["start_url"] == "/capture"
    assert manifest["scope"] == "/"
    assert re.fullmatch(r"#[0-9a-f]{6}", manifest["theme_color"])
    sizes = {(icon["sizes"], icon.get("purpose", "any")) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        png = client.get(icon["src"])
        assert png.status_code == 200, icon["src"]
        width, height = (int(n) for n in icon["sizes"].split("x"))
        with Image.open(ROOT / icon["src"].lstrip("/")) as image:
            assert image.size == (width, height)
        png.close()


def test_apple_touch_icon_is_180_and_opaque():
    with Image.open(ROOT / "static/icons/apple-touch-icon.png") as image:
        assert image.size == (180, 180)
        assert image.mode == "RGB"  # iOS shows transparency as black


def test_service_worker_is_served_from_the_root_uncached(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Service-Worker-Allowed"] == "/"
    body = response.get_data(as_text=True)
    version = re.search(r'const VERSION = "([0-9a-f]{16})";', body)
    assert version and version.group(1) == client.application.extensions["pwa_version"]
    assert "{{" not in body and "{%" not in body


def test_service_worker_precaches_the_shell_and_the_decoder(client):
    urls = _precache(client.get("/sw.js").get_data(as_text=True))
    for needed in (
        "/static/css/app.css",
        "/static/js/pwa.js",
        "/static/js/outbox.js",
        "/static/js/capture-offline.js",
        "/static/js/scanner.js",
        "/static/vendor/htmx/htmx.min.js",
        "/static/vendor/barcode-detector/ponyfill.js",
        "/static/vendor/barcode-detector/zxing-exported.js",
        "/static/vendor/zxing-wasm/reader/zxing_reader.wasm",
        "/static/icons/icon-192.png",
        "/offline",
        "/manifest.webmanifest",
    ):
        assert needed in urls
    for url in urls:  # a single 404 would make the worker's install fail
        response = client.get(url)
        assert response.status_code == 200, url
        response.close()


def test_scanner_imports_are_all_precached(client):
    """Every vendor file scanner.js loads is precached, or scanning breaks offline."""
    urls = set(_precache(client.get("/sw.js").get_data(as_text=True)))
    scanner = (ROOT / "static/js/scanner.js").read_text()
    for name in re.findall(r'"((?:barcode-detector|zxing-wasm)/[^"]+)"', scanner):
        if name.endswith("/"):
            continue
        assert f"/static/vendor/{name}" in urls, name


def test_version_follows_the_precached_files(tmp_path):
    static = tmp_path / "static"
    shutil.copytree(ROOT / "static", static)
    app = SimpleNamespace(static_folder=str(static), template_folder=str(ROOT / "templates"))
    before = shell_version(app)
    assert shell_version(app) == before  # stable
    (static / "css" / "app.css").write_text("body { color: red; }")
    changed = shell_version(app)
    assert changed != before
    (static / "js" / "new-feature.js").write_text("export const x = 1;")
    assert "js/new-feature.js" in precached_files(str(static))
    assert shell_version(app) != changed
    (static / "vendor" / "README").write_text("not precached")
    assert "vendor/README" not in precached_files(str(static))


def test_offline_page_is_public_and_carries_no_user_data(client, auth, alice):
    auth.login()
    response = client.get("/offline")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "You are offline" in body
    assert "alice" not in body.lower()
    assert "csrf" not in body.lower()
    assert response.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize("path", ["/sw.js", "/manifest.webmanifest", "/offline"])
def test_wrong_method(client, path):
    assert client.post(path).status_code == 405


def test_anonymous_pages_get_the_manifest_but_no_outbox(client):
    body = client.get("/login").get_data(as_text=True)
    assert 'rel="manifest"' in body
    assert "data-user-id" not in body
    assert 'id="outbox-status"' not in body


def test_capture_page_exposes_what_the_offline_form_needs(app, as_alice, alice, bob):
    with app.app_context():
        mine = Event(user_id=alice, name="DevConf")
        theirs = Event(user_id=bob, name="Other")
        db.session.add_all([mine, theirs])
        db.session.flush()
        from webapp.auth.models import User

        db.session.get(User, alice).current_event_id = mine.id
        db.session.commit()
        mine_uuid, theirs_uuid = mine.uuid, theirs.uuid
    response = as_alice.get("/capture")
    body = response.get_data(as_text=True)
    assert f'data-user-id="{alice}"' in body
    assert "data-offline-capture" in body
    assert f'data-event-id="{mine_uuid}"' in body
    assert theirs_uuid not in body
    assert ">Save contact</button>" in body
    assert 'rel="apple-touch-icon"' in body
    assert 'name="apple-mobile-web-app-capable" content="yes"' in body
    assert 'name="apple-mobile-web-app-status-bar-style"' in body
    assert 'id="outbox-status"' in body
    assert "/static/js/pwa.js" in body
    # The page stays out of HTTP caches; only the service worker's Cache Storage keeps it.
    assert response.headers["Cache-Control"] == "private, no-store"


def test_capture_fragment_keeps_the_offline_hooks(as_alice):
    response = as_alice.get("/capture", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert "<html" not in body
    assert "data-offline-capture" in body


def test_today_has_a_waiting_list_slot(as_alice):
    body = as_alice.get("/today").get_data(as_text=True)
    assert "data-outbox-waiting" in body


def test_profile_logout_form_carries_the_email_for_the_warning(as_alice):
    body = as_alice.get("/profile").get_data(as_text=True)
    assert re.search(r"<form[^>]*data-logout[^>]*data-email=\"alice@example.com\"", body)
    assert "data-storage-status" in body


def test_no_user_data_in_a_logged_out_worker(client, auth, alice):
    """The worker script is the same for everyone: no user id, no token."""
    anonymous = client.get("/sw.js").get_data(as_text=True)
    auth.login()
    assert client.get("/sw.js").get_data(as_text=True) == anonymous
