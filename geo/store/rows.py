"""SQL helpers shared by SqlStore and its mixins (aggregates, bulk): query conditions, rows to
records and back, audit rows, layer and tile versions, tile SQL pieces."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    Select,
    String,
    Table,
    bindparam,
    cast,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import iterate

from geo.model.errors import NotFound
from geo.model.kinds import Kind
from geo.model.lifecycle import UNHANDLED
from geo.model.records import Feature, Issue
from geo.model.users import Role, User
from geo.store import BBox, IssueQuery
from geo.store.schema import audit as audit_t
from geo.store.schema import feature_blocks as feature_blocks_t
from geo.store.schema import features as features_t
from geo.store.schema import inspections as inspections_t
from geo.store.schema import issue_blocks as issue_blocks_t
from geo.store.schema import issue_cell_counts as cell_counts_t
from geo.store.schema import issue_cell_levels as cell_levels_t
from geo.store.schema import issue_history as history_t
from geo.store.schema import issue_unit_cell_counts as unit_counts_t
from geo.store.schema import issues as issues_t
from geo.store.schema import jobs as jobs_t
from geo.store.schema import layer_versions as layer_versions_t
from geo.tiling.tiles import (
    BLOCK_SHIFT,
    EXTENT,
    ISSUE_LAYER,
    MAX_FEATURE_BLOCKS,
    CellGrid,
    Tile,
    bbox_blocks,
    level_counts,
)

ALL_ISSUE_TILES = f"{ISSUE_LAYER}:all"  # every_tile(ISSUE_LAYER)
CELL_DEG = 0.0005  # the base heatmap cell (about 50 m); coarser cells are multiples of it
ISSUE_FIELDS = [c.name for c in issues_t.columns if c.name not in ("id", "cell_x", "cell_y")]


def _inspection_conditions(feature_id: int | None, round_id: int | None,
                           since: datetime | None, until: datetime | None) -> list[Any]:
    t = inspections_t
    conds: list[Any] = []
    if feature_id is not None:
        conds.append(t.c.feature_id == feature_id)
    if round_id is not None:
        conds.append(t.c.round_id == round_id)
    if since is not None:
        conds.append(t.c.inspected_at >= since)
    if until is not None:
        conds.append(t.c.inspected_at < until)
    return conds


def _job_conditions(actor: str | None, states: Sequence[str] | None) -> list[Any]:
    conds: list[Any] = []
    if actor is not None:
        conds.append(jobs_t.c.actor == actor)
    if states:
        conds.append(jobs_t.c.state.in_(list(states)))
    return conds


def _issue_row(i: Issue) -> dict[str, Any]:
    return {**{k: getattr(i, k) for k in ISSUE_FIELDS},
            "cell_x": math.floor(i.lon / CELL_DEG), "cell_y": math.floor(i.lat / CELL_DEG)}


def _insert_issues(conn: Connection, rows: list[dict[str, Any]], actor: str) -> list[int]:
    now = datetime.now()
    ids = [r[0] for r in conn.execute(insert(issues_t).returning(issues_t.c.id), rows)]
    conn.execute(insert(history_t), [
        {"issue_id": i, "at": r["reported_at"] or now, "actor": actor,
         "from_status": None, "to_status": r["status"], "note": "创建"}
        for i, r in zip(ids, rows, strict=True)])
    _audit(conn, actor, "create", "issue", _id_span(ids), {"count": len(ids), "ids": ids[:1000]})
    _issues_added(conn, [(r["cell_x"], r["cell_y"]) for r in rows], [r["unit"] for r in rows])
    return ids


def _box2df_bounds(minx: float, miny: float, maxx: float, maxy: float
                   ) -> tuple[float, float, float, float]:
    """Open bounds (west, south, east, north) of the points p with `p && envelope(minx, miny,
    maxx, maxy)` in PostGIS: it compares boxes of float4 rounded outwards, so x matches when
    float4_down(x) <= float4_up(maxx), i.e. x < the float4 after float4_up(maxx) (alike below)."""
    lo = np.array([minx, miny], dtype=np.float64)
    hi = np.array([maxx, maxy], dtype=np.float64)
    down, up = lo.astype(np.float32), hi.astype(np.float32)
    down = np.where(down.astype(np.float64) > lo, np.nextafter(down, np.float32(-np.inf)), down)
    up = np.where(up.astype(np.float64) < hi, np.nextafter(up, np.float32(np.inf)), up)
    below = np.nextafter(down, np.float32(-np.inf)).astype(np.float64)
    above = np.nextafter(up, np.float32(np.inf)).astype(np.float64)
    return float(below[0]), float(below[1]), float(above[0]), float(above[1])


@compiles(Table, "sqlite")
def _sqlite_table(table: Table, compiler: SQLCompiler, **kw: Any) -> str:
    """A table in SQLite SQL, with its hint from select.with_hint(table, hint, "sqlite") (such
    as `INDEXED BY ix`), which SQLAlchemy's SQLite dialect leaves out."""
    sql = compiler.visit_table(table, **kw)
    hint = (kw.get("fromhints") or {}).get(table)
    return f"{sql} {hint}" if hint and kw.get("asfrom") else sql


