"""A tiny static server for the scanner harness: /static/ -> repo static/, /harness/ -> here.

Used by tests/test_scanner_browser.py and bench/scan.py; the Flask app is not involved, so
the scanner can be tested while the app is being built around it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

HARNESS_DIR = Path(__file__).resolve().parent
REPO_ROOT = HARNESS_DIR.parents[1]
STATIC_DIR = REPO_ROOT / "static"

ROOTS = {"/static/": STATIC_DIR, "/harness/": HARNESS_DIR}


class HarnessHandler(SimpleHTTPRequestHandler):
    """Serve two folders under two prefixes, with the content types browsers insist on."""

    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".html": "text/html; charset=utf-8",
        ".css": "text/css",
        ".png": "image/png",
    }

    def translate_path(self, path: str) -> str:
        """Map a URL path onto one of ROOTS, refusing anything outside them."""
        url_path = unquote(urlsplit(path).path)
        for prefix, root in ROOTS.items():
            if url_path.startswith(prefix):
                target = (root / url_path[len(prefix) :]).resolve()
                if target == root or root in target.parents:
                    return str(target)
        return str(HARNESS_DIR / "__missing__")

    def end_headers(self) -> None:
        # Every run must fetch the files on disk, or a test could pass on a stale copy.
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


@contextmanager
def serve_harness() -> Iterator[str]:
    """Serve the harness on 127.0.0.1 on a free port; yield its base URL (no trailing slash)."""
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(HarnessHandler, directory=str(REPO_ROOT))
    )
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="scanner-harness", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
