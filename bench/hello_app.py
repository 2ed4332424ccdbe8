"""A bare Flask app for bench/sync.py's second ceiling: one route, nothing else.

GET /api/v1/ping answers what the app's ping answers ({"ok": true}), without the app's
per-request work (rate-limit check, session, security headers). bench/sync.py serves it with
the same gunicorn settings beside the app, so its ceiling is what Flask and gunicorn
themselves cost on this machine at that minute.
"""

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/api/v1/ping")
def ping():
    return jsonify(ok=True)
