"""Login attempts: failed logins and password changes counted per name, existing or not."""

import sqlalchemy as sa
from alembic import op

from geo.store.migrations.helpers import required

revision, down_revision = "0009", "0008"


def upgrade() -> None:
    """Create the login_attempts table (one row per purpose and attempted username)."""
    op.create_table(
        "login_attempts",
        sa.Column("purpose", sa.String(16), primary_key=True),
        sa.Column("username", sa.String(200), primary_key=True),
        *required(failed_count=sa.Integer, first_failed_at=sa.DateTime),
        sa.Column("locked_until", sa.DateTime),
    )


def downgrade() -> None:
    """Drop the login_attempts table."""
    op.drop_table("login_attempts")
