"""Table definitions shared by both backends.

Geometry is kept as WKB in `wkb` on both backends (plus bbox columns for SQLite's index);
on PostGIS the migration adds a generated `geom geometry(Geometry, 4326)` column with a GiST
index, which the store uses for spatial filters.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    true,
)

metadata = MetaData()


def _refers(table: str, column: str, refers: str, ondelete: str | None) -> ForeignKey:
    """The foreign key of migration 0022 (geo/store/migrations/helpers.py ForeignKey): those to
    issues, and an issue's zone, are checked at commit."""
    deferred = refers == "issues" or (column == "zone_id" and table == "issues")
    return ForeignKey(f"{refers}.id", name=f"fk_{table}_{column}", ondelete=ondelete,
                      deferrable=deferred or None, initially="DEFERRED" if deferred else None)


def _table(name: str, *columns: Any, **options: Any) -> Table:
    """A table of the schema."""
    return Table(name, metadata, *columns, **options)


def _id() -> Column[int]:
    """The integer primary key every table of rows starts with."""
    return Column("id", Integer, primary_key=True, autoincrement=True)


def _required(**types: Any) -> list[Column[Any]]:
    """NOT NULL columns (name=type), in the order given."""
    return [Column(name, type_, nullable=False) for name, type_ in types.items()]


def _optional(**types: Any) -> list[Column[Any]]:
    """Columns that may hold NULL (name=type), in the order given."""
    return [Column(name, type_) for name, type_ in types.items()]


def _by_pair(name: str, keys: tuple[str, str], value: str) -> Table:
    """A table of one integer per pair of integers (its key)."""
    return _table(name,
                  *[Column(k, Integer, primary_key=True, autoincrement=False) for k in keys],
                  Column(value, Integer, nullable=False))


features = _table(
    "features",
    _id(),
    Column("kind", String(32), nullable=False),
    Column("name", Text, nullable=False, default=""),
    *_optional(category=String(64), source_id=String(128)),
    Column("properties", JSON, nullable=False, default=dict),
    *_required(wkb=LargeBinary, minx=Float, miny=Float, maxx=Float, maxy=Float),
    Column("version", Integer, nullable=False, default=1),
    Index("ix_features_kind_bbox", "kind", "minx", "maxx", "miny", "maxy"),
    sqlite_autoincrement=True,  # an id is never given again (migration 0032)
)

feature_versions = _table(
    "feature_versions",
    _id(),
    *_required(feature_id=Integer, version=Integer, at=DateTime, actor=String(200),
               action=String(32), kind=String(32), name=Text),
    Column("category", String(64)),
    Column("properties", JSON, nullable=False),
    Column("wkb", LargeBinary),
)

