"""Benchmark POST /api/v1/sync under gunicorn: captures/s, p50/p99, failures, vs a hello ceiling.

Run: .venv/bin/python bench/sync.py [--duration 10] [--rounds 3] [--workers 4] [--no-writer] [--pg]

Starts gunicorn on 127.0.0.1 with the app on a fresh SQLite database in a temp dir (or a
throwaway PostgreSQL schema with --pg), creates a user and a token with the real CLI, then:
  1. two ceilings, measured before and after every run of step 2 (this machine's speed
     drifts within minutes, so each run is compared with the ceilings of its own minute),
     each closed-loop GETs of /api/v1/ping at 16 connections: the bare hello, a Flask app
     with that one route (bench/hello_app.py) under the same gunicorn settings, which is
     the issue's hello; and the app's own ping (no auth, no database, but the app's
     per-request work: rate-limit check, session, security headers);
  2. --rounds rounds of closed-loop pushes of 20 new captures per batch at 16 and 64
     connections (saturation), each answer checked (200, every change "applied"); the
     median of the rounds is compared with the targets;
  3. paced pushes: each of 16 (then 64) phones sends one batch every --interval seconds
     (open loop), which is the latency a person's phone sees at a given load.
Steps 1 and 2 use wrk (C; bench/sync_load.lua makes the batches) when it is installed, so
the load generator takes little of the 2 cores the server needs, the same for both; without
wrk, or with --client python, Python clients do it. A ratio is batches/s over hello
requests/s, one request against one request; the target applies to the bare hello's.
Prints figures next to their targets; asserts nothing. Loads only 127.0.0.1, bounded in
time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = REPO / ".venv" / "bin"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
BATCH = 20
TARGET_RATIO = 0.10
TARGET_P99_MS = {16: 60.0, 64: 150.0}
LOAD_SCRIPT = REPO / "bench" / "sync_load.lua"


def uuid7() -> str:
    """Return a time-ordered UUID (version 7), as the phone makes its change and capture ids."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = value & ~(0xF << 76) | 0x7 << 76
    value = value & ~(0x3 << 62) | 0x2 << 62
    return str(uuid.UUID(int=value))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(args: list[str], env: dict) -> str:
    return subprocess.run(
        args, env=env, cwd=REPO, check=True, capture_output=True, text=True
    ).stdout


def setup(env: dict) -> str:
    """Migrate, create the user, return a fresh API token."""
    run([str(BIN / "flask"), "--app", "webapp", "db", "upgrade"], env)
    run(
        [str(BIN / "flask"), "--app", "webapp", "user", "create", "bench@hookline.test",
         "--password", "bench-password-1"],
        env,
    )  # fmt: skip
    return run(
        [str(BIN / "flask"), "--app", "webapp", "user", "token", "bench@hookline.test"], env
    ).strip()


def batch_body(device: str, n: int = BATCH) -> bytes:
    now = datetime.now(UTC).isoformat()
    changes = []
    for i in range(n):
        tag = secrets.token_hex(6)
        changes.append(
            {
                "id": uuid7(),
                "seq": i,
                "kind": "capture",
                "op": "upsert",
                "at": now,
                "data": {
                    "name": f"Person {tag}",
                    "email": f"{tag}@example.com",
                    "org": "Bench Corp",
                    "note": "Met at the benchmark booth; wants the write-up.",
                    "rating": "warm",
                    "hooks": [{"type": "send_resource", "detail": "the write-up", "owed_by": "me"}],
                },
            }
        )
    return json.dumps({"device_id": device, "changes": changes}).encode()


