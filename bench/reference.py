"""Measure the app's sync endpoint beside the issue's reference, in the same minutes.

Run: .venv/bin/python bench/reference.py [--rounds 3] [--duration 10]

Issue 4's target, "at least 10% of the hello ceiling", stands next to its reference: "a
hand-tuned SQLite upsert endpoint reaches about 11% of the hello ceiling" on this machine.
This machine's speed drifts within minutes, and the two endpoints do not drift alike (the
sync endpoint is Python and SQLite, the hello mostly the kernel's network path), so a
ratio measured on one day does not compare with one measured on another. This serves
three apps under the same gunicorn settings (2 workers, as bench/sync.py): the bare hello
(bench/hello_app.py), the reference (bench/reference_app.py: authentication, validation,
one upsert into one table) and the app (a fresh SQLite database, a user and a token made
with the real CLI), and loads them in turn with wrk and bench/sync_load.lua: every round
measures the hello, then the reference and the app at 16 and at 64 connections (which of
the two goes first alternates by round: the one loaded second gains 2-3%), then the hello
again. Each ratio is batches/s over the mean of the hellos around it. Prints the
figures; asserts nothing. Needs wrk.
"""

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference_app  # noqa: E402
from sync import free_port, python_loop_s, serve, setup, wrk_hello, wrk_sync  # noqa: E402

CONNECTIONS = (16, 64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="s per sync run")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("bench/reference.py needs wrk (apt-get install wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="hookline-reference-"))
    env = {
        **os.environ,
        "SECRET_KEY": secrets.token_hex(16),
        "FLASK_APP": "webapp",
        "DATABASE_URL": f"sqlite:///{tmp / 'app.sqlite3'}",
        "REFERENCE_DB": str(tmp / "reference.sqlite3"),
    }
    tokens = {"app": setup(env), "reference": reference_app.init_db(env["REFERENCE_DB"])}
    ports = {"hello": free_port(), "reference": free_port(), "app": free_port()}
    apps = {
        "hello": "hello_app:app",
        "reference": "reference_app:app",
        "app": "webapp:create_app()",
    }
    servers = []
    try:
        for name, port in ports.items():
            servers.append(serve(apps[name], port, env))
        for name in ("reference", "app"):  # warm up
            wrk_sync(ports[name], tokens[name], 4, 2)
        hello_s = max(3.0, args.duration / 2)
        print(
            f"gunicorn: 2 workers each; SQLite (WAL, synchronous=NORMAL); {args.duration:.0f} s "
            f"per run, hellos {hello_s:.0f} s at 16 connections; machine speed: "
            f"{python_loop_s():.2f} s for a Python loop of 10 million additions"
        )
        ratios: dict[tuple[str, int], list[float]] = {}
        for round_no in range(1, args.rounds + 1):
            order = ("reference", "app") if round_no % 2 else ("app", "reference")
            before = wrk_hello(ports["hello"], hello_s)
            runs = {}
            for clients in CONNECTIONS:
                for name in order:
                    found = wrk_sync(ports[name], tokens[name], clients, args.duration)
                    runs[name, clients] = found
            after = wrk_hello(ports["hello"], hello_s)
            hello = (before + after) / 2
            print(f"round {round_no} (hello {before:.0f} / {after:.0f} req/s, {order[0]} first):")
            for (name, clients), found in runs.items():
                ratio = found["rps"] / hello
                ratios.setdefault((name, clients), []).append(ratio)
                print(
                    f"  {name:>9} at {clients:>2}: {found['rps']:6.1f} batches/s = {ratio:5.1%} "
                    f"of the hello; p50 {found['p50']:.0f} ms, p99 {found['p99']:.0f} ms; "
                    f"failures {found['fails']} ({found['fail_kinds']})"
                )
        print("median of the rounds:")
        for clients in CONNECTIONS:
            app = statistics.median(ratios["app", clients])
            ref = statistics.median(ratios["reference", clients])
            print(
                f"  {clients:>2} connections: reference {ref:5.1%}, app {app:5.1%} of the hello; "
                f"the app at {app / ref:.0%} of the reference"
            )
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
