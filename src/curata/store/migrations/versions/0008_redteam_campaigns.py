"""Red-team campaigns (#14): ``campaigns`` (what was attacked, how, how far it got) and
``attempts`` (one row per attack x converter chain x sample, written as it finishes).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("attack_set", sa.String(length=200), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("version_ref", sa.String(length=300), nullable=False),
        sa.Column("target_name", sa.String(length=100), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("runner", sa.JSON(), nullable=False),
        sa.Column("variants", sa.JSON(), nullable=False),
        sa.Column("scorers", sa.JSON(), nullable=False),
        sa.Column("strategy", sa.JSON(), nullable=False),
        sa.Column("attacker", sa.JSON(), nullable=True),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("planned", sa.Integer(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["version_id"], ["versions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_campaigns_attack_set", "campaigns", ["attack_set"])
    op.create_index("ix_campaigns_version_id", "campaigns", ["version_id"])
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("attack_id", sa.String(length=32), nullable=False),
        sa.Column("variant", sa.Integer(), nullable=False),
        sa.Column("sample", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("harm_area", sa.String(length=64), nullable=True),
        sa.Column("technique", sa.String(length=64), nullable=False),
        sa.Column("framing", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=64), nullable=False),
        sa.Column("benign", sa.Boolean(), nullable=False),
        sa.Column("converters", sa.String(length=500), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("turns", sa.JSON(), nullable=False),
        sa.Column("n_turns", sa.Integer(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("latency_s", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "campaign_id", "attack_id", "variant", "sample", name="uq_attempts_unit"
        ),
    )
    op.create_index("ix_attempts_campaign_id", "attempts", ["campaign_id"])
    op.create_index("ix_attempts_campaign_verdict", "attempts", ["campaign_id", "verdict"])


def downgrade() -> None:
    op.drop_index("ix_attempts_campaign_verdict", table_name="attempts")
    op.drop_index("ix_attempts_campaign_id", table_name="attempts")
    op.drop_table("attempts")
    op.drop_index("ix_campaigns_version_id", table_name="campaigns")
    op.drop_index("ix_campaigns_attack_set", table_name="campaigns")
    op.drop_table("campaigns")
