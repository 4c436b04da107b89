"""The executor for RQ: jobs and synchronous solves go to Redis, workers elsewhere run them.

Stored jobs are enqueued by id; the work horse reads the document from the store and writes
progress and the ending back there, so any API server can answer for any job. Synchronous
solves carry their document in the RQ job and come back as its result; a watcher thread here
resolves their futures. The same thread runs the janitor (:mod:`api.rqueue.janitor`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from api.documents import kind_of
from api.executor.interface import ExecutorOverloaded, SolveObserver
from api.executor.reports import error_solution, run_outcome
from api.rqueue.janitor import enqueue_stored, reconcile
from api.rqueue.names import (
    cancel_key,
    connect,
    jobs_queue_name,
    run_abandoned,
    runaway_limit,
    sync_queue_name,
)
from api.settings import Settings
from api.store import JobStore

log = logging.getLogger(__name__)

POLL_S = 0.1
RECONCILE_EVERY_S = 2.0
PRUNE_EVERY_S = 600.0
SYNC_RESULT_TTL_S = 300


@dataclass
class Pending:
    """A synchronous solve waiting on RQ."""

    rq_id: str
    kind: str
    future: Future[dict[str, Any]]
    started: float


class RQExecutor:
    """Enqueues on Redis with RQ; ``unishare worker`` processes run the solves."""

    def __init__(
        self, store: JobStore, settings: Settings, *, on_finished: SolveObserver | None = None
    ):
        from rq import Queue

        if not settings.redis_url:
            raise ValueError("the RQ executor needs UNISHARE_REDIS_URL")
        self.store = store
        self.settings = settings
        self.on_finished = on_finished
        self.redis = connect(settings.redis_url)
        self.jobs = Queue(jobs_queue_name(settings), connection=self.redis)
        self.sync = Queue(sync_queue_name(settings), connection=self.redis)
        self._lock = threading.Lock()
        self._pending: dict[str, Pending] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_reconcile = 0.0
        self._last_prune = 0.0
        self._last_abandon_look = 0.0
        self._redis_ok = False

    # -- the interface ----------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="rq-watcher", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        """Stop watching; queued and running jobs go on (workers run them, not this server)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        for p in pending:
            self._cancel_rq(p.rq_id)
            if not p.future.done():
                p.future.set_result(
                    error_solution("the server shut down", p.kind).model_dump(mode="json")
                )
        with contextlib.suppress(Exception):
            self.redis.close()

    def submit(self, job_id: str) -> None:
        job = self.store.get(job_id)
        if job is None:
            return
        try:
            enqueue_stored(self.jobs, job, self.settings)
        except Exception:  # Redis is away: the janitor enqueues it once Redis is back
            log.warning("could not enqueue job %s; it stays queued", job_id, exc_info=True)

    def solve_now(self, document: str, overrides: dict[str, Any]) -> Future[dict[str, Any]]:
        with self._lock:
            if len(self._pending) >= self.settings.max_queued_jobs:
                raise ExecutorOverloaded(f"{len(self._pending)} solves are already waiting")
        kind = kind_of(document)
        limit = float(overrides.get("time_limit_s") or self.settings.max_time_limit_s)
        try:
            rq_job = self.sync.enqueue(
                "api.rqueue.tasks.solve_unstored",
                document,
                overrides,
                self.settings.worker_memory_mb,
                job_timeout=int(runaway_limit(limit) + 30),
                result_ttl=SYNC_RESULT_TTL_S,
                failure_ttl=SYNC_RESULT_TTL_S,
                description=f"synchronous {kind}",
            )
        except Exception as exc:  # Redis is away: a 429 with Retry-After says "later"
            raise ExecutorOverloaded(f"the queue is unreachable: {exc}") from None
        future: Future[dict[str, Any]] = Future()
        future.set_running_or_notify_cancel()
        with self._lock:
            self._pending[rq_job.id] = Pending(rq_job.id, kind, future, time.monotonic())
        return future

    def abandon(self, future: Future[dict[str, Any]]) -> None:
        with self._lock:
            found = [p for p in self._pending.values() if p.future is future]
            for p in found:
                del self._pending[p.rq_id]
        for p in found:
            self._cancel_rq(p.rq_id)

    def cancel(self, job_id: str) -> None:
        # The store already holds the cancel flag, which the horse polls; this starts the
        # grace period after which the janitor sends RQ's stop-job command.
        try:
            self.redis.set(cancel_key(self.settings, job_id), time.time(), nx=True, ex=86400)
        except Exception:
            log.warning("could not note the cancel of %s on Redis", job_id, exc_info=True)

    def alive(self) -> bool:
        """Redis answered the watcher's last look."""
        return (
            self._redis_ok
            and self._thread is not None
            and self._thread.is_alive()
            and not self._stopping.is_set()
        )

    def running(self) -> int:
        try:
            return int(self.jobs.started_job_registry.count + self.sync.started_job_registry.count)
        except Exception:
            return 0

    def waiting(self) -> int:
        return len(self._pending)

    # -- the watcher --------------------------------------------------------------------------

    def _cancel_rq(self, rq_id: str) -> None:
        from rq.command import send_stop_job_command
        from rq.exceptions import InvalidJobOperation, NoSuchJobError
        from rq.job import Job as RQJob

        with contextlib.suppress(Exception):
            rq_job = RQJob.fetch(rq_id, connection=self.redis)
            if rq_job.get_status() == "started":
                with contextlib.suppress(InvalidJobOperation, NoSuchJobError):
                    send_stop_job_command(self.redis, rq_id)
            else:
                rq_job.cancel()

    def _loop(self) -> None:
        while not self._stopping.wait(POLL_S):
            try:
                self._redis_ok = bool(self.redis.ping())
                self._collect()
                now = time.monotonic()
                if now - self._last_reconcile > RECONCILE_EVERY_S:
                    self._last_reconcile = now
                    reconcile(self.store, self.jobs, self.settings)
                if now - self._last_prune > PRUNE_EVERY_S:
                    self._last_prune = now
                    self.store.prune(timedelta(hours=self.settings.retention_hours))
            except Exception as exc:  # Redis or the database away: look again shortly
                self._redis_ok = self._ping()
                log.warning("RQ watcher: %s", exc)
                self._stopping.wait(1.0)

    def _ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except Exception:
            return False

    def _collect(self) -> None:
        """Resolve the futures of synchronous solves that ended."""
        from rq.job import Job as RQJob

        with self._lock:
            pending = list(self._pending.values())
        if not pending:
            return
        fetched = RQJob.fetch_many([p.rq_id for p in pending], connection=self.redis)
        now = time.monotonic()
        look_for_dead = now - self._last_abandon_look > RECONCILE_EVERY_S
        if look_for_dead:
            self._last_abandon_look = now
        for p, rq_job in zip(pending, fetched, strict=True):
            if rq_job is None:
                self._resolve(p, None, "the queued solve vanished from Redis")
                continue
            status = rq_job.get_status(refresh=False)
            if status == "finished":
                self._resolve(p, rq_job.return_value(refresh=False), None)
            elif status in ("failed", "stopped", "canceled"):
                result = rq_job.latest_result()
                detail = (result.exc_string or "").strip().splitlines() if result else []
                reason = detail[-1] if detail else f"the worker's run ended {status}"
                self._resolve(p, None, f"the solve failed on its worker: {reason}")
            elif status == "started" and look_for_dead and run_abandoned(self.redis, rq_job):
                # Not re-run: the caller is waiting, and may retry (a job is re-run instead).
                rq_job.delete()
                self._resolve(p, None, "its worker stopped during the solve")

    def _resolve(self, p: Pending, result: dict[str, Any] | None, reason: str | None) -> None:
        with self._lock:
            if self._pending.pop(p.rq_id, None) is None:
                return
        solution, outcome = run_outcome(result, reason, p.kind, False)
        if not p.future.done():
            p.future.set_result(solution)
        if self.on_finished is not None:
            self.on_finished(p.kind, outcome, time.monotonic() - p.started)
