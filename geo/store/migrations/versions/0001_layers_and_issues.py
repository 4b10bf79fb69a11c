"""Layers (features) and issues.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    """Create features and issues; on PostgreSQL add PostGIS geometry columns + GiST indexes."""
    op.create_table(
        "features",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("category", sa.String(64)),
        sa.Column("source_id", sa.String(128)),
        sa.Column("properties", sa.JSON, nullable=False),
        sa.Column("wkb", sa.LargeBinary, nullable=False),
        sa.Column("minx", sa.Float, nullable=False),
        sa.Column("miny", sa.Float, nullable=False),
        sa.Column("maxx", sa.Float, nullable=False),
        sa.Column("maxy", sa.Float, nullable=False),
    )
    op.create_index("ix_features_kind_bbox", "features", ["kind", "minx", "maxx", "miny", "maxy"])
    op.create_table(
        "issues",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("external_id", sa.String(128), unique=True),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("reported_at", sa.DateTime),
        sa.Column("deadline", sa.DateTime),
        sa.Column("closed_at", sa.DateTime),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("reporter", sa.Text, nullable=False),
        sa.Column("zone_id", sa.Integer),
        sa.Column("unit", sa.Text),
        sa.Column("recurring_of", sa.Integer),
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
