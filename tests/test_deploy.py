"""fly.toml and the Dockerfile: the commands they run are the app's real ones, and they work.

The image itself is not built here (no container registry is reachable from the test
machines); what it would run is run instead, from the repository, as the image runs it.
"""

import json
import os
import re
import shlex
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

from outreach_support import free_port, start_inbox

ROOT = Path(__file__).resolve().parent.parent
FLY = tomllib.loads((ROOT / "fly.toml").read_text(encoding="utf-8"))
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent


def _docker_cmd() -> list[str]:
    (line,) = [line for line in DOCKERFILE.splitlines() if line.startswith("CMD ")]
    return json.loads(line.removeprefix("CMD "))


#: What the image's ENV sets for the app itself (the rest is Python's and pip's).
IMAGE_ENV = dict(re.findall(r"\b(FLASK_APP|HOOKLINE_\w+)=(\S+)", DOCKERFILE))
SECRET = "deploy-test-" + "0123456789abcdef" * 2


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "HOOKLINE_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'fly.sqlite3'}",
        SECRET_KEY=SECRET,
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    env.update({**IMAGE_ENV, **FLY["env"], **extra})
    return env


def test_the_image_marks_itself_as_production():
    assert IMAGE_ENV["HOOKLINE_PRODUCTION"] == "true"


def test_the_image_refuses_to_start_without_a_real_secret_key(tmp_path):
    release = shlex.split(FLY["deploy"]["release_command"])
    app = shlex.split(FLY["processes"]["app"])
    app[app.index("--bind") + 1] = f"127.0.0.1:{free_port()}"
    for key in (None, "dev-only-change-me", "short-key"):
        env = _env(tmp_path)
        if key is None:
            del env["SECRET_KEY"]
        else:
            env["SECRET_KEY"] = key
        for command in (release, app):
            done = subprocess.run(
                command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
            )
            assert done.returncode != 0, (key, command)
            assert "SECRET_KEY must be a random value" in done.stdout + done.stderr, (key, command)


def test_the_web_process_is_the_images_command_on_the_port_fly_sends_traffic_to():
    app = shlex.split(FLY["processes"]["app"])
    assert app == _docker_cmd()
    bind = app[app.index("--bind") + 1]
    assert bind == f"0.0.0.0:{FLY['http_service']['internal_port']}"
    assert f"EXPOSE {FLY['http_service']['internal_port']}" in DOCKERFILE
    assert FLY["http_service"]["processes"] == ["app"]


def test_the_image_holds_every_directory_create_app_reads():
    # create_app finds static/, templates/ and migrations/ beside webapp/ (webapp.ROOT), so
    # the image runs the code from /app rather than installing it into site-packages.
    for folder in ("webapp", "static", "templates", "migrations"):
        assert re.search(rf"^COPY {folder} \./{folder}$", DOCKERFILE, re.M), folder
    assert "gunicorn.conf.py" in DOCKERFILE  # the workers' gc.freeze and heartbeat file
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", "instance", ".git"} <= set(ignored)


def test_release_command_migrates_and_the_web_process_answers_the_health_check(tmp_path):
    env = _env(tmp_path)
    release = shlex.split(FLY["deploy"]["release_command"])
    done = subprocess.run(release, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    port = free_port()
    app = shlex.split(FLY["processes"]["app"])
    app[app.index("--bind") + 1] = f"127.0.0.1:{port}"
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        server = subprocess.Popen(app, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        (check,) = FLY["http_service"]["checks"]
        url = f"http://127.0.0.1:{port}{check['path']}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310
                    assert answer.status == 200
                    assert answer.read() == b'{"ok":true}\n'
                    break
            except OSError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "gunicorn did not answer the health check"
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as page:  # noqa: S310
            assert page.status == 200  # the templates and the migrated tables are there
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_mailer_process_runs_send_due_against_a_real_smtp_server(tmp_path):
    mailer = shlex.split(FLY["processes"]["mailer"])
    assert mailer[:2] == ["sh", "-c"]
    loop = mailer[2]
    assert "sleep 60" in loop
    (once,) = re.findall(r"do (.+?); sleep", loop)
    _inbox, controller, settings = start_inbox()
    try:
        env = _env(
            tmp_path, SMTP_HOST="127.0.0.1", SMTP_PORT=str(settings.port), SMTP_STARTTLS="false"
        )
        migrate = shlex.split(FLY["deploy"]["release_command"])
        subprocess.run(migrate, env=env, cwd=ROOT, check=True, capture_output=True, timeout=120)
        done = subprocess.run(
            shlex.split(once), env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
    finally:
        controller.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Sent 0 scheduled drafts, 0 digests."
