"""Job heartbeat: which process runs a job and when it last showed signs of life, so a job
left queued/running by a process that died can be reported failed.
"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0011", "0010"


def upgrade() -> None:
    """Add jobs.worker and jobs.heartbeat_at (existing rows: heartbeat = created_at)."""
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("worker", sa.String(200)))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime))
    op.execute("UPDATE jobs SET heartbeat_at = COALESCE(started_at, created_at)")


def downgrade() -> None:
    """Drop jobs.worker and jobs.heartbeat_at."""
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("worker")