# the open issues, written as the WHERE of the partial index ix_issues_open_deadline (0017):
# SQLite uses a partial index only for a query holding that very term, with the values as
# literals (not bound parameters); a new unhandled status needs a new index
_OPEN_ISSUE = issues_t.c.status.in_(bindparam("open_statuses", sorted(UNHANDLED), expanding=True,
                                               literal_execute=True))


# the columns of the issue tiles' covering index (migrations 0031, 0034)
_CELL_INDEX = frozenset(col.name for ix in issues_t.indexes if ix.name == "ix_issues_cells"
                        for col in ix.columns)


def _tested_columns(conds: Sequence[ColumnElement[bool]]) -> set[str]:
    """The names of the columns the conditions test."""
    return {col.name for cond in conds for col in iterate(cond) if isinstance(col, Column)}


def _in_cell_index(conds: Sequence[ColumnElement[bool]]) -> bool:
    """Whether the conditions test only columns of ix_issues_cells, so that a tile's issues
    are read and tested from that index alone."""
    return _tested_columns(conds) <= _CELL_INDEX


def _units_only(query: IssueQuery, conds: Sequence[ColumnElement[bool]]) -> list[str] | None:
    """The units an issue query keeps when unit is all its conditions (`_issue_conditions`)
    test (a unit user's scope, the 责任单位 filter, or both: their common units, maybe none);
    None otherwise."""
    if _tested_columns(conds) != {"unit"}:
        return None
    units = set(query.units or [])
    if query.scope_unit is not None:
        units = {query.scope_unit} & units if units else {query.scope_unit}
    return sorted(units)


def _grid_cells(grid: CellGrid) -> ColumnElement[bool]:
    """The issues in the base cells an issue cell tile reads."""
    c = issues_t.c
    return c.cell_x.between(*grid.cell_x) & c.cell_y.between(*grid.cell_y)


def _envelope(tile: Tile) -> Any:
    """ST_TileEnvelope of a tile (Web Mercator)."""
    return func.ST_TileEnvelope(tile.z, tile.x, tile.y)


def _mvt_query(rows: Select[Any], layer: str) -> Select[Any]:
    """ST_AsMVT over rows (geom, optional fid as the feature id, then properties)."""
    sub = rows.subquery("mvtgeom")
    fid = ("fid",) if "fid" in sub.c else ()
    return select(func.ST_AsMVT(literal_column("mvtgeom"), layer, EXTENT, "geom", *fid)
                  ).select_from(sub)


OWN_COLUMNS = ("name", "category")  # a feature's properties kept in columns of their own


def _filter_value(key: str, value: Any) -> Any:
    """A property filter's value as compared: with the JSON property's text, or as it is with
    a column of its own (a bind parameter as it is)."""
    return value if key in OWN_COLUMNS or isinstance(value, BindParameter) else str(value)


def _bump_layers(conn: Connection, layers: Iterable[str]) -> None:
    """Bump layer versions inside the caller's transaction (at its end and in sorted order,
    so concurrent writers lock the rows briefly and in one order)."""
    t = layer_versions_t
    for name in sorted(set(layers)):
        if conn.execute(update(t).where(t.c.layer == name)
                        .values(version=t.c.version + 1)).rowcount == 0:
            conn.execute(insert(t).values(layer=name, version=2))


