"""The durable job store: one ``jobs`` table and one ``job_events`` table, via SQLAlchemy Core.

It works on SQLite (the default; WAL mode, write transactions taken with ``BEGIN IMMEDIATE`` so
concurrent writers queue instead of failing) and on PostgreSQL or any other SQLAlchemy URL.
All job state lives here; the server keeps none in memory that a restart could lose.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

log = logging.getLogger(__name__)

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
)
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
FINISHED = frozenset({SUCCEEDED, FAILED, CANCELLED})

# Columns too big to carry in listings.
_HEAVY = ("document", "solution")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without their offset; they were stored in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class QueueFull(Exception):
    """The server already holds ``max_queued_jobs`` waiting jobs."""

    def __init__(self, queued: int):
        super().__init__(f"{queued} jobs are already waiting")
        self.queued = queued


class IdempotencyConflict(Exception):
    """An ``Idempotency-Key`` was reused with a different request."""

    def __init__(self, job_id: str):
        super().__init__(f"the Idempotency-Key already names job {job_id} with another request")
        self.job_id = job_id


@dataclass(frozen=True)
class Event:
    id: int
    job_id: str
    type: str
    data: dict[str, Any]
    created_at: datetime


def _tables(prefix: str) -> tuple[MetaData, Table, Table]:
    meta = MetaData()
    jobs = Table(
        f"{prefix}jobs",
        meta,
        Column("id", String(36), primary_key=True),
        Column("idempotency_key", String(255), unique=True, nullable=True),
        Column("request_sha256", String(64), nullable=False),
        Column("kind", String(64), nullable=False),
        Column("name", String(500), nullable=True),
        Column("status", String(16), nullable=False),
        Column("priority", Integer, nullable=False, default=0),
        Column("document", Text, nullable=False),
        Column("overrides", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("started_at", DateTime(timezone=True), nullable=True),
        Column("finished_at", DateTime(timezone=True), nullable=True),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        Column("owner", String(64), nullable=True),
        Column("cancel_requested", Boolean, nullable=False, default=False),
        Column("objective", Float, nullable=True),
        Column("bound", Float, nullable=True),
        Column("gap", Float, nullable=True),
        Column("solutions", Integer, nullable=False, default=0),
        Column("elapsed_s", Float, nullable=True),
        Column("phase", String(64), nullable=True),
        Column("solution_status", String(16), nullable=True),
        Column("solution", Text, nullable=True),
        Column("error", Text, nullable=True),
        Index(f"ix_{prefix}jobs_status_created", "status", "priority", "created_at"),
        Index(f"ix_{prefix}jobs_kind", "kind"),
    )
    events = Table(
        f"{prefix}job_events",
        meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("job_id", String(36), nullable=False),
        Column("type", String(16), nullable=False),
        Column("data", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Index(f"ix_{prefix}job_events_job", "job_id", "id"),
    )
    return meta, jobs, events


_writing: ContextVar[bool] = ContextVar("unishare_store_writing", default=False)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and immediate write locks."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, open transactions (see the "begin" hook below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock up front: a deferred transaction that reads and then writes
        # fails with "database is locked" when another writer got in between. Readers do not
        # lock at all (WAL), so event streams and listings never hold writers up.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _writing.get() else "BEGIN")

    return engine


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class JobStore:
    """Jobs and their events, in any SQLAlchemy database."""

    def __init__(self, url: str, *, table_prefix: str = "unishare_"):
        self.url = url
        self.engine = make_engine(url)
        self.meta, self.jobs, self.events = _tables(table_prefix)

    @contextmanager
    def _write(self) -> Iterator[Any]:
        """A write transaction (on SQLite: holding the write lock from its first statement)."""
        token = _writing.set(True)
        try:
            with self.engine.begin() as conn:
                yield conn
        finally:
            _writing.reset(token)

    # -- lifecycle -------------------------------------------------------------------------

    def create_schema(self) -> None:
        self.meta.create_all(self.engine)

    def drop_schema(self) -> None:
        self.meta.drop_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1)).scalar_one()
            return True
        except Exception:  # any driver failure means "not ready"
            log.warning("database ping failed", exc_info=True)
            return False

    # -- reading ---------------------------------------------------------------------------

    def _row(self, row: Any, *, heavy: bool = True) -> dict[str, Any]:
        data = dict(row._mapping)
        for key in ("created_at", "started_at", "finished_at", "updated_at"):
            if key in data:
                data[key] = _aware(data[key])
        if "overrides" in data:
            data["overrides"] = json.loads(data["overrides"])
        if heavy and data.get("solution") is not None:
            data["solution"] = json.loads(data["solution"])
        return data

    def get(self, job_id: str, *, heavy: bool = False) -> dict[str, Any] | None:
        cols = [c for c in self.jobs.c if heavy or c.name not in _HEAVY]
        with self.engine.connect() as conn:
            row = conn.execute(select(*cols).where(self.jobs.c.id == job_id)).first()
        return None if row is None else self._row(row)

    def list_jobs(
        self,
        *,
        status: str | None = None,
        kind: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        cols = [c for c in self.jobs.c if c.name not in _HEAVY]
        query = select(*cols)
        count = select(func.count()).select_from(self.jobs)
        if status is not None:
            query = query.where(self.jobs.c.status == status)
            count = count.where(self.jobs.c.status == status)
        if kind is not None:
            query = query.where(self.jobs.c.kind == kind)
            count = count.where(self.jobs.c.kind == kind)
        query = query.order_by(self.jobs.c.created_at.desc(), self.jobs.c.id).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query.offset(offset)).all()
            total = conn.execute(count).scalar_one()
        return [self._row(r) for r in rows], int(total)

    def counts(self) -> dict[tuple[str, str], int]:
        """Number of jobs per (kind, status)."""
        query = select(self.jobs.c.kind, self.jobs.c.status, func.count()).group_by(
            self.jobs.c.kind, self.jobs.c.status
        )
        with self.engine.connect() as conn:
            return {(k, s): int(n) for k, s, n in conn.execute(query)}

    def queued_count(self) -> int:
        query = select(func.count()).select_from(self.jobs).where(self.jobs.c.status == QUEUED)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def events_after(self, job_id: str, after: int = 0, limit: int = 500) -> list[Event]:
        ev = self.events
        query = (
            select(ev).where(ev.c.job_id == job_id, ev.c.id > after).order_by(ev.c.id).limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            Event(r.id, r.job_id, r.type, json.loads(r.data), _aware(r.created_at) or utcnow())
            for r in rows
        ]

    # -- writing ---------------------------------------------------------------------------

    def submit(
        self,
        *,
        kind: str,
        name: str | None,
        document: str,
        overrides: dict[str, Any],
        request_sha256: str,
        idempotency_key: str | None = None,
        max_queued: int | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Store a new queued job; returns (job, created). A repeated key returns its job."""
        if idempotency_key is not None:
            existing = self._by_key(idempotency_key, request_sha256)
            if existing is not None:
                return existing, False
        now = utcnow()
        job_id = str(uuid.uuid4())
        try:
            with self._write() as conn:
                if max_queued is not None:
                    queued = conn.execute(
                        select(func.count())
                        .select_from(self.jobs)
                        .where(self.jobs.c.status == QUEUED)
                    ).scalar_one()
                    if queued >= max_queued:
                        raise QueueFull(int(queued))
                conn.execute(
                    insert(self.jobs).values(
                        id=job_id,
                        idempotency_key=idempotency_key,
                        request_sha256=request_sha256,
                        kind=kind,
                        name=name,
                        status=QUEUED,
                        priority=0,
                        document=document,
                        overrides=_json(overrides),
                        created_at=now,
                        updated_at=now,
                        attempts=0,
                        cancel_requested=False,
                        solutions=0,
                    )
                )
                self._add_events(conn, job_id, [("status", {"status": QUEUED})], now)
        except IntegrityError:
            # Two requests with one key raced; the other one won.
            if idempotency_key is None:
                raise
            existing = self._by_key(idempotency_key, request_sha256)
            if existing is None:
                raise
            return existing, False
        job = self.get(job_id)
        assert job is not None
        return job, True

    def _by_key(self, key: str, request_sha256: str) -> dict[str, Any] | None:
        cols = [c for c in self.jobs.c if c.name not in _HEAVY]
        with self.engine.connect() as conn:
            row = conn.execute(select(*cols).where(self.jobs.c.idempotency_key == key)).first()
        if row is None:
            return None
        if row.request_sha256 != request_sha256:
            raise IdempotencyConflict(row.id)
        return self._row(row)

    def _add_events(
        self, conn: Any, job_id: str, events: list[tuple[str, dict[str, Any]]], now: datetime
    ) -> None:
        if events:
            conn.execute(
                insert(self.events),
                [
                    {"job_id": job_id, "type": t, "data": _json(d), "created_at": now}
                    for t, d in events
                ],
            )

    def claim_next(self, owner: str) -> dict[str, Any] | None:
        """Mark the oldest queued job running for ``owner`` and return it (with its document)."""
        jobs = self.jobs
        for _ in range(5):
            with self._write() as conn:
                candidate = conn.execute(
                    select(jobs.c.id)
                    .where(jobs.c.status == QUEUED)
                    .order_by(jobs.c.priority.desc(), jobs.c.created_at, jobs.c.id)
                    .limit(1)
                ).first()
                if candidate is None:
                    return None
                now = utcnow()
                claimed = conn.execute(
                    update(jobs)
                    .where(jobs.c.id == candidate.id, jobs.c.status == QUEUED)
                    .values(
                        status=RUNNING,
                        owner=owner,
                        started_at=now,
                        updated_at=now,
                        attempts=jobs.c.attempts + 1,
                        objective=None,
                        bound=None,
                        gap=None,
                        solutions=0,
                        elapsed_s=0.0,
                        phase=None,
                    )
                ).rowcount
                if claimed == 1:
                    self._add_events(conn, candidate.id, [("status", {"status": RUNNING})], now)
                    row = conn.execute(select(jobs).where(jobs.c.id == candidate.id)).one()
                    return self._row(row)
        return None

    def _running_by(self, job_id: str, owner: str | None) -> Any:
        """The job is still running, and (when given) still owned by ``owner``."""
        condition = (self.jobs.c.id == job_id) & (self.jobs.c.status == RUNNING)
        if owner is not None:
            condition = condition & (self.jobs.c.owner == owner)
        return condition

    def record_progress(
        self,
        job_id: str,
        fields: dict[str, Any],
        events: list[dict[str, Any]],
        *,
        owner: str | None = None,
    ) -> None:
        """Latest progress of a running job, plus one event per improving solution."""
        now = utcnow()
        with self._write() as conn:
            updated = conn.execute(
                update(self.jobs)
                .where(self._running_by(job_id, owner))
                .values(**fields, updated_at=now)
            ).rowcount
            if updated:
                self._add_events(conn, job_id, [("solution", e) for e in events], now)

    def heartbeat(self, owner: str, job_ids: list[str]) -> None:
        """Show that ``owner`` still runs these jobs (see :meth:`recover`)."""
        if not job_ids:
            return
        with self._write() as conn:
            conn.execute(
                update(self.jobs)
                .where(
                    self.jobs.c.id.in_(job_ids),
                    self.jobs.c.owner == owner,
                    self.jobs.c.status == RUNNING,
                )
                .values(updated_at=utcnow())
            )

    def finish(
        self,
        job_id: str,
        *,
        status: str,
        solution: dict[str, Any] | None = None,
        error: str | None = None,
        progress: dict[str, Any] | None = None,
        owner: str | None = None,
    ) -> bool:
        """Record the end of a running job; False when it was not running any more."""
        now = utcnow()
        values: dict[str, Any] = dict(progress or {})
        values.update(status=status, finished_at=now, updated_at=now, error=error)
        if solution is not None:
            values["solution"] = _json(solution)
            values["solution_status"] = solution.get("status")
        event_data: dict[str, Any] = {"status": status}
        if solution is not None:
            event_data["solution_status"] = solution.get("status")
            event_data["objective"] = solution.get("objective")
        if error:
            event_data["error"] = error
        with self._write() as conn:
            done = conn.execute(
                update(self.jobs).where(self._running_by(job_id, owner)).values(**values)
            ).rowcount
            if done:
                self._add_events(conn, job_id, [("status", event_data)], now)
        return bool(done)

    def request_cancel(self, job_id: str) -> dict[str, Any] | None:
        """Cancel a queued job at once; flag a running one for its executor to stop."""
        now = utcnow()
        jobs = self.jobs
        with self._write() as conn:
            exists = conn.execute(select(jobs.c.id).where(jobs.c.id == job_id)).first()
            if exists is None:
                return None
            # Conditional updates: the supervisor may claim the job between our read and write.
            dequeued = conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status == QUEUED)
                .values(
                    status=CANCELLED,
                    cancel_requested=True,
                    finished_at=now,
                    updated_at=now,
                    error="cancelled before it started",
                )
            ).rowcount
            if dequeued:
                self._add_events(conn, job_id, [("status", {"status": CANCELLED})], now)
            else:
                conn.execute(
                    update(jobs)
                    .where(jobs.c.id == job_id, jobs.c.status == RUNNING)
                    .values(cancel_requested=True, updated_at=now)
                )
        return self.get(job_id)

    def cancel_requested(self, job_ids: list[str]) -> set[str]:
        if not job_ids:
            return set()
        query = select(self.jobs.c.id).where(
            self.jobs.c.id.in_(job_ids), self.jobs.c.cancel_requested.is_(True)
        )
        with self.engine.connect() as conn:
            return {r.id for r in conn.execute(query)}

    def requeue(self, job_ids: list[str] | None = None, reason: str = "requeued") -> list[str]:
        """Put running jobs (all, or those listed) back in the queue; returns their ids.

        Cancelled-while-running jobs are finished as cancelled instead.
        """
        jobs = self.jobs
        now = utcnow()
        query = select(jobs.c.id, jobs.c.cancel_requested).where(jobs.c.status == RUNNING)
        if job_ids is not None:
            query = query.where(jobs.c.id.in_(job_ids))
        requeued = []
        with self._write() as conn:
            for row in conn.execute(query).all():
                if row.cancel_requested:
                    conn.execute(
                        update(jobs)
                        .where(jobs.c.id == row.id)
                        .values(
                            status=CANCELLED,
                            finished_at=now,
                            updated_at=now,
                            error="cancelled; the server stopped before the solve ended",
                        )
                    )
                    self._add_events(conn, row.id, [("status", {"status": CANCELLED})], now)
                    continue
                conn.execute(
                    update(jobs)
                    .where(jobs.c.id == row.id, jobs.c.status == RUNNING)
                    .values(status=QUEUED, owner=None, started_at=None, updated_at=now)
                )
                self._add_events(
                    conn, row.id, [("status", {"status": QUEUED, "reason": reason})], now
                )
                requeued.append(row.id)
        return requeued

    def recover(self, me: str, *, lease: timedelta, owner_dead: Callable[[str], bool]) -> list[str]:
        """Requeue running jobs whose owner is gone: ``owner_dead`` says so, or it has not
        shown a heartbeat for ``lease``. Jobs of ``me`` are left alone."""
        jobs = self.jobs
        stale_before = utcnow() - lease
        query = select(jobs.c.id, jobs.c.owner, jobs.c.updated_at).where(jobs.c.status == RUNNING)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        orphans = [
            r.id
            for r in rows
            if r.owner != me
            and (
                r.owner is None
                or owner_dead(r.owner)
                or (_aware(r.updated_at) or stale_before) < stale_before
            )
        ]
        if not orphans:
            return []
        return self.requeue(orphans, reason="its server stopped")

    def prune(self, older_than: timedelta) -> int:
        """Delete finished jobs (and their events) that finished before now - ``older_than``."""
        cutoff = utcnow() - older_than
        jobs, events = self.jobs, self.events
        with self._write() as conn:
            ids = [
                r.id
                for r in conn.execute(
                    select(jobs.c.id).where(
                        jobs.c.status.in_(sorted(FINISHED)), jobs.c.finished_at < cutoff
                    )
                )
            ]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                conn.execute(delete(events).where(events.c.job_id.in_(chunk)))
                conn.execute(delete(jobs).where(jobs.c.id.in_(chunk)))
        return len(ids)
