"""The evaluation indicators' cases due and closed in a period read from two indexes.

geo/store/indicators.py counts, for a period, the cases whose deadline falls in it and those
closed in it before their deadline. Neither deadline nor closed_at led an index of issues
(ix_issues_open_deadline holds the open statuses only), so on the 1,000,000-issue benchmark
city SQLite scanned the whole table for the cases closed in the period (SCAN issues) and
skip-scanned ix_issues_community_stats for those due in it: 0.42-0.52 s of SQL per period,
1.0-2.0 s for /api/indicators of a month with its previous month (target 1 s); PostgreSQL
read the group indexes of every month partition whole (0.13-0.22 s per period).

* ix_issues_deadline_stats (deadline, closed_at, status, rework_count, extension_count, unit,
  zone_id, community, category): the cases due in the period, grouped by any level, from the
  index entries alone (SQLite: SEARCH ... USING COVERING INDEX; PostgreSQL: an index-only scan
  of each partition);
* ix_issues_closed_stats (closed_at, deadline, ...the same): the cases closed in the period.

With them: 0.11-0.25 s of SQL per period on SQLite, 0.06-0.09 s on PostgreSQL; /api/indicators
0.33-0.93 s on SQLite and 0.13-0.51 s on PostgreSQL (bench/bench_indicators.py, medians of 5).
The price: about 22 % more database on SQLite (240 MB on the 1M city, 8 s to build; 4 s on
PostgreSQL) and an issue import about 15-25 % slower (200,000 rows: 15-16 s → 18-19 s).
"""
from alembic import op

revision, down_revision = "0024", "0023"
COUNTED = ["status", "rework_count", "extension_count", "unit", "zone_id", "community",
           "category"]


def upgrade() -> None:
    """Create the deadline and closed_at indexes of the indicators."""
    op.create_index("ix_issues_deadline_stats", "issues", ["deadline", "closed_at", *COUNTED])
    op.create_index("ix_issues_closed_stats", "issues", ["closed_at", "deadline", *COUNTED])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_issues_closed_stats", "issues")
    op.drop_index("ix_issues_deadline_stats", "issues")
