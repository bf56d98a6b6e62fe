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
    # plain ADD COLUMN, not a batch: on SQLite a batch re-creates the table, which foreign keys
    # from assignments, annotations and reviews forbid once a project has work in it
    op.add_column(
        "tasks", sa.Column("is_open", sa.Boolean(), server_default=sa.true(), nullable=False)
    )
    op.add_column("tasks", sa.Column("language", sa.String(length=35), nullable=True))
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
    op.add_column(
        "project_members",
        sa.Column("calibration_round", sa.Integer(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    # plain ALTER TABLE … DROP COLUMN (SQLite >= 3.35 has it): a batch "recreate" would drop
    # and re-create tables other tables reference, which SQLite refuses with foreign keys on
    op.drop_index("ix_assignments_lease", table_name="assignments")
    op.drop_index("ix_assignments_user_status", table_name="assignments")
    op.drop_index("ix_tasks_queue", table_name="tasks")
    op.execute("ALTER TABLE project_members DROP COLUMN calibration_round")
    op.execute("ALTER TABLE tasks DROP COLUMN language")
    op.execute("ALTER TABLE tasks DROP COLUMN is_open")