def _bump_features(conn: Connection, boxes: Mapping[str, Sequence[BBox | None]]) -> None:
    """Bump feature layers and record each one's new version on the blocks covered by the
    boxes of the features written, before and after (sorted: one lock order); a None box, or
    more than MAX_FEATURE_BLOCKS blocks in all: on every tile of the layer ("<layer>:all")."""
    _bump_layers(conn, boxes)
    for layer in sorted(boxes):
        version, blocks = _version(conn, layer), _blocks_of(boxes[layer])
        if blocks is None:
            _set_versions(conn, layer_versions_t,
                          [{"layer": every_tile(layer), "version": version}])
        else:
            _set_versions(conn, feature_blocks_t, [
                {"layer": layer, "bx": bx, "by": by, "version": version}
                for bx, by in sorted(blocks)])


def every_tile(layer: str) -> str:
    """The layer_versions row of the last write of `layer` that may change any of its tiles."""
    return f"{layer}:all"


def _version(conn: Connection, layer: str) -> int:
    """A layer's version (in the caller's transaction: the one it just bumped)."""
    t = layer_versions_t
    return int(conn.execute(select(t.c.version).where(t.c.layer == layer)).scalar_one())


def _set_versions(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Upsert version rows (of layer_versions or a blocks table) to the versions given."""
    _upsert(conn, table, rows, lambda new: {"version": new.version})


def _box(row: Mapping[Any, Any]) -> BBox | None:
    """A feature row's bounding box (None if it has none)."""
    minx, miny, maxx, maxy = (row[k] for k in ("minx", "miny", "maxx", "maxy"))
    if minx is None or miny is None or maxx is None or maxy is None:
        return None
    return float(minx), float(miny), float(maxx), float(maxy)


def _blocks_of(boxes: Sequence[BBox | None]) -> set[tuple[int, int]] | None:
    """The blocks the boxes cover; None for "every block" (a None or non-finite box, or more
    than MAX_FEATURE_BLOCKS)."""
    blocks: set[tuple[int, int]] = set()
    for box in boxes:
        if box is None or not all(math.isfinite(v) for v in box):
            return None
        bx0, by0, bx1, by1 = bbox_blocks(box)
        if (bx1 - bx0 + 1) * (by1 - by0 + 1) > MAX_FEATURE_BLOCKS:
            return None
        blocks.update(itertools.product(range(bx0, bx1 + 1), range(by0, by1 + 1)))
        if len(blocks) > MAX_FEATURE_BLOCKS:
            return None
    return blocks


def _issues_added(conn: Connection, cells: Sequence[tuple[int, int]],
                  units: Sequence[str | None]) -> None:
    """Count new issues, given by their base cells (cell_x, cell_y) and units, into
    issue_cell_counts, issue_cell_levels and issue_unit_cell_counts, and bump the issues layer
    around them."""
    counted = Counter((int(x), int(y)) for x, y in cells)
    _upsert(conn, cell_counts_t, [{"cell_x": x, "cell_y": y, "n": n}
                                  for (x, y), n in sorted(counted.items())],  # lock order
            lambda new: {"n": cell_counts_t.c.n + new.n})
    _upsert(conn, cell_levels_t, [{"level": lv, "cell_x": x, "cell_y": y, "n": n}
                                  for (lv, x, y), n in sorted(level_counts(counted).items())],
            lambda new: {"n": cell_levels_t.c.n + new.n})
    _count_units(conn, Counter((u, int(x), int(y))
                               for (x, y), u in zip(cells, units, strict=True) if u is not None))
    _bump_issues(conn, cells)


def _sqlite_write_lock(conn: Connection) -> None:
    """SQLite: a write that changes nothing. It begins the transaction (Python's sqlite3 begins
    one only before a write: a SELECT first would run on its own) and takes the database's one
    write lock, so what the transaction reads next stays as read until it ends."""
    t = layer_versions_t
    conn.execute(update(t).where(literal(False)).values(version=t.c.version))


def _count_units(conn: Connection, changes: Counter[tuple[str, int, int]]) -> None:
    """Add changes of the issue counts per (unit, cell_x, cell_y) to issue_unit_cell_counts
    (a unit's issues in a base cell, +1 for each that came, -1 for each that left)."""
    _upsert(conn, unit_counts_t, [{"unit": u, "cell_x": x, "cell_y": y, "n": n}
                                  for (u, x, y), n in sorted(changes.items()) if n],
            lambda new: {"n": unit_counts_t.c.n + new.n})


def _units_changed(before: Iterable[tuple[int, str | None, int, int]],
                   after: Mapping[int, str | None]) -> Counter[tuple[str, int, int]]:
    """The changes of the counts per (unit, base cell) when issues (id, unit, cell_x, cell_y)
    as they were get the units `after` (by id)."""
    changes: Counter[tuple[str, int, int]] = Counter()
    for issue_id, unit, x, y in before:
        new = after[issue_id]
        if new != unit:
            if unit is not None:
                changes[(unit, x, y)] -= 1
            if new is not None:
                changes[(new, x, y)] += 1
    return changes


def _bump_issues(conn: Connection, cells: Iterable[tuple[int, int]] | None) -> None:
    """Bump the issues layer and record its new version on the blocks of these base cells
    (cell_x, cell_y) of the issues written, before and after; None: on every issue tile."""
    _bump_layers(conn, [ISSUE_LAYER])
    version = _version(conn, ISSUE_LAYER)
    if cells is None:
        _set_versions(conn, layer_versions_t, [{"layer": ALL_ISSUE_TILES, "version": version}])
        return
    blocks = sorted({(int(x) >> BLOCK_SHIFT, int(y) >> BLOCK_SHIFT) for x, y in cells})
    _set_versions(conn, issue_blocks_t,  # in sorted order: one lock order
                  [{"bx": bx, "by": by, "version": version} for bx, by in blocks])


def _upsert(conn: Connection, table: Table, rows: list[dict[str, Any]],
            update_with: Callable[[Any], dict[str, Any]]) -> None:
    """INSERT rows, or on a conflict of the primary key UPDATE with update_with(excluded)."""
    if not rows:
        return
    stmt = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)
    conn.execute(stmt.on_conflict_do_update(index_elements=list(table.primary_key.columns),
                                            set_=update_with(stmt.excluded)), rows)


