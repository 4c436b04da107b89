"""``unishare solve DIR --queue redis://…``: every file as an RQ job, solutions collected as
workers finish them.

The documents travel in the RQ jobs and the solutions come back as their results; no job store
is involved. A file whose worker died is enqueued again, at most ``ATTEMPTS`` runs in all.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api.executor.reports import error_solution
from api.rqueue.names import connect, run_abandoned, runaway_limit
from optimizer.core.documents import load_json, with_previous
from optimizer.core.envelope import Solution, Status
from optimizer.core.issues import Issue

log = logging.getLogger(__name__)

POLL_S = 0.2
DEFAULT_LIMIT_S = 300.0
RESULT_TTL_S = 3600
ATTEMPTS = 3
ABANDON_LOOK_S = 2.0

Done = Callable[[Path, Solution, float], None]


def solve_on_queue(
    files: list[Path], overrides: dict[str, Any], url: str, done: Done, previous: Any = None
) -> list[tuple[Path, OSError]]:
    """Enqueue every readable file, call ``done`` for each as its solution arrives (in the
    order they finish), and return the files that could not be read. With ``previous`` (a
    solution document), every file is a re-plan against it."""
    from rq import Queue
    from rq.job import Job

    connection = connect(url)
    queue = Queue(os.environ.get("UNISHARE_QUEUE_NAME") or "unishare", connection=connection)
    effective = {k: v for k, v in overrides.items() if v is not None}
    # A document's own time limit may be longer than the one given here: RQ's hard stop
    # leaves room for the longest the service allows.
    timeout = int(runaway_limit(max(float(effective.get("time_limit_s") or 0), DEFAULT_LIMIT_S)))
    unreadable: list[tuple[Path, OSError]] = []
    documents: dict[Path, bytes] = {}
    runs: dict[Path, int] = {}
    waiting: dict[str, tuple[Path, float]] = {}

    def enqueue(path: Path) -> None:
        runs[path] = runs.get(path, 0) + 1
        queued = queue.enqueue(
            "api.rqueue.tasks.solve_unstored",
            documents[path],
            effective,
            0,
            path.stem,
            job_timeout=timeout + 30,
            result_ttl=RESULT_TTL_S,
            failure_ttl=RESULT_TTL_S,
            description=f"unishare solve {path}",
        )
        waiting[queued.id] = (path, time.monotonic())

    for path in files:
        try:
            documents[path] = path.read_bytes()
        except OSError as exc:
            unreadable.append((path, exc))
            continue
        if previous is not None:
            replan, issues = _with_previous(documents[path], previous)
            if issues:
                refused = Solution(name=path.stem, status=Status.INVALID, issues=issues)
                done(path, refused, 0.0)
                continue
            documents[path] = replan
        enqueue(path)
    last_look = time.monotonic()
    try:
        while waiting:
            ids = list(waiting)
            look = time.monotonic() - last_look > ABANDON_LOOK_S
            if look:
                last_look = time.monotonic()
            for rq_id, job in zip(ids, Job.fetch_many(ids, connection=connection), strict=True):
                path, started = waiting[rq_id]
                status = job.get_status(refresh=False) if job is not None else None
                if job is None:
                    solution = error_solution("the queued solve vanished from Redis")
                elif status == "finished":
                    solution = Solution.model_validate(job.return_value(refresh=False))
                elif status in ("failed", "stopped", "canceled"):
                    result = job.latest_result()
                    lines = (result.exc_string or "").strip().splitlines() if result else []
                    reason = lines[-1] if lines else f"its run ended {status}"
                    solution = error_solution(f"the worker failed: {reason}", None, path.stem)
                elif status == "started" and look and run_abandoned(connection, job):
                    del waiting[rq_id]
                    job.delete()
                    if runs[path] < ATTEMPTS:
                        log.warning("the worker solving %s stopped; enqueueing it again", path)
                        enqueue(path)
                        continue
                    reason = f"its worker stopped during each of {runs[path]} runs"
                    done(path, error_solution(reason, None, path.stem), time.monotonic() - started)
                    continue
                else:
                    continue
                del waiting[rq_id]
                done(path, solution, time.monotonic() - started)
            if waiting:
                time.sleep(POLL_S)
    finally:
        # Interrupted: take back what no worker started yet.
        for rq_id in waiting:
            try:
                Job.fetch(rq_id, connection=connection).cancel()
            except Exception:
                log.debug("could not cancel %s", rq_id, exc_info=True)
    return unreadable


def _with_previous(raw: bytes, previous: Any) -> tuple[bytes, list[Issue]]:
    """The document re-planning against ``previous``, or the issues that stop it (a plan of
    another kind). Unreadable JSON goes as it is: the worker reports it like any document."""
    data, unreadable = load_json(raw)
    if unreadable:
        return raw, []
    merged, issues = with_previous(data, previous)
    return json.dumps(merged).encode(), issues