issues = _table(
    "issues",
    _id(),
    Column("external_id", String(128), unique=True),
    Column("category", String(64), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("address", Text, nullable=False, default=""),
    *_required(lon=Float, lat=Float),
    *_optional(reported_at=DateTime, deadline=DateTime, closed_at=DateTime),
    *_required(status=String(32), source=String(64)),
    Column("reporter", Text, nullable=False, default=""),
    Column("zone_id", Integer, _refers("issues", "zone_id", "features", None)),
    Column("unit", Text),
    Column("recurring_of", Integer, _refers("issues", "recurring_of", "issues", "SET NULL")),
    Column("version", Integer, nullable=False, default=1),
    *_optional(flags=JSON, cadre=Text),
    Column("duplicate_of", Integer, _refers("issues", "duplicate_of", "issues", "SET NULL")),
    *_optional(cell_x=Integer, cell_y=Integer, community=Text),
    # the rules of a city-management centre (migration 0023): urgency, the clock (starts at
    # dispatch, paused while deferred or waiting on an extension), rework and extension counts,
    # and who holds the case
    Column("urgency", String(16), nullable=False, server_default="normal"),
    *_optional(dispatched_at=DateTime, paused_at=DateTime),
    Column("rework_count", Integer, nullable=False, server_default="0"),
    Column("extension_count", Integer, nullable=False, server_default="0"),
    *_optional(claimed_by=String(100), claimed_until=DateTime),
    # an offline client's id of the report, scoped to its sender (migration 0027)
    Column("client_key", String(160)),
    Column("accuracy_m", Float),  # the reporting device's GPS accuracy (migration 0029)
    Index("ix_issues_lonlat", "lon", "lat"),
    Index("ix_issues_status", "status"),
)

# PostgreSQL only (migration 0013): the keys of the partitioned issues table, unique here
# because a partitioned table's unique constraints must include its partition key; kept by
# triggers on issues
issue_keys = _table(
    "issue_keys",
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("external_id", String(128), unique=True),
    Column("client_key", String(160), unique=True),  # migration 0027
)

issue_history = _table(
    "issue_history",
    _id(),
    Column("issue_id", Integer, _refers("issue_history", "issue_id", "issues", "CASCADE"),
           nullable=False),
    *_required(at=DateTime, actor=String(200)),
    Column("from_status", String(32)),
    *_required(to_status=String(32), note=Text),
)

issue_photos = _table(
    "issue_photos",
    _id(),
    Column("issue_id", Integer, _refers("issue_photos", "issue_id", "issues", "CASCADE"),
           nullable=False),
    *_required(stage=String(16), filename=Text, content_type=String(64), size=Integer,
               data=LargeBinary, at=DateTime, actor=String(200)),
    Column("client_key", String(160)),  # migration 0027
)

reinspections = _table(
    "reinspections",
    _id(),
    Column("issue_id", Integer, _refers("reinspections", "issue_id", "issues", "CASCADE"),
           nullable=False),
    Column("due", DateTime, nullable=False),
    *_optional(result=String(16), done_at=DateTime, actor=String(200), note=Text),
)

units = _table(
    "units",
    _id(),
    Column("name", String(200), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("parent", String(200)),
)

users = _table(
    "users",
    _id(),
    Column("username", String(100), nullable=False, unique=True),
    *_required(password_hash=Text, role=String(32)),
    Column("unit", String(200)),
    Column("display_name", Text, nullable=False, default=""),
    Column("active", Boolean, nullable=False, default=True),
    Column("failed_count", Integer, nullable=False, default=0),
    *_optional(first_failed_at=DateTime, locked_until=DateTime),
    Column("email", Text),  # where notices go by e-mail (migration 0025); none: in-app only
    Column("locale", String(16)),  # the UI language (migration 0028); none: the browser's
)

tokens = _table(
    "tokens",
    _id(),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", Integer, _refers("tokens", "user_id", "users", "CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # session | access | api
    Column("name", Text, nullable=False, default=""),
    Column("csrf", String(64)),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime),
)

# failed logins / password changes per attempted username, whether the account exists or not
login_attempts = _table(
    "login_attempts",
    Column("purpose", String(16), primary_key=True),  # login | password
    Column("username", String(200), primary_key=True),
    Column("failed_count", Integer, nullable=False),  # attempts reserved in this window
    Column("first_failed_at", DateTime, nullable=False),
    Column("locked_until", DateTime),
)

# one counter per map layer (feature kind or "issues"), bumped in the transaction of every
# write that changes the layer: vector tile ETags are made from it
layer_versions = _table(
    "layer_versions",
    Column("layer", String(32), primary_key=True),
    Column("version", Integer, nullable=False),
)

# the last write that changed an issue in each block of base cells (cell_x >> BLOCK_SHIFT,
# cell_y >> BLOCK_SHIFT: geo.tiling.tiles), numbered by the issues layer's counter; an issue tile's
# version is the largest of its blocks' and of layer_versions "issues:all" (writes that may
# change any tile), so a write changes the ETags of the tiles around it only
issue_blocks = _by_pair("issue_blocks", ("bx", "by"), "version")

# the last write that changed a feature of a layer in each block (the issue blocks' grid):
# a feature tile's version is the largest of its blocks' and of layer_versions "<layer>:all"
# (writes that may change every tile of the layer: imports, clearing) (migration 0030)
feature_blocks = _table(
    "feature_blocks",
    Column("layer", String(32), primary_key=True),
    Column("bx", Integer, primary_key=True, autoincrement=False),
    Column("by", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
)

# how many issues each base cell holds, changed in the transaction of every write that adds or
# moves issues: the unfiltered cell tiles of the map read it (migration 0021)
issue_cell_counts = _by_pair("issue_cell_counts", ("cell_x", "cell_y"), "n")

# the same summed over 4 x 4, 16 x 16 and 64 x 64 base cells (levels 2, 4 and 6: the cells' x and y
# shifted right by the level), changed with issue_cell_counts: the cell tiles of low zooms read
# the coarsest level their cells are made of (migration 0037)
issue_cell_levels = _table(
    "issue_cell_levels",
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("cell_x", Integer, primary_key=True, autoincrement=False),
    Column("cell_y", Integer, primary_key=True, autoincrement=False),
    Column("n", Integer, nullable=False),
)

# the same per unit (责任单位), changed too by every write that changes an issue's unit: the cell
# tiles of a unit's own user, and of the 责任单位 filter alone, read it (migration 0035)
issue_unit_cell_counts = _table(
    "issue_unit_cell_counts",
    Column("unit", Text, primary_key=True),
    Column("cell_x", Integer, primary_key=True, autoincrement=False),
    Column("cell_y", Integer, primary_key=True, autoincrement=False),
    Column("n", Integer, nullable=False),
)

audit = _table(
    "audit",
    _id(),
    *_required(at=DateTime, actor=String(200), action=String(64), object_type=String(64)),
    Column("object_id", String(200)),
    Column("diff", JSON, nullable=False, default=dict),
    Index("ix_audit_at", "at"),
)

rounds = _table(
    "rounds",
    _id(),
    *_required(name=Text, created_at=DateTime, created_by=String(200)),
    Column("plan", JSON, nullable=False),  # sample, teams with ordered stops and paths
)

inspections = _table(
    "inspections",
    _id(),
    Column("round_id", Integer, _refers("inspections", "round_id", "rounds", "SET NULL")),
    Column("feature_id", Integer, _refers("inspections", "feature_id", "features", "RESTRICT"),
           nullable=False),
    Column("category", String(64)),
    *_required(inspected_at=DateTime, inspector=Text, source=String(64)),
    Column("items", JSON, nullable=False),  # code, label, result, note, issue_id
    *_required(passed=Integer, failed=Integer, applicable=Integer),
    Column("score_rate", Float),
    Column("zone_id", Integer, _refers("inspections", "zone_id", "features", "SET NULL")),
    *_optional(unit=Text, community=Text),
    Column("issue_ids", JSON, nullable=False),
    Column("client_key", String(160)),  # migration 0027
    # where the inspector's device stood, and its GPS accuracy (migration 0029)
    *_optional(device_lon=Float, device_lat=Float, accuracy_m=Float),
    Index("ix_inspections_feature", "feature_id", "inspected_at"),
)

jobs = _table(
    "jobs",
    _id(),
    Column("kind", String(64), nullable=False),  # layer_import | issue_import | export ...
    Column("state", String(16), nullable=False),  # queued | running | done | failed
    Column("actor", String(200), nullable=False),
    Column("unit", String(200)),  # the submitter's unit: a unit user sees only its own jobs
    Column("created_at", DateTime, nullable=False),
    *_optional(started_at=DateTime, finished_at=DateTime),
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

# an office's own days off ("off") and extra workdays ("work"), over the holiday package's
calendar_days = _table(
    "calendar_days",
    _id(),
    *_required(start_date=Date, end_date=Date, kind=String(8)),
    Column("note", Text, nullable=False, server_default=""),
    *_required(created_by=String(200), created_at=DateTime),
)

# an office's time limits (处置时限) per category and urgency, over data/reference's defaults
time_limits = _table(
    "time_limits",
    Column("category", String(64), primary_key=True),
    Column("urgency", String(16), primary_key=True),
    *_required(amount=Float, unit=String(16)),
)

# 延期 applications: pending, then approved (the deadline moves) or rejected
extensions = _table(
    "extensions",
    _id(),
    Column("issue_id", Integer, _refers("extensions", "issue_id", "issues", "CASCADE"),
           nullable=False),
    Column("unit", Text),
    *_required(reason=Text, requested_deadline=DateTime, requested_by=String(200),
               requested_at=DateTime, state=String(16)),
    *_optional(decided_by=String(200), decided_at=DateTime, decision_note=Text,
               old_deadline=DateTime, new_deadline=DateTime),
    Index("ix_extensions_issue", "issue_id"),
    Index("ix_extensions_unit", "unit", "requested_at"),
)

# 回复模板: public-facing update texts per category (NULL: any) and status (NULL: any)
reply_templates = _table(
    "reply_templates",
    _id(),
    *_optional(category=String(64), status=String(32)),
    *_required(title=Text, text=Text, created_by=String(200), created_at=DateTime),
)

# the in-app list of each user's notices
notifications = _table(
    "notifications",
    _id(),
    *_required(username=String(100), at=DateTime, event=String(32)),
    Column("issue_id", Integer),
    Column("message", Text, nullable=False),
    Column("read_at", DateTime),
    Index("ix_notifications_user", "username", "at"),
    Index("ix_notifications_unread", "username", "read_at"),  # migration 0025
)

webhooks = _table(
    "webhooks",
    _id(),
    *_required(url=Text, secret=Text, events=JSON),
    Column("active", Boolean, nullable=False, server_default=true()),
    *_required(created_by=String(200), created_at=DateTime),
)

# e-mail and webhook sends: pending (with the time of the next attempt), sent or failed
deliveries = _table(
    "deliveries",
    _id(),
    *_required(channel=String(16), target=Text, event=String(32)),
    Column("webhook_id", Integer,
           ForeignKey("webhooks.id", name="fk_deliveries_webhook_id", ondelete="CASCADE")),
    Column("issue_id", Integer),
    *_required(payload=JSON, state=String(16), attempts=Integer, created_at=DateTime),
    *_optional(next_attempt_at=DateTime, sent_at=DateTime, last_error=Text),
    Index("ix_deliveries_due", "state", "next_attempt_at"),
)

# the deadline notices (due soon, overdue) each issue has had, for each deadline it had
issue_notices = _table(
    "issue_notices",
    Column("issue_id", Integer, primary_key=True, autoincrement=False),
    Column("event", String(32), primary_key=True),
    Column("deadline", DateTime, primary_key=True),
)

# The indexes later migrations added, with their columns as migrated (tests/geo/store/
# test_schema.py holds this file against a database the migrations made, on both backends)
Index("ix_feature_versions_feature", feature_versions.c.feature_id)
Index("ix_issue_history_issue", issue_history.c.issue_id)
Index("ix_issue_photos_issue", issue_photos.c.issue_id)
Index("ix_reinspections_issue", reinspections.c.issue_id)
Index("ix_inspections_round", inspections.c.round_id)
Index("ix_inspections_zone", inspections.c.zone_id)
# partial: only the rows that refer to an issue (migration 0022)
Index("ix_issues_duplicate_of", issues.c.duplicate_of)
Index("ix_issues_recurring_of", issues.c.recurring_of)
# partial: only the cases whose clock is stopped (migration 0026)
Index("ix_issues_paused", issues.c.paused_at)
Index("ix_tokens_user", tokens.c.user_id)
Index("ix_issues_reported_at", issues.c.reported_at)
Index("ix_issues_category_time", issues.c.category, issues.c.reported_at)
# what an issue tile reads (overdue: status, deadline, paused_at; migration 0031) and what the
# page's filters test (dates, source, unit, community; 0034)
Index("ix_issues_cells", issues.c.cell_x, issues.c.cell_y, issues.c.lon, issues.c.lat,
      issues.c.status, issues.c.deadline, issues.c.category, issues.c.paused_at,
      issues.c.reported_at, issues.c.source, issues.c.unit, issues.c.community)
# partial: only the open statuses (migration 0017)
Index("ix_issues_open_deadline", issues.c.deadline, issues.c.lon, issues.c.lat, issues.c.cell_x,
      issues.c.cell_y)
Index("ix_issues_period_stats", issues.c.reported_at, issues.c.zone_id, issues.c.community,
      issues.c.unit, issues.c.category, issues.c.status, issues.c.deadline, issues.c.closed_at,
      issues.c.recurring_of)
for _group in ("zone_id", "unit", "community"):
    Index(f"ix_issues_{_group.removesuffix('_id')}_stats", issues.c[_group], issues.c.status,
          issues.c.deadline, issues.c.closed_at, issues.c.recurring_of)
# a client-made id (client_id) is stored once per table, scoped to its sender (migration 0027;
# PostgreSQL's partitioned issues keep theirs unique in issue_keys)
for _t in (issues, issue_photos, inspections):
    Index(f"uq_{_t.name}_client_key", _t.c.client_key, unique=True)
# the evaluation indicators' cases due and closed in a period (migration 0024)
for _lead, _next in (("deadline", "closed_at"), ("closed_at", "deadline")):
    Index(f"ix_issues_{_lead.removesuffix('_at')}_stats", issues.c[_lead], issues.c[_next],
          *(issues.c[k] for k in ("status", "rework_count", "extension_count", "unit",
                                  "zone_id", "community", "category")))
