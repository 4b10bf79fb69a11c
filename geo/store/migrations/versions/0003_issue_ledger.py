"""Issue ledger: versions, routing flags, status history, photos, re-inspections (回头看)."""

import sqlalchemy as sa
from alembic import op

from geo.store.migrations.helpers import id_column, optional, required

revision, down_revision = "0003", "0002"


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
        id_column(),
        *required(issue_id=sa.Integer, at=sa.DateTime, actor=sa.String(200)),
        sa.Column("from_status", sa.String(32)),
        *required(to_status=sa.String(32), note=sa.Text),
    )
    op.create_index("ix_issue_history_issue", "issue_history", ["issue_id"])
    op.create_table(
        "issue_photos",
        id_column(),
        sa.Column("issue_id", sa.Integer, nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),  # before | after
        *required(filename=sa.Text, content_type=sa.String(64), size=sa.Integer,
                  data=sa.LargeBinary, at=sa.DateTime, actor=sa.String(200)),
    )
    op.create_index("ix_issue_photos_issue", "issue_photos", ["issue_id"])
    op.create_table(
        "reinspections",
        id_column(),
        *required(issue_id=sa.Integer, due=sa.DateTime),
        sa.Column("result", sa.String(16)),  # held | came_back
        *optional(done_at=sa.DateTime, actor=sa.String(200), note=sa.Text),
    )
