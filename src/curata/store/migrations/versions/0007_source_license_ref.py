"""Where a source's custom licence terms are (#12): ``sources.license_ref``, for an SPDX
expression with a ``LicenseRef-NAME``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sources", sa.Column("license_ref", sa.Text(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE sources DROP COLUMN license_ref")
