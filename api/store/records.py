"""What the store hands out: a job as a typed record, its events, and the job statuses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]

QUEUED: JobStatus = "queued"
RUNNING: JobStatus = "running"
SUCCEEDED: JobStatus = "succeeded"
FAILED: JobStatus = "failed"
CANCELLED: JobStatus = "cancelled"
STATUSES: tuple[JobStatus, ...] = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
FINISHED: frozenset[JobStatus] = frozenset({SUCCEEDED, FAILED, CANCELLED})


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without their offset; they were stored in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True)
class Job:
    """One stored job. ``document`` and ``solution`` are the two large columns: they are
    read only when asked for (``JobStore.get(..., heavy=True)`` and ``claim_next``), and are
    None otherwise."""

    id: str
    status: JobStatus
    kind: str
    name: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int = 0
    owner: str | None = None
    cancel_requested: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)
    request_sha256: str = ""
    idempotency_key: str | None = None
    priority: int = 0
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    solutions: int = 0
    elapsed_s: float | None = None
    phase: str | None = None
    solution_status: str | None = None
    error: str | None = None
    document: str | None = None
    solution: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Job:
        """A row of the jobs table (with or without its large columns)."""
        solution = row.get("solution")
        return cls(
            id=row["id"],
            status=cast(JobStatus, row["status"]),
            kind=row["kind"],
            name=row["name"],
            created_at=aware(row["created_at"]) or utcnow(),
            updated_at=aware(row["updated_at"]) or utcnow(),
            started_at=aware(row["started_at"]),
            finished_at=aware(row["finished_at"]),
            attempts=int(row["attempts"] or 0),
            owner=row["owner"],
            cancel_requested=bool(row["cancel_requested"]),
            overrides=json.loads(row["overrides"]) if row["overrides"] else {},
            request_sha256=row["request_sha256"],
            idempotency_key=row["idempotency_key"],
            priority=int(row["priority"] or 0),
            objective=row["objective"],
            bound=row["bound"],
            gap=row["gap"],
            solutions=int(row["solutions"] or 0),
            elapsed_s=row["elapsed_s"],
            phase=row["phase"],
            solution_status=row["solution_status"],
            error=row["error"],
            document=row.get("document"),
            solution=json.loads(solution) if solution is not None else None,
        )


@dataclass(frozen=True)
class Event:
    """One entry of a job's event stream: a status change or an improving solution."""

    id: int
    job_id: str
    type: str
    data: dict[str, Any]
    created_at: datetime


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
