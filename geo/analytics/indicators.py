"""The evaluation indicators (考评指标) of a digital city-management centre's rules (考评办法),
per unit, zone, community or category (or the whole city) for a period, with the change
against the previous period (环比).

Cases are issues neither 上报 (reported, not yet accepted) nor 不予立案 (rejected). For a
period [start, end) (geo/analytics/periods.py), counted up to its end, or up to now while it
runs (`as_of`):
* 立案数 `registered`: cases reported in the period;
* 应结案数 `due`: cases whose deadline falls in the period, plus those closed early in it
  (closed in the period, deadline after it); with `exclude_deferred` (default) the cases now
  缓办/挂账 (status deferred) are left out (`deferred` says how many);
* 结案数 `closed`: of those, closed before the period's end;
* 按期结案数 `closed_on_time`: closed, and no later than the deadline;
* 超期数 `overdue`: the others (closed late, or still open past the deadline at the end);
* 结案率 `closure_rate` = closed / due, 按期结案率 `on_time_rate` = closed_on_time / due,
  返工率 `rework_rate` = cases with a failed verification (rework_count > 0) / due,
  延期率 `extension_rate` = cases with an approved extension (extension_count > 0) / due:
  percentages rounded half up to 2 decimals as bulletins print them (93.72), None when
  nothing is due;
* 延期申请 `extension_requests` (requested in the period) and of them `extension_approved`,
  `extension_rejected`, `extension_pending`, by the applying unit;
* 综合指标值 `score` = 100 × Σ weight × value / Σ weight over on_time_rate, closure_rate,
  no_rework_rate (1 − 返工率) and no_extension_rate (1 − 延期率), from the exact fractions,
  rounded half up to 2 decimals; None when nothing is due. Default weights 40/30/15/15.
Rows are ranked by score (highest first; ties: more cases due, then name); a row without a
score has no rank. `change` is this period's value minus the previous period's (percentage
points for rates), `rank_change` the previous rank minus this one (positive: moved up).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from fractions import Fraction
from functools import lru_cache
from typing import Any

from geo.analytics.indicator_rules import IndicatorRules, formula_text
from geo.analytics.periods import Period, parse_period
from geo.model.errors import InvalidInput
from geo.model.kinds import Kind, issue_categories
from geo.store import Store
from geo.store.indicators import EXTENSION_COUNTS, INDICATOR_COUNTS

# level → the issue column it groups by (city: no grouping)
LEVELS: dict[str, str | None] = {"unit": "unit", "zone": "zone_id", "community": "community",
                                 "category": "category", "city": None}
LEVEL_LABELS = {"unit": "责任单位", "zone": "责任区", "community": "社区", "category": "问题类型",
                "city": "全市"}
RATES = ("closure_rate", "on_time_rate", "rework_rate", "extension_rate")
CHANGED = ("registered", "due", "closed", "closed_on_time", "overdue", *RATES, "score")
CITY = "全市"


def _half_up(numerator: int, denominator: int) -> float:
    """100 × numerator / denominator rounded half up to 2 decimals, in integers (as bulletins
    print: 911 / 972 = 93.724… → 93.72; exact, and fast for thousands of rows)."""
    return (20000 * numerator + denominator) // (2 * denominator) / 100


def percent(part: int, whole: int) -> float | None:
    """part / whole in percent, 2 decimals rounded half up; None when whole is 0."""
    return _half_up(part, whole) if whole else None


@lru_cache(maxsize=16)
def _integer_weights(weights: tuple[tuple[str, float], ...]) -> dict[str, int]:
    """The weights as integers in the same ratio (their decimal values, exactly)."""
    exact = {k: Fraction(str(v)) for k, v in weights}
    common = math.lcm(*(f.denominator for f in exact.values()))
    return {k: int(f * common) for k, f in exact.items()}


def score(counts: Mapping[str, int], weights: Mapping[str, float]) -> float | None:
    """综合指标值 of a group's counts (None when nothing is due)."""
    due = counts["due"]
    if not due:
        return None
    values = {"on_time_rate": counts["closed_on_time"], "closure_rate": counts["closed"],
              "no_rework_rate": due - counts["reworked"],
              "no_extension_rate": due - counts["extended"]}  # each over due
    w = _integer_weights(tuple(weights.items()))
    return _half_up(sum(w[k] * values[k] for k in w), due * sum(w.values()))


def values(counts: Mapping[str, int], rules: IndicatorRules) -> dict[str, Any]:
    """A group's counts with its rates and score."""
    due = counts["due"]
    return {**{k: int(counts.get(k, 0)) for k in (*INDICATOR_COUNTS, *EXTENSION_COUNTS)},
            "closure_rate": percent(counts["closed"], due),
            "on_time_rate": percent(counts["closed_on_time"], due),
            "rework_rate": percent(counts["reworked"], due),
            "extension_rate": percent(counts["extended"], due),
            "score": score(counts, rules.weights)}


