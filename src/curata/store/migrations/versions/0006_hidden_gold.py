"""Hidden gold (#12): a live assignment may be a copy of the same annotator's answer on the
record's gold or calibration item (``assignments.copied_from``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("assignments", sa.Column("copied_from", sa.Integer(), nullable=True))


def downgrade() -> None:
    # plain DROP COLUMN, as in 0003: a batch would re-create a table annotations reference
    op.execute("ALTER TABLE assignments DROP COLUMN copied_from")
