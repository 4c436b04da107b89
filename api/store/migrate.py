"""Bringing the store's tables to the newest schema at start-up, with Alembic.

A database the service created before it had migrations holds both tables and no version
table: its schema is the first revision's, so it is stamped with that revision and then
upgraded like any other. Concurrent starts are serialised by the database (SQLite's write
lock, a PostgreSQL advisory lock), so that only one of them migrates.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from api.store.tables import writing

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# The revision whose schema the service created with create_all before it had migrations.
BASELINE = "0001"


class SchemaError(RuntimeError):
    """The database holds tables this service cannot take over."""


def alembic_config(connection: Connection, prefix: str) -> Config:
    """An Alembic configuration running the shipped revisions on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["table_prefix"] = prefix
    return config


def version_table(prefix: str) -> str:
    return f"{prefix}alembic_version"


def head() -> str:
    """The newest revision shipped."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    revision = ScriptDirectory.from_config(config).get_current_head()
    assert revision is not None
    return revision


def current(connection: Connection, prefix: str) -> str | None:
    """The revision the database is at (None: never migrated)."""
    context = MigrationContext.configure(connection, opts={"version_table": version_table(prefix)})
    return context.get_current_revision()


def _lock(connection: Connection, prefix: str) -> None:
    """Hold off other servers migrating the same tables until this transaction ends."""
    if connection.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"unishare:{prefix}".encode()).digest()[:8], "big")
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key - 2**63})
    # SQLite: the transaction began with BEGIN IMMEDIATE and already holds the write lock.


def _adopt_unversioned(connection: Connection, prefix: str, config: Config) -> None:
    """Stamp tables made before migrations existed with the revision they match."""
    names = set(inspect(connection).get_table_names())
    if version_table(prefix) in names:
        return
    ours = {f"{prefix}jobs", f"{prefix}job_events"} & names
    if not ours:
        return  # an empty database: the revisions create everything
    if len(ours) == 1:
        raise SchemaError(
            f"the database has {ours.pop()} but not its companion table and no "
            f"{version_table(prefix)}; it was not made by this service"
        )
    log.warning("the job tables predate migrations: stamping them as revision %s", BASELINE)
    command.stamp(config, BASELINE)


def upgrade(engine: Engine, prefix: str) -> None:
    """Create or upgrade the service's tables to the newest revision, in one transaction."""
    token = writing.set(True)
    try:
        with engine.begin() as connection:
            _lock(connection, prefix)
            config = alembic_config(connection, prefix)
            _adopt_unversioned(connection, prefix, config)
            before = current(connection, prefix)
            command.upgrade(config, "head")
            after = current(connection, prefix)
            if before != after:
                log.info("job store schema: %s -> %s", before or "empty", after)
    finally:
        writing.reset(token)
