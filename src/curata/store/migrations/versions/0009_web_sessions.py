"""Sign-in sessions of the web application (#15): an API token may expire
(``api_tokens.expires_at``) and says what it is for (``api_tokens.purpose``: ``api`` for a
token from ``curata user token``, ``web`` for a browser session, which ends at sign-out).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "api_tokens",
        sa.Column("purpose", sa.String(length=16), nullable=False, server_default="api"),
    )


def downgrade() -> None:
    op.execute("ALTER TABLE api_tokens DROP COLUMN purpose")
    op.execute("ALTER TABLE api_tokens DROP COLUMN expires_at")
