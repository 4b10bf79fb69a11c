"""SQLite keeps a feature's properties as UTF-8 JSON, not \\u escapes: its keys are found.

SQLAlchemy wrote JSON columns with json.dumps' default ensure_ascii, so a property named 责任单位
was stored as "\\u8d23\\u4efb\\u5355\\u4f4d"; SQLite's JSON functions compare a key's text as
written, so a property filter ({"责任单位": …}) or a `fields` list never found it. The store now
writes JSON as it is (geo.store.rows._json_text); this rewrites the features' and their
versions' properties that hold escapes, a batch of rows at a time. PostgreSQL's jsonb was never
affected.
"""

import json

import sqlalchemy as sa
from alembic import op

from geo.store.migrations.helpers import is_postgres

revision, down_revision = "0033", "0032"
BATCH = 5000


def upgrade() -> None:
    """Rewrite escaped properties as UTF-8 JSON (SQLite)."""
    if is_postgres():
        return
    conn = op.get_bind()
    for table in ("features", "feature_versions"):
        after = 0
        while True:
            rows = conn.execute(sa.text(
                f"SELECT id, properties FROM {table} WHERE id > :after "
                "AND instr(properties, '\\u') > 0 ORDER BY id LIMIT :n"),
                {"after": after, "n": BATCH}).all()
            if not rows:
                break
            conn.execute(sa.text(f"UPDATE {table} SET properties = :p WHERE id = :id"),
                         [{"id": i, "p": json.dumps(json.loads(text), ensure_ascii=False)}
                          for i, text in rows])
            after = rows[-1][0]


def downgrade() -> None:
    """Nothing to undo: UTF-8 JSON is the same values."""
