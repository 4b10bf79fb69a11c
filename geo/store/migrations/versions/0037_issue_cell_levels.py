"""Issue counts kept per 4 x 4, 16 x 16 and 64 x 64 base cells: low zooms' cell tiles read them.

A city-wide user's cell tile merged the counts kept per base cell (0021) into its cells: at map
zoom 14 a cell is 8 x 8 base cells, so a 512-pixel tile of the 1M-issue benchmark city read some
5,500 rows (and every row of its cells' columns, 17,000, in the primary key's order), at zoom 13
four times as many. issue_cell_levels (level, cell_x, cell_y, n) holds the same counts summed
over 2^level x 2^level base cells (levels 2, 4 and 6: the base cell's x and y shifted right by
the level), changed with issue_cell_counts in the transaction of every write that adds issues
(geo/store/rows.py `_issues_added`) and filled here from it; a tile reads the coarsest level its
cells are made of (geo/tiling/tiles.py `cell_level`).
"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0037", "0036"

LEVELS = (2, 4, 6)  # geo.tiling.tiles.CELL_LEVELS when this was written


def upgrade() -> None:
    """Create issue_cell_levels and sum the kept base-cell counts into it."""
    op.create_table("issue_cell_levels",
                    sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("cell_x", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("cell_y", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("n", sa.Integer, nullable=False))
    for level in LEVELS:  # >> is arithmetic on both backends, as in Python
        op.execute("INSERT INTO issue_cell_levels (level, cell_x, cell_y, n) "
                   f"SELECT {level}, cell_x >> {level}, cell_y >> {level}, sum(n) "
                   f"FROM issue_cell_counts GROUP BY cell_x >> {level}, cell_y >> {level}")


def downgrade() -> None:
    """Drop issue_cell_levels."""
    op.drop_table("issue_cell_levels")
