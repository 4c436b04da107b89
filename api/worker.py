"""What runs inside a worker process: one solve, reporting back over a pipe.

The process leads its own session, so the server can kill it together with anything it
started (CBC runs as a child process) with one ``killpg``. The pipe carries progress and the
final solution document to the server, and "stop" requests from it; when the server goes away
the pipe closes and the worker kills its own process group, since nobody wants the result
(the next server re-runs the job).
"""

from __future__ import annotations

import os
import resource
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

# Imported here so that a forkserver preloading this module starts every worker warm:
# solve_document finds each kind through the registry, which imports every kind's model.
import optimizer.registry  # noqa: F401
from optimizer.core.documents import solve_document
from optimizer.core.runner import ProgressUpdate

# Bound-only updates are frequent and only the latest matters; send at most this often.
BOUND_INTERVAL_S = 0.2


def _kill_own_group() -> None:
    try:
        os.killpg(os.getpgrp(), signal.SIGKILL)
    finally:
        os._exit(1)


def ping() -> None:
    """A no-op worker: starting one warms the process factory up."""


def run_job(conn: Connection, document: str, overrides: dict[str, Any], memory_mb: int = 0) -> None:
    """Entry point of a worker process."""
    os.setsid()
    if memory_mb > 0:
        # Past this the solve fails (MemoryError or an aborted solver), not the machine.
        limit = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    stop = threading.Event()
    send_lock = threading.Lock()

    def send(message: tuple[str, Any]) -> None:
        with send_lock:
            try:
                conn.send(message)
            except OSError:  # the server is gone
                _kill_own_group()

    def control() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                _kill_own_group()
                return
            if message == "stop":
                stop.set()

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=control, name="worker-control", daemon=True).start()

    last_bound_sent = 0.0
    best_count = 0

    def on_progress(update: ProgressUpdate) -> None:
        nonlocal last_bound_sent, best_count
        now = time.monotonic()
        improving = update.solutions > best_count
        if not improving and now - last_bound_sent < BOUND_INTERVAL_S:
            return
        best_count = max(best_count, update.solutions)
        last_bound_sent = now
        send(
            (
                "progress",
                {
                    "elapsed_s": update.elapsed_s,
                    "objective": update.objective,
                    "bound": update.bound,
                    "solutions": update.solutions,
                    "phase": update.phase,
                    "improving": improving,
                },
            )
        )

    # The same document path as the CLI: invalid input and our own bugs come back as
    # solution documents, never as exceptions.
    solution = solve_document(document, overrides=overrides, progress=on_progress, stop=stop)
    send(("result", solution.model_dump(mode="json")))
