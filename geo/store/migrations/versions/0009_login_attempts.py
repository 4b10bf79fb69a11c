"""Login attempts: failed logins and password changes counted per name, existing or not.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    """Create the login_attempts table (one row per purpose and attempted username)."""
    op.create_table(
        "login_attempts",
        sa.Column("purpose", sa.String(16), primary_key=True),
        sa.Column("username", sa.String(200), primary_key=True),
        sa.Column("failed_count", sa.Integer, nullable=False),
        sa.Column("first_failed_at", sa.DateTime, nullable=False),
        sa.Column("locked_until", sa.DateTime),
    )


def downgrade() -> None:
    """Drop the login_attempts table."""
    op.drop_table("login_attempts")
