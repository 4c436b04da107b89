"""What the executor does to jobs once they are queued: claim, progress, heartbeat, finish,
cancel, requeue the orphans of servers that are gone, and prune old finished jobs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update

from api.store.base import StoreBase, to_json
from api.store.records import CANCELLED, FINISHED, QUEUED, RUNNING, Job, JobStatus, aware, utcnow


class RunningJobs(StoreBase):
    """The running side of the job table, for whatever executes the solves."""

    def claim_next(self, owner: str) -> Job | None:
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
                claimed = self._claim(conn, candidate.id, owner)
                if claimed is not None:
                    return claimed
        return None

    def claim(self, job_id: str, owner: str) -> Job | None:
        """Mark ``job_id`` running for ``owner`` if it is still queued, and return it (with its
        document); None when it is not queued (already taken, finished or cancelled)."""
        with self._write() as conn:
            return self._claim(conn, job_id, owner)

    def _claim(self, conn: Any, job_id: str, owner: str) -> Job | None:
        """In the caller's write transaction: ``job_id`` running for ``owner`` if it is still
        queued (a fresh run: progress cleared, one more attempt), with its status event."""
        jobs = self.jobs
        now = utcnow()
        claimed = conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == QUEUED)
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
        if claimed != 1:
            return None
        self._add_events(conn, job_id, [("status", {"status": RUNNING})], now)
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).one()
        return Job.from_row(row._mapping)

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
        status: JobStatus,
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
            values["solution"] = to_json(solution)
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

    def request_cancel(self, job_id: str) -> Job | None:
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
                or (aware(r.updated_at) or stale_before) < stale_before
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
