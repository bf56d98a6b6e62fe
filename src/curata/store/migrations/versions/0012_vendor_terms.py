"""Vendor terms (#16): what governs each partner (data ownership, IP, retention, the highest
sensitivity its users may be served) and when it was revoked.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vendors") as batch:
        batch.add_column(sa.Column("data_ownership", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("ip", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("retention_days", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("max_sensitivity", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("terms_updated_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vendors") as batch:
        for column in (
            "terms_updated_at",
            "revoked_at",
            "max_sensitivity",
            "retention_days",
            "ip",
            "data_ownership",
        ):
            batch.drop_column(column)
