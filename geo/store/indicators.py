"""The counts behind the evaluation indicators (考评指标), in SQL on both backends (a mixin of
SqlStore); the definitions and rates are geo/analytics/indicators.py's.

For a period [start, as_of) and one grouping column (unit, zone_id, community, category, or
none for the whole city), one GROUP BY over three disjoint index range scans of issues that are
cases (status neither reported nor rejected):
* registered (立案数): reported_at in the period;
* the 应结案 set, part 1: deadline in the period;
* the 应结案 set, part 2, closed early: closed_at in the period and deadline at or after its
  end (disjoint from part 1).
Of the 应结案 set: closed (closed_at before the period's end), closed_on_time (and no later
than the deadline), overdue (the others: closed late, or still open past the deadline at the
period's end), reworked (rework_count > 0), extended (extension_count > 0), and deferred (status
deferred: 缓办, left out of all of these when exclude_deferred).
Extension applications (延期申请) requested in the period are counted from `extensions` by the
applying unit, or by the issue's zone, community or category.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal_column, select, union_all

from geo.model.errors import InvalidInput
from geo.store.rows import SqlParts
from geo.store.schema import extensions as extensions_t
from geo.store.schema import issues as issues_t

INDICATOR_COLUMNS = ("unit", "zone_id", "community", "category")
NOT_CASES = ("rejected", "reported")  # 不予立案 and reports not yet accepted are not cases
INDICATOR_COUNTS = ("registered", "due", "closed", "closed_on_time", "overdue", "reworked",
                    "extended", "deferred")
EXTENSION_COUNTS = ("extension_requests", "extension_approved", "extension_rejected",
                    "extension_pending")
REGISTERED, DUE_BY_DEADLINE, CLOSED_EARLY = 1, 2, 3  # the parts of the union


def _sum(cond: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def indicator_query(by: str | None, start: datetime, end: datetime,
                    scope_unit: str | None = None, exclude_deferred: bool = True) -> Select[Any]:
    """The one GROUP BY of indicator_counts (bench/bench_indicators.py shows its plan)."""
    if by is not None and by not in INDICATOR_COLUMNS:
        raise InvalidInput(f"不能按 {by} 统计指标")
    c = issues_t.c
    base: list[ColumnElement[bool]] = [c.status.not_in(NOT_CASES)]
    if scope_unit is not None:
        base.append(c.unit == scope_unit)
    keys = [c[by].label("key")] if by else []
    zero: Any = literal_column("0")

    def part(marker: int, *conds: ColumnElement[bool], counts: bool = True) -> Any:
        # the registered part reads the period index alone (no rework/extension columns)
        extra = [c.rework_count, c.extension_count] if counts else [zero, zero]
        return select(literal_column(str(marker)).label("part"), *keys, c.status,
                      c.deadline, c.closed_at, extra[0].label("rework_count"),
                      extra[1].label("extension_count")).where(*conds, *base)

    u = union_all(
        part(REGISTERED, c.reported_at >= start, c.reported_at < end, counts=False),
        part(DUE_BY_DEADLINE, c.deadline >= start, c.deadline < end),
        part(CLOSED_EARLY, c.closed_at >= start, c.closed_at < end, c.deadline >= end),
    ).subquery()
    due = u.c.part != REGISTERED
    if exclude_deferred:
        due = and_(due, u.c.status != "deferred")
    closed = and_(due, u.c.closed_at < end)
    on_time = and_(closed, u.c.closed_at <= u.c.deadline)
    group = [u.c.key] if by else []
    return select(*group,
                  _sum(u.c.part == REGISTERED), _sum(due), _sum(closed), _sum(on_time),
                  func.coalesce(func.sum(case((~due, 0), (on_time, 0), else_=1)), 0),
                  _sum(and_(due, u.c.rework_count > 0)),
                  _sum(and_(due, u.c.extension_count > 0)),
                  _sum(and_(u.c.part != REGISTERED, u.c.status == "deferred")),
                  ).group_by(*group)


class IndicatorMixin(SqlParts):
    """Counts of the evaluation indicators per group, aggregated in SQL."""

    def indicator_counts(self, by: str | None, start: datetime, end: datetime,
                         scope_unit: str | None = None, exclude_deferred: bool = True
                         ) -> dict[Any, dict[str, int]]:
        """INDICATOR_COUNTS per value of column `by` (None: one group, key None) for the
        period [start, end): end is the period's end, or now while it runs."""
        q = indicator_query(by, start, end, scope_unit, exclude_deferred)
        with self._connect() as conn:
            rows = conn.execute(q).all()
        n = 1 if by else 0
        return {(r[0] if by else None): dict(zip(INDICATOR_COUNTS, map(int, r[n:]),
                                                  strict=True))
                for r in rows}

    def extension_counts(self, by: str | None, start: datetime, end: datetime,
                         scope_unit: str | None = None) -> dict[Any, dict[str, int]]:
        """EXTENSION_COUNTS (applications requested in [start, end) and, of them, those
        approved, rejected and pending now) per applying unit (by="unit"), per zone_id,
        community or category of their issue, or for all (None)."""
        if by is not None and by not in INDICATOR_COLUMNS:
            raise InvalidInput(f"不能按 {by} 统计延期申请")
        e, c = extensions_t.c, issues_t.c
        source: Any = extensions_t
        keys: list[Any] = []
        conds = [e.requested_at >= start, e.requested_at < end]
        if by in (None, "unit"):
            keys = [e.unit] if by else []
            if scope_unit is not None:
                conds.append(e.unit == scope_unit)
        else:
            source = extensions_t.join(issues_t, c.id == e.issue_id)
            keys = [c[by]]
            if scope_unit is not None:
                conds.append(c.unit == scope_unit)
        q = (select(*keys, func.count(), _sum(e.state == "approved"),
                    _sum(e.state == "rejected"), _sum(e.state == "pending"))
             .select_from(source).where(*conds).group_by(*keys))
        with self._connect() as conn:
            rows = conn.execute(q).all()
        n = len(keys)
        return {(r[0] if n else None): dict(zip(EXTENSION_COUNTS, map(int, r[n:]), strict=True))
                for r in rows}
