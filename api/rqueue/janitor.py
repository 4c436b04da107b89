"""Keeping Redis in step with the job store, which stays the source of truth.

Every API server in RQ mode runs :func:`reconcile` every few seconds; what it does is safe to
do twice (conditional updates in the store, and a duplicate RQ job for a job that is no longer
queued does nothing):

- a queued job with no live RQ job (Redis restarted, or the server died between storing the
  job and enqueueing it) is enqueued again;
- a running job whose work horse is gone (its process is dead on this host, RQ marked its run
  failed or stopped, or it showed no heartbeat for ``worker_lease_s``) is re-run, at most
  ``max_attempts`` runs in all, then failed with the reason; cancelled, it ends cancelled;
- a running job cancelled more than ``cancel_grace_s`` ago gets RQ's stop-job command.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import timedelta
from typing import Any

from api.executor.processes import owner_is_dead
from api.executor.reports import error_solution
from api.rqueue.names import cancel_key, rq_job_id, runaway_limit
from api.settings import Settings
from api.store import CANCELLED, FAILED, Job, JobStore
from api.store.records import utcnow

log = logging.getLogger(__name__)

LIVE = {"queued", "started", "scheduled", "deferred"}
GONE = {"failed", "stopped", "canceled"}
# A queued job younger than this may not be enqueued yet by the server that stored it.
ENQUEUE_SLACK_S = 3.0
BATCH = 1000


def enqueue_stored(queue: Any, job: Job, settings: Settings) -> None:
    """Put the next run of a queued job on RQ."""
    limit = float(job.overrides.get("time_limit_s") or settings.max_time_limit_s)
    # RQ's own hard timeout comes after our cooperative stop at the runaway limit.
    timeout = int(runaway_limit(limit) + settings.cancel_grace_s + 30)
    queue.enqueue(
        "api.rqueue.tasks.run_stored_job",
        job.id,
        job_id=rq_job_id(job.id, job.attempts + 1),
        job_timeout=timeout,
        result_ttl=3600,
        failure_ttl=86400,
        description=f"{job.kind} {job.name or ''} ({job.id})",
    )


def rq_status(connection: Any, rq_id: str) -> tuple[str | None, str]:
    """The status of an RQ job (None if Redis does not know it) and its latest error text."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job as RQJob

    try:
        rq_job = RQJob.fetch(rq_id, connection=connection)
    except NoSuchJobError:
        return None, ""
    status = rq_job.get_status(refresh=False)
    text = ""
    if status in GONE:
        with contextlib.suppress(Exception):
            result = rq_job.latest_result()
            text = (result.exc_string or "") if result is not None else ""
    return (str(status.value) if status is not None else None), text


def _requeue_lost(store: JobStore, queue: Any, settings: Settings) -> int:
    jobs, _ = store.list_jobs(status="queued", limit=BATCH)
    slack = utcnow() - timedelta(seconds=ENQUEUE_SLACK_S)
    count = 0
    for job in jobs:
        if job.updated_at > slack or job.cancel_requested:
            continue
        status, _ = rq_status(queue.connection, rq_job_id(job.id, job.attempts + 1))
        if status in LIVE:
            continue
        log.warning("job %s is queued but not on Redis (%s): enqueueing it", job.id, status)
        _delete_rq_job(queue.connection, rq_job_id(job.id, job.attempts + 1))
        enqueue_stored(queue, job, settings)
        count += 1
    return count


def _delete_rq_job(connection: Any, rq_id: str) -> None:
    from rq.exceptions import NoSuchJobError
    from rq.job import Job as RQJob

    with contextlib.suppress(NoSuchJobError):
        RQJob.fetch(rq_id, connection=connection).delete()


def _stop_after_grace(connection: Any, job: Job, settings: Settings) -> bool:
    """Hard-stop a cancelled run once the grace has passed; True once the stop was sent."""
    from rq.command import send_stop_job_command
    from rq.exceptions import InvalidJobOperation, NoSuchJobError

    key = cancel_key(settings, job.id)
    now = time.time()
    connection.set(key, now, nx=True, ex=86400)
    raw = connection.get(key)
    first_seen = float(raw) if raw is not None else now
    if now - first_seen <= settings.cancel_grace_s:
        return False
    if connection.set(f"{key}:stopped", 1, nx=True, ex=86400):
        log.warning(
            "job %s did not stop within %.1fs of its cancel: killing it", job.id, now - first_seen
        )
        with contextlib.suppress(InvalidJobOperation, NoSuchJobError):
            send_stop_job_command(connection, rq_job_id(job.id, job.attempts))
    return True


def _gone(job: Job, status: str | None, settings: Settings) -> bool:
    if job.owner is None or owner_is_dead(job.owner):
        return True
    if status in GONE:
        return True
    return job.updated_at < utcnow() - timedelta(seconds=settings.worker_lease_s)


def _rerun_orphans(store: JobStore, queue: Any, settings: Settings) -> int:
    jobs, _ = store.list_jobs(status="running", limit=BATCH)
    count = 0
    for job in jobs:
        status, error_text = rq_status(queue.connection, rq_job_id(job.id, job.attempts))
        stopped = job.cancel_requested and _stop_after_grace(queue.connection, job, settings)
        if not _gone(job, status, settings):
            continue
        count += 1
        if job.cancel_requested:
            reason = (
                "cancelled; the worker did not stop within the grace period and was killed"
                if stopped
                else "cancelled; its worker stopped before the solve ended"
            )
            store.finish(job.id, status=CANCELLED, error=reason, owner=job.owner)
            continue
        if "JobTimeoutException" in error_text:
            reason = "the solve overran its time limit and was killed"
        elif job.attempts >= settings.max_attempts:
            reason = f"its worker stopped during each of {job.attempts} runs"
        else:
            if store.requeue([job.id], reason="its worker stopped"):
                log.warning(
                    "job %s lost its worker (run %d): running it again", job.id, job.attempts
                )
                enqueue_stored(queue, job, settings)
            continue
        solution = error_solution(reason, job.kind, job.name).model_dump(mode="json")
        store.finish(job.id, status=FAILED, error=reason, solution=solution, owner=job.owner)
        log.warning("job %s failed: %s", job.id, reason)
    return count


def reconcile(store: JobStore, queue: Any, settings: Settings) -> None:
    """One pass over the store's queued and running jobs (see the module's docstring)."""
    _rerun_orphans(store, queue, settings)
    _requeue_lost(store, queue, settings)
