"""Issue tiles on SQLite read one index: the cell index also holds category.

ix_issues_cells (cell_x, cell_y, lon, lat, status, deadline, category) replaces
ix_issues_cell_stats (the same columns without category). SQLite's issue point tiles now find
their issues by cell (`cell_x IN (the tile's columns) AND cell_y BETWEEN ...`: one short index
range per column of cells) and read id (the rowid), category, status and deadline from the
index entries: 4.5 ms for a dense 512-pixel tile of the 1M-issue city, where the (lon, lat)
index scanned the tile's whole strip of longitude and read each point's row (22 ms). Cell
tiles and heatmaps filtered by category are counted from the index too. PostgreSQL keeps
ix_issues_tile for points (0015); the cell index is the same on both.
"""

from alembic import op

revision, down_revision = "0018", "0017"


def upgrade() -> None:
    """Replace ix_issues_cell_stats by ix_issues_cells (category added)."""
    op.create_index("ix_issues_cells", "issues",
                    ["cell_x", "cell_y", "lon", "lat", "status", "deadline", "category"])
    op.drop_index("ix_issues_cell_stats", "issues")


def downgrade() -> None:
    """Back to ix_issues_cell_stats."""
    op.create_index("ix_issues_cell_stats", "issues",
                    ["cell_x", "cell_y", "lon", "lat", "status", "deadline"])
    op.drop_index("ix_issues_cells", "issues")
