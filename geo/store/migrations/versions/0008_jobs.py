"""Jobs: long uploads and exports run off the request, with progress readable by any worker."""

import sqlalchemy as sa
from alembic import op

from geo.store.migrations.helpers import id_column, optional, required

revision, down_revision = "0008", "0007"


def upgrade() -> None:
    """Create the jobs table."""
    op.create_table(
        "jobs",
        id_column(),
        *required(kind=sa.String(64), state=sa.String(16), actor=sa.String(200)),
        sa.Column("unit", sa.String(200)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        *optional(started_at=sa.DateTime, finished_at=sa.DateTime),
        sa.Column("done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("total", sa.Integer),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("result", sa.JSON),
    )
    op.create_index("ix_jobs_actor", "jobs", ["actor", "created_at"])
