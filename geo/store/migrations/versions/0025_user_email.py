"""Notifications: a user's e-mail address, and the index of a user's unread notices.

users.email (optional): where geo.notify sends a user's notices by e-mail (none: in-app only).
ix_notifications_unread (username, read_at): the bell's unread count and the unread list read a
user's unread rows from it instead of every notice the user ever had.
"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0025", "0024"


def upgrade() -> None:
    """Add users.email and the unread index."""
    op.add_column("users", sa.Column("email", sa.Text))
    op.create_index("ix_notifications_unread", "notifications", ["username", "read_at"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_notifications_unread", "notifications")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email")
