"""Scores and rankings (打分排名) of communities, zones and units for a period.

For the issues reported in the period, per group:
* rectification_rate = handled, verified or closed / all except rejected (整改率);
* on_time_closure_rate = closed no later than the deadline / closed (按期结案率);
* recurrence_rate = recurring (回潮) / all; no_recurrence_rate = 1 − recurrence_rate;
* overdue = still unhandled past the deadline at the period's end;
  no_overdue_rate = 1 − min(1, overdue / all).
* assessment_score_rate = passed / applicable checklist items of the group's inspections
  (测评得分率, geo/planner/inspections.py); a group without inspections in the period is scored
  on the
  other metrics, their weights scaled up to add to 1.
score = 100 × Σ weight × metric with the weights of data/reference/scoring.json (shown to the
user in `formula`). A group with no issue in the period scores every issue rate as 1. The
change is the rank in the previous period of the same length minus the rank now (positive =
moved up ↑).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import numpy as np
import shapely

from geo import DATA_DIR
from geo.analytics import periods
from geo.analytics.indicator_rules import IndicatorRules
from geo.analytics.indicators import LEVELS as INDICATOR_LEVELS
from geo.analytics.indicators import indicators
from geo.model.errors import InvalidInput
from geo.model.kinds import Kind
from geo.model.records import Feature
from geo.planner.inspections import scores
from geo.store import IssueQuery, Store
from geo.store.aggregates import HANDLED as HANDLED_STATUSES
from geo.store.aggregates import STAT_KEYS, merge_stats
from geo.store.aggregates import UNHANDLED as UNHANDLED_STATUSES

LEVELS = ("community", "zone", "unit")
HANDLED = frozenset(HANDLED_STATUSES)  # counted in SQL by geo/store/aggregates.py
UNHANDLED = frozenset(UNHANDLED_STATUSES)


def weights() -> dict[str, float]:
    """The scoring weights (data/reference/scoring.json)."""
    import json

    doc = json.loads((DATA_DIR / "reference" / "scoring.json").read_text(encoding="utf-8"))
    return {k: float(v) for k, v in doc["weights"].items()}


def parse_period(text: str | None, now: datetime) -> tuple[datetime, datetime, str]:
    """(start, end, label) of a period (geo/analytics/periods.py: 2026-W47, 2026-11, 2026-Q4,
    2026-11-01..2026-11-15, week|month|quarter); default this week."""
    period = periods.parse_period(text, now)
    return period.start, period.end, period.label


def _group_counts(store: Store, level: str, query: IssueQuery,
                  scope_unit: str | None = None) -> tuple[list[str], dict[str, dict[str, int]]]:
    """The level's group names and, per group, the counts of its issues (issue_stats), summed
    in SQL by the columns written with each issue (zone_id, unit, community)."""
    zones = store.feature_labels(Kind.zone, scope_unit=scope_unit)  # a unit user: its own
    parts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if level == "zone":
        names = {z["id"]: z["name"] for z in zones}
        for r in store.issue_stats(query, by=["zone_id"]):
            if name := names.get(r["zone_id"]):
                parts[name].append(r)
        return sorted(set(names.values())), {k: merge_stats(v) for k, v in parts.items()}
    if level == "unit":
        units = sorted({str(z["unit"]) for z in zones if z["unit"]})
        for r in store.issue_stats(query, by=["unit"]):
            if r["unit"]:
                parts[r["unit"]].append(r)
        return units, {k: merge_stats(v) for k, v in parts.items()}
    communities = store.feature_labels(Kind.community)
    rows = store.issue_stats(query, by=["community"])
    for r in rows:
        if r["community"]:
            parts[r["community"]].append(r)
    if communities and any(r["community"] is None for r in rows):
        for name, counts in unrouted_communities(store, query).items():
            parts[name].append(counts)
    return [c["name"] for c in communities], {k: merge_stats(v) for k, v in parts.items()}


def unrouted_communities(store: Store, query: IssueQuery) -> dict[str, dict[str, int]]:
    """Counts per community of the issues stored without one (never routed), by point in
    polygon; in overlapping communities the first by id wins, as when routing."""
    flags = store.issue_flags(query, unrouted="community")
    if not len(flags["lon"]):
        return {}
    communities: list[Feature] = store.features(Kind.community)
    tree = shapely.STRtree([c.geometry for c in communities])
    p_idx, c_idx = tree.query(shapely.points(flags["lon"], flags["lat"]), predicate="within")
    first = np.full(len(flags["lon"]), len(communities))
    np.minimum.at(first, p_idx, c_idx)
    out: dict[str, dict[str, int]] = {}
    for k in np.unique(first[first < len(communities)]).tolist():
        mine = first == k
        counts = {"issues": int(mine.sum())}
        counts.update({f: int(flags[f][mine].sum()) for f in STAT_KEYS if f != "issues"})
        out[communities[k].name] = merge_stats([out.get(communities[k].name, {}), counts])
    return out


def metrics(counts: dict[str, int]) -> dict[str, Any]:
    """The rates of one group from its counts (issue_stats; see the module docstring)."""
    total, counted, closed = counts["issues"], counts["counted"], counts["closed"]
    overdue, recurring = counts["overdue"], counts["recurring"]
    return {
        "issues": total, "closed": closed, "overdue": overdue, "recurring": recurring,
        "rectification_rate": counts["handled"] / counted if counted else 1.0,
        "on_time_closure_rate": counts["on_time"] / closed if closed else 1.0,
        "recurrence_rate": recurring / total if total else 0.0,
        "overdue_rate": min(1.0, overdue / total) if total else 0.0,
    }


def score(m: dict[str, Any], w: dict[str, float]) -> float:
    """100 × the weighted sum of the rates (without an assessment rate, the others rescaled)."""
    parts = {"on_time_closure_rate": m["on_time_closure_rate"],
             "rectification_rate": m["rectification_rate"],
             "no_recurrence_rate": 1 - m["recurrence_rate"],
             "no_overdue_rate": 1 - m["overdue_rate"]}
    if m.get("assessment_score_rate") is not None:
        parts["assessment_score_rate"] = m["assessment_score_rate"]
    total = sum(w.get(k, 0.0) for k in parts) or 1.0
    return round(100 * sum(w.get(k, 0.0) * v for k, v in parts.items()) / total, 2)


def _rank(store: Store, level: str, start: datetime, end: datetime,
          scope_unit: str | None) -> list[dict[str, Any]]:
    query = IssueQuery(since=start, until=end, scope_unit=scope_unit, limit=None,
                       now=min(end, datetime.now()))
    names, groups = _group_counts(store, level, query, scope_unit)
    assessed = _assessment_rates(store, level, start, end)
    w = weights()
    empty = merge_stats([])
    rows: list[dict[str, Any]] = []
    for name in sorted(set(names) | set(groups)):
        if scope_unit is not None and level == "unit" and name != scope_unit:
            continue
        m = metrics(groups.get(name, empty))
        m["assessment_score_rate"] = assessed.get(name)
        row: dict[str, Any] = {"name": name, "score": score(m, w)}
        row.update({k: round(v, 4) if isinstance(v, float) else v for k, v in m.items()})
        rows.append(row)
    rows.sort(key=lambda r: (-r["score"], -r["issues"], r["name"]))
    for k, r in enumerate(rows, start=1):
        r["rank"] = k
    return rows


def _assessment_rates(store: Store, level: str, start: datetime,
                      end: datetime) -> dict[str, float | None]:
    return {r["name"]: r["score_rate"] for r in scores(store, level, start, end)}


def ranking(store: Store, level: str, period: str | None, now: datetime | None = None,
            scope_unit: str | None = None, basis: str = "issues",
            rules: IndicatorRules | None = None) -> dict[str, Any]:
    """Ranked rows for the period, with the change against the previous period. basis
    "issues": the score of this module's rates of the issues reported in the period;
    "indicators": the 综合指标值 of the evaluation indicators (geo/analytics/indicators.py;
    also by category): its rows as they are (`rank_change`: the previous rank minus this one,
    `change`: the indicators' change against the previous period)."""
    if basis == "indicators":
        return _indicator_ranking(store, level, period, now, scope_unit, rules)
    if basis != "issues":
        raise InvalidInput(f"basis 须为 issues 或 indicators，不能为「{basis}」")
    if level not in LEVELS:
        raise InvalidInput(f"level 须为 {', '.join(LEVELS)} 之一")
    now = now or datetime.now()
    start, end, label = parse_period(period, now)
    rows = _rank(store, level, start, end, scope_unit)
    before = {r["name"]: r for r in _rank(store, level, start - (end - start), start,
                                          scope_unit)}
    for r in rows:
        was = before.get(r["name"])
        r["change"] = (was["rank"] if was else r["rank"]) - r["rank"]
        r["trend"] = "↑" if r["change"] > 0 else "↓" if r["change"] < 0 else "→"
        r["previous_issues"] = was["issues"] if was else 0
        r["previous_score"] = was["score"] if was and was["issues"] else None
    return {"level": level, "period": label, "from": start.isoformat(),
            "to": end.isoformat(), "formula": formula_text(), "rows": rows}


def _indicator_ranking(store: Store, level: str, period: str | None, now: datetime | None,
                       scope_unit: str | None, rules: IndicatorRules | None) -> dict[str, Any]:
    if level == "city":
        ranked = ", ".join(k for k in INDICATOR_LEVELS if k != "city")
        raise InvalidInput(f"level 须为 {ranked} 之一")
    doc = indicators(store, level, period, now, scope_unit, rules)
    return {"level": level, "period": doc["period"], "from": doc["from"], "to": doc["to"],
            "formula": doc["formula"], "basis": "indicators", "rows": doc["rows"]}


def formula_text() -> str:
    """The score formula with the configured weights, as shown to users."""
    return "得分 = 100 × (" + " + ".join(f"{v:g}×{k}" for k, v in weights().items()) + ")"
