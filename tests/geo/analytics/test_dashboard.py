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


def test_most_improved_zones_gained_score_with_enough_issues_in_both_periods(
        client: TestClient, store: Store) -> None:
    """A zone without an issue scores full marks on nothing, and a zone's rate of one issue
    swings from 0 to 100 on luck: however far they rose (thousands of places at city size),
    they are not "most improved". A zone whose score rose with enough issues in both periods
    is, with its score before and after."""
    store.add_features([
        Feature(Kind.subdistrict, box(121.46, 31.22, 121.50, 31.23), name="示范街道"),
        *(Feature(Kind.zone, box(121.46 + k * 0.01, 31.22, 121.47 + k * 0.01, 31.23),
                  name=f"{name}区", category="grid", properties={"zone_type": "grid"})
          for k, name in enumerate("ABCD"))])

    def report(zone: int, day: str, deadline: str, n: int = 1) -> None:
        for _ in range(n):
            r = client.post("/api/issues", json={
                "category": "illegal_ads", "lon": 121.465 + zone * 0.01, "lat": 31.225,
                "reported_at": f"{day}T09:00:00", "deadline": f"{deadline}T09:00:00"})
            assert r.status_code == 201, r.text

    # February: A, B and D overdue, C without issues; March: A overdue again, B and D due in
    # April (their scores rise), C none; D has one issue a month, B three
    for zone in (0, 1):
        report(zone, "2026-02-10", "2026-02-11", n=3)
    report(3, "2026-02-10", "2026-02-11")
    report(0, "2026-03-10", "2026-03-11", n=3)
    report(1, "2026-03-10", "2026-04-30", n=3)
    report(3, "2026-03-10", "2026-04-30")
    ranked = {r["name"]: r for r in client.get(
        "/api/ranking", params={"level": "zone", "period": "2026-03"}).json()}
    assert ranked["C区"]["issues"] == 0 and ranked["C区"]["previous_score"] is None
    assert ranked["D区"]["score"] > ranked["D区"]["previous_score"]  # D rose on one issue
    assert ranked["A区"]["score"] == ranked["A区"]["previous_score"]
    b = ranked["B区"]
    assert (b["issues"], b["previous_issues"]) == (3, 3) and b["score"] > b["previous_score"]
    doc = client.get("/api/dashboard", params={"period": "2026-03"}).json()
    assert [(z["name"], z["issues"], z["previous_issues"], z["previous_score"], z["score"])
            for z in doc["most_improved"]] == [
        ("B区", 3, 3, b["previous_score"], b["score"])]
    assert doc["most_improved"][0]["gain"] == round(b["score"] - b["previous_score"], 2)
    assert doc["improved_min_issues"] == 3
