"""What an RQ work horse runs: one stored job, or one unstored synchronous solve.

A stored job is claimed in the SQL store first (a conditional update), so a duplicate or late
RQ job for it does nothing. While it solves, the horse writes progress and one event per
improving solution to the store, which every API server reads for
``GET /v1/jobs/{id}/events``; it polls the store's cancel flag and stops the solve (keeping
the best solution) when it is set, and it shows a heartbeat so that a dead horse's job is
re-run. The horse leads its own process group (RQ calls setpgrp), so RQ's stop-job command and
our recovery end CBC and whatever else it started along with it.
"""

from __future__ import annotations

import logging
import os
import resource
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from api.executor.reports import error_solution, job_ending
from api.rqueue.names import runaway_limit
from api.settings import Settings, load_settings
from api.store import JobStore
from optimizer.core.documents import solve_document
from optimizer.core.envelope import relative_gap
from optimizer.core.runner import ProgressUpdate

log = logging.getLogger(__name__)

PROGRESS_FLUSH_S = 0.25
# How often the horse looks at the cancel flag, and shows it is alive.
CANCEL_POLL_S = 0.5
HEARTBEAT_S = 2.0


@contextmanager
def memory_limit(memory_mb: int) -> Iterator[None]:
    """Past ``memory_mb`` the solve fails (MemoryError or an aborted solver), not the host.

    Only the soft limit is lowered, and only around the solve: the horse must still be able
    to record how the solve ended (a failure for want of memory included).
    """
    if memory_mb <= 0:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = memory_mb * 2**20
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def horse_owner() -> str:
    """``host:pid:token`` of this horse, the form :func:`api.executor.owner_is_dead` reads."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Reporter:
    """Progress of one stored job, written to the store at most every PROGRESS_FLUSH_S."""

    def __init__(self, store: JobStore, job_id: str, owner: str):
        self.store, self.job_id, self.owner = store, job_id, owner
        self.lock = threading.Lock()
        self.fields: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []
        self.best_count = 0
        self.last_flush = 0.0
        self.dirty = False

    def __call__(self, update: ProgressUpdate) -> None:
        payload = {
            "elapsed_s": update.elapsed_s,
            "objective": update.objective,
            "bound": update.bound,
            "gap": relative_gap(update.objective, update.bound),
            "solutions": update.solutions,
            "phase": update.phase or None,
        }
        with self.lock:
            self.fields = payload
            self.dirty = True
            if update.solutions > self.best_count:
                self.best_count = update.solutions
                self.events.append(dict(payload))
        self.flush()

    def flush(self, *, force: bool = False) -> None:
        now = time.monotonic()
        with self.lock:
            if not self.dirty or (not force and now - self.last_flush < PROGRESS_FLUSH_S):
                return
            fields, events = dict(self.fields), self.events[-50:]
            self.events.clear()
            self.dirty = False
            self.last_flush = now
        fields["solutions"] = int(fields.get("solutions") or 0)
        try:
            self.store.record_progress(self.job_id, fields, events, owner=self.owner)
        except Exception:  # progress is best effort; the ending is what must land
            log.warning("could not record progress of %s", self.job_id, exc_info=True)


def run_stored_job(job_id: str) -> str:
    """RQ entry point for a stored job; returns how it ended (for RQ's own records)."""
    settings = load_settings()
    store = JobStore(settings.database_url, table_prefix=settings.table_prefix)
    try:
        return _run_stored(store, settings, job_id)
    finally:
        store.dispose()


def _run_stored(store: JobStore, settings: Settings, job_id: str) -> str:
    owner = horse_owner()
    job = store.claim(job_id, owner)
    if job is None:
        return "not queued"  # cancelled, finished, or taken by another run
    stop = threading.Event()
    done = threading.Event()
    limit = float(job.overrides.get("time_limit_s") or settings.max_time_limit_s)
    runaway_at = time.monotonic() + runaway_limit(limit)

    def watch() -> None:
        """Stop on cancel or runaway; show a heartbeat meanwhile."""
        last_beat = time.monotonic()
        while not done.wait(CANCEL_POLL_S):
            now = time.monotonic()
            try:
                if store.cancel_requested([job_id]):
                    stop.set()
                if now - last_beat > HEARTBEAT_S:
                    store.heartbeat(owner, [job_id])
                    last_beat = now
            except Exception:  # the database is away for a moment: try again next round
                log.warning("could not poll job %s", job_id, exc_info=True)
            if now > runaway_at:
                stop.set()

    watcher = threading.Thread(target=watch, name="job-watch", daemon=True)
    watcher.start()
    reporter = Reporter(store, job_id, owner)
    try:
        with memory_limit(settings.worker_memory_mb):
            solution = solve_document(
                job.document or "", overrides=job.overrides, progress=reporter, stop=stop
            )
    except Exception as exc:  # solve_document answers with documents: this is the horse failing
        log.exception("job %s: the work horse failed", job_id)
        solution = error_solution(f"the worker failed: {exc}", job.kind, job.name)
    finally:
        done.set()
    watcher.join(timeout=5)
    reporter.flush(force=True)
    result = solution.model_dump(mode="json")
    cancelled = bool(store.cancel_requested([job_id]))
    status, error, stored = job_ending(result, result, None, cancelled)
    progress = {k: v for k, v in reporter.fields.items() if k != "solutions"}
    store.finish(
        job_id, status=status, solution=stored, error=error, progress=progress, owner=owner
    )
    return status


def solve_unstored(
    document: str | bytes,
    overrides: dict[str, Any],
    memory_mb: int = 0,
    default_name: str | None = None,
) -> dict[str, Any]:
    """RQ entry point for ``POST /v1/solve`` and ``unishare solve --queue``: the solution
    document, never an exception (invalid input and our own bugs are documents too)."""
    with memory_limit(memory_mb):
        solution = solve_document(document, overrides=overrides, default_name=default_name)
    return solution.model_dump(mode="json")
