"""The rules of a city-management centre (数字城管 考评办法): working-time deadlines, 延期, 返工,
claims, reply templates and notifications.

Issues get: urgency (紧急 urgent | 一般 normal), dispatched_at (the clock starts at 派遣),
paused_at (the clock stops while 挂账/缓办 or waiting on a 延期 decision), rework_count (failed
核查), extension_count (approved 延期), and a claim (claimed_by, claimed_until). New tables:
calendar_days (an office's days off and extra workdays, for local days and for years the
holiday package does not know), time_limits (an office's 处置时限 per category and urgency,
over the reference defaults), extensions (延期 applications and their decisions),
reply_templates (回复模板), notifications (the in-app list per user), webhooks, deliveries
(e-mail and webhook sends with their retries) and issue_notices (which deadline notices an
issue has had, so each is sent once).
"""

import sqlalchemy as sa
from alembic import op

from geo.store.migrations.helpers import id_column, is_postgres, optional, required

revision, down_revision = "0023", "0022"

ISSUE_COLUMNS = [
    sa.Column("urgency", sa.String(16), nullable=False, server_default="normal"),
    *optional(dispatched_at=sa.DateTime, paused_at=sa.DateTime),
    sa.Column("rework_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("extension_count", sa.Integer, nullable=False, server_default="0"),
    *optional(claimed_by=sa.String(100), claimed_until=sa.DateTime),
]


def _issue_key(table: str) -> sa.ForeignKey:
    """A reference to an issue: owned rows go with it, checked at commit (0022)."""
    referred = "issue_keys" if is_postgres() else "issues"
    return sa.ForeignKey(f"{referred}.id", name=f"fk_{table}_issue_id", ondelete="CASCADE",
                         deferrable=True, initially="DEFERRED")


def upgrade() -> None:
    """Add the issue columns and the tables of the rules."""
    for column in ISSUE_COLUMNS:
        op.add_column("issues", column)
    op.create_table("calendar_days", id_column(),
                    *required(start_date=sa.Date, end_date=sa.Date, kind=sa.String(8)),
                    sa.Column("note", sa.Text, nullable=False, server_default=""),
                    *required(created_by=sa.String(200), created_at=sa.DateTime))
    op.create_table("time_limits",
                    sa.Column("category", sa.String(64), primary_key=True),
                    sa.Column("urgency", sa.String(16), primary_key=True),
                    *required(amount=sa.Float, unit=sa.String(16)))
    op.create_table("extensions", id_column(),
                    sa.Column("issue_id", sa.Integer, _issue_key("extensions"), nullable=False),
                    sa.Column("unit", sa.Text),
                    *required(reason=sa.Text, requested_deadline=sa.DateTime,
                              requested_by=sa.String(200), requested_at=sa.DateTime,
                              state=sa.String(16)),
                    *optional(decided_by=sa.String(200), decided_at=sa.DateTime,
                              decision_note=sa.Text, old_deadline=sa.DateTime,
                              new_deadline=sa.DateTime))
    op.create_index("ix_extensions_issue", "extensions", ["issue_id"])
    op.create_index("ix_extensions_unit", "extensions", ["unit", "requested_at"])
    op.create_table("reply_templates", id_column(),
                    *optional(category=sa.String(64), status=sa.String(32)),
                    *required(title=sa.Text, text=sa.Text, created_by=sa.String(200),
                              created_at=sa.DateTime))
    op.create_table("notifications", id_column(),
                    *required(username=sa.String(100), at=sa.DateTime, event=sa.String(32)),
                    sa.Column("issue_id", sa.Integer),
                    sa.Column("message", sa.Text, nullable=False),
                    sa.Column("read_at", sa.DateTime))
    op.create_index("ix_notifications_user", "notifications", ["username", "at"])
    op.create_table("webhooks", id_column(),
                    *required(url=sa.Text, secret=sa.Text, events=sa.JSON),
                    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
                    *required(created_by=sa.String(200), created_at=sa.DateTime))
    op.create_table("deliveries", id_column(),
                    *required(channel=sa.String(16), target=sa.Text, event=sa.String(32)),
                    sa.Column("webhook_id", sa.Integer,
                              sa.ForeignKey("webhooks.id", name="fk_deliveries_webhook_id",
                                            ondelete="CASCADE")),
                    sa.Column("issue_id", sa.Integer),
                    *required(payload=sa.JSON, state=sa.String(16), attempts=sa.Integer,
                              created_at=sa.DateTime),
                    *optional(next_attempt_at=sa.DateTime, sent_at=sa.DateTime,
                              last_error=sa.Text))
    op.create_index("ix_deliveries_due", "deliveries", ["state", "next_attempt_at"])
    op.create_table("issue_notices",
                    sa.Column("issue_id", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("event", sa.String(32), primary_key=True),
                    sa.Column("deadline", sa.DateTime, primary_key=True))


def downgrade() -> None:
    """Drop the tables and the issue columns."""
    for table in ("issue_notices", "deliveries", "webhooks", "notifications",
                  "reply_templates", "extensions", "time_limits", "calendar_days"):
        op.drop_table(table)
    with op.batch_alter_table("issues") as batch:
        for column in reversed(ISSUE_COLUMNS):
            batch.drop_column(column.name)
