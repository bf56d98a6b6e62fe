"""Release signatures and export lineage (#16): ``exports`` (one export of a version: format,
options, output path, record count and the version's digest), ``export_files`` (each file it
wrote, with size and SHA-256) and ``checkpoint_exports`` (which exports trained a checkpoint).
Release signatures themselves are ``release.signed`` entries of the audit log (no table).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("operation_id", sa.String(length=36), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("out", sa.Text(), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.Column("version_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["versions.id"]),
        sa.ForeignKeyConstraint(["operation_id"], ["operations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_exports_version_id", "exports", ["version_id"])
    op.create_table(
        "export_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("export_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["export_id"], ["exports.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_export_files_export_id", "export_files", ["export_id"])
    op.create_index("ix_export_files_sha256", "export_files", ["sha256"])
    op.create_table(
        "checkpoint_exports",
        sa.Column("checkpoint_id", sa.Integer(), nullable=False),
        sa.Column("export_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["checkpoint_id"], ["checkpoints.id"]),
        sa.ForeignKeyConstraint(["export_id"], ["exports.id"]),
        sa.PrimaryKeyConstraint("checkpoint_id", "export_id"),
    )


def downgrade() -> None:
    op.drop_table("checkpoint_exports")
    op.drop_index("ix_export_files_sha256", table_name="export_files")
    op.drop_index("ix_export_files_export_id", table_name="export_files")
    op.drop_table("export_files")
    op.drop_index("ix_exports_version_id", table_name="exports")
    op.drop_table("exports")
