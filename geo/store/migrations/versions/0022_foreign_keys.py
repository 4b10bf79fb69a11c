"""Foreign keys: rows that refer to other rows name them, and a delete does what they say.

Owned rows go with their owner (CASCADE): an issue's history, photos and re-inspections, a
user's tokens. Soft references are cleared (SET NULL): an issue's duplicate_of and
recurring_of, an inspection's round and zone. An inspected test point cannot be deleted
(RESTRICT). An issue's zone is checked at commit (deferred, no action): deleting a zone
re-routes its issues in the same transaction (geo.zones.workflows), so they never point at
a deleted zone, and a delete that would leave them so fails. On PostgreSQL an issue is
referred to through issue_keys (0013: the partitioned table has no key on id alone); the
references to issues are deferred there because issue_keys is written by a statement
trigger, after the row checks of that statement.

Not keys: feature_versions.feature_id (a deleted feature's history stays and a zone is
restored from it), users.unit, jobs.actor and audit.actor (names, not ids; a user's unit
need not be registered outside the HTTP API, and actors include "system" and CLI users).

References that point nowhere already are deleted (owned rows, inspections of missing test
points) or set to NULL first, counted in the log and an audit row. SQLite copies each
table (alembic's batch mode), with its indexes; SqlStore.migrate runs it with foreign keys
off. Indexes on the referring columns that had none, so a delete finds its children.
"""

import sqlalchemy as sa
from alembic import op

from geo.store.migrations.helpers import (
    ForeignKey,
    add_foreign_keys,
    drop_foreign_keys,
    fix_orphans,
)

revision, down_revision = "0022", "0021"
KEYS = [
    ForeignKey("issue_history", "issue_id", "issues", "CASCADE", deferred=True),
    ForeignKey("issue_photos", "issue_id", "issues", "CASCADE", deferred=True),
    ForeignKey("reinspections", "issue_id", "issues", "CASCADE", deferred=True),
    ForeignKey("issues", "duplicate_of", "issues", "SET NULL", deferred=True),
    ForeignKey("issues", "recurring_of", "issues", "SET NULL", deferred=True),
    ForeignKey("issues", "zone_id", "features", None, deferred=True),
    ForeignKey("tokens", "user_id", "users", "CASCADE"),
    ForeignKey("inspections", "round_id", "rounds", "SET NULL"),
    ForeignKey("inspections", "zone_id", "features", "SET NULL"),
    ForeignKey("inspections", "feature_id", "features", "RESTRICT"),
]
# (name, table, column, partial: only the rows that refer to something)
INDEXES = [
    ("ix_reinspections_issue", "reinspections", "issue_id", False),
    ("ix_inspections_round", "inspections", "round_id", False),
    ("ix_inspections_zone", "inspections", "zone_id", False),
    ("ix_issues_duplicate_of", "issues", "duplicate_of", True),
    ("ix_issues_recurring_of", "issues", "recurring_of", True),
]


def upgrade() -> None:
    """Clear dangling references, index the referring columns, add the foreign keys."""
    fix_orphans(KEYS, revision)
    add_foreign_keys(KEYS)
    for name, table, column, partial in INDEXES:
        where = sa.text(f"{column} IS NOT NULL") if partial else None
        op.create_index(name, table, [column], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    """Drop the foreign keys and their indexes."""
    drop_foreign_keys(KEYS)
    for name, table, _, _ in INDEXES:
        op.drop_index(name, table)
