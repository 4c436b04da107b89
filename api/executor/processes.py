"""Worker processes: starting one warm, what the supervisor knows of it, and ending it.

Each worker leads its own session (see :mod:`api.worker`), so killing its process group also
ends whatever it started, CBC included.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger(__name__)

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
# Attempts to start a worker after the process factory died (backing off 0.05 s, doubling).
FACTORY_RETRIES = 5


@dataclass
class Run:
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


def make_context(start_method: str) -> Any:
    """A multiprocessing context; a forkserver one preloads the solvers."""
    import multiprocessing

    ctx: Any = multiprocessing.get_context(start_method)
    if start_method == "forkserver":
        # Workers fork from a process that has already imported the solvers: ~0.1 s
        # per solve instead of the seconds a cold interpreter needs.
        ctx.set_forkserver_preload(list(PRELOAD))
    return ctx


def start_worker(
    ctx: Any, key: str, document: str, overrides: dict[str, Any], memory_mb: int
) -> tuple[Any, Connection]:
    """A started worker process solving ``document``, and the supervisor's end of its pipe."""
    from api.worker import run_job

    parent, child = ctx.Pipe(duplex=True)

    def process() -> Any:
        return ctx.Process(
            target=run_job,
            args=(child, document, overrides, memory_mb),
            name=f"solve-{key}",
            daemon=False,
        )

    worker = process()
    try:
        for attempt in range(FACTORY_RETRIES + 1):
            try:
                worker.start()
                break
            except (OSError, EOFError):
                # The process factory died. multiprocessing restarts it on the next
                # start, but only once the dead one can be reaped: right after a kill
                # it can still look alive for a moment, so back off a little.
                if attempt == FACTORY_RETRIES:
                    raise
                log.warning("could not start a worker; retrying", exc_info=True)
                time.sleep(0.05 * 2**attempt)
                worker = process()
    except BaseException:
        parent.close()
        child.close()
        raise
    child.close()  # so that the worker's death closes the pipe on our side
    return worker, parent


def ask_stop(run: Run, now: float, reason: str) -> None:
    """Ask the worker to end its solve early (it keeps its best solution)."""
    if run.stop_sent_at is not None:
        return
    run.stop_sent_at = now
    run.stop_reason = reason
    with contextlib.suppress(OSError):  # it is exiting anyway
        run.conn.send("stop")
    log.info("asked %s to stop", run.key)


def kill_group(run: Run) -> None:
    """SIGKILL the worker and everything in its process group."""
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


def exit_reason(exitcode: int | None) -> str:
    """Why a worker ended without reporting a result, in words."""
    if exitcode is None:
        return "the worker process vanished"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"the worker process was killed by {name}"
    return f"the worker process exited with code {exitcode} before reporting a result"


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
