"""Layers (features) and issues."""

import sqlalchemy as sa
from alembic import op

from geo.store.migrations.helpers import id_column, optional, required

revision, down_revision = "0001", None


def upgrade() -> None:
    """Create features and issues; on PostgreSQL add PostGIS geometry columns + GiST indexes."""
    op.create_table(
        "features",
        id_column(),
        *required(kind=sa.String(32), name=sa.Text),
        *optional(category=sa.String(64), source_id=sa.String(128)),
        *required(properties=sa.JSON, wkb=sa.LargeBinary, minx=sa.Float, miny=sa.Float,
                  maxx=sa.Float, maxy=sa.Float),
    )
    op.create_index("ix_features_kind_bbox", "features", ["kind", "minx", "maxx", "miny", "maxy"])
    op.create_table(
        "issues",
        id_column(),
        sa.Column("external_id", sa.String(128), unique=True),
        *required(category=sa.String(64), description=sa.Text, address=sa.Text, lon=sa.Float,
                  lat=sa.Float),
        *optional(reported_at=sa.DateTime, deadline=sa.DateTime, closed_at=sa.DateTime),
        *required(status=sa.String(32), source=sa.String(64), reporter=sa.Text),
        *optional(zone_id=sa.Integer, unit=sa.Text, recurring_of=sa.Integer),
    )
    op.create_index("ix_issues_lonlat", "issues", ["lon", "lat"])
    op.create_index("ix_issues_status", "issues", ["status"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        op.execute(
            "ALTER TABLE features ADD COLUMN geom geometry(Geometry, 4326) "
            "GENERATED ALWAYS AS (ST_SetSRID(ST_GeomFromWKB(wkb), 4326)) STORED"
        )
        op.execute("CREATE INDEX ix_features_geom ON features USING GIST (geom)")
        op.execute(
            "ALTER TABLE issues ADD COLUMN geom geometry(Point, 4326) "
            "GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED"
        )
        op.execute("CREATE INDEX ix_issues_geom ON issues USING GIST (geom)")
