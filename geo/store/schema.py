"""Table definitions shared by both backends.

Geometry is kept as WKB in `wkb` on both backends (plus bbox columns for SQLite's index);
on PostGIS the migration adds a generated `geom geometry(Geometry, 4326)` column with a GiST
index, which the store uses for spatial filters.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

features = Table(
    "features",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("name", Text, nullable=False, default=""),
    Column("category", String(64)),
    Column("source_id", String(128)),
    Column("properties", JSON, nullable=False, default=dict),
    Column("wkb", LargeBinary, nullable=False),
    Column("minx", Float, nullable=False),
    Column("miny", Float, nullable=False),
    Column("maxx", Float, nullable=False),
    Column("maxy", Float, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Index("ix_features_kind_bbox", "kind", "minx", "maxx", "miny", "maxy"),
)

feature_versions = Table(
    "feature_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("feature_id", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("at", DateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("name", Text, nullable=False),
    Column("category", String(64)),
    Column("properties", JSON, nullable=False),
    Column("wkb", LargeBinary),
)

issues = Table(
    "issues",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("external_id", String(128), unique=True),
    Column("category", String(64), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("address", Text, nullable=False, default=""),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("reported_at", DateTime),
    Column("deadline", DateTime),
    Column("closed_at", DateTime),
    Column("status", String(32), nullable=False),
    Column("source", String(64), nullable=False),
    Column("reporter", Text, nullable=False, default=""),
    Column("zone_id", Integer),
    Column("unit", Text),
    Column("recurring_of", Integer),
    Column("version", Integer, nullable=False, default=1),
    Column("flags", JSON),
    Column("cadre", Text),
    Column("duplicate_of", Integer),
    Column("cell_x", Integer),
    Column("cell_y", Integer),
    Column("community", Text),
    Index("ix_issues_lonlat", "lon", "lat"),
    Index("ix_issues_status", "status"),
)

# PostgreSQL only (migration 0013): the keys of the partitioned issues table, unique here
# because a partitioned table's unique constraints must include its partition key; kept by
# triggers on issues
issue_keys = Table(
    "issue_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("external_id", String(128), unique=True),
)

issue_history = Table(
    "issue_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("issue_id", Integer, nullable=False),
    Column("at", DateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("from_status", String(32)),
    Column("to_status", String(32), nullable=False),
    Column("note", Text, nullable=False),
)

issue_photos = Table(
    "issue_photos",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("issue_id", Integer, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("filename", Text, nullable=False),
    Column("content_type", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("at", DateTime, nullable=False),
    Column("actor", String(200), nullable=False),
)

reinspections = Table(
    "reinspections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("issue_id", Integer, nullable=False),
    Column("due", DateTime, nullable=False),
    Column("result", String(16)),
    Column("done_at", DateTime),
    Column("actor", String(200)),
    Column("note", Text),
)

units = Table(
    "units",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("parent", String(200)),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(100), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(32), nullable=False),
    Column("unit", String(200)),
    Column("display_name", Text, nullable=False, default=""),
    Column("active", Boolean, nullable=False, default=True),
    Column("failed_count", Integer, nullable=False, default=0),
    Column("first_failed_at", DateTime),
    Column("locked_until", DateTime),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", Integer, nullable=False),
    Column("kind", String(16), nullable=False),  # session | access | api
    Column("name", Text, nullable=False, default=""),
    Column("csrf", String(64)),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime),
)

# failed logins / password changes per attempted username, whether the account exists or not
login_attempts = Table(
    "login_attempts",
    metadata,
    Column("purpose", String(16), primary_key=True),  # login | password
    Column("username", String(200), primary_key=True),
    Column("failed_count", Integer, nullable=False),  # attempts reserved in this window
    Column("first_failed_at", DateTime, nullable=False),
    Column("locked_until", DateTime),
)

# one counter per map layer (feature kind or "issues"), bumped in the transaction of every
# write that changes the layer: vector tile ETags are made from it
layer_versions = Table(
    "layer_versions",
    metadata,
    Column("layer", String(32), primary_key=True),
    Column("version", Integer, nullable=False),
)

# the last write that changed an issue in each block of base cells (cell_x >> BLOCK_SHIFT,
# cell_y >> BLOCK_SHIFT: geo.tiling.tiles), numbered by the issues layer's counter; an issue tile's
# version is the largest of its blocks' and of layer_versions "issues:all" (writes that may
# change any tile), so a write changes the ETags of the tiles around it only
issue_blocks = Table(
    "issue_blocks",
    metadata,
    Column("bx", Integer, primary_key=True, autoincrement=False),
    Column("by", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
)

# how many issues each base cell holds, changed in the transaction of every write that adds or
# moves issues: the unfiltered cell tiles of the map read it (migration 0021)
issue_cell_counts = Table(
    "issue_cell_counts",
    metadata,
    Column("cell_x", Integer, primary_key=True, autoincrement=False),
    Column("cell_y", Integer, primary_key=True, autoincrement=False),
    Column("n", Integer, nullable=False),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("object_type", String(64), nullable=False),
    Column("object_id", String(200)),
    Column("diff", JSON, nullable=False, default=dict),
    Index("ix_audit_at", "at"),
)

rounds = Table(
    "rounds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("plan", JSON, nullable=False),  # sample, teams with ordered stops and paths
)

inspections = Table(
    "inspections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("round_id", Integer),
    Column("feature_id", Integer, nullable=False),
    Column("category", String(64)),
    Column("inspected_at", DateTime, nullable=False),
    Column("inspector", Text, nullable=False),
    Column("source", String(64), nullable=False),
    Column("items", JSON, nullable=False),  # code, label, result, note, issue_id
    Column("passed", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("applicable", Integer, nullable=False),
    Column("score_rate", Float),
    Column("zone_id", Integer),
    Column("unit", Text),
    Column("community", Text),
    Column("issue_ids", JSON, nullable=False),
    Index("ix_inspections_feature", "feature_id", "inspected_at"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),  # layer_import | issue_import | export ...
    Column("state", String(16), nullable=False),  # queued | running | done | failed
    Column("actor", String(200), nullable=False),
    Column("unit", String(200)),  # the submitter's unit: a unit user sees only its own jobs
    Column("created_at", DateTime, nullable=False),
    Column("started_at", DateTime),
    Column("finished_at", DateTime),
    Column("done", Integer, nullable=False, default=0),  # rows/features processed so far
    Column("total", Integer),  # rows/features in all, when known
    Column("message", Text, nullable=False, default=""),
    Column("result", JSON),  # the import report, or the error with its row problems
    Column("worker", String(200)),  # host:pid of the process running it
    # written by every progress update and at least once a minute by the running process; an
    # active job whose heartbeat is older than CCMAP_JOB_STALE_MINUTES lost its process
    Column("heartbeat_at", DateTime),
    Index("ix_jobs_actor", "actor", "created_at"),
)

# The indexes later migrations added, with their columns as migrated (tests/geo/store/
# test_schema.py holds this file against a database the migrations made, on both backends)
Index("ix_feature_versions_feature", feature_versions.c.feature_id)
Index("ix_issue_history_issue", issue_history.c.issue_id)
Index("ix_issue_photos_issue", issue_photos.c.issue_id)
Index("ix_tokens_user", tokens.c.user_id)
Index("ix_issues_reported_at", issues.c.reported_at)
Index("ix_issues_category_time", issues.c.category, issues.c.reported_at)
Index("ix_issues_cells", issues.c.cell_x, issues.c.cell_y, issues.c.lon, issues.c.lat,
      issues.c.status, issues.c.deadline, issues.c.category)
# partial: only the open statuses (migration 0017)
Index("ix_issues_open_deadline", issues.c.deadline, issues.c.lon, issues.c.lat, issues.c.cell_x,
      issues.c.cell_y)
Index("ix_issues_period_stats", issues.c.reported_at, issues.c.zone_id, issues.c.community,
      issues.c.unit, issues.c.category, issues.c.status, issues.c.deadline, issues.c.closed_at,
      issues.c.recurring_of)
for _group in ("zone_id", "unit", "community"):
    Index(f"ix_issues_{_group.removesuffix('_id')}_stats", issues.c[_group], issues.c.status,
          issues.c.deadline, issues.c.closed_at, issues.c.recurring_of)
