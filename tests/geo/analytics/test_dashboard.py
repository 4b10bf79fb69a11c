"""Dashboard figures agree with an independent count of the stored issues."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from geo.demo.city import build_demo
from geo.store import Store
from tests.conftest import bearer


def test_dashboard_kpis_match_the_ledger(anon_client: TestClient, store: Store) -> None:
    now = datetime.now()
    build_demo(store, now=now)
    h = bearer(anon_client, "viewer", "ccmap-demo")
    doc = anon_client.get("/api/dashboard", params={"period": f"{now:%Y-%m}"}, headers=h).json()
    start = datetime(now.year, now.month, 1)
    month = [i for i in store.issues() if i.reported_at and i.reported_at >= start]
    assert doc["kpis"]["new"] == len(month)
    assert doc["kpis"]["closed"] == sum(1 for i in month if i.status == "closed")
    assert doc["kpis"]["recurring"] == sum(1 for i in month if i.recurring_of is not None)
    top = Counter(i.category for i in month).most_common(1)[0]
    assert (doc["top_categories"][0]["code"], doc["top_categories"][0]["count"]) == top
    assert len(doc["trend"]) == 12
    since = datetime.fromisoformat(doc["to"]) - timedelta(weeks=12)
    assert sum(t["new"] for t in doc["trend"]) == sum(
        1 for i in store.issues() if i.reported_at and i.reported_at >= since)
    assert all(z["issues"] > 0 for z in doc["worst_zones"])
    scores = [z["score"] for z in doc["worst_zones"]]
    assert scores == sorted(scores)
