"""SQLite: a kind's widest feature found from an index, so that a box reads only its columns.

ix_features_kind_bbox (kind, minx, maxx, miny, maxy) served a box's features (a tile's, a
GeoJSON page's) by a range on minx below the box's east edge: every feature of the kind west of
the box, half a city's 50,000 streets for a tile in its middle, to find the 3,400 of a z13
tile (3.5 of its 8 ms of reading). ix_features_kind_width (kind, maxx - minx) gives the kind's
widest feature in a few index pages, which bounds the range from the west too: a feature whose
minx lies further west than the box's west edge minus that width ends before the box
(geo/store/sql.py `_feature_conditions`). SQLite keeps the index up to date with every write.

PostgreSQL finds a box's features with its GiST index on geom (&&): nothing to do there.
"""

from alembic import op

from geo.store.migrations.helpers import sample_index_again

revision, down_revision = "0038", "0037"


def upgrade() -> None:
    """Create ix_features_kind_width (SQLite only)."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("CREATE INDEX ix_features_kind_width ON features (kind, maxx - minx)")
    sample_index_again("ix_features_kind_width")


def downgrade() -> None:
    """Drop ix_features_kind_width (SQLite only)."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP INDEX ix_features_kind_width")
