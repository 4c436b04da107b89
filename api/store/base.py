"""What every part of the store shares: the engine, the tables, write transactions."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from api.store.migrate import upgrade
from api.store.records import Job
from api.store.tables import make_engine, tables, writing

log = logging.getLogger(__name__)

# Columns too big to carry in listings.
HEAVY = ("document", "solution")


def to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class StoreBase:
    """An engine and the service's tables in it."""

    def __init__(self, url: str, *, table_prefix: str = "unishare_"):
        self.url = url
        self.engine = make_engine(url)
        self.tables = tables(table_prefix)
        self.jobs, self.events = self.tables.jobs, self.tables.events

    @contextmanager
    def _write(self) -> Iterator[Any]:
        """A write transaction (on SQLite: holding the write lock from its first statement)."""
        token = writing.set(True)
        try:
            with self.engine.begin() as conn:
                yield conn
        finally:
            writing.reset(token)

    # -- lifecycle -------------------------------------------------------------------------

    def migrate(self) -> None:
        """Create the tables, or upgrade them, to the schema this code expects."""
        upgrade(self.engine, self.tables.prefix)

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

    def get(self, job_id: str, *, heavy: bool = False) -> Job | None:
        """The job, with its document and solution when ``heavy``; None for unknown ids."""
        cols = [c for c in self.jobs.c if heavy or c.name not in HEAVY]
        with self.engine.connect() as conn:
            row = conn.execute(select(*cols).where(self.jobs.c.id == job_id)).first()
        return None if row is None else Job.from_row(row._mapping)

    def _add_events(
        self, conn: Any, job_id: str, events: list[tuple[str, dict[str, Any]]], now: datetime
    ) -> None:
        if events:
            conn.execute(
                insert(self.events),
                [
                    {"job_id": job_id, "type": t, "data": to_json(d), "created_at": now}
                    for t, d in events
                ],
            )
