"""Versions of edited features (zones, assignments): every save is a new version.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    """Add features.version and the feature_versions table."""
    with op.batch_alter_table("features") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.create_table(
        "feature_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("feature_id", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("category", sa.String(64)),
        sa.Column("properties", sa.JSON, nullable=False),
        sa.Column("wkb", sa.LargeBinary),
    )
    op.create_index("ix_feature_versions_feature", "feature_versions", ["feature_id"])
