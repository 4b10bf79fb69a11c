"""Issue ledger: versions, routing flags, status history, photos, re-inspections (回头看).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    """Add ledger columns to issues and the history, photo and re-inspection tables."""
    with op.batch_alter_table("issues") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("flags", sa.JSON))
        batch.add_column(sa.Column("cadre", sa.Text))
        batch.add_column(sa.Column("duplicate_of", sa.Integer))
    op.create_index("ix_issues_category", "issues", ["category"])
    op.create_index("ix_issues_reported_at", "issues", ["reported_at"])
    op.create_index("ix_issues_unit", "issues", ["unit"])
    op.create_table(
        "issue_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("issue_id", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("from_status", sa.String(32)),
        sa.Column("to_status", sa.String(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_index("ix_issue_history_issue", "issue_history", ["issue_id"])
    op.create_table(
        "issue_photos",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("issue_id", sa.Integer, nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),  # before | after
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
    )
    op.create_index("ix_issue_photos_issue", "issue_photos", ["issue_id"])
    op.create_table(
        "reinspections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("issue_id", sa.Integer, nullable=False),
        sa.Column("due", sa.DateTime, nullable=False),
        sa.Column("result", sa.String(16)),  # held | came_back
        sa.Column("done_at", sa.DateTime),
        sa.Column("actor", sa.String(200)),
        sa.Column("note", sa.Text),
    )
