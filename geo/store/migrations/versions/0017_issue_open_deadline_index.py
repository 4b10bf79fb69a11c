"""The next deadline of an issue tile read from a small index of the open issues.

ix_issues_open_deadline (deadline, lon, lat, cell_x, cell_y) WHERE status IN (the unhandled
statuses): store.issue_tile_valid_until (run on every request of an issue tile that shows or
filters by overdue, cache hits and 304s too) walks the open issues from the given time on, in
deadline order, and stops at the first one in the tile's area (points: lon/lat; cells:
cell_x/cell_y, both tested on the index entries). Open issues not yet due are few, so this
reads a few index pages whatever the tile's size. Before, it read every open issue of the
tile's area from the cell index and sorted them: 20 ms for a 512-pixel z13 tile of the
1M-issue city, 80-140 ms with a category or source filter on SQLite.

The WHERE is the very term the query writes (geo/store/sql.py `_OPEN_ISSUE`, the statuses
sorted, as literals): SQLite uses a partial index only for a query holding that term. On
PostgreSQL the index is made on the partitioned issues table (so on every month partition).
"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0017", "0016"
# geo.model.lifecycle.UNHANDLED as of this revision, sorted
OPEN = "status IN ('accepted', 'dispatched', 'reported', 'returned')"


def upgrade() -> None:
    """Create the partial index of open issues by deadline."""
    op.create_index("ix_issues_open_deadline", "issues",
                    ["deadline", "lon", "lat", "cell_x", "cell_y"],
                    sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_issues_open_deadline", "issues")
