"""Inspection rounds (检查轮次) and inspection records (检查记录) with their checklist results.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    """Create rounds and inspections."""
    op.create_table(
        "rounds",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("plan", sa.JSON, nullable=False),
    )
    op.create_table(
        "inspections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("round_id", sa.Integer),
        sa.Column("feature_id", sa.Integer, nullable=False),
        sa.Column("category", sa.String(64)),
        sa.Column("inspected_at", sa.DateTime, nullable=False),
        sa.Column("inspector", sa.Text, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("items", sa.JSON, nullable=False),
        sa.Column("passed", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("applicable", sa.Integer, nullable=False),
        sa.Column("score_rate", sa.Float),
        sa.Column("zone_id", sa.Integer),
        sa.Column("unit", sa.Text),
        sa.Column("community", sa.Text),
        sa.Column("issue_ids", sa.JSON, nullable=False),
    )
    op.create_index("ix_inspections_feature", "inspections", ["feature_id", "inspected_at"])
