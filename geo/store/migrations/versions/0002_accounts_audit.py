"""Units, users, tokens/sessions and the append-only audit log."""

import sqlalchemy as sa
from alembic import op

from geo.store.migrations.helpers import id_column, optional, required

revision, down_revision = "0002", "0001"


def upgrade() -> None:
    """Create the account tables and the audit table (append-only on PostgreSQL too)."""
    op.create_table(
        "units",
        id_column(),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("parent", sa.String(200)),
    )
    op.create_table(
        "users",
        id_column(),
        sa.Column("username", sa.String(100), nullable=False, unique=True),
        *required(password_hash=sa.Text, role=sa.String(32)),
        sa.Column("unit", sa.String(200)),
        *required(display_name=sa.Text, active=sa.Boolean, failed_count=sa.Integer),
        *optional(first_failed_at=sa.DateTime, locked_until=sa.DateTime),
    )
    op.create_table(
        "tokens",
        id_column(),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        *required(user_id=sa.Integer, kind=sa.String(16), name=sa.Text),
        sa.Column("csrf", sa.String(64)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime),
    )
    op.create_index("ix_tokens_user", "tokens", ["user_id"])
    op.create_table(
        "audit",
        id_column(),
        *required(at=sa.DateTime, actor=sa.String(200), action=sa.String(64),
                  object_type=sa.String(64)),
        sa.Column("object_id", sa.String(200)),
        sa.Column("diff", sa.JSON, nullable=False),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    # append-only: the database itself refuses UPDATE and DELETE on audit rows
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION ccmap_audit_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'audit rows are append-only'; END $$ LANGUAGE plpgsql""")
        op.execute("CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit "
                   "FOR EACH ROW EXECUTE FUNCTION ccmap_audit_append_only()")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_no_{event.lower()} BEFORE {event} ON audit "
                       "BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END")
