"""Covering indexes for the analytics counted in SQL (geo/store/aggregates.py): issues grouped
by zone, community or unit and status are counted from the index alone, without reading the
table's rows (SQLite: SCAN ... USING COVERING INDEX; PostgreSQL: an index-only scan once the
table is vacuumed). The community and unit ones replace the single-column indexes of 0003/0006
(the same leading column still serves the list filters).
"""

from alembic import op

revision, down_revision = "0012", "0011"
STATS = ["status", "deadline", "closed_at", "recurring_of"]


def upgrade() -> None:
    """Create the (group, status, deadline, closed_at, recurring_of) indexes."""
    op.create_index("ix_issues_zone_stats", "issues", ["zone_id", *STATS])
    op.drop_index("ix_issues_community", "issues")
    op.create_index("ix_issues_community_stats", "issues", ["community", *STATS])
    op.drop_index("ix_issues_unit", "issues")
    op.create_index("ix_issues_unit_stats", "issues", ["unit", *STATS])


def downgrade() -> None:
    """Back to the single-column community and unit indexes."""
    op.drop_index("ix_issues_unit_stats", "issues")
    op.create_index("ix_issues_unit", "issues", ["unit"])
    op.drop_index("ix_issues_community_stats", "issues")
    op.create_index("ix_issues_community", "issues", ["community"])
    op.drop_index("ix_issues_zone_stats", "issues")
