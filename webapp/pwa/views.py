"""The installable app: web app manifest, service worker and the offline fallback page.

The service worker is a template (templates/pwa/sw.js) served from /sw.js so its scope is
the whole site. Its cache version is a hash of every file it precaches plus its own source,
computed once when the app starts: any change to a precached file gives a new worker, which
waits until the user taps Reload (see static/js/pwa.js).
"""

import hashlib
import json
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, render_template, url_for

bp = Blueprint("pwa", __name__)

# Static files the app shell needs offline, as globs under static/. Globs rather than a
# fixed list, so a new script or decoder file is precached without touching this module.
PRECACHE_GLOBS = (
    "css/*.css",
    "js/*.js",
    "icons/*.png",
    "vendor/htmx/*.js",
    "vendor/barcode-detector/*.js",
    "vendor/zxing-wasm/**/*.wasm",
)
# Pages that belong to the signed-in user: fetched network-first, cached for offline use.
USER_PAGES = ("/capture", "/today", "/card")
THEME = "#0b6e4f"


def precached_files(static_folder: str) -> list[str]:
    """Return the precached static files as paths relative to static/, sorted."""
    root = Path(static_folder)
    found = {
        path.relative_to(root).as_posix()
        for pattern in PRECACHE_GLOBS
        for path in root.glob(pattern)
        if path.is_file()
    }
    return sorted(found)


def shell_version(app: Flask) -> str:
    """Hash the precached files, the worker's template and the manifest into a short version."""
    digest = hashlib.sha256()
    root = Path(app.static_folder or "")
    for name in precached_files(str(root)):
        digest.update(name.encode() + b"\0")
        digest.update((root / name).read_bytes())
    template_root = Path(app.template_folder or "")
    for name in ("pwa/sw.js", "pwa/offline.html"):
        digest.update((template_root / name).read_bytes())
    digest.update(json.dumps(_manifest(), sort_keys=True).encode())
    return digest.hexdigest()[:16]


@bp.record_once
def _compute_version(state) -> None:
    """Compute the shell version once, at app start."""
    app = state.app
    app.extensions["pwa_files"] = precached_files(app.static_folder or "")
    app.extensions["pwa_version"] = shell_version(app)


def _manifest() -> dict:
    return {
        "id": "/capture",
        "name": "Hookline",
        "short_name": "Hookline",
        "description": "Capture the people you meet, with a reason to follow up.",
        "start_url": "/capture",
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": THEME,
        "icons": [
            {"src": "/static/icons/icon-192.png", "sizes": "192x192", "type": "image/png"},
            {"src": "/static/icons/icon-512.png", "sizes": "512x512", "type": "image/png"},
            {
                "src": "/static/icons/maskable-512.png",
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
    }


@bp.get("/manifest.webmanifest")
def manifest():
    """Serve the web app manifest."""
    response = Response(json.dumps(_manifest(), indent=1), mimetype="application/manifest+json")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/sw.js")
def service_worker():
    """Serve the service worker with its cache version and precache list filled in."""
    files = [url_for("static", filename=name) for name in current_app.extensions["pwa_files"]]
    body = render_template(
        "pwa/sw.js",
        version=current_app.extensions["pwa_version"],
        precache=json.dumps([*files, url_for("pwa.offline"), url_for("pwa.manifest")], indent=2),
        user_pages=json.dumps(list(USER_PAGES)),
    )
    response = Response(body, mimetype="text/javascript")
    # The browser must check for a new worker on every navigation, never from its HTTP cache.
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.get("/offline")
def offline():
    """The page the service worker shows for a page it has not cached while offline."""
    response = Response(render_template("pwa/offline.html"))
    # The same page for everyone; no user data, so it may be kept.
    response.headers["Cache-Control"] = "no-cache"
    return response
