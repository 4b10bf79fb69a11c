"""Scores and rankings (打分排名) of communities, zones and units for a period.

For the issues reported in the period, per group:
* rectification_rate = handled, verified or closed / all except rejected (整改率);
* on_time_closure_rate = closed no later than the deadline / closed (按期结案率);
* recurrence_rate = recurring (回潮) / all; no_recurrence_rate = 1 − recurrence_rate;
* overdue = still unhandled past the deadline at the period's end;
  no_overdue_rate = 1 − min(1, overdue / all).
* assessment_score_rate = passed / applicable checklist items of the group's inspections
  (测评得分率, geo/inspections.py); a group without inspections in the period is scored on the
  other metrics, their weights scaled up to add to 1.
score = 100 × Σ weight × metric with the weights of data/reference/scoring.json (shown to the
user in `formula`). A group with no issue in the period scores every issue rate as 1. The
change is the rank in the previous period of the same length minus the rank now (positive =
moved up ↑).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import shapely

from geo import DATA_DIR
from geo.errors import InvalidInput
from geo.features import Feature, Issue
from geo.inspections import scores
from geo.kinds import Kind
from geo.store import IssueQuery, Store
from geo.timestamps import MAX_YEAR, MIN_YEAR

LEVELS = ("community", "zone", "unit")
HANDLED = frozenset({"handled", "verified", "closed"})
UNHANDLED = frozenset({"reported", "accepted", "dispatched", "returned"})


def weights() -> dict[str, float]:
    """The scoring weights (data/reference/scoring.json)."""
    import json

    doc = json.loads((DATA_DIR / "reference" / "scoring.json").read_text(encoding="utf-8"))
    return {k: float(v) for k, v in doc["weights"].items()}


def parse_period(text: str | None, now: datetime) -> tuple[datetime, datetime, str]:
    """'2026-W47' (ISO week), '2026-11' (month) or 'YYYY-MM-DD..YYYY-MM-DD'; default this week."""
    if not text:
        year, week, _ = now.isocalendar()
        text = f"{year}-W{week:02d}"
    if any(not MIN_YEAR <= int(y) <= MAX_YEAR for y in re.findall(r"\b\d{4}\b", text)):
        raise InvalidInput(f"period {text!r} is outside the years {MIN_YEAR}..{MAX_YEAR}")
    if m := re.fullmatch(r"(\d{4})-W(\d{1,2})", text):
        try:
            start = datetime.fromisocalendar(int(m[1]), int(m[2]), 1)
        except ValueError:
            raise InvalidInput(f"no such ISO week: {text}") from None
        return start, start + timedelta(days=7), text
    if m := re.fullmatch(r"(\d{4})-(\d{2})", text):
        year, month = int(m[1]), int(m[2])
        if not 1 <= month <= 12:
            raise InvalidInput(f"no such month: {text}")
        start = datetime(year, month, 1)
        end = datetime(year + month // 12, month % 12 + 1, 1)
        return start, end, text
    if m := re.fullmatch(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})", text):
        start, end = datetime.fromisoformat(m[1]), datetime.fromisoformat(m[2])
        if end <= start:
            raise InvalidInput("the period must end after it starts")
        return start, end + timedelta(days=1), text
    raise InvalidInput(f"period must look like 2026-W47, 2026-11 or 2026-11-01..2026-11-15, "
                       f"not {text!r}")


def _grouper(store: Store, level: str, scope_unit: str | None = None
             ) -> tuple[list[str], Callable[[Issue], str | None]]:
    zones = store.features(Kind.zone, scope_unit=scope_unit)  # a unit sees its own zones only
    if level == "zone":
        names = {z.id: z.name for z in zones}
        return sorted(set(names.values())), lambda i: names.get(i.zone_id)
    if level == "unit":
        units = sorted({str(z.properties["unit"]) for z in zones if z.properties.get("unit")})
        return units, lambda i: i.unit
    communities: list[Feature] = store.features(Kind.community)
    tree = shapely.STRtree([c.geometry for c in communities]) if communities else None

    def community(i: Issue) -> str | None:
        if tree is None:
            return None
        hits = tree.query(shapely.Point(i.lon, i.lat), predicate="within")
        return communities[int(hits[0])].name if len(hits) else None

    return [c.name for c in communities], community


def metrics(issues: list[Issue], end: datetime) -> dict[str, Any]:
    """The rates of one group's issues (see the module docstring)."""
    total = len(issues)
    counted = [i for i in issues if i.status != "rejected"]
    handled = sum(1 for i in counted if i.status in HANDLED)
    closed = [i for i in issues if i.status == "closed" and i.closed_at]
    on_time = sum(1 for i in closed if i.deadline and i.closed_at and i.closed_at <= i.deadline)
    recurring = sum(1 for i in issues if i.recurring_of is not None)
    overdue = sum(1 for i in issues if i.status in UNHANDLED and i.deadline and i.deadline < end)
    return {
        "issues": total, "closed": len(closed), "overdue": overdue, "recurring": recurring,
        "rectification_rate": handled / len(counted) if counted else 1.0,
        "on_time_closure_rate": on_time / len(closed) if closed else 1.0,
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
    names, group_of = _grouper(store, level, scope_unit)
    issues, _ = store.query_issues(IssueQuery(since=start, until=end, scope_unit=scope_unit,
                                              sort="id", limit=10_000_000))
    groups: dict[str, list[Issue]] = defaultdict(list)
    for i in issues:
        g = group_of(i)
        if g:
            groups[g].append(i)
    assessed = _assessment_rates(store, level, start, end)
    w = weights()
    now = min(end, datetime.now())
    rows: list[dict[str, Any]] = []
    for name in sorted(set(names) | set(groups)):
        if scope_unit is not None and level == "unit" and name != scope_unit:
            continue
        m = metrics(groups.get(name, []), now)
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
            scope_unit: str | None = None) -> dict[str, Any]:
    """Ranked rows for the period, with the change against the previous period."""
    if level not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}")
    now = now or datetime.now()
    start, end, label = parse_period(period, now)
    rows = _rank(store, level, start, end, scope_unit)
    before = {r["name"]: r["rank"] for r in _rank(store, level, start - (end - start), start,
                                                  scope_unit)}
    for r in rows:
        r["change"] = before.get(r["name"], r["rank"]) - r["rank"]
        r["trend"] = "↑" if r["change"] > 0 else "↓" if r["change"] < 0 else "→"
    return {"level": level, "period": label, "from": start.isoformat(),
            "to": end.isoformat(), "formula": formula_text(), "rows": rows}


def formula_text() -> str:
    """The score formula with the configured weights, as shown to users."""
    return "得分 = 100 × (" + " + ".join(f"{v:g}×{k}" for k, v in weights().items()) + ")"
