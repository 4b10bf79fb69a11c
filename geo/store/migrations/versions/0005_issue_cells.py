"""Grid cells of issues (for heatmaps), computed on write and back-filled here."""

import math

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0005", "0004"
CELL_DEG = 0.0005  # geo.tiling.cells.BASE_CELL_DEG: about 50 m


def upgrade() -> None:
    """Add cell_x/cell_y (floor(lon / CELL_DEG), floor(lat / CELL_DEG)) with an index."""
    with op.batch_alter_table("issues") as batch:
        batch.add_column(sa.Column("cell_x", sa.Integer))
        batch.add_column(sa.Column("cell_y", sa.Integer))
    op.create_index("ix_issues_cell", "issues", ["cell_x", "cell_y"])
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, lon, lat FROM issues")).fetchall()
    for start in range(0, len(rows), 5000):
        conn.execute(sa.text("UPDATE issues SET cell_x = :x, cell_y = :y WHERE id = :id"),
                     [{"id": r[0], "x": math.floor(r[1] / CELL_DEG),
                       "y": math.floor(r[2] / CELL_DEG)} for r in rows[start:start + 5000]])
