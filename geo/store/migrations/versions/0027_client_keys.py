"""Offline clients (the field app): the key of a client-made id on issues, inspections, photos.

A report, inspection or photo made offline carries a UUID made on the device (`client_id`); a
resent one must create nothing new. `client_key` stores it scoped to the account that sent it
("<actor>:<uuid>", geo.model.clients.client_key), unique in each table: the same UUID sent by
another account is another key (its own record), so a client_id never finds someone else's
record. NULL for everything not sent with a client_id (imports, the CLI, older rows).

PostgreSQL: issues is partitioned (0013) and cannot hold a unique key without its partition
key, so issue_keys holds client_key UNIQUE, copied by its triggers like external_id.
"""

import sqlalchemy as sa
from alembic import op

from geo.store.migrations.helpers import is_postgres

revision, down_revision = "0027", "0026"
KEY = 160  # "user:<username>" (at most 105 characters) + ":" + a UUID
TABLES = ("inspections", "issue_photos")

TRIGGERS = """
CREATE OR REPLACE FUNCTION ccmap_issue_keys_insert() RETURNS trigger AS $$
BEGIN INSERT INTO issue_keys (id, external_id{extra}) SELECT id, external_id{extra}
FROM new_rows; RETURN NULL; END $$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION ccmap_issue_keys_update() RETURNS trigger AS $$
BEGIN UPDATE issue_keys SET id = NEW.id, external_id = NEW.external_id{set_extra}
WHERE id = OLD.id; RETURN NULL; END $$ LANGUAGE plpgsql;
DROP TRIGGER issue_keys_update ON issues;
CREATE TRIGGER issue_keys_update AFTER UPDATE OF id, external_id{extra} ON issues FOR EACH ROW
WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.external_id IS DISTINCT FROM NEW.external_id{when})
EXECUTE FUNCTION ccmap_issue_keys_update();
"""


def _triggers(with_client_key: bool) -> list[str]:
    """The statements that make issue_keys' insert and update triggers copy client_key (or,
    as 0013 made them, not)."""
    names = {"extra": "", "set_extra": "", "when": ""} if not with_client_key else {
        "extra": ", client_key", "set_extra": ", client_key = NEW.client_key",
        "when": " OR OLD.client_key IS DISTINCT FROM NEW.client_key"}
    return [s.strip() for s in TRIGGERS.format(**names).split(";\n") if s.strip()]


def upgrade() -> None:
    """Add client_key, unique per table (PostgreSQL issues: in issue_keys)."""
    op.add_column("issues", sa.Column("client_key", sa.String(KEY)))
    if is_postgres():
        op.execute(f"ALTER TABLE issue_keys ADD COLUMN client_key varchar({KEY}) UNIQUE")
        for sql in _triggers(True):
            op.execute(sql)
    else:
        op.create_index("uq_issues_client_key", "issues", ["client_key"], unique=True)
    for table in TABLES:
        op.add_column(table, sa.Column("client_key", sa.String(KEY)))
        op.create_index(f"uq_{table}_client_key", table, ["client_key"], unique=True)


def downgrade() -> None:
    """Drop them (SQLite 3.35+ drops a column in place once its index is gone: no copy of the
    tables, whose partial indexes a copy would have to rebuild)."""
    for table in TABLES:
        op.drop_index(f"uq_{table}_client_key", table)
    if is_postgres():
        for sql in _triggers(False):
            op.execute(sql)
        op.drop_column("issue_keys", "client_key")
    else:
        op.drop_index("uq_issues_client_key", "issues")
    for table in ("issues", *TABLES):
        op.execute(f"ALTER TABLE {table} DROP COLUMN client_key")