def request(
    port: int, method: str, path: str, body: bytes | None, headers: dict
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def client_loop(port, token, mode, duration, interval, start_at, out) -> None:
    """One client: closed loop (back to back) or paced (one request per interval)."""
    device = str(uuid.uuid4())
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    lat: list[float] = []
    fails: dict[str, int] = {}
    captures = 0
    while time.time() < start_at:
        time.sleep(0.001)
    end = start_at + duration
    next_at = start_at + interval * (hash(device) % 1000) / 1000  # spread paced phones out
    while time.time() < end:
        if mode == "paced":
            pause = next_at - time.time()
            if pause > 0:
                time.sleep(pause)
            next_at += interval
            if time.time() >= end:
                break
        if mode == "ping":
            t0 = time.perf_counter()
            status, _ = request(port, "GET", "/api/v1/ping", None, {})
            if time.time() > end:
                break
            lat.append(time.perf_counter() - t0)
            if status != 200:
                fails[f"HTTP {status}"] = fails.get(f"HTTP {status}", 0) + 1
            continue
        body = batch_body(device)
        t0 = time.perf_counter()
        try:
            status, raw = request(port, "POST", "/api/v1/sync", body, headers)
        except OSError as error:
            fails[type(error).__name__] = fails.get(type(error).__name__, 0) + 1
            continue
        if time.time() > end:
            break  # finished after the window: counting it would inflate the rate
        lat.append(time.perf_counter() - t0)
        if status != 200:
            fails[f"HTTP {status}"] = fails.get(f"HTTP {status}", 0) + 1
            continue
        results = json.loads(raw)["results"]
        applied = sum(r["status"] == "applied" for r in results)
        captures += applied
        if applied != len(results):
            fails["not applied"] = fails.get("not applied", 0) + 1
    out.put((lat, fails, captures))


def process_main(port, token, mode, duration, interval, start_at, threads, out) -> None:
    local: list = []
    import queue

    q: queue.Queue = queue.Queue()
    workers = [
        threading.Thread(
            target=client_loop, args=(port, token, mode, duration, interval, start_at, q)
        )
        for _ in range(threads)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    while not q.empty():
        local.append(q.get())
    out.put(local)


def load(port, token, mode, clients, duration, interval=0.0, procs=2) -> dict:
    """Run clients spread over procs processes; return throughput and latency figures."""
    out: mp.Queue = mp.Queue()
    start_at = time.time() + 1.0
    per = [clients // procs + (i < clients % procs) for i in range(procs)]
    ps = [
        mp.Process(
            target=process_main, args=(port, token, mode, duration, interval, start_at, n, out)
        )
        for n in per
        if n
    ]
    for p in ps:
        p.start()
    lat: list[float] = []
    fails: dict[str, int] = {}
    captures = 0
    for _ in ps:
        for a, b, c in out.get(timeout=duration + 120):
            lat += a
            for kind, n in b.items():
                fails[kind] = fails.get(kind, 0) + n
            captures += c
    for p in ps:
        p.join()
    lat.sort()
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [0] * 99
    return {
        "requests": len(lat),
        "rps": len(lat) / duration,
        "captures_s": captures / duration,
        "p50": q[49] * 1000,
        "p99": q[98] * 1000,
        "fails": sum(fails.values()),
        "fail_kinds": ", ".join(f"{k}: {n}" for k, n in sorted(fails.items())) or "none",
    }


def wrk_hello(port: int, duration: float) -> float | None:
    """Return wrk's requests/s on the ping endpoint (a C client barely loads the CPU)."""
    if not shutil.which("wrk"):
        return None
    out = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{int(duration)}s", f"http://127.0.0.1:{port}/api/v1/ping"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return None


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    number = text.rstrip("usm")
    return float(number) * _UNITS[text[len(number) :]]


def wrk_sync(port: int, token: str, clients: int, duration: float) -> dict:
    """Run wrk with bench/sync_load.lua: clients connections posting batches back to back."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{clients}", f"-d{int(duration)}s", "--latency", "--timeout", "10s",
         "-s", str(LOAD_SCRIPT), f"http://127.0.0.1:{port}", "--", token, str(BATCH)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    found: dict = {"fails": 0, "fail_kinds": []}
    for line in out.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            found["rps"] = float(words[1])
        elif len(words) == 2 and words[0] in ("50%", "99%"):
            found["p" + words[0].rstrip("%")] = _ms(words[1])
        elif "requests in" in line:
            found["requests"] = int(words[0])
        elif line.startswith("BENCH-FAILURES"):
            if int(words[1]):
                found["fail_kinds"].append(f"not all applied: {words[1]}")
            found["fails"] += int(words[1])
        elif line.strip().startswith(("Socket errors", "Non-2xx")):
            found["fail_kinds"].append(line.strip())
            if line.strip().startswith("Socket errors"):
                found["fails"] += sum(int(w.strip(",")) for w in words[3::2])
    found["captures_s"] = found["rps"] * BATCH if not found["fails"] else float("nan")
    found["fail_kinds"] = "; ".join(found["fail_kinds"]) or "none"
    return found


def hello_ceiling(port: int, token: str, args, seconds: float) -> float:
    """Measure the hello ceiling (req/s) with the chosen load generator."""
    if args.client == "wrk":
        return wrk_hello(port, seconds)
    return load(port, token, "ping", 16, seconds)["rps"]


def ceilings(ports: tuple[int, int], token: str, args, seconds: float) -> tuple[float, float]:
    """Measure both ceilings, one after the other: the app's ping and the bare Flask app's."""
    app, bare = (hello_ceiling(at, token, args, seconds) for at in ports)
    return app, bare


def saturation(port: int, token: str, args, clients: int) -> dict:
    """One closed-loop run of clients posting batches back to back."""
    if args.client == "wrk":
        return wrk_sync(port, token, clients, args.duration)
    return load(port, token, "closed", clients, args.duration)


def python_loop_s() -> float:
    """Return the seconds a Python loop of 10 million additions takes: this machine's speed
    drifts, and the sync endpoint (Python and SQLite) and the hello (mostly the kernel's
    network path) do not drift alike, so the ratio moves with it, either way."""
    start = time.perf_counter()
    total = 0
    for number in range(10_000_000):
        total += number
    return time.perf_counter() - start


def serve(app: str, port: int, env: dict, workers: int = 2, threads: int = 1) -> subprocess.Popen:
    """Start gunicorn with app (a module of the repository or of bench/) on port; return
    once it answers GET /api/v1/ping."""
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "-w", str(workers), "--threads", str(threads),
         "-b", f"127.0.0.1:{port}", "--log-level", "warning",
         "--pythonpath", str(REPO / "bench"), app],
        env=env, cwd=REPO,
    )  # fmt: skip
    wait_ready(port)
    return server


def wait_ready(port: int) -> None:
    for _ in range(200):
        try:
            if request(port, "GET", "/api/v1/ping", None, {})[0] == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("gunicorn did not come up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="s per closed-loop run")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="closed-loop rounds (16 then 64 clients each); the ratio printed is their median",
    )
    parser.add_argument(
        "--workers", type=int, default=4, help="gunicorn workers (the app's and the hello's)"
    )
    parser.add_argument(
        "--no-writer",
        action="store_true",
        help="SQLite: every worker writes its own batches, no sync writer (webapp/sync/writer.py)",
    )
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument("--interval", type=float, default=5.0, help="paced: seconds per batch")
    parser.add_argument(
        "--paced-duration",
        type=float,
        default=30.0,
        help="seconds per paced run (30 s: each phone sends 6 batches, so the p99 of 16 phones "
        "is not simply the slowest of 32 requests)",
    )
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument(
        "--client",
        choices=("wrk", "python"),
        default="wrk" if shutil.which("wrk") else "python",
        help="load generator for the ceiling and the saturation runs (default: wrk if installed)",
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="hookline-bench-"))
    env = {**os.environ, "SECRET_KEY": secrets.token_hex(16), "FLASK_APP": "webapp"}
    env.pop("HOOKLINE_SYNC_WRITER_SOCKET", None)  # the app's server gets its own, below
    schema = None
    if args.pg:
        import psycopg

        schema = f"bench_{secrets.token_hex(4)}"
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        env["DATABASE_URL"] = f"{PG_URL}?options=-csearch_path%3D{schema}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    port, bare_port = free_port(), free_port()
    servers: list[subprocess.Popen] = []
    try:
        token = setup(env)
        for at, app in ((port, "webapp:create_app()"), (bare_port, "hello_app:app")):
            app_env = dict(env)
            if app.startswith("webapp") and not args.pg and not args.no_writer:
                app_env["HOOKLINE_SYNC_WRITER_SOCKET"] = str(tmp / "sync-writer.sock")
            servers.append(serve(app, at, app_env, args.workers, args.threads))
        backend = "PostgreSQL" if args.pg else "SQLite (WAL, synchronous=NORMAL, busy_timeout=5000)"
        writer = "no" if args.pg or args.no_writer else "the"
        print(
            f"gunicorn: {args.workers} workers x {args.threads} threads, {writer} sync writer; "
            f"database: {backend}"
        )
        print(
            f"cpus: {os.cpu_count()}; duration per run: {args.duration:.0f} s; "
            f"batch: {BATCH} captures; machine speed: {python_loop_s():.2f} s for a Python "
            f'loop of 10 million additions (docs/performance.md, "Figures")'
        )
        load(port, token, "closed", 4, 2.0)  # warm up
        if schema:
            # A live database has statistics (autovacuum analyzes a table once a tenth of it
            # changed); a schema made a second ago has none, and without them PostgreSQL
            # takes "user_id = 1" to be selective and filters the user's every row.
            import psycopg

            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'SET search_path TO "{schema}"')
                conn.execute("ANALYZE")
        hello_s = max(3.0, args.duration / 2)
        print(
            f"\nsaturation (closed loop, back-to-back batches, {args.client}), {args.rounds} "
            f"rounds; each run is compared with two ceilings measured just before and just "
            f"after it ({hello_s:.0f} s each, 16 connections, same gunicorn settings): the "
            f"app's GET /api/v1/ping, and the same answer from a bare Flask app "
            f'(bench/hello_app.py), the issue\'s hello (docs/performance.md, "The ratio"):'
        )
        runs: dict[int, list[dict]] = {16: [], 64: []}
        ports = (port, bare_port)
        before = ceilings(ports, token, args, hello_s)
        for round_no in range(1, args.rounds + 1):
            for clients in (16, 64):
                r = saturation(port, token, args, clients)
                after = ceilings(ports, token, args, hello_s)
                r["hello"] = (before[0] + after[0]) / 2
                r["bare"] = (before[1] + after[1]) / 2
                r["ratio"] = r["rps"] / r["hello"]
                r["bare_ratio"] = r["rps"] / r["bare"]
                before = after
                runs[clients].append(r)
                print(
                    f"  round {round_no}, {clients:>2} clients: {r['rps']:6.1f} batches/s "
                    f"({r['captures_s']:.0f} captures/s) vs bare hello {r['bare']:.0f} req/s = "
                    f"{r['bare_ratio']:5.1%}, vs app ping {r['hello']:.0f} req/s = "
                    f"{r['ratio']:5.1%}; p50 {r['p50']:.0f} ms, p99 {r['p99']:.0f} ms; "
                    f"failures {r['fails']} ({r['fail_kinds']})"
                )
        print("  median of the rounds:")
        for clients, found in runs.items():
            bare = statistics.median(r["bare_ratio"] for r in found)
            ratio = statistics.median(r["ratio"] for r in found)
            p99 = statistics.median(r["p99"] for r in found)
            fails = sum(r["fails"] for r in found)
            target = TARGET_P99_MS[clients]
            print(
                f"  {clients:>2} clients: {bare:5.1%} of the bare hello (target >= "
                f"{TARGET_RATIO:.0%}) {'OK' if bare >= TARGET_RATIO else 'MISSED'} (rounds "
                f"{min(r['bare_ratio'] for r in found):.1%}-"
                f"{max(r['bare_ratio'] for r in found):.1%}); {ratio:5.1%} of the app's ping; "
                f"{statistics.median(r['rps'] for r in found):.1f} batches/s; "
                f"p99 {p99:.0f} ms (target < {target:.0f}) {'OK' if p99 < target else 'MISSED'}; "
                f"failures {fails} ({'OK' if not fails else 'MISSED'})"
            )
        print(
            "  (closed loop: latency = clients / throughput, so the latency targets follow from "
            "the rate; docs/performance.md)"
        )
        print(
            f"\npaced (each phone sends one {BATCH}-capture batch every {args.interval:g} s, "
            f"{args.paced_duration:g} s):"
        )
        for clients in (16, 64):
            r = load(port, token, "paced", clients, args.paced_duration, args.interval)
            target = TARGET_P99_MS[clients]
            print(
                f"  {clients:>2} phones: {r['requests']:>4} batches; p50 {r['p50']:.0f} ms, "
                f"p99 {r['p99']:.0f} ms (target < {target:.0f}) "
                f"{'OK' if r['p99'] < target else 'MISSED'}; "
                f"failures {r['fails']} ({r['fail_kinds']})"
            )
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
        if schema:
            import psycopg

            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    sys.exit(main())
