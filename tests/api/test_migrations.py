"""The job store's schema migrations, on SQLite and on PostgreSQL: an empty database is
brought to the newest revision, and tables made before migrations existed are taken over
without losing a job."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
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
    inspect,
)

from api.store import JobStore
from api.store.migrate import SchemaError, current, head, version_table

PREFIX = "mig_"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


def pre_migration_tables(prefix: str) -> MetaData:
    """The tables exactly as the service created them (``MetaData.create_all``) before it
    had migrations. Frozen: it is what deployed databases hold, whatever the code says now."""
    meta = MetaData()
    Table(
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
    Table(
        f"{prefix}job_events",
        meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("job_id", String(36), nullable=False),
        Column("type", String(16), nullable=False),
        Column("data", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Index(f"ix_{prefix}job_events_job", "job_id", "id"),
    )
    return meta


def revision(engine: Engine, prefix: str = PREFIX) -> str | None:
    with engine.connect() as conn:
        return current(conn, prefix)


def schema_differences(store: JobStore) -> list[object]:
    """What Alembic would change to make the database match the code's tables."""
    with store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"version_table": version_table(store.tables.prefix)}
        )
        return list(compare_metadata(context, store.tables.meta))


def fill(store: JobStore) -> dict[str, str]:
    """One job in each state the store knows, with events; returns id -> status."""
    made = {}
    for n in range(4):
        job, _ = store.submit(
            kind="matching",
            name=f"job-{n}",
            document='{"kind": "matching"}',
            overrides={"seed": n},
            request_sha256=str(n),
            idempotency_key=f"key-{n}",
        )
        made[job.id] = job
    first, second, third, _fourth = made
    assert store.claim_next("server-a") is not None  # first: running
    store.record_progress(first, {"objective": 1.5, "solutions": 1}, [{"objective": 1.5}])
    assert store.claim_next("server-a") is not None  # second
    store.finish(second, status="succeeded", solution={"status": "optimal", "objective": 2.0})
    store.request_cancel(third)
    return {job_id: store.get(job_id).status for job_id in made}  # type: ignore[union-attr]


def test_an_empty_database_migrates_to_the_newest_revision(database_url: str) -> None:
    store = JobStore(database_url, table_prefix=PREFIX)
    try:
        assert revision(store.engine) is None
        store.migrate()
        assert revision(store.engine) == head()
        assert schema_differences(store) == []  # the revisions build what the code expects
        statuses = fill(store)
        store.migrate()  # at head already: nothing changes, nothing is lost
        assert {j: store.get(j).status for j in statuses} == statuses  # type: ignore[union-attr]
    finally:
        store.dispose()


def test_tables_made_before_migrations_are_adopted_without_losing_jobs(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    pre_migration_tables(PREFIX).create_all(engine)
    engine.dispose()
    store = JobStore(database_url, table_prefix=PREFIX)
    try:
        statuses = fill(store)
        before = {j: store.get(j, heavy=True) for j in statuses}
        events = {j: store.events_after(j) for j in statuses}
        assert version_table(PREFIX) not in inspect(store.engine).get_table_names()

        store.migrate()

        assert revision(store.engine) == head()
        assert schema_differences(store) == []
        assert {j: store.get(j, heavy=True) for j in statuses} == before
        assert {j: store.events_after(j) for j in statuses} == events
        # The adopted tables work as new ones: submit, claim, finish, prune.
        _new, created = store.submit(
            kind="loans", name="after", document="{}", overrides={}, request_sha256="after"
        )
        repeated, created_again = store.submit(
            kind="matching",
            name="job-0",
            document="{}",
            overrides={},
            request_sha256="0",
            idempotency_key="key-0",
        )
        assert created and not created_again
        assert repeated.id == next(iter(statuses))  # the idempotency key survived too
        assert store.prune(timedelta(seconds=-1)) == 2  # the succeeded and the cancelled job
    finally:
        store.dispose()


def test_each_table_prefix_keeps_its_own_schema_version(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = JobStore(url, table_prefix="a_"), JobStore(url, table_prefix="b_")
    try:
        first.migrate()
        assert revision(first.engine, "a_") == head()
        assert revision(second.engine, "b_") is None
        second.migrate()
        assert revision(second.engine, "b_") == head()
        names = set(inspect(first.engine).get_table_names())
        assert {
            "a_jobs",
            "a_job_events",
            "a_alembic_version",
            "b_jobs",
            "b_alembic_version",
        } <= names
    finally:
        first.dispose()
        second.dispose()


def test_a_lone_table_of_ours_is_refused_not_stamped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'odd.db'}"
    engine = create_engine(url)
    meta = pre_migration_tables(PREFIX)
    meta.tables[f"{PREFIX}jobs"].create(engine)
    engine.dispose()
    store = JobStore(url, table_prefix=PREFIX)
    try:
        with pytest.raises(SchemaError, match=f"{PREFIX}jobs"):
            store.migrate()
        assert revision(store.engine) is None
    finally:
        store.dispose()
