"""The dashboard's figures for a period: KPIs against the previous period, top categories,
worst and most improved zones, and a weekly trend."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from geo.analytics.scoring import metrics, parse_period, ranking
from geo.model.kinds import issue_categories
from geo.store import IssueQuery, Store
from geo.store.aggregates import merge_stats

TREND_WEEKS = 12
# issues a zone needs in the period and in the one before to count as improved: a rate of one
# or two issues swings from 0 to 100 on luck (at city size zones with two issues "rose" 4,700
# places to full marks)
IMPROVED_MIN_ISSUES = 3


def _query(start: datetime, end: datetime, scope: str | None, now: datetime) -> IssueQuery:
    return IssueQuery(since=start, until=end, scope_unit=scope, limit=None, now=now)


def kpis(counts: dict[str, int]) -> dict[str, Any]:
    """New, closed, overdue and recurring counts and the three rates of a period's issues
    (from their issue_stats counts)."""
    m = metrics(counts)
    return {"new": counts["issues"], "closed": m["closed"], "overdue": m["overdue"],
            "recurring": m["recurring"],
            "rectification_rate": round(m["rectification_rate"], 4),
            "on_time_closure_rate": round(m["on_time_closure_rate"], 4),
            "recurrence_rate": round(m["recurrence_rate"], 4)}


def dashboard(store: Store, period: str | None, now: datetime | None = None,
              scope_unit: str | None = None) -> dict[str, Any]:
    """Everything the dashboard page shows, for one period (counted in SQL)."""
    now = now or datetime.now()
    start, end, label = parse_period(period, now)
    length = end - start
    by_category = store.issue_stats(_query(start, end, scope_unit, min(end, now)),
                                    by=["category"])
    current = merge_stats(by_category)
    previous = merge_stats(store.issue_stats(_query(start - length, start, scope_unit, start)))
    cats = issue_categories()
    # Counter.most_common's order: by count, ties in first-seen order (the issues by id)
    firsts = {r["category"]: r["first_id"] for r in by_category}
    top = [{"code": r["category"], "label": cats.get(r["category"], {}).get("label",
                                                                          r["category"]),
            "count": r["issues"]}
           for r in sorted(by_category, key=lambda r: (-r["issues"], firsts[r["category"]]))[:8]]
    zones = ranking(store, "zone", label, now, scope_unit)["rows"]
    active = [z for z in zones if z["issues"]]
    worst = sorted(active, key=lambda z: (z["score"], -z["issues"]))[:5]
    # the largest gains of score among zones with enough issues in both periods (a zone with
    # no issue scores full marks on nothing: thousands of them "rose" thousands of places)
    improved = sorted((z for z in active if z["issues"] >= IMPROVED_MIN_ISSUES
                       and z["previous_issues"] >= IMPROVED_MIN_ISSUES
                       and z["score"] > z["previous_score"]),
                      key=lambda z: (z["previous_score"] - z["score"], -z["change"]))[:5]
    week0 = end - timedelta(weeks=TREND_WEEKS)
    edges = [week0 + timedelta(weeks=k) for k in range(TREND_WEEKS + 1)]
    counts = store.issue_trend(_query(week0, end, scope_unit, now), edges)
    trend = [{"week": f"{a.isocalendar()[0]}-W{a.isocalendar()[1]:02d}", "new": new,
              "closed": closed} for a, (new, closed) in zip(edges, counts, strict=False)]
    return {"period": label, "from": start.isoformat(), "to": end.isoformat(),
            "kpis": kpis(current), "previous": kpis(previous),
            "top_categories": top,
            "worst_zones": [{"id": z.get("id"), "name": z["name"], "score": z["score"],
                             "issues": z["issues"]} for z in worst],
            "most_improved": [{"name": z["name"], "score": z["score"],
                               "previous_score": z["previous_score"],
                               "gain": round(z["score"] - z["previous_score"], 2),
                               "change": z["change"], "issues": z["issues"],
                               "previous_issues": z["previous_issues"]} for z in improved],
            "improved_min_issues": IMPROVED_MIN_ISSUES,
            "trend": trend}
