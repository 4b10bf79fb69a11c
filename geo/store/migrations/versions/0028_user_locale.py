"""The English locale (issue 18): users.locale, a user's own UI language ("zh-CN" or "en";
none: the browser's Accept-Language decides)."""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0028", "0027"


def upgrade() -> None:
    """Add users.locale."""
    op.add_column("users", sa.Column("locale", sa.String(16)))


def downgrade() -> None:
    """Drop it."""
    with op.batch_alter_table("users") as batch:
        batch.drop_column("locale")
