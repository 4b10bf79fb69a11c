"""Issue point tiles read their index only again: the covering indexes hold paused_at.

Whether an issue point is overdue (`geo.store.rows._overdue`) reads paused_at since 0026 (a case
waiting on a 延期 decision is not overdue), which neither covering index of the point tiles held:
every point of a tile read its table row again, a page per point (the points of an area are
spread over the whole table, in report order). At 1M issues a 512-pixel tile at zoom 16 not yet
in SQLite's cache took 45-130 ms instead of 24-64 ms; on PostgreSQL the index-only scans of the
month partitions (0015) became bitmap heap scans reading 8,000 table pages for a dense tile.

ix_issues_cells (cell_x, cell_y, lon, lat, status, deadline, category, paused_at) replaces the
same index without paused_at (both backends); on PostgreSQL ix_issues_tile (lon, lat) INCLUDE
(id, category, status, deadline, paused_at) replaces the same without paused_at.
"""

from geo.store.migrations.helpers import replace_tile_indexes

revision, down_revision = "0031", "0030"
CELL_COLUMNS = ["cell_x", "cell_y", "lon", "lat", "status", "deadline", "category"]
TILE_INCLUDE = ["id", "category", "status", "deadline"]


def _replace(paused: list[str]) -> None:
    replace_tile_indexes(CELL_COLUMNS + paused, TILE_INCLUDE + paused)


def upgrade() -> None:
    """The two covering indexes with paused_at."""
    _replace(["paused_at"])


def downgrade() -> None:
    """The two covering indexes without paused_at."""
    _replace([])
