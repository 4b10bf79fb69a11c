"""SQLAlchemy implementation of Store for SQLite files and PostgreSQL + PostGIS."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Float,
    LargeBinary,
    Select,
    Table,
    bindparam,
    case,
    cast,
    create_engine,
    delete,
    event,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.sql.expression import Executable

from geo.model.audit import changes as audit_changes
from geo.model.errors import Conflict, InvalidInput, NotFound
from geo.model.kinds import Kind
from geo.model.lifecycle import UNHANDLED, StatusChange
from geo.model.records import Feature, Issue, IssueRoute
from geo.store import DEFAULT_POOL_SIZE, BBox, IssueQuery
from geo.store.accounts import AccountRows
from geo.store.aggregates import AggregateMixin
from geo.store.audit import AuditRows
from geo.store.bulk import BulkIssueMixin
from geo.store.calendar import CalendarRows
from geo.store.casework import ExtensionRows
from geo.store.indicators import IndicatorMixin
from geo.store.jobs import JobRows
from geo.store.notices import NOTICE_TABLES, NoticeRows
from geo.store.plans import PlanRows
from geo.store.replies import ReplyTemplateRows
from geo.store.rows import (
    _OPEN_ISSUE,
    ALL_ISSUE_TILES,
    CELL_DEG,
    OWN_COLUMNS,
    _audit,
    _box,
    _box2df_bounds,
    _bump_features,
    _bump_issues,
    _count_units,
    _envelope,
    _feature_from_row,
    _feature_row,
    _feature_scope,
    _filter_value,
    _grid_cells,
    _id_span,
    _in_cell_index,
    _insert_issues,
    _issue,
    _issue_conditions,
    _issue_row,
    _json_key,
    _json_text,
    _json_value,
    _mvt_query,
    _overdue,
    _sqlite_pragmas,
    _sqlite_write_lock,
    _units_changed,
    _units_only,
    every_tile,
)
from geo.store.schema import extensions as extensions_t
from geo.store.schema import feature_blocks as feature_blocks_t
from geo.store.schema import feature_versions as fversions_t
from geo.store.schema import features as features_t
from geo.store.schema import inspections as inspections_t
from geo.store.schema import issue_blocks as issue_blocks_t
from geo.store.schema import issue_cell_counts as cell_counts_t
from geo.store.schema import issue_cell_levels as cell_levels_t
from geo.store.schema import issue_history as history_t
from geo.store.schema import issue_keys as issue_keys_t
from geo.store.schema import issue_photos as photos_t
from geo.store.schema import issue_unit_cell_counts as unit_counts_t
from geo.store.schema import issues as issues_t
from geo.store.schema import layer_versions as layer_versions_t
from geo.store.schema import login_attempts as attempts_t
from geo.store.schema import reinspections as reinspections_t
from geo.store.schema import rounds as rounds_t
from geo.store.schema import tokens as tokens_t
from geo.store.schema import units as units_t
from geo.store.schema import users as users_t
from geo.store.triage import TriageRows
from geo.tiling.tiles import (
    BUFFER,
    CELL_LAYER,
    CELL_LEVELS,
    CELL_PROPS,
    CLOSE_ZOOM,
    EDGE_CELL_LAYER,
    EXTENT,
    FEATURE_PROPS,
    ISSUE_LAYER,
    ISSUE_PROPS,
    MAX_TILE_POINTS,
    Tile,
    at_level,
    cell_grid,
    cell_level,
    encode_features,
    encode_points,
    feature_blocks,
    issue_blocks,
    merged_cells,
    min_feature_deg,
    ring_grid,
    wants_cells,
)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# a tile's transaction on PostgreSQL: ST_AsMVTGeom's cost estimate puts a city-wide tile over
# jit_above_cost, and compiling the query took 600 ms of a cell tile that runs in 60 ms
NO_JIT = "SET LOCAL jit = off"
# A tile's queries are planned for their values (custom plans: a city-wide tile and a street's
# want other plans), but for the issue points of a tile's area and the next deadline there:
# planning one of those over the month partitions took 3-4 ms of a query that runs in 0.2 ms.
# psycopg prepares a query run 5 times on a connection; its generic plan, the custom plans'
# shape, is then made once
CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"
GENERIC_PLANS = "SET LOCAL plan_cache_mode = force_generic_plan"
ROUTE_READ_CHUNK = 5000  # issues whose units a re-route reads in one query (SQLite)
# A re-route looks each of its issues up by id and month (the partition key): a few thousand
# index probes, which the planner estimated dearer than hashing every partition's rows. For a
# busy zone's 4,858 issues at 1M the UPDATE took 0.95-1.2 s hashed, 0.45-0.49 s probed, the
# read of their units 160-220 ms by id against 90-125 ms probed; the probes' cost estimate
# also switched JIT on (80 ms of compiling). Set for those statements, then set back
ROW_PROBES = ("SET LOCAL jit = off; SET LOCAL enable_hashjoin = off; "
              "SET LOCAL enable_mergejoin = off")
ROW_PROBES_DONE = ("SET LOCAL jit TO DEFAULT; SET LOCAL enable_hashjoin TO DEFAULT; "
                   "SET LOCAL enable_mergejoin TO DEFAULT")
MAX_TILE_QUERIES = 256  # feature tile queries kept made (see SqlStore._feature_tile_query)
# one tile is one core's work: parallel workers start slower than a tile's scan takes and take
# the core of the next tile's request (streets of a city's z13 tile: 66 -> 34 ms; a z15 tile's
# 2,700-8,000 issue points 47 -> 16 ms)
ONE_CORE = "SET LOCAL max_parallel_workers_per_gather = 0"


def engine_url(url: str) -> str:
    """Normalise a user-facing database URL to the SQLAlchemy driver we use."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith(("sqlite:///", "postgresql+psycopg://")):
        return url
    raise InvalidInput(
        f"不支持的数据库 URL「{url}」：请使用 sqlite:///PATH 或 postgresql://USER@HOST/DB"
    )


# built once: every tile request reads them (building them each time took a third of the read)
_VERSIONS = select(layer_versions_t.c.layer, layer_versions_t.c.version).where(
    layer_versions_t.c.layer.in_(bindparam("layers", expanding=True)))
_ISSUE_BLOCKS = select(literal(ISSUE_LAYER), func.max(issue_blocks_t.c.version)).where(
    issue_blocks_t.c.bx.between(bindparam("bx0"), bindparam("bx1")),
    issue_blocks_t.c.by.between(bindparam("by0"), bindparam("by1")))
_FEATURE_BLOCKS = select(feature_blocks_t.c.layer, func.max(feature_blocks_t.c.version)).where(
    feature_blocks_t.c.layer.in_(bindparam("features", expanding=True)),
    feature_blocks_t.c.bx.between(bindparam("fx0"), bindparam("fx1")),
    feature_blocks_t.c.by.between(bindparam("fy0"), bindparam("fy1"))
).group_by(feature_blocks_t.c.layer)
# by (issue blocks read, feature blocks read)
_TILE_VERSIONS: dict[tuple[bool, bool], Executable] = {
    (False, False): _VERSIONS, (True, False): _VERSIONS.union_all(_ISSUE_BLOCKS),
    (False, True): _VERSIONS.union_all(_FEATURE_BLOCKS),
    (True, True): _VERSIONS.union_all(_ISSUE_BLOCKS, _FEATURE_BLOCKS)}
FEATURE_LAYERS = frozenset(k.value for k in Kind)
# planned, not run: what an issue tile's request asks of the issues' month partitions
_WARM_UP = ("EXPLAIN SELECT deadline FROM issues WHERE lon > 0 AND lat > 0 "
            "AND deadline >= now() ORDER BY deadline LIMIT 1")


