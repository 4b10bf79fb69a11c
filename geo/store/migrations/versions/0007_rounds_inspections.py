"""Inspection rounds (检查轮次) and inspection records (检查记录) with their checklist results."""

import sqlalchemy as sa
from alembic import op

from geo.store.migrations.helpers import id_column, optional, required

revision, down_revision = "0007", "0006"


def upgrade() -> None:
    """Create rounds and inspections."""
    op.create_table(
        "rounds",
        id_column(),
        *required(name=sa.Text, created_at=sa.DateTime, created_by=sa.String(200), plan=sa.JSON),
    )
    op.create_table(
        "inspections",
        id_column(),
        sa.Column("round_id", sa.Integer),
        sa.Column("feature_id", sa.Integer, nullable=False),
        sa.Column("category", sa.String(64)),
        *required(inspected_at=sa.DateTime, inspector=sa.Text, source=sa.String(64), items=sa.JSON,
                  passed=sa.Integer, failed=sa.Integer, applicable=sa.Integer),
        *optional(score_rate=sa.Float, zone_id=sa.Integer, unit=sa.Text, community=sa.Text),
        sa.Column("issue_ids", sa.JSON, nullable=False),
    )
    op.create_index("ix_inspections_feature", "inspections", ["feature_id", "inspected_at"])
