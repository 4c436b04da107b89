"""``unishare worker``: an RQ worker serving synchronous solves first, then stored jobs.

RQ forks a work horse per job from this process, so the solvers are imported here once and
every horse starts warm.
"""

from __future__ import annotations

import logging
import socket
import sys
import uuid

from api.rqueue.names import connect, jobs_queue_name, sync_queue_name
from api.settings import Settings, SettingsError, load_settings
from api.store import JobStore

log = logging.getLogger(__name__)

PRELOAD = (
    "optimizer.registry",
    "ortools.sat.python.cp_model",
    "highspy",
    "pulp",
    "numpy",
    "scipy.sparse",
    "api.rqueue.tasks",
)


def preload() -> None:
    import importlib

    for module in PRELOAD:
        importlib.import_module(module)


def worker_name() -> str:
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


def run_worker(
    *,
    redis_url: str | None = None,
    name: str | None = None,
    burst: bool = False,
    log_level: str = "info",
) -> None:
    """Run one RQ worker until it is stopped (SIGTERM/SIGINT: a warm shutdown)."""
    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        settings: Settings = load_settings(redis_url=redis_url)
    except SettingsError as exc:
        sys.stderr.write(f"{exc}\n")
        raise SystemExit(2) from None
    if not settings.redis_url:
        sys.stderr.write("unishare worker needs --redis-url or UNISHARE_REDIS_URL\n")
        raise SystemExit(2)
    from rq import Queue, Worker

    # The tables exist before the first job is claimed, even when no API server ran yet.
    store = JobStore(settings.database_url, table_prefix=settings.table_prefix)
    store.migrate()
    store.dispose()
    preload()
    connection = connect(settings.redis_url)
    queues = [
        Queue(sync_queue_name(settings), connection=connection),
        Queue(jobs_queue_name(settings), connection=connection),
    ]
    worker = Worker(queues, connection=connection, name=name or worker_name())
    sys.stderr.write(f"UniShare worker {worker.name} on {', '.join(q.name for q in queues)}\n")
    sys.stderr.flush()
    worker.work(burst=burst, with_scheduler=False, logging_level=log_level.upper())
