"""An issue's first history note is stored as 创建, not 创建 created.

ccmap wrote the note of an issue's first history row in both languages at once; the page and
the catalog translate a stored note into the reader's language, so it is now written once in
Chinese (geo/store/rows.py, geo/store/bulk.py) and the rows written before are rewritten here.
Only that exact system note changes; a user's notes are left as written.
"""

from alembic import op

revision, down_revision = "0036", "0035"


def upgrade() -> None:
    """Rewrite the stored '创建 created' notes as '创建'."""
    op.execute("UPDATE issue_history SET note = '创建' WHERE note = '创建 created'")


def downgrade() -> None:
    """Nothing to undo: '创建' is what ccmap writes from this revision on."""
