"""Indexes for the analytics of a period, the heatmap of a view and filtered issue lists.

* ix_issues_period_stats (reported_at, zone_id, community, unit, category, status, deadline,
  closed_at, recurring_of): the ranking's, dashboard's and bulletin's counts of a period (and
  the trend's) read one month's index entries alone (SQLite: SEARCH ... USING COVERING INDEX;
  PostgreSQL: an index-only scan) instead of every row of the month from the table (3.3-4.8 s
  for a ranking by zone of the 1M-issue city on SQLite).
* ix_issues_cell_lonlat (cell_x, cell_y, lon, lat) replaces ix_issues_cell (cell_x, cell_y):
  the heatmap of a bbox counts the cells of the view from the index alone (the cell ranges
  follow from the bbox; the exact lon/lat test reads the same entries), instead of the
  (lon, lat) index then the table (8.5 s for the whole city at z12 on SQLite).
* ix_issues_category_time (category, reported_at) replaces ix_issues_category: a list filtered
  by category reads its page in report order instead of sorting every match (2 s).
"""

from alembic import op

revision, down_revision = "0014", "0013"
PERIOD = ["reported_at", "zone_id", "community", "unit", "category", "status", "deadline",
          "closed_at", "recurring_of"]


def upgrade() -> None:
    """Create the period, cell and category indexes (the last two replace narrower ones)."""
    op.create_index("ix_issues_period_stats", "issues", PERIOD)
    op.drop_index("ix_issues_cell", "issues")
    op.create_index("ix_issues_cell_lonlat", "issues", ["cell_x", "cell_y", "lon", "lat"])
    op.drop_index("ix_issues_category", "issues")
    op.create_index("ix_issues_category_time", "issues", ["category", "reported_at"])


def downgrade() -> None:
    """Back to the indexes of 0013."""
    op.drop_index("ix_issues_category_time", "issues")
    op.create_index("ix_issues_category", "issues", ["category"])
    op.drop_index("ix_issues_cell_lonlat", "issues")
    op.create_index("ix_issues_cell", "issues", ["cell_x", "cell_y"])
    op.drop_index("ix_issues_period_stats", "issues")
