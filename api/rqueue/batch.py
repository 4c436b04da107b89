"""``unishare solve DIR --queue redis://…``: every file as an RQ job, solutions collected as
workers finish them.

The documents travel in the RQ jobs and the solutions come back as their results; no job store
is involved. A run whose worker died is re-run by RQ itself (``Retry``) once RQ's maintenance
finds it abandoned.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api.executor.reports import error_solution
from api.rqueue.names import connect, runaway_limit
from optimizer.core.envelope import Solution

log = logging.getLogger(__name__)

POLL_S = 0.2
DEFAULT_LIMIT_S = 300.0
RESULT_TTL_S = 3600

Done = Callable[[Path, Solution, float], None]


def solve_on_queue(
    files: list[Path], overrides: dict[str, Any], url: str, done: Done
) -> list[tuple[Path, OSError]]:
    """Enqueue every readable file, call ``done`` for each as its solution arrives (in the
    order they finish), and return the files that could not be read."""
    from rq import Queue, Retry
    from rq.job import Job

    connection = connect(url)
    queue = Queue(os.environ.get("UNISHARE_QUEUE_NAME") or "unishare", connection=connection)
    effective = {k: v for k, v in overrides.items() if v is not None}
    limit = float(effective.get("time_limit_s") or DEFAULT_LIMIT_S)
    unreadable: list[tuple[Path, OSError]] = []
    waiting: dict[str, tuple[Path, float]] = {}
    for path in files:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            unreadable.append((path, exc))
            continue
        queued = queue.enqueue(
            "api.rqueue.tasks.solve_unstored",
            raw,
            effective,
            0,
            path.stem,
            # A document's own time limit may be longer than the one given here; RQ's hard
            # stop leaves it room.
            job_timeout=int(runaway_limit(max(limit, DEFAULT_LIMIT_S)) + 30),
            result_ttl=RESULT_TTL_S,
            failure_ttl=RESULT_TTL_S,
            retry=Retry(max=2),
            description=f"unishare solve {path}",
        )
        waiting[queued.id] = (path, time.monotonic())
    try:
        while waiting:
            ids = list(waiting)
            for rq_id, job in zip(ids, Job.fetch_many(ids, connection=connection), strict=True):
                path, started = waiting[rq_id]
                if job is None:
                    solution = error_solution("the queued solve vanished from Redis")
                else:
                    status = job.get_status(refresh=False)
                    if status == "finished":
                        solution = Solution.model_validate(job.return_value(refresh=False))
                    elif status in ("failed", "stopped", "canceled"):
                        result = job.latest_result()
                        lines = (result.exc_string or "").strip().splitlines() if result else []
                        reason = lines[-1] if lines else f"its run ended {status}"
                        solution = error_solution(f"the worker failed: {reason}", None, path.stem)
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
