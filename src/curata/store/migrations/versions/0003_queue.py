"""Queue at scale (#3): an index the queue walks in serving order (with ``tasks.is_open``),
per-record language routing (``tasks.language``), lease indexes, calibration rounds.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(
            sa.Column("is_open", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch.add_column(sa.Column("language", sa.String(length=35), nullable=True))
    op.execute(
        "UPDATE tasks SET is_open = (kind <> 'live' OR assigned < "
        "(SELECT overlap FROM projects WHERE projects.id = tasks.project_id))"
    )
    op.create_index(
        "ix_tasks_queue",
        "tasks",
        ["project_id", "kind", "is_open", sa.text("priority DESC"), "id"],
        unique=False,
    )
    op.create_index(
        "ix_assignments_user_status", "assignments", ["user_id", "status"], unique=False
    )
    op.create_index("ix_assignments_lease", "assignments", ["status", "expires_at"], unique=False)
    with op.batch_alter_table("project_members") as batch:
        batch.add_column(
            sa.Column("calibration_round", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("project_members") as batch:
        batch.drop_column("calibration_round")
    op.drop_index("ix_assignments_lease", table_name="assignments")
    op.drop_index("ix_assignments_user_status", table_name="assignments")
    op.drop_index("ix_tasks_queue", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("language")
        batch.drop_column("is_open")
