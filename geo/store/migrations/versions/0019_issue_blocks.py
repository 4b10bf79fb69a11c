"""Issue tiles change only where issues changed: a version per block of base cells.

issue_blocks (bx, by, version): each write of issues records the issues layer's new version
on the blocks (16 x 16 base cells, about 800 m square: geo.tiling.tiles.BLOCK_SHIFT) of the issues
it changed, before and after; layer_versions "issues:all" holds the version of the last write
that may change any tile (clearing the store). An issue tile's version is the largest of the
blocks it reads and "issues:all": a city's centre writes a case every few seconds, and every
issue tile of the city was built again after each (the layer's one version was their ETag).

"issues:all" starts at the issues layer's version now, so tiles built before stay apart.
"""

from alembic import op

from geo.store.migrations.helpers import create_by_pair

revision, down_revision = "0019", "0018"


def upgrade() -> None:
    """Create issue_blocks; "issues:all" := the issues layer's version."""
    create_by_pair("issue_blocks", ("bx", "by"), "version")
    op.execute("INSERT INTO layer_versions (layer, version) SELECT 'issues:all', version "
               "FROM layer_versions WHERE layer = 'issues'")


def downgrade() -> None:
    """Drop issue_blocks and "issues:all"."""
    op.execute("DELETE FROM layer_versions WHERE layer = 'issues:all'")
    op.drop_table("issue_blocks")
