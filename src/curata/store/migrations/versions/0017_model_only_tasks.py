"""Model-only items held back from people (#16): ``tasks.model_covered`` marks a live item whose
every question runs ``model-only``, that the model answered, outside every question's human
audit sample. The queue's index gains the column after ``is_open``, so the queue walks only the
items people are served (an exhausted audit sample does not scan the held-back items).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN, not a batch (see 0003: SQLite cannot re-create a referenced table)
    op.add_column(
        "tasks",
        sa.Column("model_covered", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.drop_index("ix_tasks_queue", table_name="tasks")
    op.create_index(
        "ix_tasks_queue",
        "tasks",
        ["project_id", "kind", "is_open", "model_covered", sa.text("priority DESC"), "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_queue", table_name="tasks")
    op.create_index(
        "ix_tasks_queue",
        "tasks",
        ["project_id", "kind", "is_open", sa.text("priority DESC"), "id"],
        unique=False,
    )
    op.execute("ALTER TABLE tasks DROP COLUMN model_covered")
