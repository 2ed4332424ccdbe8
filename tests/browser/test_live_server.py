"""The browser tests' live server closes a response when the browser drops the connection."""

import select
import socket
import struct
import threading

from tests.browser.conftest import LiveServer


def _response_closed_after_a_reset() -> bool:
    """Serve one response with a Content-Length, and reset the connection before it ends."""
    reset = threading.Event()
    closed = threading.Event()

    class Body:
        def __iter__(self):
            yield b"x" * 100
            reset.wait(5)

        def close(self):
            closed.set()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "100")])
        return Body()

    server = LiveServer(app)
    try:
        with socket.create_connection(("127.0.0.1", server.server.server_port)) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            select.select([sock], [], [], 5)
            # Closing with the answer unread, and no linger, sends a reset.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        reset.set()
        return closed.wait(5)
    finally:
        server.stop()


def test_a_response_is_closed_when_the_browser_resets_the_connection():
    # Without the handler, werkzeug leaves most of these open (about 17 in 20 here).
    assert all(_response_closed_after_a_reset() for _ in range(5))
