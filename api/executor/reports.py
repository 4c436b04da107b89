"""What workers report, and what the store records of it: progress, one event per improving
solution, and how a run ends (the job's final status, error and solution document)."""

from __future__ import annotations

import logging
from typing import Any

from api.executor.processes import Run
from api.store import CANCELLED, FAILED, SUCCEEDED, JobStatus
from optimizer.core.envelope import Explanation, Solution, Status, relative_gap

log = logging.getLogger(__name__)

# Improving-solution events kept per flush; the job row always holds the latest numbers.
MAX_EVENTS_PER_FLUSH = 50


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


def take_message(run: Run, message: Any) -> None:
    """Record one message from the worker's pipe: its result, or a progress update."""
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


def read_pipe(run: Run) -> None:
    """Take every message waiting on the worker's pipe; a closed or garbled pipe ends reading."""
    if not run.conn_open:
        return
    try:
        while run.conn.poll():
            take_message(run, run.conn.recv())
    except (EOFError, OSError):
        run.conn_open = False
    except Exception:  # a garbled message from a dying worker
        log.warning("unreadable message from %s", run.key, exc_info=True)
        run.conn_open = False


def progress_fields(run: Run) -> dict[str, Any]:
    """The job row's progress columns, from the latest update."""
    p = run.progress
    return {
        "objective": p.get("objective"),
        "bound": p.get("bound"),
        "gap": p.get("gap"),
        "solutions": int(p.get("solutions") or 0),
        "elapsed_s": p.get("elapsed_s"),
        "phase": (p.get("phase") or None),
    }


def pending_events(run: Run) -> list[dict[str, Any]]:
    """The improving-solution events not yet written, newest kept, and clear them."""
    events = run.events[-MAX_EVENTS_PER_FLUSH:]
    run.events.clear()
    return events


def run_outcome(
    result: dict[str, Any] | None, reason: str | None, kind: str, cancelled: bool
) -> tuple[dict[str, Any], str]:
    """The solution document a finished run answers with, and its outcome for the metrics."""
    if result is None:
        solution = error_solution(reason or "the solve produced no result", kind)
        return solution.model_dump(mode="json"), "cancelled" if cancelled else "failed"
    return result, "cancelled" if cancelled else str(result.get("status", "error"))


def job_ending(
    result: dict[str, Any] | None, solution: dict[str, Any], reason: str | None, cancelled: bool
) -> tuple[JobStatus, str | None, dict[str, Any] | None]:
    """A finished run's job status, error and stored solution document.

    ``result`` is what the worker reported (None if it reported nothing), ``solution`` the
    document the caller gets either way.
    """
    if cancelled:
        return CANCELLED, (None if result is not None else reason), result
    if result is None:
        return FAILED, reason, solution
    if result.get("status") == Status.ERROR.value:
        error = "; ".join(e.get("detail", "") for e in result.get("explanations", []))
        return FAILED, error or "the solve ended in an internal error", result
    return SUCCEEDED, None, result
