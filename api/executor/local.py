"""The executor for one machine: a supervisor thread that claims queued jobs from the store
and runs each in its own OS process (forkserver start method, so workers start warm), never
more than ``max_concurrent_solves`` at once; synchronous solves share the same slots, first.

Cancellation first asks the worker to stop (CP-SAT then ends its search and returns its best
solution), and kills the worker's whole process group once ``cancel_grace_s`` has passed. A
worker that crashes or is killed fails only its own job, with the reason.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import Future
from datetime import timedelta
from multiprocessing.connection import wait
from typing import Any

from api.executor.interface import SolveObserver
from api.executor.processes import (
    Run,
    ask_stop,
    exit_reason,
    kill_group,
    make_context,
    owner_is_dead,
    start_worker,
)
from api.executor.reports import (
    error_solution,
    job_ending,
    pending_events,
    progress_fields,
    read_pipe,
    run_outcome,
)
from api.executor.requests import SyncQueue
from api.settings import Settings
from api.store import JobStore

log = logging.getLogger(__name__)

# How long past its time limit a solve may run before it is stopped as runaway.
RUNAWAY_MARGIN_S = 30.0
PROGRESS_FLUSH_S = 0.25
CANCEL_POLL_S = 1.0
PRUNE_EVERY_S = 600.0
# Running jobs carry their server's heartbeat; one silent for LEASE_S is taken as orphaned.
HEARTBEAT_S = 5.0
LEASE_S = 60.0
RECOVER_EVERY_S = 15.0
STORE_LOOK_S = 2.0


class LocalProcessExecutor:
    """A supervisor thread running each solve in its own process on this machine."""

    def __init__(
        self,
        store: JobStore,
        settings: Settings,
        *,
        on_finished: SolveObserver | None = None,
        start_method: str = "forkserver",
    ):
        self.store = store
        self.settings = settings
        self.on_finished = on_finished
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._ctx = make_context(start_method)
        self._lock = threading.Lock()
        self._sync = SyncQueue(settings.max_queued_jobs)
        self._cancels: set[str] = set()
        self._unrecorded: list[tuple[str, dict[str, Any]]] = []
        self._runs: dict[str, Run] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._stopping = threading.Event()
        self._warm = threading.Event()
        self._thread: threading.Thread | None = None
        self._store_has_work = True
        self._last_cancel_poll = 0.0
        self._last_prune = 0.0
        self._last_heartbeat = 0.0
        self._last_store_look = 0.0
        self._last_recover = 0.0

    # -- the interface ----------------------------------------------------------------------

    def start(self) -> None:
        self._recover()
        self._prune()
        self._thread = threading.Thread(target=self._loop, name="solve-supervisor", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        """Stop the supervisor; running jobs are killed and put back in the queue."""
        self._stopping.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for request in self._sync.drain():
            if request.future.done():
                continue
            request.future.set_result(
                error_solution("the server shut down", request.kind).model_dump(mode="json")
            )
        self._wake_r.close()
        self._wake_w.close()

    def submit(self, job_id: str) -> None:
        self._store_has_work = True
        self._wake()

    def solve_now(self, document: str, overrides: dict[str, Any]) -> Future[dict[str, Any]]:
        future = self._sync.put(document, overrides)
        self._wake()
        return future

    def abandon(self, future: Future[dict[str, Any]]) -> None:
        if not self._sync.abandon(future):
            self._wake()  # it runs: the supervisor stops it

    def cancel(self, job_id: str) -> None:
        with self._lock:
            self._cancels.add(job_id)
        self._wake()

    def alive(self) -> bool:
        """The supervisor runs and can start workers (the process factory is warm)."""
        return (
            self._warm.is_set()
            and self._thread is not None
            and self._thread.is_alive()
            and not self._stopping.is_set()
        )

    def running(self) -> int:
        return len(self._runs)

    def waiting(self) -> int:
        return len(self._sync)

    # -- the supervisor loop ------------------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # already awake, or shutting down
            self._wake_w.send(b"x")

    def _warm_up(self) -> None:
        """Start the process factory before the first request needs it."""
        from api.worker import ping

        process = self._ctx.Process(target=ping, name="solve-warm-up")
        process.start()
        process.join(timeout=120)
        self._warm.set()

    def _loop(self) -> None:
        try:
            self._warm_up()
        except Exception:
            log.exception("could not start a worker process at startup")
        while not self._stopping.is_set():
            try:
                self._step()
            except Exception:  # a store hiccup must not take the supervisor down
                log.exception("supervisor step failed; retrying")
                self._stopping.wait(1.0)
        self._kill_all_for_shutdown()

    def _step(self) -> None:
        while self._unrecorded:
            job_id, ending = self._unrecorded[0]
            self.store.finish(job_id, **ending)  # raises while the database is still away
            self._unrecorded.pop(0)
        self._launch()
        waitables: list[Any] = [self._wake_r]
        for run in list(self._runs.values()):
            waitables.append(run.process.sentinel)
            if run.conn_open:
                waitables.append(run.conn)
        ready = wait(waitables, timeout=PROGRESS_FLUSH_S)
        if self._wake_r in ready:
            try:
                while self._wake_r.recv(4096):
                    pass
            except (BlockingIOError, OSError):
                pass
        now = time.monotonic()
        for run in list(self._runs.values()):
            if run.conn_open and run.conn in ready:
                read_pipe(run)
            if run.process.sentinel in ready:
                read_pipe(run)
                self._finish(run)
                continue
            self._flush(run, now)
        self._handle_cancels(now)
        self._enforce_deadlines(now)
        if now - self._last_store_look > STORE_LOOK_S:
            # Jobs can also arrive without a submit() here: from another server, or recovered.
            self._last_store_look = now
            self._store_has_work = True
        if now - self._last_heartbeat > HEARTBEAT_S:
            self._heartbeat(now)
        if now - self._last_recover > RECOVER_EVERY_S:
            self._recover()
        if now - self._last_prune > PRUNE_EVERY_S:
            self._prune()

    def _launch(self) -> None:
        while len(self._runs) < self.settings.max_concurrent_solves:
            request = self._sync.take()
            if request is not None:
                if request.future.set_running_or_notify_cancel():
                    self._spawn(
                        key=f"sync-{uuid.uuid4().hex}",
                        job_id=None,
                        kind=request.kind,
                        document=request.document,
                        overrides=request.overrides,
                        future=request.future,
                    )
                continue
            if not self._store_has_work:
                return
            # Cleared before looking, so that a submit landing during the look re-arms it.
            self._store_has_work = False
            job = self.store.claim_next(self.owner)
            if job is None:
                return
            self._store_has_work = True  # there may be more
            self._spawn(
                key=job.id,
                job_id=job.id,
                kind=job.kind,
                document=job.document or "",
                overrides=job.overrides,
                future=None,
            )

    def _spawn(
        self,
        *,
        key: str,
        job_id: str | None,
        kind: str,
        document: str,
        overrides: dict[str, Any],
        future: Future[dict[str, Any]] | None,
    ) -> None:
        try:
            process, conn = start_worker(
                self._ctx, key, document, overrides, self.settings.worker_memory_mb
            )
        except Exception as exc:
            log.exception("could not start a worker process")
            self._complete(key, job_id, kind, future, None, f"could not start a worker: {exc}")
            return
        now = time.monotonic()
        limit = float(overrides.get("time_limit_s") or self.settings.max_time_limit_s)
        self._runs[key] = Run(
            key=key,
            job_id=job_id,
            kind=kind,
            process=process,
            conn=conn,
            started=now,
            deadline=now + limit + max(RUNAWAY_MARGIN_S, 0.5 * limit),
            future=future,
            last_flush=now,
        )
        log.info("started %s (%s) in process %s", key, kind, process.pid)

    def _flush(self, run: Run, now: float, *, force: bool = False) -> None:
        if run.job_id is None or not run.dirty:
            return
        if not force and now - run.last_flush < PROGRESS_FLUSH_S:
            return
        self.store.record_progress(
            run.job_id, progress_fields(run), pending_events(run), owner=self.owner
        )
        run.dirty = False
        run.last_flush = now

    def _finish(self, run: Run) -> None:
        run.process.join(timeout=5)
        run.conn.close()
        self._runs.pop(run.key, None)
        kill_group(run)  # anything the worker left behind
        if self._stopping.is_set() and run.result is None:
            return  # shutdown: the job is requeued, not failed
        reason = None if run.result is not None else exit_reason(run.process.exitcode)
        if run.stop_sent_at is not None and run.result is None and run.stop_reason:
            reason = run.stop_reason
        if run.job_id is not None:
            self._flush(run, time.monotonic(), force=True)
        self._complete(run.key, run.job_id, run.kind, run.future, run.result, reason, run=run)

    def _complete(
        self,
        key: str,
        job_id: str | None,
        kind: str,
        future: Future[dict[str, Any]] | None,
        result: dict[str, Any] | None,
        reason: str | None,
        *,
        run: Run | None = None,
    ) -> None:
        elapsed = time.monotonic() - run.started if run is not None else 0.0
        cancelled = run is not None and run.cancel
        solution, outcome = run_outcome(result, reason, kind, cancelled)
        if future is not None:
            future.set_result(solution)
        if job_id is not None:
            status, error, stored = job_ending(result, solution, reason, cancelled)
            ending: dict[str, Any] = {
                "status": status,
                "solution": stored,
                "error": error,
                "owner": self.owner,
            }
            try:
                self.store.finish(job_id, **ending)
            except Exception:  # the database is away: keep the result and retry
                log.exception("could not record the end of job %s; will retry", job_id)
                self._unrecorded.append((job_id, ending))
            log.info("job %s %s after %.2fs", job_id, status, elapsed)
        if self.on_finished is not None:
            self.on_finished(kind, outcome, elapsed)

    def _handle_cancels(self, now: float) -> None:
        with self._lock:
            wanted = set(self._cancels)
            self._cancels.clear()
        abandoned = self._sync.take_abandoned()
        for run in list(self._runs.values()):
            if run.future is not None and any(run.future is f for f in abandoned):
                run.cancel = True
                ask_stop(run, now, "abandoned by its caller")
        if now - self._last_cancel_poll >= CANCEL_POLL_S:
            self._last_cancel_poll = now
            job_ids = [r.job_id for r in self._runs.values() if r.job_id and not r.cancel]
            wanted |= self.store.cancel_requested(job_ids)
        for run in list(self._runs.values()):
            if run.job_id in wanted and not run.cancel:
                run.cancel = True
                ask_stop(run, now, "cancelled; the worker did not stop within the grace")

    def _enforce_deadlines(self, now: float) -> None:
        grace = self.settings.cancel_grace_s
        for run in list(self._runs.values()):
            if run.stop_sent_at is None and now > run.deadline:
                ask_stop(run, now, "the solve overran its time limit and was killed")
            elif (
                run.stop_sent_at is not None
                and now - run.stop_sent_at > grace
                and run.process.is_alive()
            ):
                log.warning("killing %s: no result %.1fs after stop", run.key, grace)
                kill_group(run)

    def _kill_all_for_shutdown(self) -> None:
        runs = list(self._runs.values())
        for run in runs:
            kill_group(run)
        for run in runs:
            run.process.join(timeout=5)
            run.conn.close()
            if run.future is not None and not run.future.done():
                run.future.set_result(
                    error_solution("the server shut down", run.kind).model_dump(mode="json")
                )
        self._runs.clear()
        job_ids = [r.job_id for r in runs if r.job_id is not None]
        if job_ids:
            try:
                self.store.requeue(job_ids, reason="the server shut down")
            except Exception:
                log.exception("could not requeue running jobs at shutdown")

    def _recover(self) -> None:
        """Put back in the queue the jobs of servers that are gone."""
        self._last_recover = time.monotonic()
        requeued = self.store.recover(
            self.owner, lease=timedelta(seconds=LEASE_S), owner_dead=owner_is_dead
        )
        if requeued:
            log.warning("requeued %d jobs whose server stopped", len(requeued))
            self._store_has_work = True

    def _heartbeat(self, now: float) -> None:
        self._last_heartbeat = now
        self.store.heartbeat(self.owner, [r.job_id for r in self._runs.values() if r.job_id])

    def _prune(self) -> None:
        self._last_prune = time.monotonic()
        removed = self.store.prune(timedelta(hours=self.settings.retention_hours))
        if removed:
            log.info("pruned %d finished jobs", removed)