def _audit(conn: Connection, actor: str, action: str, object_type: str,
           object_id: str | None, diff: dict[str, Any]) -> None:
    """Append an audit row inside the caller's transaction."""
    conn.execute(insert(audit_t).values(at=datetime.now(), actor=actor, action=action,
                                        object_type=object_type, object_id=object_id,
                                        diff=diff))


def _audit_conditions(actor: str | None, object_type: str | None, since: datetime | None,
                      until: datetime | None) -> list[ColumnElement[bool]]:
    c = audit_t.c
    conds: list[ColumnElement[bool]] = []
    if actor:
        conds.append(c.actor == actor)
    if object_type:
        conds.append(c.object_type == object_type)
    if since:
        conds.append(c.at >= since)
    if until:
        conds.append(c.at < until)
    return conds


def _issue_conditions(query: IssueQuery) -> list[ColumnElement[bool]]:
    """WHERE clauses of an issue query (shared by listing, export and heatmap cells)."""
    c = issues_t.c
    conds: list[ColumnElement[bool]] = []
    if query.scope_unit is not None:
        conds.append(c.unit == query.scope_unit)
    for col, values in (("category", query.categories), ("status", query.statuses),
                        ("source", query.sources), ("unit", query.units),
                        ("community", query.communities)):
        if values:
            conds.append(c[col].in_(values))
    if query.zone_id is not None:
        conds.append(c.zone_id == query.zone_id)
    if query.since:
        conds.append(c.reported_at >= query.since)
    if query.until:
        conds.append(c.reported_at < query.until)
    if query.bbox:
        minx, miny, maxx, maxy = query.bbox
        conds.append(c.lon.between(minx, maxx) & c.lat.between(miny, maxy))
    if query.overdue is not None:
        overdue = _overdue(query.now)
        conds.append(overdue if query.overdue else ~overdue)
    if query.due_before is not None:  # due soon: open, its clock running, deadline ahead
        conds.append(c.status.in_(sorted(UNHANDLED)) & c.paused_at.is_(None)
                     & (c.deadline >= query.now) & (c.deadline <= query.due_before))
    for flag in query.flags:  # the JSON list's text holds "flag" (flags are [a-z_] codes)
        conds.append(cast(c.flags, String).like(f'%"{flag}"%'))
    if query.recurring is not None:
        conds.append(c.recurring_of.is_not(None) if query.recurring
                     else c.recurring_of.is_(None))
    if query.uncovered is not None:
        conds.append(c.zone_id.is_(None) if query.uncovered else c.zone_id.is_not(None))
    return conds


