"""Curation (#5): step runs and the per-record events (drops and changes) with their reasons.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "step_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operation_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("code_version", sa.String(length=200), nullable=False),
        sa.Column("records_in", sa.BigInteger(), nullable=False),
        sa.Column("records_out", sa.BigInteger(), nullable=False),
        sa.Column("changed", sa.BigInteger(), nullable=False),
        sa.Column("dropped", sa.BigInteger(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["operation_id"], ["operations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_step_runs_operation_id", "step_runs", ["operation_id"])
    op.create_table(
        "curation_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("step_run_id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("related_id", sa.String(length=32), nullable=True),
        sa.Column("new_id", sa.String(length=32), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["step_run_id"], ["step_runs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_curation_events_step_run_id", "curation_events", ["step_run_id"])
    op.create_index("ix_curation_events_record_id", "curation_events", ["record_id"])
    op.create_index("ix_curation_events_new_id", "curation_events", ["new_id"])


def downgrade() -> None:
    op.drop_index("ix_curation_events_new_id", table_name="curation_events")
    op.drop_index("ix_curation_events_record_id", table_name="curation_events")
    op.drop_index("ix_curation_events_step_run_id", table_name="curation_events")
    op.drop_table("curation_events")
    op.drop_index("ix_step_runs_operation_id", table_name="step_runs")
    op.drop_table("step_runs")
