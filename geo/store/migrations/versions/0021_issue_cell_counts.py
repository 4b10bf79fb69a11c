"""Issue counts per base cell, kept with every write: a city's unfiltered cell tiles read them.

issue_cell_counts (cell_x, cell_y, n): how many issues each base cell (about 50 m) holds,
changed in the transaction of every write that adds issues or moves one (geo/store/sql.py
`_count_cells`) and filled here from the issues. The map page's issue tiles below zoom 14 are
unfiltered for a city-wide user: their cells are merged from these rows (75,000 for the
1M-issue benchmark city, some 20,000 in a city-wide tile) instead of counted from the issues
(200,000 in such a tile): 54-85 -> 15 ms a tile on either backend.
"""

from alembic import op

from geo.store.migrations.helpers import create_by_pair

revision, down_revision = "0021", "0020"


def upgrade() -> None:
    """Create issue_cell_counts and count the issues into it."""
    create_by_pair("issue_cell_counts", ("cell_x", "cell_y"), "n",
                   fill="SELECT cell_x, cell_y, count(*) FROM issues GROUP BY cell_x, cell_y")


def downgrade() -> None:
    """Drop issue_cell_counts."""
    op.drop_table("issue_cell_counts")
