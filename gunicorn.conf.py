"""gunicorn settings read from the working directory (gunicorn's default config file).

Command-line flags (-w, --threads, -b) still apply; this file only adds what flags cannot.
"""

import gc
import os

# Each worker touches a heartbeat file every second; on a disk-backed /tmp that metadata
# write can stall for as long as the disk does (fdatasync here: p50 0.5 ms, max ~200 ms),
# holding up the worker. Keep it in memory where there is a tmpfs (gunicorn's advice).
# gunicorn makes its file there with mkstemp (a private, unique name), so a shared
# directory is safe here.
SHM = "/dev/shm"  # noqa: S108
if os.path.isdir(SHM):
    worker_tmp_dir = SHM


def post_worker_init(_worker) -> None:
    """Move the loaded app's objects out of the garbage collector's sight.

    After the app is imported a worker holds ~120,000 long-lived objects; every full
    (generation 2) collection walked all of them, ~60 ms on this 2-core machine, inside
    whatever request triggered it. Frozen objects are never scanned again (they are never
    freed either, which is what long-lived module state does anyway).
    """
    gc.collect()
    gc.freeze()


# The sync writer (webapp/sync/writer.py): with HOOKLINE_SYNC_WRITER_SOCKET set, one process
# beside the workers applies the phones' batches of new captures on a SQLite file. The
# master starts its supervisor here, before it forks any worker, and the supervisor starts
# the writer again should it end (no thread in the master: a child started from a thread
# while the master forks a worker leaves that worker holding the start's pipe). The workers
# write for themselves while the writer is not there, so nothing waits on it.
_writer: list = []


def on_starting(_server) -> None:
    import subprocess
    import sys

    path = os.environ.get("HOOKLINE_SYNC_WRITER_SOCKET", "").strip()
    if path:
        # This interpreter and the app's own module; the socket path is the operator's.
        command = [sys.executable, "-m", "webapp.sync.writer", "--supervise", path]
        _writer.append(subprocess.Popen(command))  # noqa: S603


def on_exit(_server) -> None:
    for process in _writer:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=15)
