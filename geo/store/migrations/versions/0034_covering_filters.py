"""Filtered issue tiles read their index only: the covering indexes hold the filters' columns.

The page's unfiltered cell tiles read the counts kept per base cell (0021), but a filter makes
them count the issues, and a unit's own user has a filter on every tile (its unit). The tiles'
covering indexes held what the category, status and overdue filters test, not the report time
(the dates and the week replay), the source, the unit or the community: each of those read every
issue's table row in the tile, a page per issue, as they are spread over the table in report
order. At 1M issues a 512-pixel cell tile took 240-350 ms on SQLite with a week's dates, 220-320
ms for a source, 130-290 ms for a unit or a unit's user, where a category took 30-50 ms
(`python -m bench.bench_build --filters`).

ix_issues_cells gets reported_at, source, unit and community (both backends); on PostgreSQL
ix_issues_tile (lon, lat) INCLUDE (…) gets the same for the point tiles.
"""

from geo.store.migrations.helpers import replace_tile_indexes

revision, down_revision = "0034", "0033"
CELL_COLUMNS = ["cell_x", "cell_y", "lon", "lat", "status", "deadline", "category", "paused_at"]
TILE_INCLUDE = ["id", "category", "status", "deadline", "paused_at"]
FILTERED = ["reported_at", "source", "unit", "community"]


def _replace(filtered: list[str]) -> None:
    replace_tile_indexes(CELL_COLUMNS + filtered, TILE_INCLUDE + filtered)


def upgrade() -> None:
    """The two covering indexes with the filters' columns."""
    _replace(FILTERED)


def downgrade() -> None:
    """The two covering indexes as 0031 left them."""
    _replace([])