class SqlStore(AggregateMixin, BulkIssueMixin, IndicatorMixin, PlanRows, JobRows, AccountRows,
               AuditRows, TriageRows, ReplyTemplateRows, CalendarRows, ExtensionRows, NoticeRows):
    """Store on SQLite (WKB + bbox columns) or PostGIS (generated geometry + GiST)."""

    def __init__(self, url: str, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.url = url
        sa_url = engine_url(url)
        if sa_url.startswith("sqlite:///"):
            db_path = make_url(sa_url).database
            if db_path and db_path != ":memory:":
                Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        # PostgreSQL: as many connections kept open as requests answered at once (and as many
        # again while a burst lasts). With SQLAlchemy's default of 5, a map move's 12 tile
        # requests opened and closed a connection each past the fifth, and a new backend
        # plans its first issue query over the month partitions from cold caches (30 ms)
        pool = ({"pool_size": pool_size, "max_overflow": pool_size, "pool_use_lifo": True}
                if sa_url.startswith("postgresql") else {"json_serializer": _json_text})
        self.engine: Engine = create_engine(sa_url, **pool)
        self.postgis = self.engine.dialect.name == "postgresql"
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._issue_months: set[date] = set()  # issue partitions known to exist (PostGIS)
        self._tile_queries: dict[tuple[Any, ...], Executable] = {}  # by shape
        # the connection of the transaction() in progress in this context (thread, task)
        self._tx: ContextVar[Connection | None] = ContextVar(f"ccmap_tx_{id(self)}",
                                                             default=None)
        if not self.postgis:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.migrate()

    def migrate(self, revision: str = "head", downgrade: bool = False) -> None:
        """Bring the schema to the latest migration (or up or down to `revision`)."""
        # alembic is imported here, not at the top: 0.2-0.5 s that only migrating needs
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.connect() as conn:
            if not self.postgis:
                # a migration that copies a table drops the old copy: with foreign keys on,
                # that would delete the rows referring to it (set outside a transaction)
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.commit()
            try:
                with conn.begin():
                    if self.postgis:  # processes starting together migrate one after another
                        conn.execute(select(func.pg_advisory_xact_lock(
                            func.hashtext("ccmap_migrate"))))
                    else:  # Python's sqlite3 begins only before DML: DDL would autocommit
                        conn.exec_driver_sql("BEGIN")
                    cfg.attributes["connection"] = conn
                    (command.downgrade if downgrade else command.upgrade)(cfg, revision)
            finally:
                if not self.postgis:
                    conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                    conn.commit()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Make the store calls inside one transaction: all written or none (a nested
        transaction() joins the outer one)."""
        if self._tx.get() is not None:
            yield
            return
        with self.engine.begin() as conn:
            token = self._tx.set(conn)
            try:
                yield
            finally:
                self._tx.reset(token)

    def lock(self, name: str) -> None:
        """Inside transaction(): wait for the lock `name` and hold it to the transaction's end,
        so transactions taking it run one after another (PostgreSQL: an advisory lock; SQLite:
        the database's one write lock, which every write takes)."""
        with self._begin() as conn:
            if self.postgis:
                conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(name))))
            else:
                _sqlite_write_lock(conn)

    def _begin(self) -> AbstractContextManager[Connection]:
        """A connection in a transaction: the transaction() in progress, else a new one."""
        return self._joined(self.engine.begin)

    def _connect(self) -> AbstractContextManager[Connection]:
        """A connection to read with (inside transaction(), its own: it sees the writes)."""
        return self._joined(self.engine.connect)

    def _read(self) -> AbstractContextManager[Connection]:
        """A connection for one SELECT: as _connect(), but on PostgreSQL outside a
        transaction() in autocommit, which saves the BEGIN and ROLLBACK round trips (a
        cached tile's request reads the login token and the layers' versions this way)."""
        if self.postgis:
            return self._joined(self._autocommit.connect)
        return self._connect()

    @contextmanager
    def _joined(self, new: Callable[[], AbstractContextManager[Connection]]
                ) -> Iterator[Connection]:
        """The connection of the transaction() in progress, else one from new()."""
        conn = self._tx.get()
        if conn is not None:
            yield conn
        else:
            with new() as fresh:
                yield fresh

    @contextmanager
    def _tile_read(self, *settings: str) -> Iterator[Connection]:
        """A connection to read a tile with: on PostgreSQL in its own transaction with these
        `SET LOCAL` settings (in one round trip), ended by COMMIT: a ROLLBACK would make
        psycopg forget the connection's prepared statements, and with them their plans."""
        if not self.postgis or self._tx.get() is not None:
            with self._connect() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql("; ".join((NO_JIT, *settings)))
            yield conn
            conn.commit()

    def _row(self, table: Table, row_id: int, missing: NotFound) -> dict[str, Any]:
        """The row of table with this id; `missing` (its NotFound, the message naming it) is
        raised when there is none."""
        with self._connect() as conn:
            row = conn.execute(select(table).where(table.c.id == row_id)).first()
        if row is None:
            raise missing
        return dict(row._mapping)

    def _batches(self, q: Select[Any], size: int) -> Iterator[Sequence[Any]]:
        """The rows of q, `size` at a time: one query read a batch at a time (a server-side
        cursor on PostgreSQL), so its rows never sit in memory all at once."""
        with self._connect() as conn:
            yield from conn.execute(q.execution_options(yield_per=size)).partitions()

    # --- features -------------------------------------------------------------------------
    def add_features(self, features: Sequence[Feature], actor: str = "system") -> list[int]:
        """Insert features in one transaction with their audit row; return their ids."""
        rows = [_feature_row(f) for f in features]
        if not rows:
            return []
        with self._begin() as conn:
            ids = [r[0] for r in conn.execute(insert(features_t).returning(features_t.c.id),
                                                rows)]
            kinds = sorted({r["kind"] for r in rows})
            _audit(conn, actor, "create", "feature", _id_span(ids),
                   {"count": len(ids), "kinds": kinds, "ids": ids[:1000]})
            _bump_features(conn, {k: [_box(r) for r in rows if r["kind"] == k] for k in kinds})
            return ids

    def features(
        self,
        kind: Kind,
        bbox: BBox | None = None,
        limit: int | None = None,
        where: dict[str, Any] | None = None,
        scope_unit: str | None = None,
        offset: int = 0,
        keys: Sequence[str] | None = None,
    ) -> list[Feature]:
        """Features of one kind, filtered by bbox, property values and a unit user's scope,
        by id (offset/limit page them; limit None: all); with keys, only those properties
        (picked out in SQL; an absent or null one is left out), the rest never parsed."""
        c = features_t.c
        conds = self._feature_conditions(kind, bbox, where, scope_unit)
        props = [c.properties] if keys is None else [_json_key(k, self.postgis) for k in keys]
        q = select(c.id, c.name, c.category, c.source_id, c.version, c.wkb, *props
                   ).where(*conds).order_by(c.id)
        if offset:
            q = q.offset(offset)
        if limit is not None:
            q = q.limit(limit)
        with self._connect() as conn:
            return _features_of(kind, conn.execute(q).all(), keys)

    def feature_batches(self, kind: Kind, bbox: BBox | None = None, size: int = 5000
                        ) -> Iterator[list[Feature]]:
        """The features of a kind (inside bbox) by id, in lists of at most `size`: one query
        read a batch at a time (a server-side cursor on PostgreSQL), so a whole layer never
        sits in memory at once."""
        c = features_t.c
        q = select(c.id, c.name, c.category, c.source_id, c.version, c.wkb, c.properties
                   ).where(*self._feature_conditions(kind, bbox, None, None)).order_by(c.id)
        for rows in self._batches(q, size):
            yield _features_of(kind, rows, None)

    def count_features(self, kind: Kind, bbox: BBox | None = None,
                       where: dict[str, Any] | None = None,
                       scope_unit: str | None = None) -> int:
        """How many features `features` would return without a limit (counted in SQL)."""
        conds = self._feature_conditions(kind, bbox, where, scope_unit)
        q = select(func.count()).select_from(features_t).where(*conds)
        with self._connect() as conn:
            return int(conn.execute(q).scalar_one())

    def feature_names(self, kind: Kind, prefix: str = "", limit: int = 20,
                      scope_unit: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """Features of a kind whose name starts with `prefix` (case as typed), by name then id:
        at most `limit` of them as {id, name, unit}, and how many match in all."""
        c = features_t.c
        conds = self._feature_conditions(kind, None, None, scope_unit)
        if prefix:  # substr, not LIKE: no wildcards to escape, the same on both backends
            conds.append(func.substr(c.name, 1, len(prefix)) == prefix)
        unit = c.properties["unit"].as_string().label("unit")
        q = select(c.id, c.name, unit).where(*conds).order_by(c.name, c.id).limit(limit)
        with self.engine.connect() as conn:
            total = int(conn.execute(select(func.count()).select_from(features_t)
                                     .where(*conds)).scalar_one())
            rows = conn.execute(q).all()
        return [{"id": r.id, "name": r.name, "unit": r.unit} for r in rows], total

    def property_values(self, kind: Kind, key: str,
                        scope_unit: str | None = None) -> list[str]:
        """The distinct non-empty values of one property over the features of a kind, sorted."""
        value = features_t.c.properties[key].as_string()
        conds = [*self._feature_conditions(kind, None, None, scope_unit), value.is_not(None),
                 value != ""]
        with self.engine.connect() as conn:
            return sorted(str(v) for (v,) in conn.execute(select(value).where(*conds)
                                                          .distinct()))

    def _feature_conditions(self, kind: Kind, bbox: Sequence[Any] | None,
                            where: Mapping[str, Any] | None,
                            scope_unit: Any) -> list[ColumnElement[bool]]:
        """The features of a kind in bbox matching where and scope_unit (values or, for a
        query made once and run with its values, bind parameters)."""
        conds = [features_t.c.kind == kind.value]
        if scope_unit is not None:
            conds.append(_feature_scope(scope_unit))
        if bbox is not None:
            conds.append(self._bbox_clause(bbox))
            if not self.postgis:
                # the index's range on minx from the west too: no feature of the kind is wider
                # than its widest (ix_features_kind_width, migration 0038), so one starting
                # further west ends before the box (1e-9: the width's rounding)
                widest = features_t.alias("widest")
                width = (select(func.max(widest.c.maxx - widest.c.minx))
                         .where(widest.c.kind == kind.value).scalar_subquery())
                conds.append(features_t.c.minx >= bbox[0] - width - 1e-9)
        for key, value in (where or {}).items():
            column = (features_t.c[key] if key in OWN_COLUMNS
                      else features_t.c.properties[key].as_string())
            conds.append(column == _filter_value(key, value))
        return conds

    def feature(self, feature_id: int, scope_unit: str | None = None) -> Feature:
        """One feature by id (NotFound also when it is outside the scope)."""
        q = select(features_t).where(features_t.c.id == feature_id)
        if scope_unit is not None:
            q = q.where(_feature_scope(scope_unit))
        with self._connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFound(f"要素 {feature_id} 不存在")
        return _feature_from_row(row)

    def save_feature(self, feature: Feature, actor: str, action: str,
                     expected_version: int | None = None) -> Feature:
        """Create (id None) or replace a feature, recording the new version; with
        expected_version a stale edit is refused (Conflict)."""
        row = _feature_row(feature)
        c = features_t.c
        # the layers' tiles where the feature is and where it was (its old kind's, if changed)
        boxes: dict[str, list[BBox | None]] = {row["kind"]: [_box(row)]}
        with self._begin() as conn:
            if feature.id is None:
                fid = int(conn.execute(insert(features_t).returning(c.id), row).scalar_one())
                version = 1
            else:
                fid = feature.id
                old = conn.execute(select(c.kind, c.minx, c.miny, c.maxx, c.maxy)
                                   .where(c.id == fid)).first()
                if old is not None:
                    boxes.setdefault(old.kind, []).append(_box(old._mapping))
                q = update(features_t).where(c.id == fid)
                if expected_version is not None:
                    q = q.where(c.version == expected_version)
                done = conn.execute(q.values(**row, version=c.version + 1))
                if done.rowcount == 0:
                    if conn.execute(select(c.id).where(c.id == fid)).first() is None:
                        raise NotFound(f"要素 {fid} 不存在")
                    raise Conflict(f"要素 {fid} 在版本 {expected_version} 之后已被他人修改，"
                                   "请刷新后重试")
                version = int(conn.execute(select(c.version).where(c.id == fid)).scalar_one())
            conn.execute(insert(fversions_t).values(
                feature_id=fid, version=version, at=datetime.now(), actor=actor, action=action,
                kind=row["kind"], name=row["name"], category=row["category"],
                properties=row["properties"], wkb=row["wkb"]))
            _audit(conn, actor, action, feature.kind.value, str(fid),
                   {"version": version, "name": row["name"], "properties": row["properties"]})
            _bump_features(conn, boxes)
        return self.feature(fid)

    def delete_feature(self, feature_id: int, actor: str) -> None:
        """Delete a feature, keeping its history (a version with action 'delete')."""
        old = self.feature(feature_id)
        c = features_t.c
        with self._begin() as conn:
            conn.execute(delete(features_t).where(c.id == feature_id))
            conn.execute(insert(fversions_t).values(
                feature_id=feature_id, version=old.version + 1, at=datetime.now(),
                actor=actor, action="delete", kind=old.kind.value, name=old.name,
                category=old.category, properties=old.properties, wkb=None))
            _audit(conn, actor, "delete", old.kind.value, str(feature_id), {"name": old.name})
            _bump_features(conn, {old.kind.value: [old.geometry.bounds]})

    def feature_versions(self, feature_id: int) -> list[dict[str, Any]]:
        """Every saved version of a feature, oldest first (geometry as shapely)."""
        t = fversions_t
        q = select(t).where(t.c.feature_id == feature_id).order_by(t.c.version)
        with self._connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(q)]
        for r in rows:
            wkb = r.pop("wkb")
            r["geometry"] = shapely.from_wkb(wkb) if wkb else None
        return rows

    def warm_up(self, connections: int) -> None:
        """Open `connections` pooled connections at once and have each plan a query over the
        issues (PostgreSQL: a new backend loads the month partitions' catalog entries on its
        first one, 30 ms of a first request); nothing on SQLite."""
        if not self.postgis or connections <= 0:
            return
        with ExitStack() as held:  # all at once: each is a backend of its own
            for conn in [held.enter_context(self.engine.connect()) for _ in range(connections)]:
                conn.exec_driver_sql(_WARM_UP)

    def analyze(self) -> None:
        """Refresh the query planner's statistics (and, on PostgreSQL, the visibility map)
        after a bulk import: right after a million inserted rows the planner believes the
        tables are empty, and PostgreSQL's index-only scans still visit every row's page until
        a VACUUM has run (a city-wide issue tile took 8.7 s instead of 0.35 s)."""
        if self.postgis:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                # months that reached the DEFAULT partition get partitions of their own
                conn.exec_driver_sql("SELECT ccmap_issue_partitions()")
                conn.exec_driver_sql("VACUUM (ANALYZE) issues")
                conn.exec_driver_sql("ANALYZE features")
        else:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA analysis_limit = 1000")  # sampled: fast
                conn.exec_driver_sql("ANALYZE")
                conn.commit()

    def layer_counts(self) -> dict[str, int]:
        """Feature count per kind."""
        q = select(features_t.c.kind, func.count()).group_by(features_t.c.kind)
        with self._connect() as conn:
            return {kind: n for kind, n in conn.execute(q)}

    def extent(self, kind: Kind | None = None, scope_unit: str | None = None) -> BBox | None:
        """Bounding box of all features, or of one kind's in a unit user's scope."""
        c = features_t.c
        q = select(func.min(c.minx), func.min(c.miny), func.max(c.maxx), func.max(c.maxy))
        if kind is not None:
            q = q.where(*self._feature_conditions(kind, None, None, scope_unit))
        elif scope_unit is not None:
            q = q.where(_feature_scope(scope_unit))
        with self._connect() as conn:
            row = conn.execute(q).one()
        return None if row[0] is None else (row[0], row[1], row[2], row[3])

    def _bbox_clause(self, bbox: Sequence[Any]) -> ColumnElement[bool]:
        minx, miny, maxx, maxy = bbox
        c = features_t.c
        overlaps = (c.maxx >= minx) & (c.minx <= maxx) & (c.maxy >= miny) & (c.miny <= maxy)
        if self.postgis:
            # the bbox columns too: ix_features_kind_bbox then finds a kind's features in the
            # area (a city's zones in a tile: 0.3 ms), where geom && alone made PostgreSQL
            # read the whole table or every kind's features in the area (10-75 ms a tile)
            env = func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326)
            return literal_column("features.geom").op("&&")(env) & overlaps
        return overlaps

    # --- issues ---------------------------------------------------------------------------
    def add_issues(self, issues: Sequence[Issue], actor: str = "system") -> list[int]:
        """Insert issues in one transaction with their audit row; return their ids."""
        rows = [_issue_row(i) for i in issues]
        if not rows:
            return []
        with self._begin() as conn:
            self._issue_partitions(conn, [r["reported_at"] for r in rows])
            return _insert_issues(conn, rows, actor)

    def issues(
        self,
        bbox: BBox | None = None,
        limit: int | None = None,
        status: str | None = None,
        category: str | None = None,
        scope_unit: str | None = None,
    ) -> list[Issue]:
        """Issues filtered by bbox, status, category and a unit user's scope, oldest first."""
        c = issues_t.c
        q = select(issues_t).order_by(c.id)
        if scope_unit is not None:
            q = q.where(c.unit == scope_unit)
        if bbox is not None:
            q = q.where(self._issue_bbox_clause(bbox))
        if status:
            q = q.where(c.status == status)
        if category:
            q = q.where(c.category == category)
        if limit is not None:
            q = q.limit(limit)
        with self._connect() as conn:
            return [_issue(row) for row in conn.execute(q)]

    def issue_batches(self, bbox: BBox | None = None, size: int = 5000
                     ) -> Iterator[list[IssueRoute]]:
        """Location and routing of the issues (inside bbox) in lists of at most `size`: one
        indexed query whose rows are read a batch at a time, so a big area never sits in
        memory at once."""
        c = issues_t.c
        q = select(c.id, c.lon, c.lat, c.zone_id, c.unit, c.flags, c.cadre, c.community,
                   c.reported_at)
        if bbox is not None:
            q = q.where(self._issue_bbox_clause(bbox))
        for rows in self._batches(q, size):
            yield [IssueRoute(i, x, y, z, u, list(f or []), ca, co, at)
                   for i, x, y, z, u, f, ca, co, at in rows]

    def issue_record_batches(self, query: IssueQuery, size: int = 5000
                             ) -> Iterator[list[Issue]]:
        """The issues matching query (its paging and sort aside) by id, in lists of at most
        `size`, read as issue_batches reads (constant memory whatever the ledger's size)."""
        q = select(issues_t).where(*_issue_conditions(query)).order_by(issues_t.c.id)
        for rows in self._batches(q, size):
            yield [_issue(r) for r in rows]

    def _issue_bbox_clause(self, bbox: BBox) -> ColumnElement[bool]:
        minx, miny, maxx, maxy = bbox
        if self.postgis:  # the GiST index on issues.geom
            env = func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326)
            return literal_column("issues.geom").op("&&")(env)
        c = issues_t.c  # the (lon, lat) index
        return c.lon.between(minx, maxx) & c.lat.between(miny, maxy)

    def issue(self, issue_id: int, scope_unit: str | None = None) -> Issue:
        """One issue; NotFound also outside a unit user's scope."""
        q = select(issues_t).where(issues_t.c.id == issue_id)
        if scope_unit is not None:
            q = q.where(issues_t.c.unit == scope_unit)
        with self._connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFound(f"问题 #{issue_id} 不存在")
        return _issue(row)

    def query_issues(self, query: IssueQuery) -> tuple[list[Issue], int]:
        """A page of issues matching the query, and the total number that match."""
        c = issues_t.c
        conds = _issue_conditions(query)
        column = c[query.sort.lstrip("-")]
        order = column.desc() if query.sort.startswith("-") else column.asc()
        q = select(issues_t).where(*conds).order_by(order, c.id).offset(query.offset)
        if query.limit is not None:
            q = q.limit(query.limit)
        with self._connect() as conn:
            rows = [_issue(r) for r in conn.execute(q)]
            total = int(conn.execute(select(func.count()).select_from(issues_t)
                                     .where(*conds)).scalar_one())
        return rows, total

    def issue_cells(self, query: IssueQuery, overdue_weight: float = 1.0, factor: int = 1
                    ) -> list[tuple[int, int, float]]:
        """(cell_x, cell_y, weighted count) of the base grid for the issues matching query;
        overdue issues count overdue_weight times. A factor (a power of two) groups blocks of
        factor × factor base cells in SQL (keys cell_x // factor, cell_y // factor: what
        the heatmap of a zoom shows, without carrying the base cells out)."""
        return [(x, y, w) for x, y, _, w in self.issue_cell_counts(query, overdue_weight, factor)]

    def issue_cell_counts(self, query: IssueQuery, overdue_weight: float = 1.0, factor: int = 1
                          ) -> list[tuple[int, int, int, float]]:
        """(cell_x, cell_y, issues, weighted count) per base cell or block of factor × factor
        base cells, in one query.
        On SQLite the base cells are counted first, in the order of the (cell_x, cell_y, ...)
        index (no sort of the matching rows), then summed per block: a GROUP BY on
        cell_x >> shift sorted every matching row (0.5 s of CPU for the 1M-issue city at z12,
        0.2 s in two steps). PostgreSQL hashes the blocks directly (two steps are slower there:
        the base cells' hash outgrows work_mem)."""
        if factor < 1 or factor & (factor - 1):
            raise InvalidInput("factor 必须是 2 的幂")
        c = issues_t.c
        conds = _issue_conditions(query)
        if query.bbox:  # the cells the bbox spans: served by the (cell_x, cell_y, lon, lat) index
            minx, miny, maxx, maxy = query.bbox
            conds += [c.cell_x.between(math.floor(minx / CELL_DEG), math.floor(maxx / CELL_DEG)),
                      c.cell_y.between(math.floor(miny / CELL_DEG), math.floor(maxy / CELL_DEG))]
        weighted = overdue_weight != 1.0
        overdue = c.status.in_(sorted(UNHANDLED)) & (c.deadline < query.now)
        weights = [func.sum(case((overdue, overdue_weight), else_=1.0)).label("w")]
        shift = factor.bit_length() - 1
        if shift and self.postgis:
            gx, gy = c.cell_x.op(">>")(shift), c.cell_y.op(">>")(shift)
            q = select(gx, gy, func.count(), *(weights if weighted else [])
                       ).where(*conds).group_by(gx, gy)
        else:
            q = select(c.cell_x.label("x"), c.cell_y.label("y"), func.count().label("n"),
                       *(weights if weighted else [])
                       ).where(*conds).group_by(c.cell_x, c.cell_y)
        if shift and not self.postgis:
            base = q.subquery("base_cells")
            gx, gy = base.c.x.op(">>")(shift), base.c.y.op(">>")(shift)
            q = select(gx, gy, func.sum(base.c.n), *(
                [func.sum(base.c.w)] if weighted else [])).group_by(gx, gy)
        with self._connect() as conn:
            return [(int(r[0]), int(r[1]), int(r[2]), float(r[3] if weighted else r[2]))
                    for r in conn.execute(q)]

    def apply_transition(self, issue_id: int, change: StatusChange, expected_version: int,
                         extra: dict[str, Any] | None = None) -> Issue:
        """Apply a checked status change if nobody changed the issue since expected_version."""
        values: dict[str, Any] = {"status": change.to_status, **(extra or {})}
        if change.to_status == "closed":
            values["closed_at"] = change.at
        self._versioned_update(issue_id, values, expected_version, change.actor, change)
        return self.issue(issue_id)

    def update_issue(self, issue_id: int, changes: dict[str, Any], expected_version: int,
                     actor: str) -> Issue:
        """Edit fields of an issue with the same version check (no status change)."""
        self._versioned_update(issue_id, changes, expected_version, actor, None)
        return self.issue(issue_id)

    def _versioned_update(self, issue_id: int, values: dict[str, Any], expected_version: int,
                          actor: str, change: StatusChange | None) -> None:
        c = issues_t.c
        if "lon" in values or "lat" in values:  # (no route moves an issue today) its cell too
            raise InvalidInput("问题的位置不能直接修改")
        with self._begin() as conn:
            read = select(issues_t).where(c.id == issue_id)
            if "unit" in values:  # the unit it has up to this write, for the counts per unit
                if self.postgis:
                    read = read.with_for_update()
                else:
                    _sqlite_write_lock(conn)
            before = conn.execute(read).first()
            if before is None:
                raise NotFound(f"问题 #{issue_id} 不存在")
            result = conn.execute(update(issues_t)
                                  .where(c.id == issue_id, c.version == expected_version)
                                  .values(**values, version=c.version + 1))
            if result.rowcount == 0:
                raise Conflict(f"问题 #{issue_id} 已被他人修改（当前版本 "
                               f"{before._mapping['version']}，提交的版本 {expected_version}），"
                               "请刷新后重试")
            if change is not None:
                conn.execute(insert(history_t).values(
                    issue_id=issue_id, at=change.at, actor=actor,
                    from_status=change.from_status, to_status=change.to_status,
                    note=change.note))
            diff = audit_changes(before._mapping, values)
            _audit(conn, actor, "transition" if change else "update", "issue", str(issue_id),
                   diff)
            was = before._mapping
            if "unit" in values:
                _count_units(conn, _units_changed(
                    [(issue_id, was["unit"], was["cell_x"], was["cell_y"])],
                    {issue_id: values["unit"]}))
            _bump_issues(conn, [(was["cell_x"], was["cell_y"])])

    def issue_history(self, issue_id: int | None) -> list[dict[str, Any]]:
        """Every status change of an issue (of all issues with None), oldest first."""
        q = select(history_t).order_by(history_t.c.id)
        if issue_id is not None:
            q = q.where(history_t.c.issue_id == issue_id)
        with self._connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def histories(self, issue_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        """The history rows of these issues, oldest first, by issue id (issues without
        history left out)."""
        q = select(history_t).where(history_t.c.issue_id.in_(issue_ids)).order_by(history_t.c.id)
        found: dict[int, list[dict[str, Any]]] = {}
        with self._connect() as conn:
            for r in conn.execute(q):
                found.setdefault(r.issue_id, []).append(dict(r._mapping))
        return found

    def add_history_note(self, issue_id: int, status: str, actor: str, note: str) -> None:
        """A history row that records an event without a status change (merge, photo...)."""
        with self._begin() as conn:
            conn.execute(insert(history_t).values(issue_id=issue_id, at=datetime.now(),
                                                  actor=actor, from_status=status,
                                                  to_status=status, note=note))
            _audit(conn, actor, "note", "issue", str(issue_id), {"note": note})

    def update_routes(self, issues: Sequence[Issue | IssueRoute], actor: str) -> int:
        """Store the routing (zone, unit, flags, cadre, community) of many issues at once."""
        if not issues:
            return 0
        ordered = sorted(issues, key=lambda i: i.id or 0)  # in table order: fewer pages
        with self._begin() as conn:
            if not self.postgis:
                _sqlite_write_lock(conn)
            with self._row_probes(conn):
                # the units they had, as the UPDATE finds them: the counts per unit follow
                was = self._routed_units(conn, ordered)
                self._write_routes(conn, ordered)
            _audit(conn, actor, "reroute", "issue", None, {"count": len(issues)})
            _count_units(conn, _units_changed(was, {i.id or 0: i.unit for i in ordered}))
            _bump_issues(conn, [(math.floor(i.lon / CELL_DEG), math.floor(i.lat / CELL_DEG))
                                for i in ordered])
        return len(issues)

    @contextmanager
    def _row_probes(self, conn: Connection) -> Iterator[None]:
        """Statements within look their rows up by index probes (PostgreSQL, ROW_PROBES); the
        settings are set back after them (and with the transaction if it rolls back)."""
        if not self.postgis:
            yield
            return
        conn.exec_driver_sql(ROW_PROBES)
        yield
        conn.exec_driver_sql(ROW_PROBES_DONE)

    def _write_routes(self, conn: Connection, ordered: Sequence[Issue | IssueRoute]) -> None:
        """UPDATE the routing of these issues (sorted by id) in one statement."""
        c = issues_t.c
        if self.postgis:  # one statement, not a round trip per issue
            # with each row's month (the partition key) a row is looked up in its own
            # partition, not in all of them: 4x fewer index probes on two years of issues
            months = [i.reported_at for i in ordered]
            by_month = None not in months
            conn.execute(text(
                "UPDATE issues AS i SET zone_id = v.zone_id, unit = v.unit, "
                "flags = v.flags::json, cadre = v.cadre, community = v.community "
                "FROM unnest(CAST(:ids AS integer[]), CAST(:zones AS integer[]), "
                "CAST(:units AS text[]), CAST(:flags AS text[]), CAST(:cadres AS text[]), "
                "CAST(:communities AS text[]), CAST(:months AS timestamp[])) "
                "AS v(id, zone_id, unit, flags, cadre, community, reported_at) "
                "WHERE i.id = v.id" + (" AND i.reported_at = v.reported_at" if by_month
                                       else "")),
                {"months": months if by_month else [None] * len(ordered),
                 "ids": [i.id for i in ordered], "zones": [i.zone_id for i in ordered],
                 "units": [i.unit for i in ordered],
                 "flags": [json.dumps(i.flags, ensure_ascii=False) for i in ordered],
                 "cadres": [i.cadre for i in ordered],
                 "communities": [i.community for i in ordered]})
        else:
            conn.execute(update(issues_t).where(c.id == bindparam("issue_id")), [
                {"issue_id": i.id, "zone_id": i.zone_id, "unit": i.unit, "flags": i.flags,
                 "cadre": i.cadre, "community": i.community} for i in ordered])

    def _routed_units(self, conn: Connection, issues: Sequence[Issue | IssueRoute]
                      ) -> list[tuple[int, str | None, int, int]]:
        """(id, unit, cell_x, cell_y) of these issues as stored, their rows locked until the
        transaction ends on PostgreSQL (on SQLite the caller holds the write lock)."""
        c = issues_t.c
        months = [i.reported_at for i in issues]
        if self.postgis and None not in months:
            # each row probed in its month's partition (within _row_probes)
            return [(int(r[0]), r[1], int(r[2]), int(r[3])) for r in conn.execute(text(
                "SELECT i.id, i.unit, i.cell_x, i.cell_y FROM issues AS i "
                "JOIN unnest(CAST(:ids AS integer[]), CAST(:months AS timestamp[])) "
                "AS v(id, reported_at) ON i.id = v.id AND i.reported_at = v.reported_at "
                "FOR UPDATE OF i"), {"ids": [i.id for i in issues], "months": months})]
        found: list[tuple[int, str | None, int, int]] = []
        for start in range(0, len(issues), ROUTE_READ_CHUNK):
            q = select(c.id, c.unit, c.cell_x, c.cell_y).where(
                c.id.in_([i.id for i in issues[start:start + ROUTE_READ_CHUNK]]))
            if self.postgis:
                q = q.with_for_update()
            found += [(int(r[0]), r[1], int(r[2]), int(r[3])) for r in conn.execute(q)]
        return found

    def existing_external_ids(self, external_ids: Sequence[str]) -> set[str]:
        """Which of these external ids are already stored."""
        found: set[str] = set()
        # PostgreSQL: issue_keys holds the unique external ids of the partitioned issues
        c = issue_keys_t.c if self.postgis else issues_t.c
        with self._connect() as conn:
            for start in range(0, len(external_ids), 5000):
                chunk = list(external_ids[start:start + 5000])
                found |= {r[0] for r in conn.execute(
                    select(c.external_id).where(c.external_id.in_(chunk)))}
        return found

    def issue_id_by_client_key(self, client_key: str) -> int | None:
        """The id of the issue stored with this client key, or None."""
        # PostgreSQL: issue_keys holds the unique client keys of the partitioned issues
        c = issue_keys_t.c if self.postgis else issues_t.c
        with self._connect() as conn:
            found = conn.execute(select(c.id).where(c.client_key == client_key)).scalar()
        return None if found is None else int(found)

    def add_photo(self, issue_id: int, stage: str, filename: str, content_type: str,
                  data: bytes, actor: str, client_key: str | None = None) -> int:
        """Store a photo of an issue (before/after) with its history and audit rows."""
        with self._begin() as conn:
            pid = int(conn.execute(insert(photos_t).returning(photos_t.c.id).values(
                issue_id=issue_id, stage=stage, filename=filename, content_type=content_type,
                size=len(data), data=data, at=datetime.now(), actor=actor,
                client_key=client_key)).scalar_one())
            _audit(conn, actor, "create", "issue_photo", str(pid),
                   {"issue_id": issue_id, "stage": stage, "size": len(data)})
            return pid

    def photo_by_client_key(self, client_key: str) -> dict[str, Any] | None:
        """The metadata of the photo stored with this client key, or None."""
        cols = [c for c in photos_t.c if c.name != "data"]
        with self._connect() as conn:
            row = conn.execute(select(*cols).where(photos_t.c.client_key == client_key)).first()
        return None if row is None else dict(row._mapping)

    def photos(self, issue_id: int) -> list[dict[str, Any]]:
        """Photo metadata of an issue."""
        cols = [c for c in photos_t.c if c.name != "data"]
        q = select(*cols).where(photos_t.c.issue_id == issue_id).order_by(photos_t.c.id)
        with self._connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def photo(self, photo_id: int) -> tuple[dict[str, Any], bytes]:
        """A photo's metadata and bytes."""
        with self._connect() as conn:
            row = conn.execute(select(photos_t).where(photos_t.c.id == photo_id)).first()
        if row is None:
            raise NotFound(f"照片 {photo_id} 不存在")
        meta = {k: v for k, v in row._mapping.items() if k != "data"}
        return meta, bytes(row._mapping["data"])

    def schedule_reinspection(self, issue_id: int, due: datetime, actor: str) -> int:
        """Schedule a 回头看 of a closed issue."""
        with self._begin() as conn:
            rid = int(conn.execute(insert(reinspections_t).returning(reinspections_t.c.id)
                                   .values(issue_id=issue_id, due=due)).scalar_one())
            _audit(conn, actor, "create", "reinspection", str(rid),
                   {"issue_id": issue_id, "due": due.isoformat()})
            return rid

    def record_reinspection(self, reinspection_id: int, result: str, note: str,
                            actor: str) -> dict[str, Any]:
        """Record the result (held / came_back) of a scheduled re-inspection."""
        t = reinspections_t
        with self._begin() as conn:
            done = conn.execute(update(t).where(t.c.id == reinspection_id, t.c.result.is_(None))
                                .values(result=result, note=note, actor=actor,
                                        done_at=datetime.now()))
            if done.rowcount == 0:
                raise Conflict(f"回头看记录 {reinspection_id} 不存在或已登记结果")
            _audit(conn, actor, "update", "reinspection", str(reinspection_id),
                   {"result": result})
            row = conn.execute(select(t).where(t.c.id == reinspection_id)).one()
        return dict(row._mapping)

    def reinspections(self, issue_id: int | None = None) -> list[dict[str, Any]]:
        """Re-inspections, of one issue or all."""
        q = select(reinspections_t).order_by(reinspections_t.c.id)
        if issue_id is not None:
            q = q.where(reinspections_t.c.issue_id == issue_id)
        with self._connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    # --- vector tiles (geo/tiling/tiles.py has the rules; PostGIS encodes with ST_AsMVT) ---------
    def layer_version(self, layer: str) -> int:
        """The layer's version, bumped by every write that changes it (0 if unknown)."""
        return self.layer_versions([layer])[layer]

    def layer_versions(self, layers: Sequence[str], tile: Tile | None = None
                       ) -> dict[str, int]:
        """The versions of several layers in one query (0 for an unknown layer); with a tile,
        a feature layer's is that of the last write that changed its features there and the
        issues layer's that of the last write that changed the issues tile there."""
        if tile is None:
            with self._read() as conn:
                found = {name: int(v or 0) for name, v in conn.execute(
                    _VERSIONS, {"layers": list(layers)})}
            return {name: found.get(name, 0) for name in layers}
        issues = ISSUE_LAYER in layers
        features = [n for n in layers if n in FEATURE_LAYERS]
        # "<layer>:all" and "issues:all" from layer_versions; "<layer>" and "issues" from the
        # blocks the tile reads
        names = [n for n in layers if n != ISSUE_LAYER and n not in FEATURE_LAYERS]
        names += [every_tile(n) for n in features] + ([ALL_ISSUE_TILES] if issues else [])
        params: dict[str, Any] = {"layers": names, "features": features}
        if issues:
            params.update(zip(("bx0", "by0", "bx1", "by1"), issue_blocks(tile), strict=True))
        if features:
            params.update(zip(("fx0", "fy0", "fx1", "fy1"), feature_blocks(tile), strict=True))
        with self._read() as conn:
            found = {name: int(v or 0) for name, v in conn.execute(
                _TILE_VERSIONS[issues, bool(features)], params)}
        for name in features:
            found[name] = max(found.get(name, 0), found.get(every_tile(name), 0))
        if issues:
            found[ISSUE_LAYER] = max(found.get(ISSUE_LAYER, 0), found.get(ALL_ISSUE_TILES, 0))
        return {name: found.get(name, 0) for name in layers}

    def changed_blocks(self, since: Mapping[str, int], most: int
                       ) -> tuple[dict[str, int], dict[str, list[tuple[int, int]] | None]]:
        """The layers' versions now, and for each layer written since its version in `since`
        the blocks (bx, by) the writes changed, or None for every tile of the layer (a write
        recorded on every tile, or more than `most` blocks)."""
        layers = list(since)
        with self._read() as conn:  # the versions first: a block written after is seen twice
            now = {name: int(v or 0) for name, v in conn.execute(
                _VERSIONS, {"layers": layers + [every_tile(n) for n in layers]})}
            changed: dict[str, list[tuple[int, int]] | None] = {}
            for name in layers:
                if now.get(name, 0) <= since[name]:
                    continue
                if now.get(every_tile(name), 0) > since[name]:
                    changed[name] = None
                    continue
                if name == ISSUE_LAYER:
                    t, conds = issue_blocks_t, [issue_blocks_t.c.version > since[name]]
                else:
                    t = feature_blocks_t
                    conds = [t.c.layer == name, t.c.version > since[name]]
                blocks = [(int(x), int(y)) for x, y in conn.execute(
                    select(t.c.bx, t.c.by).where(*conds).limit(most + 1))]
                changed[name] = blocks if len(blocks) <= most else None
        return {name: now.get(name, 0) for name in layers}, changed

    def feature_tile(self, kind: Kind, tile: Tile, where: dict[str, Any] | None = None,
                     scope_unit: str | None = None,
                     fields: Sequence[str] | None = None) -> bytes:
        """The MVT of one layer kind in one tile (one MVT layer named after the kind), its
        features carrying their ids and the properties `fields` (of FEATURE_PROPS; None:
        all)."""
        names = FEATURE_PROPS if fields is None else tuple(fields)
        smallest = min_feature_deg(tile.view_zoom)
        where = where or {}
        q = self._feature_tile_query(kind, names, smallest is not None, scope_unit is not None,
                                     tuple(where))
        params: dict[str, Any] = dict(zip(("minx", "miny", "maxx", "maxy"),
                                          tile.lonlat_bounds(BUFFER), strict=True))
        params.update({f"w{i}": _filter_value(k, v) for i, (k, v) in enumerate(where.items())},
                      smallest=smallest, unit=scope_unit, z=tile.z, x=tile.x, y=tile.y)
        with self._tile_read(ONE_CORE, CUSTOM_PLANS) as conn:
            if not self.postgis:
                found = conn.execute(q, params)
                rows = found.cursor.fetchall()  # the driver's tuples: SQLAlchemy's rows took
                found.close()  # a quarter of a city z13 street tile's time
                return encode_features(tile, kind.value, rows, names)
            return bytes(conn.execute(q, params).scalar() or b"")

    def _feature_tile_query(self, kind: Kind, names: tuple[str, ...], small: bool,
                            scoped: bool, where: tuple[str, ...]) -> Executable:
        """The query of a feature tile of this shape, its values bound when it runs: made once
        a shape (making it took as long as a small tile's query on PostGIS: 1 ms)."""
        shape = (kind, names, small, scoped, where)
        if shape in self._tile_queries:
            return self._tile_queries[shape]
        c = features_t.c
        conds = self._feature_conditions(
            kind, [bindparam(n) for n in ("minx", "miny", "maxx", "maxy")],
            {key: bindparam(f"w{i}") for i, key in enumerate(where)},
            bindparam("unit") if scoped else None)
        if small:  # too small to draw at the tile's zoom; points (empty bbox) always stay
            smallest = bindparam("smallest", type_=Float)
            conds.append(or_(c.maxx - c.minx >= smallest, c.maxy - c.miny >= smallest,
                             (c.maxx == c.minx) & (c.maxy == c.miny)))
        props = {"id": c.id, "kind": c.kind, "name": c.name, "category": c.category,
                 "unit": c.properties["unit"].as_string()}
        cols = [props[name].label(name) for name in names]
        made: Executable
        if not self.postgis:
            made = select(c.id.label("fid"), *cols, c.wkb).where(*conds)
        else:
            envelope = func.ST_TileEnvelope(bindparam("z"), bindparam("x"), bindparam("y"))
            geom = func.ST_AsMVTGeom(func.ST_Transform(literal_column("features.geom"), 3857),
                                     envelope, EXTENT, BUFFER, True)
            made = _mvt_query(select(geom.label("geom"), c.id.label("fid"), *cols)
                              .where(*conds), kind.value)
        if len(self._tile_queries) >= MAX_TILE_QUERIES:  # shapes by property filter: unbounded
            self._tile_queries.clear()
        self._tile_queries[shape] = made
        return made

    def issue_tile(self, query: IssueQuery, tile: Tile,
                   fields: Sequence[str] | None = None) -> bytes:
        """The MVT of the issues matching query in one tile: the layer `issues` (points, with
        their ids and the properties `fields`; None: all) at high zoom, else `issue_cells`
        (counts per grid cell), aggregated in SQL."""
        c = issues_t.c
        conds = _issue_conditions(query)
        units = _units_only(query, conds) if conds else None
        with self._tile_read(CUSTOM_PLANS) as conn:
            if not wants_cells(tile.view_zoom):
                points = self._issue_points(conn, query, conds, units, tile, fields)
                if points is not None:
                    return points
            grid = cell_grid(tile)
            ring = ring_grid(grid)  # and the neighbours' cells whose bubbles reach in
            if not conds or not self.postgis or units is not None:
                # issues per base cell, merged here: every issue's from the counts kept per
                # base cell (0021), a unit's from those kept per unit (0035: a unit user's
                # every tile); otherwise on SQLite counted in the index's order (a streamed
                # GROUP BY, no temporary B-tree: half the time for the 380,000 issues of a
                # city-wide tile). The driver's own rows: 20,000 Row objects took as long.
                k, u, lv = cell_counts_t.c, unit_counts_t.c, cell_levels_t.c
                per_cell: Select[Any]
                if not conds and (level := cell_level(grid)):
                    # the coarsest kept counts the cells are made of (0037)
                    grid = at_level(grid, level)
                    ring = ring_grid(grid)
                    per_cell = select(lv.cell_x, lv.cell_y, lv.n).where(
                        lv.level == level, lv.cell_x.between(*ring.cell_x),
                        lv.cell_y.between(*ring.cell_y), lv.n > 0)
                elif not conds:
                    per_cell = select(k.cell_x, k.cell_y, k.n).where(
                        k.cell_x.between(*ring.cell_x), k.cell_y.between(*ring.cell_y), k.n > 0)
                elif units is not None:
                    # several units' rows of a base cell are merged by merged_cells
                    per_cell = select(u.cell_x, u.cell_y, u.n).where(
                        u.unit.in_(units), u.cell_x.between(*ring.cell_x),
                        u.cell_y.between(*ring.cell_y), u.n > 0)
                else:
                    per_cell = select(c.cell_x, c.cell_y, func.count()).where(
                        *conds, _grid_cells(ring)).group_by(c.cell_x, c.cell_y)
                    if _in_cell_index(conds):
                        # read from the covering index (0034) whatever the sampled statistics
                        # say: with a unit and a week they sent SQLite to the unit's index and
                        # a table row per issue of the unit (a unit user's replay step,
                        # 1.3-7.7 s)
                        per_cell = per_cell.with_hint(issues_t, "INDEXED BY ix_issues_cells",
                                                      "sqlite")
                counted = conn.execute(per_cell)
                base = counted.cursor.fetchall()
                counted.close()
                own, edge = merged_cells(grid, base)
                return (encode_points(tile, CELL_LAYER, CELL_PROPS, own, with_id=False)
                        + encode_points(tile, EDGE_CELL_LAYER, CELL_PROPS, edge, with_id=False))
            gx, gy = c.cell_x.op(">>")(grid.shift), c.cell_y.op(">>")(grid.shift)
            cells = select(gx.label("gx"), gy.label("gy"), func.count().label("n")).where(
                *conds, _grid_cells(ring)).group_by(gx, gy).cte("cells")
            lon = (cells.c.gx + 0.5) * grid.size_deg
            lat = (cells.c.gy + 0.5) * grid.size_deg
            size = cast(literal(grid.size_deg), Float)
            point = func.ST_Transform(func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326), 3857)
            mvt = func.ST_AsMVTGeom(point, _envelope(tile), EXTENT, 0, False)
            own_cell = (cells.c.gx.between(grid.cell_x[0] >> grid.shift,
                                           grid.cell_x[1] >> grid.shift)
                        & cells.c.gy.between(grid.cell_y[0] >> grid.shift,
                                             grid.cell_y[1] >> grid.shift))

            def layer(where: ColumnElement[bool], name: str) -> Any:
                shown = select(mvt.label("geom"), cells.c.n.label("count"),
                               size.label("cell_deg")).where(where)
                return func.coalesce(_mvt_query(shown, name).scalar_subquery(),
                                     literal(b"", LargeBinary))

            # both layers from one count of the cells (the CTE is read twice, computed once)
            both = select(layer(own_cell, CELL_LAYER).op("||")(
                layer(~own_cell, EDGE_CELL_LAYER)))
            return bytes(conn.execute(both).scalar() or b"")

    def issue_tile_valid_until(self, query: IssueQuery, tile: Tile) -> datetime | None:
        """When issue_tile(query, tile) next changes without a write: the earliest deadline at
        or after query.now of the open issues it reads (its points' or cells' area and the
        query's filters, the overdue filter aside), when that issue becomes overdue. None if
        no such issue, or if the tile does not depend on the clock (cells, no overdue filter)."""
        points = not wants_cells(tile.view_zoom)
        if not points and query.overdue is None:
            return None
        c = issues_t.c
        areas: list[ColumnElement[bool]] = []
        if points:
            areas.append(self._issue_points_near(tile))
        if query.overdue is not None:  # a points tile with too many points is drawn as cells
            areas.append(_grid_cells(ring_grid(cell_grid(tile))))
        # ix_issues_open_deadline (0017) is walked from now on in deadline order up to the first
        # open issue in the areas (tested on its entries; other filters read the row): open
        # issues not yet due are few, so whatever the tile's size this reads a few pages, where
        # reading the area's open issues took 20 ms for a 512-pixel z13 tile of 1M issues.
        # deadline == now is not overdue yet (overdue is deadline < now): it is the next change
        q = select(c.deadline).where(
            _OPEN_ISSUE, c.deadline >= query.now, or_(*areas),
            *_issue_conditions(replace(query, overdue=None))).order_by(c.deadline).limit(1)
        # SQLite takes it whatever its statistics: sampled by ANALYZE, they make the status or
        # category index look selective (every open issue, or every issue of the category, read
        # and sorted: 20-140 ms). PostgreSQL picks it: a Merge Append of the month partitions'
        # scans of it, planning them most of the 2-3 ms the query takes there
        q = q.with_hint(issues_t, "INDEXED BY ix_issues_open_deadline", "sqlite")
        with self._tile_read(GENERIC_PLANS) as conn:
            until: datetime | None = conn.execute(q).scalar()
        return until

    def _issue_points(self, conn: Connection, query: IssueQuery,
                      conds: list[ColumnElement[bool]], units: list[str] | None, tile: Tile,
                      fields: Sequence[str] | None) -> bytes | None:
        """A points tile's MVT (the layer `issues`), or None when the tile holds more issues
        than it draws as points (its cells then)."""
        c = issues_t.c
        # as many points per square pixel whatever the tile's size; more close up
        most = MAX_TILE_POINTS * (tile.px // 256) ** 2 * (4 if tile.view_zoom >= CLOSE_ZOOM else 1)
        props = {"id": c.id, "category": c.category, "status": c.status,
                 "overdue": func.coalesce(_overdue(query.now), False).label("overdue")}
        names = tuple(n for n in ISSUE_PROPS if fields is None or n in fields)
        carried = [props[n] for n in names]
        near = self._issue_points_near(tile)
        if units is not None and self._unit_count_near(conn, units, tile) > most:
            return None
        if not conds and self._kept_count_within(conn, tile) > 2 * most:
            return None  # surely dense (twice: a hair of float at a cell's edge never decides)
        if self.postgis:
            # one scan: up to one point over the limit is read (index only) and counted, and
            # encoded only when within it (a dense tile, drawn as cells, costs the scan only).
            # Counting first and reading again scanned every month twice: half of a unit
            # user's z13 tile. Parallel workers, which the planner picks for the Append of the
            # month partitions, take longer to start than these scans and than encoding the
            # points
            conn.exec_driver_sql(f"{ONE_CORE}; {GENERIC_PLANS}")
            read = select(c.lon, c.lat, c.id.label("fid"), *carried).where(
                *conds, near).limit(most + 1).cte("read")
            geom: Any = func.ST_SetSRID(func.ST_MakePoint(read.c.lon, read.c.lat), 4326)
            mvt = func.ST_AsMVTGeom(func.ST_Transform(geom, 3857), _envelope(tile),
                                    EXTENT, BUFFER, True)
            points = select(mvt.label("geom"), read.c.fid, *(read.c[name] for name in names))
            how_many = select(func.count()).select_from(read).scalar_subquery()
            # CASE evaluates the encoding's subquery only when it is chosen
            n, data = conn.execute(select(how_many, case(
                (how_many <= most, _mvt_query(points, ISSUE_LAYER).scalar_subquery())
            ))).one()
            if n <= most:
                return bytes(data or b"")
            if conds:  # the cells, counted for these filters
                conn.exec_driver_sql(CUSTOM_PLANS)
            return None
        if units is None:
            # counted on the cell index first (0018): a dense tile, drawn as cells, reads no
            # rows
            counted = conn.execute(select(func.count()).select_from(
                select(c.id).where(*conds, near).limit(most + 1)
                .with_hint(issues_t, "INDEXED BY ix_issues_cells", "sqlite").subquery()
            )).scalar_one()
            if counted > most:
                return None
        found = conn.execute(  # one over: the kept counts are trusted, not relied on
            select(c.lon, c.lat, c.id.label("fid"), *carried).where(*conds, near)
            .limit(most + 1).with_hint(issues_t, "INDEXED BY ix_issues_cells", "sqlite"))
        rows = found.cursor.fetchall()  # the driver's tuples (as the cells')
        found.close()
        if len(rows) > most:
            return None
        return encode_points(tile, ISSUE_LAYER, names, rows, with_id=True)

    def _unit_count_near(self, conn: Connection, units: list[str], tile: Tile) -> int:
        """The units' issues over the base cells a points tile's box touches, from the counts
        kept per unit (0035): never fewer than the tile's own. Counting them in the index read
        every issue of the tile, of every unit (20-26 ms of a unit user's dense z14 tile on
        SQLite, which then drew cells)."""
        x0, y0, x1, y1 = self._near_cells(tile)
        u = unit_counts_t.c
        return int(conn.execute(select(func.coalesce(func.sum(u.n), 0)).where(
            u.unit.in_(units), u.cell_x.between(x0, x1), u.cell_y.between(y0, y1)
        )).scalar_one())

    def _kept_count_within(self, conn: Connection, tile: Tile) -> int:
        """The issues of the finest kept level's cells (0037) that lie wholly within the base
        cells a points tile reads: never more than the tile reads. A dense street-level tile
        (drawn as cells) read one point over the limit to learn it: 5 ms of a city z14 tile on
        SQLite, 11 ms on PostGIS."""
        x0, y0, x1, y1 = self._near_cells(tile)
        level, lv = CELL_LEVELS[0], cell_levels_t.c
        # the level's cells within base cells x0 + 1 .. x1 - 1 (the edge cells are partly out)
        lx0, lx1 = -(-(x0 + 1) >> level), (x1 >> level) - 1
        ly0, ly1 = -(-(y0 + 1) >> level), (y1 >> level) - 1
        if lx0 > lx1 or ly0 > ly1:
            return 0
        return int(conn.execute(select(func.coalesce(func.sum(lv.n), 0)).where(
            lv.level == level, lv.cell_x.between(lx0, lx1), lv.cell_y.between(ly0, ly1)
        )).scalar_one())

    def _issue_points_near(self, tile: Tile) -> ColumnElement[bool]:
        """The issues a points tile reads: those in the tile and its buffer."""
        c = issues_t.c
        minx, miny, maxx, maxy = tile.lonlat_bounds(BUFFER)
        if not self.postgis:
            # one range of ix_issues_cells per column of cells, the exact bounds tested on the
            # entries (a range over cell_x would read whole columns of the city)
            x0, y0, x1, y1 = self._near_cells(tile)
            return (c.cell_x.in_(list(range(x0, x1 + 1))) & c.cell_y.between(y0, y1)
                    & c.lon.between(minx, maxx) & c.lat.between(miny, maxy))
        # the rows of `geom && envelope` (PostGIS compares float4 boxes), chosen by lon/lat and
        # drawn from them as the generated geom is: with ix_issues_tile (0015) an index-only
        # scan of each month, not a table page per point (the GiST scan on geom read 11,000+
        # scattered pages of a dense z15 512 tile, twice: 19 s from disk)
        west, south, east, north = _box2df_bounds(minx, miny, maxx, maxy)
        return (c.lon > west) & (c.lon < east) & (c.lat > south) & (c.lat < north)

    def _near_cells(self, tile: Tile) -> tuple[int, int, int, int]:
        """The base cells (x0, y0, x1, y1, inclusive) holding every issue that
        `_issue_points_near` reads."""
        minx, miny, maxx, maxy = tile.lonlat_bounds(BUFFER)
        if self.postgis:  # its open float4 bounds, a hair wider
            minx, miny, maxx, maxy = _box2df_bounds(minx, miny, maxx, maxy)
        return (math.floor(minx / CELL_DEG), math.floor(miny / CELL_DEG),
                math.floor(maxx / CELL_DEG), math.floor(maxy / CELL_DEG))

    def issue_count(self, at_most: int | None = None) -> int:
        """Number of issues (with at_most: counted up to it, the rest never read)."""
        rows: Any = issues_t
        if at_most is not None:
            rows = select(literal(1)).select_from(issues_t).limit(at_most).subquery()
        with self._connect() as conn:
            return int(conn.execute(select(func.count()).select_from(rows)).scalar_one())

    def clear(self, actor: str = "system") -> None:
        """Delete all features, issues, users and units in one transaction (demo rebuild)."""
        with self._begin() as conn:
            for table in (history_t, photos_t, reinspections_t, extensions_t, inspections_t,
                          rounds_t, issues_t, fversions_t, features_t, tokens_t, users_t, units_t,
                          attempts_t, *NOTICE_TABLES):
                conn.execute(delete(table))
            _audit(conn, actor, "clear", "store", None, {})
            conn.execute(update(layer_versions_t).values(version=layer_versions_t.c.version + 1))
            conn.execute(delete(issue_blocks_t))
            conn.execute(delete(feature_blocks_t))
            conn.execute(delete(cell_counts_t))
            conn.execute(delete(cell_levels_t))
            conn.execute(delete(unit_counts_t))
            _bump_issues(conn, None)
            _bump_features(conn, {k.value: [None] for k in Kind})

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.engine.dispose()


def _features_of(kind: Kind, rows: Sequence[Any], keys: Sequence[str] | None
                 ) -> list[Feature]:
    """Features from rows (id, name, category, source_id, version, wkb, properties or the
    values of keys)."""
    # the WKB parsed in one call (a layer of 50,000 streets: 0.6 s one by one)
    geoms = shapely.from_wkb([bytes(r[5]) for r in rows]) if rows else np.empty(0, object)
    return [Feature(kind=kind, geometry=g, name=r[1], category=r[2], source_id=r[3],
                    properties=dict(r[6] or {}) if keys is None else
                    {k: v for k, v in zip(keys, map(_json_value, r[6:]), strict=True)
                     if v is not None},
                    id=r[0], version=r[4])
            for r, g in zip(rows, geoms, strict=True)]
