"""The jobs and job_events tables, as the service created them before it had migrations.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _prefix() -> str:
    return str(context.config.attributes.get("table_prefix", "unishare_"))


def upgrade() -> None:
    prefix = _prefix()
    op.create_table(
        f"{prefix}jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("idempotency_key", sa.String(255), unique=True, nullable=True),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("name", sa.String(500), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("overrides", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("objective", sa.Float, nullable=True),
        sa.Column("bound", sa.Float, nullable=True),
        sa.Column("gap", sa.Float, nullable=True),
        sa.Column("solutions", sa.Integer, nullable=False),
        sa.Column("elapsed_s", sa.Float, nullable=True),
        sa.Column("phase", sa.String(64), nullable=True),
        sa.Column("solution_status", sa.String(16), nullable=True),
        sa.Column("solution", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index(
        f"ix_{prefix}jobs_status_created", f"{prefix}jobs", ["status", "priority", "created_at"]
    )
    op.create_index(f"ix_{prefix}jobs_kind", f"{prefix}jobs", ["kind"])
    op.create_table(
        f"{prefix}job_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(f"ix_{prefix}job_events_job", f"{prefix}job_events", ["job_id", "id"])


def downgrade() -> None:
    prefix = _prefix()
    op.drop_table(f"{prefix}job_events")
    op.drop_table(f"{prefix}jobs")
