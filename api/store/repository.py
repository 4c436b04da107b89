"""The durable job store: jobs and their events in any SQLAlchemy database, via SQLAlchemy Core.

It works on SQLite (the default; WAL mode, write transactions taken with ``BEGIN IMMEDIATE`` so
concurrent writers queue instead of failing) and on PostgreSQL or any other SQLAlchemy URL.
All job state lives here; the server keeps none in memory that a restart could lose.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from api.store.base import HEAVY, to_json
from api.store.records import QUEUED, Event, IdempotencyConflict, Job, QueueFull, aware, utcnow
from api.store.runs import RunningJobs


class JobStore(RunningJobs):
    """Jobs and their events, in any SQLAlchemy database."""

    # -- reading ---------------------------------------------------------------------------

    def list_jobs(
        self,
        *,
        status: str | None = None,
        kind: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Job], int]:
        cols = [c for c in self.jobs.c if c.name not in HEAVY]
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
        return [Job.from_row(r._mapping) for r in rows], int(total)

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
            Event(r.id, r.job_id, r.type, json.loads(r.data), aware(r.created_at) or utcnow())
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
    ) -> tuple[Job, bool]:
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
                        overrides=to_json(overrides),
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

    def _by_key(self, key: str, request_sha256: str) -> Job | None:
        cols = [c for c in self.jobs.c if c.name not in HEAVY]
        with self.engine.connect() as conn:
            row = conn.execute(select(*cols).where(self.jobs.c.idempotency_key == key)).first()
        if row is None:
            return None
        if row.request_sha256 != request_sha256:
            raise IdempotencyConflict(row.id)
        return Job.from_row(row._mapping)
