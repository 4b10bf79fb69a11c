"""PostgreSQL: issue points of a vector tile read from one index, not from the table.

ix_issues_tile (lon, lat) INCLUDE (id, category, status, deadline) replaces ix_issues_lonlat
(lon, lat), the same key: an issue tile (geo/store/sql.py `issue_tile`) counts and encodes its
points with an index-only scan of each month partition. Before, the tile's GiST scan on geom
read one table page per point (an area's issues are spread over every month partition, in
report order): 11,000-13,000 pages for a dense 512-pixel z15 tile of the 1M-issue city, twice
(count, then encode), 19 s when those pages came from disk; now a few hundred index pages.

SQLite (no INCLUDE) keeps ix_issues_lonlat.
"""

from alembic import op

revision, down_revision = "0015", "0014"
TILE_COLUMNS = ["id", "category", "status", "deadline"]


def upgrade() -> None:
    """Replace ix_issues_lonlat by the covering ix_issues_tile (PostgreSQL only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index("ix_issues_tile", "issues", ["lon", "lat"],
                    postgresql_include=TILE_COLUMNS)
    op.drop_index("ix_issues_lonlat", "issues")


def downgrade() -> None:
    """Back to ix_issues_lonlat (PostgreSQL only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index("ix_issues_lonlat", "issues", ["lon", "lat"])
    op.drop_index("ix_issues_tile", "issues")
