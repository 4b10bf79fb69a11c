"""Routing to zones (inside, overlap, uncovered, street cadre) and 回潮/duplicate detection."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyproj
import shapely
from shapely.geometry import LineString, box

from geo.ledger.recurrence import RecurrenceRule, find_duplicates, find_recurrences
from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.zones.assignment import route_points

GEOD = pyproj.Geod(ellps="WGS84")
NOW = datetime(2026, 11, 24, 9, 0)
BIG = Feature(Kind.zone, box(121.470, 31.230, 121.480, 31.240), name="大网格",
              properties={"unit": "区城管执法局"}, id=1)
SMALL = Feature(Kind.zone, box(121.474, 31.234, 121.476, 31.236), name="门前三包",
                properties={"unit": "某商户"}, id=2)


def _offset(lon: float, lat: float, metres: float, azimuth: float = 90.0) -> tuple[float, float]:
    x, y, _ = GEOD.fwd(lon, lat, azimuth, metres)
    return x, y


def test_inside_overlap_and_uncovered() -> None:
    routes = route_points([121.471, 121.475, 121.490], [31.231, 31.235, 31.235], [BIG, SMALL])
    inside, overlap, outside = routes
    assert (inside.zone_id, inside.unit, inside.flags) == (1, "区城管执法局", [])
    assert (overlap.zone_id, overlap.unit) == (2, "某商户")  # the smaller zone wins
    assert overlap.flags == ["overlap"] and overlap.other_zones == [1]
    assert (outside.zone_id, outside.unit, outside.flags) == (None, None, ["uncovered"])


def test_point_near_a_staffed_street_names_its_cadre() -> None:
    street = Feature(Kind.street, LineString([(121.470, 31.232), (121.480, 31.232)]),
                     name="福佑路", properties={"cadre": "张路长"}, id=9)
    near = _offset(121.475, 31.232, 10, 0)
    far = _offset(121.475, 31.232, 40, 0)
    a, b = route_points([near[0], far[0]], [near[1], far[1]], [BIG], [street])
    assert a.cadre == "张路长" and b.cadre is None


def test_vectorized_routing_agrees_with_point_in_polygon() -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(121.46, 121.49, 20_000), rng.uniform(31.22, 31.25, 20_000)
    routes = route_points(lon, lat, [BIG, SMALL])
    in_small = shapely.contains_xy(SMALL.geometry, lon, lat)
    in_big = shapely.contains_xy(BIG.geometry, lon, lat)
    assert [r.zone_id for r in routes] == [2 if s else 1 if b else None
                                           for s, b in zip(in_small, in_big, strict=True)]


def _closed(i: int, lon: float, lat: float, days_ago: float, category: str = "illegal_ads",
            ) -> Issue:
    return Issue(category, lon, lat, status="closed", id=i,
                 closed_at=NOW - timedelta(days=days_ago), reported_at=NOW - timedelta(days=40))


def test_recurrence_within_50m_and_30_days_links_the_nearest() -> None:
    x40, y40 = _offset(121.475, 31.235, 40)
    x20, y20 = _offset(121.475, 31.235, 20)
    x70, y70 = _offset(121.475, 31.235, 70)
    closed = [_closed(1, x40, y40, 10), _closed(2, x20, y20, 10), _closed(3, x70, y70, 5),
              _closed(4, 121.475, 31.235, 45), _closed(5, 121.475, 31.235, 3, "graffiti")]
    new = [Issue("illegal_ads", 121.475, 31.235, reported_at=NOW),
           Issue("street_vending", 121.475, 31.235, reported_at=NOW)]
    found = find_recurrences(new, closed)
    assert found == {0: 2}  # 20 m beats 40 m; 70 m too far; 45 days too old; other category
    assert find_recurrences(new, closed, RecurrenceRule(radius_m=10)) == {}
    assert find_recurrences(new, closed, RecurrenceRule(radius_m=100, days=60))[0] == 4


def test_duplicates_are_open_issues_of_the_same_category_nearby() -> None:
    x, y = _offset(121.475, 31.235, 30)
    open_issues = [Issue("clutter", x, y, status="dispatched", id=7),
                   Issue("clutter", x, y, status="closed", id=8),
                   Issue("graffiti", x, y, status="reported", id=9)]
    new = [Issue("clutter", 121.475, 31.235), Issue("clutter", 121.480, 31.240)]
    assert find_duplicates(new, open_issues) == {0: [7]}


def test_a_points_route_depends_only_on_the_features_near_it() -> None:
    """Routing a point against the features near it gives what routing every point against
    every feature gives (the local re-route after a zone edit relies on it): with 100
    overlapping zones (many: the STRtree path) or a few (each zone tests the points), points
    on edges and corners, equally near staffed lines and overlapping communities."""
    import numpy as np

    rng = np.random.default_rng(7)
    zones, lines, communities = [], [], []
    for k in range(100):
        x, y = 121.46 + rng.uniform(0, 0.03), 31.22 + rng.uniform(0, 0.03)
        w, h = rng.uniform(0.001, 0.006, 2)
        zones.append(Feature(Kind.zone, box(x, y, x + w, y + h), name=f"z{k}",
                             properties={"unit": f"u{k % 7}"}, id=k + 1))
    zones.append(Feature(Kind.zone, box(121.47, 31.23, 121.472, 31.232), name="twin", id=500))
    zones.append(Feature(Kind.zone, box(121.47, 31.23, 121.472, 31.232), name="twin", id=501))
    for k in range(60):
        x, y = 121.46 + rng.uniform(0, 0.03), 31.22 + rng.uniform(0, 0.03)
        lines.append(Feature(Kind.street, LineString([(x, y), (x + 0.002, y)]),
                             properties={"cadre": f"c{k}"}, id=1000 + k))
        lines.append(Feature(Kind.street, LineString([(x, y), (x, y + 0.002)]),
                             properties={"cadre": f"d{k}"}, id=2000 + k))  # a shared end
    for k in range(4):
        x, y = 121.46 + 0.008 * k, 31.22
        communities.append(Feature(Kind.community, box(x, y, x + 0.012, y + 0.03),
                                   name=f"社区{k}", id=3000 + k))
    corners = [c for z in zones for c in z.geometry.exterior.coords[:2]]
    ends = [f.geometry.coords[0] for f in lines[:20]]
    xy = np.vstack([rng.uniform([121.455, 31.215], [121.495, 31.255], (3000, 2)),
                    np.array(corners), np.array(ends), [(121.471, 31.231), (121.47, 31.231)]])
    full = route_points(xy[:, 0], xy[:, 1], zones, lines, communities)
    for k, (x, y) in enumerate(xy.tolist()):
        here = shapely.box(x - 0.0003, y - 0.0003, x + 0.0003, y + 0.0003)
        near = [[f for f in layer if f.geometry.intersects(here)]
                for layer in (zones, lines, communities)]
        [alone] = route_points([x], [y], *near)
        assert alone == full[k], (k, x, y)
    twins = full[-2]
    assert (twins.zone_id, twins.other_zones[0]) == (500, 501)  # equal areas: the lower id
