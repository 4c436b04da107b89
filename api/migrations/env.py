"""Alembic's entry point: run the revisions on the connection the service hands over.

The service calls Alembic itself (``api.store.migrate``), in one transaction it has already
opened, with its table prefix; the version table carries the same prefix, so that several
deployments sharing a database each keep their own schema version.
"""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "the job store's migrations run from the service (api.store.migrate.upgrade), "
        "which hands them a connection; they have no alembic.ini of their own"
    )
prefix = config.attributes.get("table_prefix", "unishare_")
context.configure(
    connection=connection,
    version_table=f"{prefix}alembic_version",
    # SQLite alters tables by copying them; Alembic's batch mode does that for us.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
