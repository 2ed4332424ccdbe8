"""Where do the slow sync batches come from? Paced phones, with a disk-stall probe beside them.

Run: .venv/bin/python bench/sync_tail.py [--phones 64] [--seconds 30]

Starts gunicorn (2 workers) on a fresh SQLite database, sends one 20-capture batch per
phone every 5 s from one thread per phone, and meanwhile calls fdatasync on a 4 KB write
every 50 ms in the same temp dir. Prints p50/p99, the ten slowest batches with when they
started, and every fdatasync that took over 20 ms, so the two can be lined up.
Asserts nothing (docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sync as bench  # noqa: E402  (bench/sync.py: setup, batches, requests)

INTERVAL = 5.0


def disk_probe(folder: Path, until: float, stalls: list) -> None:
    """Record every fdatasync of a small write that takes over 20 ms, with its start time."""
    fd = os.open(folder / "probe", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while time.time() < until:
            os.write(fd, b"x" * 4096)
            started, t0 = time.time(), time.perf_counter()
            os.fdatasync(fd)
            took = time.perf_counter() - t0
            if took > 0.02:
                stalls.append((started, took))
            time.sleep(0.05)
    finally:
        os.close(fd)


def phone(port: int, token: str, offset: float, start: float, seconds: float, out: list) -> None:
    """Send one batch every INTERVAL seconds; append (start time, latency, status)."""
    device = str(uuid.uuid4())
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    next_at = start + offset
    while next_at < start + seconds:
        time.sleep(max(0.0, next_at - time.time()))
        body = bench.batch_body(device)
        started, t0 = time.time(), time.perf_counter()
        status, _ = bench.request(port, "POST", "/api/v1/sync", body, headers)
        out.append((started, time.perf_counter() - t0, status))
        next_at += INTERVAL


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hookline-tail-"))
    env = {
        **os.environ,
        "SECRET_KEY": os.urandom(16).hex(),
        "FLASK_APP": "webapp",
        "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
    }
    port = bench.free_port()
    server = None
    try:
        token = bench.setup(env)
        server = subprocess.Popen(
            [str(bench.BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}",
             "--log-level", "warning", "webapp:create_app()"],
            env=env, cwd=bench.REPO,
        )  # fmt: skip
        bench.wait_ready(port)
        bench.load(port, token, "closed", 4, 2.0)  # warm up
        start = time.time() + 0.5
        stalls: list = []
        records: list = []
        threads = [
            threading.Thread(target=disk_probe, args=(tmp, start + args.seconds, stalls))
        ] + [
            threading.Thread(
                target=phone,
                args=(port, token, INTERVAL * i / args.phones, start, args.seconds, records),
            )
            for i in range(args.phones)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    latencies = sorted(latency for _, latency, _ in records)
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    failed = sum(status != 200 for _, _, status in records)
    print(f"{len(latencies)} batches from {args.phones} phones: p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    print(f"failures: {failed}")
    print("slowest batches (seconds into the run: latency):")
    for started, latency, _ in sorted(records, key=lambda r: -r[1])[:10]:
        print(f"  {started - start:6.2f} s: {latency * 1000:5.0f} ms")
    print("fdatasync calls over 20 ms (seconds into the run: duration):")
    for started, took in stalls:
        print(f"  {started - start:6.2f} s: {took * 1000:5.0f} ms")
    if not stalls:
        print("  none")


if __name__ == "__main__":
    main()
