"""The durable job store: typed job records, the tables, and the repository over them."""

from api.store.records import (
    CANCELLED,
    FAILED,
    FINISHED,
    QUEUED,
    RUNNING,
    STATUSES,
    SUCCEEDED,
    Event,
    IdempotencyConflict,
    Job,
    JobStatus,
    QueueFull,
)
from api.store.repository import JobStore

__all__ = [
    "CANCELLED",
    "FAILED",
    "FINISHED",
    "QUEUED",
    "RUNNING",
    "STATUSES",
    "SUCCEEDED",
    "Event",
    "IdempotencyConflict",
    "Job",
    "JobStatus",
    "JobStore",
    "QueueFull",
]
