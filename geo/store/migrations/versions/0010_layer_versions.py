"""Layer versions: a counter per map layer, bumped by every write that changes the layer, so
vector tile ETags change with the data.
"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0010", "0009"
LAYERS = ("street", "alley", "market", "test_point", "community", "subdistrict", "compound",
          "storefront", "zone", "issues")  # geo.tiling.tiles.TILE_LAYERS when this was written


def upgrade() -> None:
    """Create layer_versions with version 1 for every layer."""
    table = op.create_table(
        "layer_versions",
        sa.Column("layer", sa.String(32), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.bulk_insert(table, [{"layer": name, "version": 1} for name in LAYERS])


def downgrade() -> None:
    """Drop layer_versions."""
    op.drop_table("layer_versions")
