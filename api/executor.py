"""Running solves outside the server process.

:class:`Executor` is the small interface the routes use; :class:`LocalProcessExecutor` is the
implementation for one machine: a supervisor thread that claims queued jobs from the store and
runs each in its own OS process (forkserver start method, so workers start warm), never more
than ``max_concurrent_solves`` at once. A distributed backend replaces it by implementing the
same interface on top of its own queue.

Cancellation first asks the worker to stop (CP-SAT then ends its search and returns its best
solution), and kills the worker's whole process group once ``cancel_grace_s`` has passed. A
worker that crashes or is killed fails only its own job, with the reason.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import timedelta
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol

from api.settings import Settings
from api.store import CANCELLED, FAILED, SUCCEEDED, JobStore
from optimizer.core.envelope import Explanation, Solution, Status, relative_gap

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
PRELOAD = (
    # The main script, imported once in the factory: without it every worker re-runs it
    # (multiprocessing's rule for path-started programs), costing a CLI import per solve.
    "__main__",
    "api.worker",
    "ortools.sat.python.cp_model",
    "ortools.linear_solver.pywraplp",
    "highspy",
    "pulp",
    "numpy",
    "scipy.sparse",
)
# Improving-solution events kept per flush; the job row always holds the latest numbers.
MAX_EVENTS_PER_FLUSH = 50
# Attempts to start a worker after the process factory died (backing off 0.05 s, doubling).
FACTORY_RETRIES = 5


class Executor(Protocol):
    """What the HTTP layer needs from whatever runs the solves."""

    def start(self) -> None: ...

    def shutdown(self) -> None: ...

    def submit(self, job_id: str) -> None:
        """A job was stored as queued: run it when a slot is free."""

    def solve_now(self, document: str, overrides: dict[str, Any]) -> Future[dict[str, Any]]:
        """Solve without storing a job (POST /v1/solve); resolves to a solution document."""

    def abandon(self, future: Future[dict[str, Any]]) -> None:
        """Nobody waits for this ``solve_now`` any more: drop it, or stop it if it runs."""

    def cancel(self, job_id: str) -> None:
        """The store marked ``job_id`` cancelled: stop it if it runs here."""

    def alive(self) -> bool: ...

    def running(self) -> int: ...

    def waiting(self) -> int:
        """Unstored (synchronous) solves waiting for a slot."""


class ExecutorOverloaded(Exception):
    """Too many synchronous solves are already waiting."""


SolveObserver = Callable[[str, str, float], None]  # kind, outcome, seconds


@dataclass
class _Run:
    """One worker process and what it has reported."""

    key: str
    job_id: str | None
    kind: str
    process: Any
    conn: Connection
    started: float
    deadline: float
    future: Future[dict[str, Any]] | None = None
    stop_sent_at: float | None = None
    stop_reason: str = ""
    cancel: bool = False
    result: dict[str, Any] | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    dirty: bool = False
    last_flush: float = 0.0
    conn_open: bool = True


@dataclass
class _SyncRequest:
    document: str
    overrides: dict[str, Any]
    kind: str
    future: Future[dict[str, Any]]


def error_solution(reason: str, kind: str | None = None, name: str | None = None) -> Solution:
    """The solution document of a solve that produced none: status ``error`` with the reason."""
    return Solution(
        kind=kind,
        name=name,
        status=Status.ERROR,
        explanations=[
            Explanation(subject=name or kind or "job", code="worker_failed", detail=reason)
        ],
    )


def owner_is_dead(owner: str) -> bool:
    """Whether the server named ``host:pid:token`` is certainly gone (only knowable locally)."""
    host, _, rest = owner.partition(":")
    pid_text, _, _token = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True  # an earlier run of this very process id: its token differs from ours
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is None:
        return "the worker process vanished"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"the worker process was killed by {name}"
    return f"the worker process exited with code {exitcode} before reporting a result"


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
        self._ctx: Any = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            # Workers fork from a process that has already imported the solvers: ~0.1 s
            # per solve instead of the seconds a cold interpreter needs.
            self._ctx.set_forkserver_preload(list(PRELOAD))
        self._lock = threading.Lock()
        self._sync: deque[_SyncRequest] = deque()
        self._cancels: set[str] = set()
        self._abandoned: list[Future[dict[str, Any]]] = []
        self._unrecorded: list[tuple[str, dict[str, Any]]] = []
        self._runs: dict[str, _Run] = {}
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
        with self._lock:
            pending = list(self._sync)
            self._sync.clear()
        for request in pending:
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
        from api.documents import kind_of

        future: Future[dict[str, Any]] = Future()
        with self._lock:
            if len(self._sync) >= self.settings.max_queued_jobs:
                raise ExecutorOverloaded(f"{len(self._sync)} solves are already waiting")
            self._sync.append(_SyncRequest(document, overrides, kind_of(document), future))
        self._wake()
        return future

    def abandon(self, future: Future[dict[str, Any]]) -> None:
        with self._lock:
            for request in self._sync:
                if request.future is future:
                    self._sync.remove(request)
                    future.cancel()
                    return
            self._abandoned.append(future)
        self._wake()

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
                self._read(run)
            if run.process.sentinel in ready:
                self._drain(run)
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
            with self._lock:
                request = self._sync.popleft() if self._sync else None
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
        from api.worker import run_job

        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=run_job,
            args=(child, document, overrides, self.settings.worker_memory_mb),
            name=f"solve-{key}",
            daemon=False,
        )
        try:
            for attempt in range(FACTORY_RETRIES + 1):
                try:
                    process.start()
                    break
                except (OSError, EOFError):
                    # The process factory died. multiprocessing restarts it on the next
                    # start, but only once the dead one can be reaped: right after a kill
                    # it can still look alive for a moment, so back off a little.
                    if attempt == FACTORY_RETRIES:
                        raise
                    log.warning("could not start a worker; retrying", exc_info=True)
                    time.sleep(0.05 * 2**attempt)
                    process = self._ctx.Process(
                        target=run_job,
                        args=(child, document, overrides, self.settings.worker_memory_mb),
                        name=f"solve-{key}",
                        daemon=False,
                    )
        except Exception as exc:
            parent.close()
            child.close()
            log.exception("could not start a worker process")
            self._complete(key, job_id, kind, future, None, f"could not start a worker: {exc}")
            return
        child.close()  # so that the worker's death closes the pipe on our side
        now = time.monotonic()
        limit = float(overrides.get("time_limit_s") or self.settings.max_time_limit_s)
        self._runs[key] = _Run(
            key=key,
            job_id=job_id,
            kind=kind,
            process=process,
            conn=parent,
            started=now,
            deadline=now + limit + max(RUNAWAY_MARGIN_S, 0.5 * limit),
            future=future,
            last_flush=now,
        )
        log.info("started %s (%s) in process %s", key, kind, process.pid)

    def _read(self, run: _Run) -> None:
        try:
            while run.conn.poll():
                self._on_message(run, run.conn.recv())
        except (EOFError, OSError):
            run.conn_open = False
        except Exception:  # a garbled message from a dying worker
            log.warning("unreadable message from %s", run.key, exc_info=True)
            run.conn_open = False

    def _drain(self, run: _Run) -> None:
        if run.conn_open:
            self._read(run)

    def _on_message(self, run: _Run, message: Any) -> None:
        kind, payload = message
        if kind == "result":
            run.result = payload
        elif kind == "progress":
            improving = payload.pop("improving", False)
            objective, bound = payload.get("objective"), payload.get("bound")
            payload["gap"] = relative_gap(objective, bound)
            run.progress = payload
            run.dirty = True
            if improving:
                run.events.append(dict(payload))

    def _flush(self, run: _Run, now: float, *, force: bool = False) -> None:
        if run.job_id is None or not run.dirty:
            return
        if not force and now - run.last_flush < PROGRESS_FLUSH_S:
            return
        events = run.events[-MAX_EVENTS_PER_FLUSH:]
        self.store.record_progress(run.job_id, self._progress_fields(run), events, owner=self.owner)
        run.events.clear()
        run.dirty = False
        run.last_flush = now

    @staticmethod
    def _progress_fields(run: _Run) -> dict[str, Any]:
        p = run.progress
        return {
            "objective": p.get("objective"),
            "bound": p.get("bound"),
            "gap": p.get("gap"),
            "solutions": int(p.get("solutions") or 0),
            "elapsed_s": p.get("elapsed_s"),
            "phase": (p.get("phase") or None),
        }

    def _finish(self, run: _Run) -> None:
        run.process.join(timeout=5)
        run.conn.close()
        self._runs.pop(run.key, None)
        self._kill_group(run)  # anything the worker left behind
        if self._stopping.is_set() and run.result is None:
            return  # shutdown: the job is requeued, not failed
        reason = None if run.result is not None else _exit_reason(run.process.exitcode)
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
        run: _Run | None = None,
    ) -> None:
        elapsed = time.monotonic() - run.started if run is not None else 0.0
        cancelled = run is not None and run.cancel
        if result is None:
            solution = error_solution(reason or "the solve produced no result", kind).model_dump(
                mode="json"
            )
            outcome = "cancelled" if cancelled else "failed"
        else:
            solution = result
            outcome = "cancelled" if cancelled else result.get("status", "error")
        if future is not None:
            future.set_result(solution)
        if job_id is not None:
            if cancelled:
                status = CANCELLED
                error = None if result is not None else reason
                stored = result
            elif result is None:
                status, error, stored = FAILED, reason, solution
            elif result.get("status") == Status.ERROR.value:
                status, stored = FAILED, result
                error = "; ".join(e.get("detail", "") for e in result.get("explanations", []))
                error = error or "the solve ended in an internal error"
            else:
                status, error, stored = SUCCEEDED, None, result
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
            abandoned = self._abandoned
            self._abandoned = []
        for run in list(self._runs.values()):
            if run.future is not None and any(run.future is f for f in abandoned):
                run.cancel = True
                self._ask_stop(run, now, "abandoned by its caller")
        if now - self._last_cancel_poll >= CANCEL_POLL_S:
            self._last_cancel_poll = now
            job_ids = [r.job_id for r in self._runs.values() if r.job_id and not r.cancel]
            wanted |= self.store.cancel_requested(job_ids)
        for run in list(self._runs.values()):
            if run.job_id in wanted and not run.cancel:
                run.cancel = True
                self._ask_stop(run, now, "cancelled; the worker did not stop within the grace")

    def _ask_stop(self, run: _Run, now: float, reason: str) -> None:
        if run.stop_sent_at is not None:
            return
        run.stop_sent_at = now
        run.stop_reason = reason
        with contextlib.suppress(OSError):  # it is exiting anyway
            run.conn.send("stop")
        log.info("asked %s to stop", run.key)

    def _enforce_deadlines(self, now: float) -> None:
        grace = self.settings.cancel_grace_s
        for run in list(self._runs.values()):
            if run.stop_sent_at is None and now > run.deadline:
                self._ask_stop(run, now, "the solve overran its time limit and was killed")
            elif (
                run.stop_sent_at is not None
                and now - run.stop_sent_at > grace
                and run.process.is_alive()
            ):
                log.warning("killing %s: no result %.1fs after stop", run.key, grace)
                self._kill_group(run)

    @staticmethod
    def _kill_group(run: _Run) -> None:
        pid = run.process.pid
        if pid is None:
            return
        try:
            # The worker called setsid(), so its pid is its process group id.
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
                return
        except (ProcessLookupError, PermissionError):
            pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # the group may outlive its leader
        if run.process.is_alive():
            run.process.kill()

    def _kill_all_for_shutdown(self) -> None:
        runs = list(self._runs.values())
        for run in runs:
            self._kill_group(run)
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
