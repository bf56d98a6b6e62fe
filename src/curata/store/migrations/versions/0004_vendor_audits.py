"""Vendor audits (#4): an audit of a vendor's annotations on a project and its sampled items.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vendor_audits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("vendor_id", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("claimed", sa.Float(), nullable=True),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("strata", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendors.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_vendor_audits_project_id", "vendor_audits", ["project_id"])
    op.create_table(
        "vendor_audit_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("audit_id", sa.Integer(), nullable=False),
        sa.Column("annotation_id", sa.Integer(), nullable=False),
        sa.Column("stratum", sa.String(length=400), nullable=False),
        sa.ForeignKeyConstraint(["annotation_id"], ["annotations.id"]),
        sa.ForeignKeyConstraint(["audit_id"], ["vendor_audits.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_vendor_audit_items_audit_id", "vendor_audit_items", ["audit_id"])
    op.create_index(
        "ix_vendor_audit_items_annotation_id", "vendor_audit_items", ["annotation_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ix_vendor_audit_items_annotation_id", table_name="vendor_audit_items")
    op.drop_index("ix_vendor_audit_items_audit_id", table_name="vendor_audit_items")
    op.drop_table("vendor_audit_items")
    op.drop_index("ix_vendor_audits_project_id", table_name="vendor_audits")
    op.drop_table("vendor_audits")
