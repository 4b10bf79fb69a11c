"""Where a field report was made (issue 18): the GPS position's accuracy radius in metres on
issues (their lon/lat are the device's position), and the device's position and accuracy on
inspections (an inspection is stored at its test point; this is where the inspector stood).
NULL for what came without one (imports, the map page, the CLI, older rows)."""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0029", "0028"
INSPECTION_COLUMNS = ("device_lon", "device_lat", "accuracy_m")


def upgrade() -> None:
    """Add issues.accuracy_m and inspections' device position."""
    op.add_column("issues", sa.Column("accuracy_m", sa.Float))
    for name in INSPECTION_COLUMNS:
        op.add_column("inspections", sa.Column(name, sa.Float))


def downgrade() -> None:
    """Drop them (SQLite 3.35+ drops an unindexed column in place)."""
    for name in INSPECTION_COLUMNS:
        op.execute(f"ALTER TABLE inspections DROP COLUMN {name}")
    op.execute("ALTER TABLE issues DROP COLUMN accuracy_m")
