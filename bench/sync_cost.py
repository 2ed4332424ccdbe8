"""Instructions per sync batch and per ping, counted by valgrind's callgrind.

This machine's speed drifts by a third within minutes, so two timed runs of two versions
of the code rarely compare. An instruction count does not drift: the same code and input
give the same count to a tenth of a percent, whatever else the machine is doing. Use it to
compare versions; bench/sync.py remains the benchmark of the targets (it counts what this
does not: system calls, the disk, two workers contending for the write lock).

    apt-get install valgrind
    .venv/bin/python bench/sync_cost.py             # 50 batches of 20 new captures
    .venv/bin/python bench/sync_cost.py --batches 100

Each figure is one run of the app in process (Flask's test client, a SQLite file, token
authentication) under callgrind, counting only the measured requests or calls, after 20
warm-up batches and pings; "bare" is the ping of bench/hello_app.py, the bare Flask app of
bench/sync.py's second ceiling. "prepare" is service.prepare_batch (checks and rows,
before the writers' turn); "transaction" is what runs in the write transaction
(apply_batch and the commit).
The WAL checkpointer thread is left out: when it runs depends on timing.
"""

import argparse
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PARTS = ("bare", "ping", "request", "prepare", "transaction")
DEVICE = "0190a0a0-0000-7000-8000-000000000001"
WARM_UP = 20


def _instrument(on: bool) -> None:
    subprocess.run(
        ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
        check=True,
        capture_output=True,
    )


def measure(part: str, batches: int) -> None:
    """Run inside callgrind: set up the app, then count only the measured part."""
    sys.path[:0] = [str(REPO), str(REPO / "bench")]
    logging.disable(logging.CRITICAL)
    if part == "bare":  # the bare Flask app of bench/sync.py's second ceiling
        from hello_app import app as bare

        bare_client = bare.test_client()
        for _ in range(WARM_UP):
            assert bare_client.get("/api/v1/ping").status_code == 200
        _instrument(True)
        for _ in range(batches):
            bare_client.get("/api/v1/ping")
        _instrument(False)
        return
    import flask_migrate
    from sync import batch_body

    from webapp import create_app, database
    from webapp.auth.models import User
    from webapp.auth.tokens import issue_token
    from webapp.extensions import db
    from webapp.sync import service

    database.WalCheckpointer.poke = lambda self: None  # no background thread
    tmp = Path(tempfile.mkdtemp(prefix="hookline-cost-"))
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'cost.sqlite3'}"})
    with app.app_context():
        flask_migrate.upgrade(directory=str(REPO / "migrations"))
        user = User(email="cost@hookline.test", password_hash="-")
        db.session.add(user)
        db.session.commit()
        user_id = user.id
        _, token = issue_token(user_id)
        db.session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    bodies = [batch_body(DEVICE) for _ in range(WARM_UP + batches)]
    for body in bodies[:WARM_UP]:
        assert client.post("/api/v1/sync", data=body, headers=headers).status_code == 200
        assert client.get("/api/v1/ping").status_code == 200
    measured = bodies[WARM_UP:]
    if part == "ping":
        _instrument(True)
        for _ in measured:
            client.get("/api/v1/ping")
        _instrument(False)
    elif part == "request":
        _instrument(True)
        for body in measured:
            client.post("/api/v1/sync", data=body, headers=headers)
        _instrument(False)
    else:
        with app.test_request_context():
            changes = [json.loads(body)["changes"] for body in measured]
            if part == "prepare":
                _instrument(True)
                for batch in changes:
                    service.prepare_batch(user_id, DEVICE, batch)
                _instrument(False)
            else:
                prepared = [service.prepare_batch(user_id, DEVICE, batch) for batch in changes]
                db.session.rollback()
                _instrument(True)
                for batch in prepared:
                    with database.write_transaction(5000):
                        service.apply_batch(user_id, DEVICE, batch)
                        db.session.commit()
                _instrument(False)
    shutil.rmtree(tmp, ignore_errors=True)


def count(part: str, batches: int) -> int:
    """Return the instructions callgrind counted for one part's run."""
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=/dev/null",
         sys.executable, __file__, "--part", part, "--batches", str(batches)],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or found is None:
        raise SystemExit(f"{part}: callgrind run failed\n{result.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=50, help="measured batches (or pings)")
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)  # inside callgrind
    args = parser.parse_args()
    if args.part:
        measure(args.part, args.batches)
        return
    if not shutil.which("valgrind"):
        raise SystemExit("needs valgrind: apt-get install valgrind")
    print(f"instructions per operation, {args.batches} operations each (callgrind, in process):")
    per = {part: count(part, args.batches) / args.batches for part in PARTS}
    for part in PARTS:
        what = {"bare": "GET /api/v1/ping, bare Flask", "ping": "GET /api/v1/ping"}.get(
            part, f"{part} of a 20-capture batch"
        )
        print(f"  {what:<40} {per[part] / 1e6:7.2f} M")
    rest = per["request"] - per["prepare"] - per["transaction"]
    print(f"  {'rest of the request (HTTP, auth, JSON)':<40} {rest / 1e6:7.2f} M")
    print(f"  ping / batch request: {per['ping'] / per['request']:.1%}")
    print(f"  bare ping / batch request: {per['bare'] / per['request']:.1%}")


if __name__ == "__main__":
    main()
