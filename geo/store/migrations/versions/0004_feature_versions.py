"""Versions of edited features (zones, assignments): every save is a new version."""

import sqlalchemy as sa
from alembic import op

from geo.store.migrations.helpers import id_column, required

revision, down_revision = "0004", "0003"


def upgrade() -> None:
    """Add features.version and the feature_versions table."""
    with op.batch_alter_table("features") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.create_table(
        "feature_versions",
        id_column(),
        *required(feature_id=sa.Integer, version=sa.Integer, at=sa.DateTime, actor=sa.String(200),
                  action=sa.String(32), kind=sa.String(32), name=sa.Text),
        sa.Column("category", sa.String(64)),
        sa.Column("properties", sa.JSON, nullable=False),
        sa.Column("wkb", sa.LargeBinary),
    )
    op.create_index("ix_feature_versions_feature", "feature_versions", ["feature_id"])
