"""A feature's id is never given again: SQLite's features table numbers with AUTOINCREMENT.

SQLite gives a new row the largest rowid plus one, so a zone drawn after the newest zone was
deleted took the deleted zone's id, and with it the deleted zone's versions (feature_versions):
its popup listed them and offered to restore them onto the new zone. PostgreSQL's sequence never
gives a number twice. The table is rebuilt with AUTOINCREMENT (alembic's batch mode, the copy
SQLite's documentation prescribes for such a change), and its counter starts past every id the
features and their recorded versions ever used.
"""

from alembic import op

from geo.store.migrations.helpers import is_postgres

revision, down_revision = "0032", "0031"


def upgrade() -> None:
    """Rebuild features with AUTOINCREMENT (SQLite) and start its counter past every used id."""
    if is_postgres():
        return
    with op.batch_alter_table("features", recreate="always",
                              table_kwargs={"sqlite_autoincrement": True}):
        pass
    op.execute("DELETE FROM sqlite_sequence WHERE name = 'features'")
    op.execute("INSERT INTO sqlite_sequence (name, seq) SELECT 'features', max("
               "(SELECT coalesce(max(id), 0) FROM features), "
               "(SELECT coalesce(max(feature_id), 0) FROM feature_versions))")


def downgrade() -> None:
    """Rebuild features without AUTOINCREMENT (SQLite)."""
    if is_postgres():
        return
    with op.batch_alter_table("features", recreate="always",
                              table_kwargs={"sqlite_autoincrement": False}):
        pass