def _change(now: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in CHANGED:
        a, b = now[k], before[k]
        out[k] = None if a is None or b is None else (round(a - b, 2) if isinstance(a, float)
                                                      or isinstance(b, float) else a - b)
    return out


def _counts(store: Store, level: str, period: Period, now: datetime, scope_unit: str | None,
            rules: IndicatorRules) -> dict[Any, dict[str, int]]:
    by, end = LEVELS[level], period.as_of(now)
    counts = store.indicator_counts(by, period.start, end, scope_unit=scope_unit,
                                    exclude_deferred=rules.exclude_deferred)
    extensions = store.extension_counts(by, period.start, end, scope_unit=scope_unit)
    zero = dict.fromkeys((*INDICATOR_COUNTS, *EXTENSION_COUNTS), 0)
    return {k: {**zero, **counts.get(k, {}), **extensions.get(k, {})}
            for k in set(counts) | set(extensions)}


def _groups(store: Store, level: str, scope_unit: str | None) -> dict[Any, dict[str, Any]]:
    """The level's known groups, key → the row's naming fields: every responsible unit, every
    community and category (a unit user: its own unit); zones only with figures (thousands)."""
    if level == "unit":
        names = [scope_unit] if scope_unit else [u.name for u in store.units()
                                                 if u.kind == "unit"]
        return {n: {"name": n} for n in names}
    if level == "zone":
        return {}
    if scope_unit is not None:
        return {}
    if level == "community":
        return {f["name"]: {"name": f["name"]} for f in store.feature_labels(Kind.community)}
    return {code: {"name": c.get("label", code), "code": code}
            for code, c in issue_categories().items()}


def _naming(store: Store, level: str, keys: set[Any], scope_unit: str | None
            ) -> dict[Any, dict[str, Any]]:
    known = _groups(store, level, scope_unit)
    if level == "zone":
        zones = {z["id"]: z["name"] for z in store.feature_labels(Kind.zone)}
        return {k: {"name": zones.get(k) or f"#{k}", "id": k} for k in keys}
    if level == "category":
        cats = issue_categories()
        known.update({k: {"name": cats.get(k, {}).get("label", k), "code": k}
                      for k in keys if k not in known})
    return {**{k: {"name": str(k)} for k in keys}, **known}


def _rank(rows: list[dict[str, Any]], key: str) -> dict[int, int]:
    """Ranks (1 = best) of the rows with a score, by position in rows."""
    scored = [k for k, r in enumerate(rows) if r[key] is not None]
    scored.sort(key=lambda k: (-rows[k][key], -rows[k]["due"], rows[k]["name"]))
    return {k: n for n, k in enumerate(scored, start=1)}


def indicators(store: Store, level: str, period: str | None, now: datetime | None = None,
               scope_unit: str | None = None, rules: IndicatorRules | None = None,
               with_total: bool = False) -> dict[str, Any]:
    """The indicators of every group of a level for a period, ranked, each with the previous
    period's values and the change; with_total: also the whole scope's (`total`)."""
    if level not in LEVELS:
        raise InvalidInput(f"level 须为 {', '.join(LEVELS)} 之一，不能为「{level}」")
    now = now or datetime.now()
    rules = rules or IndicatorRules()
    current = parse_period(period, now)
    before = current.previous()
    figures = _counts(store, level, current, now, scope_unit, rules)
    earlier = _counts(store, level, before, now, scope_unit, rules)
    zero = dict.fromkeys((*INDICATOR_COUNTS, *EXTENSION_COUNTS), 0)
    if level == "city":
        names = {None: {"name": scope_unit or CITY}}
    else:
        names = _naming(store, level, {k for k in (*figures, *earlier) if k is not None},
                        scope_unit)
    rows = []
    for key, naming in names.items():
        row = {**naming, **values(figures.get(key, zero), rules)}
        row["previous"] = values(earlier.get(key, zero), rules)
        row["change"] = _change(row, row["previous"])
        rows.append(row)
    ranks = _rank(rows, "score")
    before_ranks = _rank([{**r["previous"], "name": r["name"]} for r in rows], "score")
    for k, r in enumerate(rows):
        r["rank"], r["previous_rank"] = ranks.get(k), before_ranks.get(k)
        r["rank_change"] = (None if r["rank"] is None or r["previous_rank"] is None
                            else r["previous_rank"] - r["rank"])
        change = r["rank_change"]
        r["trend"] = "" if change is None else "↑" if change > 0 else "↓" if change < 0 else "→"
    rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["name"]))
    doc: dict[str, Any] = {
        "level": level, "level_label": LEVEL_LABELS[level], "period": current.label,
        "from": current.start.isoformat(), "to": current.end.isoformat(),
        "as_of": current.as_of(now).isoformat(),
        "previous_period": {"period": before.label, "from": before.start.isoformat(),
                            "to": before.end.isoformat()},
        "exclude_deferred": rules.exclude_deferred, "weights": dict(rules.weights),
        "formula": formula_text(rules.weights), "rows": rows}
    if with_total:
        doc["total"] = (rows[0] if level == "city" else
                        indicators(store, "city", current.label, now, scope_unit,
                                   rules)["rows"][0])
    return doc


TABLE_HEADERS = [("rank", "排名"), ("name", "名称"), ("registered", "立案数"), ("due", "应结案数"),
                 ("closed", "结案数"), ("closure_rate", "结案率(%)"),
                 ("closed_on_time", "按期结案数"), ("on_time_rate", "按期结案率(%)"),
                 ("rework_rate", "返工率(%)"), ("extension_rate", "延期率(%)"),
                 ("overdue", "超期数"), ("extension_requests", "延期申请"),
                 ("extension_approved", "延期批准"), ("score", "综合指标值")]
CHANGE_HEADERS = [("score", "综合指标值环比"), ("closure_rate", "结案率环比(百分点)"),
                  ("on_time_rate", "按期结案率环比(百分点)"), ("rank_change", "名次变化")]


def indicator_table(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """The rows as a table with Chinese headers (header first) for CSV/xlsx: the indicators,
    then their change against the previous period (empty where there is none)."""

    def cell(v: Any) -> Any:
        return "" if v is None else v

    head = [label for _, label in TABLE_HEADERS] + [label for _, label in CHANGE_HEADERS]
    return [head, *([cell(r[k]) for k, _ in TABLE_HEADERS]
                    + [cell(r["rank_change"] if k == "rank_change" else r["change"][k])
                       for k, _ in CHANGE_HEADERS] for r in rows)]
