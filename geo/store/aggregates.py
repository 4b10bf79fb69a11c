"""Issue aggregates computed in SQL on both backends (a mixin of SqlStore).

Analytics (scores, dashboard, choropleths, hot spots, workload) ask the database for counts per
group instead of loading issues as Python objects: one GROUP BY over the columns written with
each issue (zone_id, community, unit, category, cell_x/cell_y) with the filters of IssueQuery.
The counted flags follow geo/analytics/scoring.py's definitions, so the rates computed from them
are the
ones the per-issue code computed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from itertools import pairwise
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, Connection, Engine, and_, case, func, select

from geo.model import lifecycle
from geo.model.errors import InvalidInput
from geo.model.kinds import Kind
from geo.model.records import Issue
from geo.store import IssueQuery
from geo.store.schema import features as features_t
from geo.store.schema import issue_photos as photos_t
from geo.store.schema import issues as issues_t
from geo.store.schema import layer_versions as layer_versions_t

GROUP_COLUMNS = ("zone_id", "community", "unit", "category", "status", "cell_x", "cell_y")
# geo/analytics/scoring.py's sets; an issue neither closed nor rejected (lifecycle.FINAL) is open
HANDLED = ("handled", "verified", "closed")
UNHANDLED = tuple(sorted(lifecycle.UNHANDLED))
FINAL = tuple(sorted(lifecycle.FINAL))
STAT_KEYS = ("issues", "counted", "handled", "closed", "on_time", "recurring", "overdue",
             "open")
# issue_list's orders: columns, and "photos" (issues with a photo first)
ISSUE_ORDERS = ("id", "reported_at", "unit", "photos")


def stat_flags(now: datetime) -> dict[str, ColumnElement[bool]]:
    """Per issue, the conditions counted by issue_stats (overdue: at `now`)."""
    c = issues_t.c
    closed = (c.status == "closed") & c.closed_at.is_not(None)
    return {
        "counted": c.status != "rejected",
        "handled": c.status.in_(HANDLED),
        "closed": closed,
        "on_time": closed & c.deadline.is_not(None) & (c.closed_at <= c.deadline),
        "recurring": c.recurring_of.is_not(None),
        "overdue": c.status.in_(UNHANDLED) & c.deadline.is_not(None) & (c.deadline < now)
        & c.paused_at.is_(None),
        "open": c.status.not_in(FINAL),
    }


def _one(cond: ColumnElement[bool]) -> Any:
    return case((cond, 1), else_=0)


class AggregateMixin:
    """Aggregating reads of issues; SqlStore provides the connection and the filters."""

    engine: Engine
    postgis: bool

    def _connect(self) -> AbstractContextManager[Connection]:
        # analytics never run inside a store transaction: a connection of their own
        return self.engine.connect()

    def feature_labels(self, kind: Kind, scope_unit: str | None = None) -> list[dict[str, Any]]:
        """{id, name, unit} of every feature of a kind (in a unit user's scope), by id, without
        reading geometry."""
        from geo.store.rows import _feature_scope

        c = features_t.c
        unit = c.properties["unit"].as_string().label("unit")
        q = select(c.id, c.name, unit).where(c.kind == kind.value).order_by(c.id)
        if scope_unit is not None:
            q = q.where(_feature_scope(scope_unit))
        with self._connect() as conn:
            return [{"id": r.id, "name": r.name, "unit": r.unit} for r in conn.execute(q)]

    def feature_geometries(self, kind: Kind) -> tuple[list[int], NDArray[np.object_]]:
        """The ids and (WGS84) geometries of every feature of a kind, by id, read as WKB only
        (no properties, no Feature objects)."""
        c = features_t.c
        with self._connect() as conn:
            rows = conn.execute(select(c.id, c.wkb).where(c.kind == kind.value)
                                .order_by(c.id)).all()
        ids = [int(r[0]) for r in rows]
        geoms = shapely.from_wkb([bytes(r[1]) for r in rows]) if rows else np.empty(0, object)
        return ids, np.asarray(geoms, dtype=object)

    def layer_stamp(self, kinds: Sequence[str]) -> tuple[Any, ...]:
        """What changes whenever a feature of these layers is written: their layer versions
        (bumped by every write) and, against a database rebuilt to the same versions, the
        count, largest id and summed versions of their features. Caches of figures derived
        from layers are keyed on it."""
        c, t = features_t.c, layer_versions_t.c
        with self._connect() as conn:
            versions = dict(conn.execute(select(t.layer, t.version)
                                         .where(t.layer.in_(list(kinds)))).all())
            shape = conn.execute(select(func.count(), func.max(c.id), func.sum(c.version))
                                 .where(c.kind.in_(list(kinds)))).one()
        return (*(int(versions.get(k, 0)) for k in kinds), *(int(v or 0) for v in shape))

    def _issue_filters(self, query: IssueQuery) -> list[ColumnElement[bool]]:
        from geo.store.rows import _issue_conditions

        return _issue_conditions(query)

    def issue_stats(self, query: IssueQuery, by: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Counts of the issues matching query per group of `by` columns: issues, counted
        (not rejected), handled, closed, on_time, recurring, overdue (at query.now), open;
        first_id is the group's smallest issue id (None when nothing matches)."""
        bad = [b for b in by if b not in GROUP_COLUMNS]
        if bad:
            raise InvalidInput(f"不能按 {', '.join(bad)} 分组统计问题")
        c = issues_t.c
        keys = [c[b] for b in by]
        # grouped by status too, the per-row work is a few counts and two comparisons (the
        # covering indexes of migration 0012 serve the scan); the flags are added up here
        q = select(*keys, c.status, func.count(), func.min(c.id), func.count(c.closed_at),
                   func.coalesce(func.sum(_one(c.closed_at <= c.deadline)), 0),
                   func.count(c.recurring_of),
                   func.coalesce(func.sum(_one(c.deadline < query.now)), 0)
                   ).where(*self._issue_filters(query)).group_by(*keys, c.status)
        with self._connect() as conn:
            rows = conn.execute(q).all()
        out: dict[tuple[Any, ...], dict[str, Any]] = {}
        for r in rows:
            key = tuple(r[:len(by)])
            status, n, first, with_closed_at, on_time, recurring, past_deadline = r[len(by):]
            g = out.get(key)
            if g is None:
                g = out[key] = {**dict(zip(by, key, strict=True)), "first_id": first,
                                **dict.fromkeys(STAT_KEYS, 0)}
            g["first_id"] = min(g["first_id"], first)
            g["issues"] += n
            g["counted"] += n if status != "rejected" else 0
            g["handled"] += n if status in HANDLED else 0
            g["open"] += n if status not in FINAL else 0
            g["recurring"] += recurring
            if status == "closed":
                g["closed"] += with_closed_at
                g["on_time"] += int(on_time)
            if status in UNHANDLED:
                g["overdue"] += int(past_deadline)
        for key, n in self._stopped_overdue(query, keys).items():
            if key in out:
                out[key]["overdue"] -= n
        if not by and not out:
            out[()] = {"first_id": None, **dict.fromkeys(STAT_KEYS, 0)}
        return list(out.values())

    def _stopped_overdue(self, query: IssueQuery, keys: list[Any]) -> dict[tuple[Any, ...], int]:
        """Per group, the unhandled cases past their deadline whose clock is stopped: counted
        as overdue by issue_stats' covering-index scan, which cannot see paused_at, though a
        stopped clock is not overdue. Few rows, read from the partial index of 0026."""
        c = issues_t.c
        q = select(*keys, func.count()).where(
            c.paused_at.is_not(None), c.status.in_(UNHANDLED), c.deadline < query.now,
            *self._issue_filters(query)).group_by(*keys).with_hint(
            issues_t, "INDEXED BY ix_issues_paused", "sqlite")  # else it picks status's
        with self._connect() as conn:
            return {tuple(r[:-1]): int(r[-1]) for r in conn.execute(q).all()}

    def open_issue_counts(self, query: IssueQuery, by: str) -> dict[Any, int]:
        """How many issues matching query are open (issue_stats' "open": neither closed nor
        rejected) per value of one GROUP_COLUMNS column; only the open rows are grouped
        (a third of the time of issue_stats over a city's 1M issues on PostgreSQL)."""
        return self.issue_counts(query, by, open_only=True)

    def issue_counts(self, query: IssueQuery, by: str, open_only: bool = False
                     ) -> dict[Any, int]:
        """How many issues match query (issue_stats' "issues"; open_only: its "open") per
        value of one GROUP_COLUMNS column: a bare count, served by the column's covering
        index, without issue_stats' flags (a third of its time over a city's 1M issues)."""
        if by not in GROUP_COLUMNS:
            raise InvalidInput(f"不能按 {by} 分组统计问题")
        c = issues_t.c
        conds = self._issue_filters(query)
        if open_only:
            conds.append(c.status.not_in(FINAL))
        q = select(c[by], func.count()).where(*conds).group_by(c[by])
        with self._connect() as conn:
            return {key: int(n) for key, n in conn.execute(q)}

    def issue_flags(self, query: IssueQuery, unrouted: str | None = None
                    ) -> dict[str, NDArray[Any]]:
        """Per issue matching query (by id), as arrays: lon, lat and issue_stats' flags (0/1);
        `unrouted="community"` keeps only the issues whose community column is empty."""
        c = issues_t.c
        conds = self._issue_filters(query)
        if unrouted is not None:
            if unrouted not in GROUP_COLUMNS:
                raise InvalidInput(f"问题没有 {unrouted} 这一字段")
            conds.append(c[unrouted].is_(None))
        flags = stat_flags(query.now)
        q = select(c.lon, c.lat, *[_one(v).label(k) for k, v in flags.items()]
                   ).where(*conds).order_by(c.id)
        with self._connect() as conn:
            rows = conn.execute(q).all()
        names = ["lon", "lat", *flags]
        if not rows:
            return {k: np.zeros(0, dtype=float if k in ("lon", "lat") else np.int64)
                    for k in names}
        cols = list(zip(*rows, strict=True))
        return {k: np.asarray(v, dtype=float if k in ("lon", "lat") else np.int64)
                for k, v in zip(names, cols, strict=True)}

    def issue_positions(self, query: IssueQuery) -> tuple[NDArray[np.float64],
                                                           NDArray[np.float64]]:
        """The lon and lat arrays of the issues matching query, in no particular order (no
        sort, so an index on the filtered column serves it: the 41,000 issues of a city's
        last 30 days in 0.1 s)."""
        c = issues_t.c
        with self._connect() as conn:
            rows = conn.execute(select(c.lon, c.lat).where(*self._issue_filters(query))).all()
        lon = np.fromiter((r[0] for r in rows), dtype=np.float64, count=len(rows))
        lat = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
        return lon, lat

    def issue_trend(self, query: IssueQuery, edges: Sequence[datetime]
                    ) -> list[tuple[int, int]]:
        """For each window [edges[k], edges[k+1]): how many issues matching query were reported
        in it, and how many were closed in it (closed_at)."""
        c = issues_t.c
        windows = list(pairwise(edges))
        if not windows:
            return []
        cols = []
        for a, b in windows:
            cols.append(func.coalesce(func.sum(_one(and_(c.reported_at >= a,
                                                         c.reported_at < b))), 0))
            cols.append(func.coalesce(func.sum(_one(and_(c.closed_at >= a,
                                                         c.closed_at < b))), 0))
        with self._connect() as conn:
            row = conn.execute(select(*cols).where(*self._issue_filters(query))).one()
        values = [int(v) for v in row]
        return [(values[2 * k], values[2 * k + 1]) for k in range(len(windows))]

    def issue_list(self, query: IssueQuery, order: Sequence[str], limit: int) -> list[Issue]:
        """At most `limit` issues matching query in the given order (ISSUE_ORDERS: columns,
        an empty unit first, as ""; "photos": those with a photo first), ties by id."""
        from geo.store.rows import _issue

        bad = [o for o in order if o not in ISSUE_ORDERS]
        if bad:
            raise InvalidInput(f"不能按 {', '.join(bad)} 对问题排序")
        c = issues_t.c
        unit: Any = func.coalesce(c.unit, "")
        if self.postgis:  # code point order, as Python sorts (SQLite's BINARY is that too)
            unit = unit.collate("C")
        photo = select(photos_t.c.id).where(photos_t.c.issue_id == c.id).exists()
        by = {"unit": unit, "photos": case((photo, 0), else_=1)}
        keys = [by[o] if o in by else c[o] for o in order]
        q = select(issues_t).where(*self._issue_filters(query)).order_by(*keys, c.id
                                                                          ).limit(limit)
        with self._connect() as conn:
            return [_issue(r) for r in conn.execute(q)]


def merge_stats(rows: Iterator[dict[str, Any]] | Sequence[dict[str, Any]]) -> dict[str, int]:
    """The counts of several groups added together."""
    out = dict.fromkeys(STAT_KEYS, 0)
    for r in rows:
        for k in STAT_KEYS:
            out[k] += int(r.get(k, 0))
    return out
