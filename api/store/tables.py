"""The two tables and the engine: their columns, and how each database is opened.

The Alembic revisions under ``api/migrations/`` create these same tables; a change here
needs a new revision there.
"""

from __future__ import annotations

import sqlite3
import time
from contextvars import ContextVar
from dataclasses import dataclass
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
    event,
)
from sqlalchemy.engine import make_url


@dataclass(frozen=True)
class Tables:
    """The service's tables under one prefix (several deployments may share a database)."""

    prefix: str
    meta: MetaData
    jobs: Table
    events: Table


def tables(prefix: str) -> Tables:
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
    return Tables(prefix, meta, jobs, events)


# Set while a write transaction opens, so that SQLite takes its write lock at BEGIN.
writing: ContextVar[bool] = ContextVar("unishare_store_writing", default=False)


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
        cursor.execute("PRAGMA busy_timeout=30000")
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock up front: a deferred transaction that reads and then writes
        # fails with "database is locked" when another writer got in between. Readers do not
        # lock at all (WAL), so event streams and listings never hold writers up.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writing.get() else "BEGIN")

    return engine


def _use_wal(cursor: Any, patience_s: float = 30.0) -> None:
    """Put the database in WAL mode, once for all its connections.

    Switching the mode needs the database to itself, and SQLite answers "database is locked"
    at once rather than waiting (the busy timeout does not cover it): processes starting
    together (a server and its workers) retry until the one that got there first is done.
    """
    deadline = time.monotonic() + patience_s
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
