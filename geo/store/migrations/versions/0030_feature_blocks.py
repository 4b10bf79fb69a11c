"""Feature tiles change only where features changed: a version per layer and block.

feature_blocks (layer, bx, by, version): each edit of a feature (save, delete) records its
layer's new version on the blocks (16 x 16 base cells, about 800 m square: the issue blocks'
grid, geo.tiling.tiles.BLOCK_SHIFT) its bounding box covers, before and after; layer_versions
"<layer>:all" holds the version of the last write that may change any of the layer's tiles (an
import, clearing the store, a feature larger than MAX_FEATURE_BLOCKS blocks). A feature tile's
version is the largest of its blocks' and "<layer>:all": a planner's edit of one zone changed the
ETag of every zone tile of the city (and of every shared tile of the page holding zones), so a
seeded city went cold for every user at the first edit of the day.

"<layer>:all" starts at each layer's version now, so tiles built before keep their ETags.
"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0030", "0029"


def upgrade() -> None:
    """Create feature_blocks; "<layer>:all" := each feature layer's version."""
    op.create_table("feature_blocks",
                    sa.Column("layer", sa.String(32), primary_key=True),
                    sa.Column("bx", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("by", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("version", sa.Integer, nullable=False))
    # a colon before a word is a bind parameter in SQLAlchemy's text(): "\\:" escapes it
    op.execute("INSERT INTO layer_versions (layer, version) SELECT layer || '\\:all', version "
               "FROM layer_versions WHERE layer IN (SELECT DISTINCT kind FROM features)")


def downgrade() -> None:
    """Drop feature_blocks and the "<layer>:all" rows of feature layers."""
    op.execute("DELETE FROM layer_versions "
               "WHERE layer LIKE '%\\:all' AND layer <> 'issues\\:all'")
    op.drop_table("feature_blocks")