def _overdue(now: datetime) -> ColumnElement[bool]:
    """Overdue (超期) at now: not yet handled, past its deadline, its clock not stopped (a case
    waiting on a 延期 decision is not overdue while it waits)."""
    c = issues_t.c
    return c.status.in_(sorted(UNHANDLED)) & (c.deadline < now) & c.paused_at.is_(None)


def _issue(row: Row[Any]) -> Issue:
    m = dict(row._mapping)
    m["flags"] = list(m.get("flags") or [])
    m.pop("cell_x", None)
    m.pop("cell_y", None)
    return Issue(**m)


def _id_span(ids: list[int]) -> str:
    return str(ids[0]) if len(ids) == 1 else f"{ids[0]}-{ids[-1]}"


def _feature_scope(unit: str) -> ColumnElement[bool]:
    """Features a unit user may see: its own unit's, and those no unit owns (streets...)."""
    owner = features_t.c.properties["unit"].as_string()
    return or_(owner.is_(None), owner == unit)


def _user(row: Row[Any]) -> User:
    m = row._mapping
    return User(**{k: m[k] for k in ("id", "username", "unit", "display_name", "active",
                                      "failed_count", "first_failed_at", "locked_until",
                                      "password_hash", "email", "locale")}, role=Role(m["role"]))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA cache_size=-65536")  # 64 MB page cache: aggregates scan large tables
    cur.execute("PRAGMA mmap_size=268435456")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


def _feature_row(f: Feature) -> dict[str, Any]:
    minx, miny, maxx, maxy = f.geometry.bounds
    return {
        "kind": Kind(f.kind).value,
        "name": f.name or "",
        "category": f.category,
        "source_id": f.source_id,
        "properties": f.properties or {},
        "wkb": shapely.to_wkb(f.geometry),
        "minx": minx,
        "miny": miny,
        "maxx": maxx,
        "maxy": maxy,
    }


def _json_key(key: str, postgis: bool) -> ColumnElement[Any]:
    """The JSON text of one top-level key of a feature's properties (SQL NULL when absent):
    `properties -> 'key'` on PostgreSQL, `properties -> '$."key"'` on SQLite (3.38 or later,
    which reads a bare `a.b` as the path a, then b); _json_value reads it."""
    path = key if postgis or '"' in key else f'$."{key}"'
    return cast(features_t.c.properties.op("->")(literal(path, String)), String
                ).label(f"p_{key}")


def _json_text(value: Any) -> str:
    """A JSON column's value as SQLite stores it: UTF-8 as it is, not \\u escapes, which
    SQLite's JSON functions do not undo when they look a key up (a property 责任单位 was never
    found by a filter or a `fields` list)."""
    return json.dumps(value, ensure_ascii=False)


def _json_value(text: str | None) -> Any:
    """The value of a JSON text: a string by the C scanner alone (without json.loads' Python
    wrapper, a third of reading 60,000 streets' properties), anything else by json.loads."""
    if text is None:
        return None
    if text[:1] == '"':
        value, end = scanstring(text, 1)
        if end == len(text):
            return value
    return json.loads(text)


def _feature_from_row(row: Row[Any]) -> Feature:
    m = row._mapping
    return Feature(
        id=m["id"],
        kind=Kind(m["kind"]),
        name=m["name"],
        category=m["category"],
        source_id=m["source_id"],
        properties=dict(m["properties"] or {}),
        geometry=shapely.from_wkb(m["wkb"]),
        version=m["version"],
    )


class SqlParts:
    """What SqlStore's mixins by concept (plans, jobs, accounts, audit) use of SqlStore."""

    engine: Engine
    postgis: bool

    if TYPE_CHECKING:  # SqlStore's own (geo/store/sql.py)
        def _begin(self) -> AbstractContextManager[Connection]: ...
        def _connect(self) -> AbstractContextManager[Connection]: ...
        def _read(self) -> AbstractContextManager[Connection]: ...
        def _row(self, table: Table, row_id: int, missing: NotFound) -> dict[str, Any]: ...
        def _batches(self, q: Select[Any], size: int) -> Iterator[Sequence[Any]]: ...
        def _issue_partitions(self, conn: Connection, times: Any) -> None: ...
        def user(self, username: str) -> User | None: ...
