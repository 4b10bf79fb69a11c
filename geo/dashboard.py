"""The dashboard's figures for a period: KPIs against the previous period, top categories,
worst and most improved zones, and a weekly trend."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from geo.features import Issue
from geo.kinds import issue_categories
from geo.scoring import metrics, parse_period, ranking
from geo.store import IssueQuery, Store

TREND_WEEKS = 12


def _issues(store: Store, start: datetime, end: datetime, scope: str | None) -> list[Issue]:
    rows, _ = store.query_issues(IssueQuery(since=start, until=end, scope_unit=scope,
                                            sort="id", limit=10_000_000))
    return rows


def kpis(issues: list[Issue], end: datetime) -> dict[str, Any]:
    """New, closed, overdue and recurring counts and the three rates of a period's issues."""
    m = metrics(issues, end)
    return {"new": len(issues), "closed": m["closed"], "overdue": m["overdue"],
            "recurring": m["recurring"],
            "rectification_rate": round(m["rectification_rate"], 4),
            "on_time_closure_rate": round(m["on_time_closure_rate"], 4),
            "recurrence_rate": round(m["recurrence_rate"], 4)}


def dashboard(store: Store, period: str | None, now: datetime | None = None,
              scope_unit: str | None = None) -> dict[str, Any]:
    """Everything the dashboard page shows, for one period."""
    now = now or datetime.now()
    start, end, label = parse_period(period, now)
    length = end - start
    current = _issues(store, start, end, scope_unit)
    previous = _issues(store, start - length, start, scope_unit)
    cats = issue_categories()
    top = [{"code": c, "label": cats.get(c, {}).get("label", c), "count": n}
           for c, n in Counter(i.category for i in current).most_common(8)]
    zones = ranking(store, "zone", label, now, scope_unit)["rows"]
    active = [z for z in zones if z["issues"]]
    worst = sorted(active, key=lambda z: (z["score"], -z["issues"]))[:5]
    improved = sorted((z for z in zones if z["change"] > 0), key=lambda z: -z["change"])[:5]
    trend = []
    week0 = end - timedelta(weeks=TREND_WEEKS)
    window = _issues(store, week0, end, scope_unit)
    for k in range(TREND_WEEKS):
        a, b = week0 + timedelta(weeks=k), week0 + timedelta(weeks=k + 1)
        trend.append({"week": f"{a.isocalendar()[0]}-W{a.isocalendar()[1]:02d}",
                      "new": sum(1 for i in window if i.reported_at and a <= i.reported_at < b),
                      "closed": sum(1 for i in window
                                    if i.closed_at and a <= i.closed_at < b)})
    return {"period": label, "from": start.isoformat(), "to": end.isoformat(),
            "kpis": kpis(current, min(end, now)), "previous": kpis(previous, start),
            "top_categories": top,
            "worst_zones": [{"id": z.get("id"), "name": z["name"], "score": z["score"],
                             "issues": z["issues"]} for z in worst],
            "most_improved": [{"name": z["name"], "score": z["score"], "change": z["change"]}
                              for z in improved],
            "trend": trend}
