"""Heatmap cells and rankings agree with an independent count of the same issues."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box

from geo.analytics.scoring import parse_period
from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.store import Store
from geo.tiling.cells import BASE_CELL_DEG, factor_for_zoom

NOW = datetime(2026, 11, 24, 9, 0)


def test_heatmap_cells_count_every_filtered_issue(client: TestClient, store: Store) -> None:
    pts = [(121.47012, 31.23011), (121.47018, 31.23019), (121.4752, 31.2352), (121.48, 31.24)]
    store.add_issues([Issue("illegal_ads", x, y, status="reported",
                            deadline=NOW - timedelta(days=1)) for x, y in pts]
                     + [Issue("graffiti", 121.47, 31.23, status="closed")])
    doc = client.get("/api/heatmap", params={"category": "illegal_ads", "zoom": 18}).json()
    assert doc["total"] == 4 and sum(c[2] for c in doc["cells"]) == 4
    size = doc["cell_deg"]
    expected = Counter((math.floor(x / size), math.floor(y / size)) for x, y in pts)
    got = {(math.floor(c[0] / size), math.floor(c[1] / size)): c[2] for c in doc["cells"]}
    assert got == dict(expected)
    weighted = client.get("/api/heatmap", params={"category": "illegal_ads",
                                                  "overdue_weight": 2}).json()
    assert weighted["total"] == 4 and sum(c[2] for c in weighted["cells"]) == 8
    coarse = client.get("/api/heatmap", params={"zoom": 10}).json()
    assert coarse["cell_deg"] > doc["cell_deg"] and sum(c[2] for c in coarse["cells"]) == 5
    bbox = client.get("/api/heatmap", params={"bbox": "121.474,31.234,121.476,31.236"}).json()
    assert bbox["total"] == 1


def test_weighted_heatmap_of_a_city_zoom_counts_overdue_issues_per_block(
        client: TestClient, store: Store) -> None:
    # blocks of several base cells (z12): overdue issues weigh 2.5, the total stays the count
    now = datetime.now()  # the heatmap's overdue test is at the time of the request
    overdue = [(121.4501, 31.2201), (121.4502, 31.2203), (121.4702, 31.2402)]
    on_time = [(121.4503, 31.2202), (121.4705, 31.2405), (121.4991, 31.2499), (121.4301, 31.21)]
    store.add_issues([Issue("illegal_ads", x, y, status="reported",
                            deadline=now - timedelta(days=2)) for x, y in overdue]
                     + [Issue("illegal_ads", x, y, status="reported",
                              deadline=now + timedelta(days=30)) for x, y in on_time[:2]]
                     + [Issue("illegal_ads", x, y, status="closed",
                              deadline=now - timedelta(days=2)) for x, y in on_time[2:]])
    doc = client.get("/api/heatmap", params={"zoom": 12, "overdue_weight": 2.5}).json()
    size = doc["cell_deg"]
    assert factor_for_zoom(12) > 1 and doc["total"] == len(overdue) + len(on_time)
    expected: Counter[tuple[int, int]] = Counter()
    for (x, y), w in [(p, 2.5) for p in overdue] + [(p, 1.0) for p in on_time]:
        expected[(math.floor(x / size), math.floor(y / size))] += w
    got = {(math.floor(c[0] / size), math.floor(c[1] / size)): c[2] for c in doc["cells"]}
    assert got == dict(expected) and doc["max"] == max(expected.values())
    plain = client.get("/api/heatmap", params={"zoom": 12}).json()
    assert plain["total"] == doc["total"] and [c[:2] for c in plain["cells"]] == [
        c[:2] for c in doc["cells"]]


def test_zoom_factor_grows_as_the_map_zooms_out() -> None:
    assert factor_for_zoom(19) == 1
    assert factor_for_zoom(12) > factor_for_zoom(15) >= 1
    assert BASE_CELL_DEG * factor_for_zoom(5) > 0.1


def _zone(store: Store, name: str, unit: str, cell: tuple[float, float, float, float]) -> int:
    [zid] = store.add_features([Feature(Kind.zone, box(*cell), name=name,
                                        properties={"unit": unit})])
    return zid


def test_ranking_scores_match_the_formula(client: TestClient, store: Store) -> None:
    good = _zone(store, "好片区", "甲单位", (121.46, 31.22, 121.47, 31.23))
    bad = _zone(store, "差片区", "乙单位", (121.47, 31.22, 121.48, 31.23))
    t = datetime(2026, 11, 17, 9, 0)  # in 2026-W47 (16–22 November)
    issues = [
        Issue("clutter", 121.465, 31.225, status="closed", zone_id=good, unit="甲单位",
              reported_at=t, deadline=t + timedelta(days=1), closed_at=t + timedelta(hours=5)),
        Issue("clutter", 121.466, 31.225, status="closed", zone_id=good, unit="甲单位",
              reported_at=t, deadline=t + timedelta(days=1), closed_at=t + timedelta(days=2)),
        Issue("clutter", 121.475, 31.225, status="dispatched", zone_id=bad, unit="乙单位",
              reported_at=t, deadline=t + timedelta(hours=4)),
        Issue("clutter", 121.476, 31.225, status="rejected", zone_id=bad, unit="乙单位",
              reported_at=t, deadline=t + timedelta(hours=4)),
        Issue("clutter", 121.477, 31.225, status="closed", zone_id=bad, unit="乙单位",
              reported_at=t, deadline=t + timedelta(days=1), closed_at=t + timedelta(hours=2),
              recurring_of=1),
    ]
    store.add_issues(issues)
    rows = client.get("/api/ranking", params={"level": "unit", "period": "2026-W47"}).json()
    assert [(r["rank"], r["name"]) for r in rows] == [(1, "甲单位"), (2, "乙单位")]
    a, b = rows
    # 甲: on time 1/2, rectification 2/2, recurrence 0, overdue 0
    assert a["score"] == pytest.approx(100 * (0.35 * 0.5 + 0.35 * 1 + 0.15 * 1 + 0.15 * 1))
    # 乙: on time 1/1, rectification 1/2 (rejected not counted), recurrence 1/3, overdue 1/3
    assert b["score"] == pytest.approx(
        100 * (0.35 * 1 + 0.35 * 0.5 + 0.15 * (2 / 3) + 0.15 * (2 / 3)), abs=0.01)
    zones = client.get("/api/ranking", params={"level": "zone", "period": "2026-W47"}).json()
    assert [r["name"] for r in zones] == ["好片区", "差片区"]
    assert all({"rank", "name", "score", "trend"} <= set(r) for r in zones)
    csv = client.get("/api/ranking", params={"level": "unit", "period": "2026-W47",
                                             "format": "csv"}).content.decode("utf-8-sig")
    assert csv.splitlines()[0].startswith("排名,名称,得分")
    assert "按期结案率" in client.get("/api/ranking/formula").json()["notes"]
    assert client.get("/api/ranking", params={"level": "galaxy"}).status_code == 400
    assert client.get("/api/ranking", params={"period": "last week"}).status_code == 422


def test_periods() -> None:
    start, end, label = parse_period("2026-W47", NOW)
    assert (start, end - start, label) == (datetime(2026, 11, 16), timedelta(days=7), "2026-W47")
    start, end, _ = parse_period("2026-12", NOW)
    assert (start, end) == (datetime(2026, 12, 1), datetime(2027, 1, 1))
    start, end, _ = parse_period("2026-11-01..2026-11-15", NOW)
    assert (start, end) == (datetime(2026, 11, 1), datetime(2026, 11, 16))
    assert parse_period(None, NOW)[2] == "2026-W48"
