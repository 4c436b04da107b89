"""Names both sides agree on: the queues, one RQ job id per attempt, and the Redis keys."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from typing import Any

from api.settings import Settings

# A stored job has one RQ job per attempt, so that re-running it after its worker died never
# reuses the id of a run RQ may still hold in its started or failed registry.
ATTEMPT_SEP = "-a"


def jobs_queue_name(settings: Settings) -> str:
    return settings.queue_name


def sync_queue_name(settings: Settings) -> str:
    """Synchronous solves have their own queue, which workers serve first (someone waits)."""
    return f"{settings.queue_name}-sync"


def rq_job_id(job_id: str, attempt: int) -> str:
    """The RQ job of ``job_id``'s ``attempt``-th run (1-based)."""
    return f"{job_id}{ATTEMPT_SEP}{attempt}"


def cancel_key(settings: Settings, job_id: str) -> str:
    """When the cancel of a running job was first seen (epoch seconds), for the grace period."""
    return f"{settings.queue_name}:cancel:{job_id}"


def connect(url: str) -> Any:
    """A Redis client for ``url`` with bounded timeouts, so a Redis outage fails fast."""
    from redis import Redis

    return Redis.from_url(
        url, socket_connect_timeout=5, socket_timeout=30, health_check_interval=30
    )


def runaway_limit(time_limit_s: float) -> float:
    """Seconds after which a solve that ignores its time limit is stopped (as locally)."""
    from api.executor.local import RUNAWAY_MARGIN_S

    return time_limit_s + max(RUNAWAY_MARGIN_S, 0.5 * time_limit_s)


# RQ's worker refreshes a running job's heartbeat every job_monitoring_interval (30 s by
# default); three missed ones mean the worker is gone even when it lived on another host.
HEARTBEAT_MISSED_S = 90.0


def run_abandoned(connection: Any, rq_job: Any) -> bool:
    """Whether a started RQ job's worker is gone: its registration expired, its process is
    dead on this host, or the job's heartbeat stopped. RQ itself notices only at its next
    maintenance, minutes later."""
    from rq import Worker

    name = rq_job.worker_name
    if not name:
        return False
    worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + name, connection=connection)
    if worker is None:
        return True
    if worker.hostname == socket.gethostname() and worker.pid:
        try:
            os.kill(worker.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
    beat = rq_job.last_heartbeat
    if beat is None:
        return False
    beat = beat if beat.tzinfo is not None else beat.replace(tzinfo=UTC)
    return (datetime.now(UTC) - beat).total_seconds() > HEARTBEAT_MISSED_S
