"""The cases whose clock is stopped (paused_at set: 挂账/缓办, or a 延期 awaiting decision).

ix_issues_paused (partial: only the rows with paused_at): issue_stats counts overdue cases from
the covering indexes, which do not hold paused_at, then takes away the few stopped ones read
from this index (a stopped clock is not overdue), instead of reading every row.
"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0026", "0025"


def upgrade() -> None:
    """Add the partial index."""
    where = sa.text("paused_at IS NOT NULL")
    op.create_index("ix_issues_paused", "issues", ["paused_at"], sqlite_where=where,
                    postgresql_where=where)


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_issues_paused", "issues")
