"""Dashboard figures agree with an independent count of the stored issues."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from shapely.geometry import box

from geo.demo.city import build_demo
from geo.model.kinds import Kind
from geo.model.records import Feature
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


def test_most_improved_zones_are_zones_with_issues_in_the_period(client: TestClient,
                                                                 store: Store) -> None:
    """A zone without an issue in the period scores full marks on nothing: however far it rose
    (thousands of places at city size), it is not "most improved"; a zone that rose with
    issues is, with its count."""
    store.add_features([
        Feature(Kind.subdistrict, box(121.46, 31.22, 121.49, 31.23), name="示范街道"),
        *(Feature(Kind.zone, box(121.46 + k * 0.01, 31.22, 121.47 + k * 0.01, 31.23),
                  name=f"{name}区", category="grid", properties={"zone_type": "grid"})
          for k, name in enumerate("ABC"))])

    def report(zone: int, day: str, deadline: str) -> None:
        r = client.post("/api/issues", json={
            "category": "illegal_ads", "lon": 121.465 + zone * 0.01, "lat": 31.225,
            "reported_at": f"{day}T09:00:00", "deadline": f"{deadline}T09:00:00"})
        assert r.status_code == 201, r.text

    report(1, "2026-02-10", "2026-02-11")  # February: B overdue, A and C without issues
    report(0, "2026-03-10", "2026-03-11")  # March: A overdue, B due in April, C none
    report(1, "2026-03-10", "2026-04-30")
    ranked = {r["name"]: r for r in client.get(
        "/api/ranking", params={"level": "zone", "period": "2026-03"}).json()}
    assert ranked["C区"]["issues"] == 0 and ranked["C区"]["change"] > 0  # C rose on nothing
    assert ranked["B区"]["issues"] == 1 and ranked["B区"]["change"] > 0
    doc = client.get("/api/dashboard", params={"period": "2026-03"}).json()
    assert [(z["name"], z["issues"]) for z in doc["most_improved"]] == [("B区", 1)]
