"""The demo city meets the minimums a demo promises, deterministically."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from itertools import combinations

import numpy as np
import pyproj
import pytest
import shapely

from geo.demo import build_demo
from geo.kinds import Kind, reference_table
from geo.store import Store, open_store
from server.cli import main

NOW = datetime(2026, 11, 24, 9, 0)
GEOD = pyproj.Geod(ellps="WGS84")


@pytest.fixture
def demo(store: Store) -> Store:
    build_demo(store, now=NOW)
    return store


def test_demo_minimums(demo: Store) -> None:
    counts = demo.layer_counts()
    assert counts["community"] >= 5 and counts["zone"] >= 20 and counts["subdistrict"] == 1
    assert counts["street"] > 500 and counts["alley"] >= 10 and counts["market"] >= 3
    points = demo.features(Kind.test_point)
    assert len(points) >= 60
    assert len({p.category for p in points}) >= 8
    for z in demo.features(Kind.zone):
        assert z.properties["unit"] and z.properties["responsible_person"]
        assert z.properties["zone_type"] in ("storefront_duty", "grid", "sponsor_area",
                                             "district_patch")
    assert all("\u4e00" <= f.name[0] <= "\u9fff" for f in demo.features(Kind.community))


def test_demo_leaves_gaps_and_one_overlap(demo: Store) -> None:
    boundary = demo.features(Kind.subdistrict)[0].geometry
    zones = demo.features(Kind.zone)
    uncovered = boundary.difference(shapely.union_all([z.geometry for z in zones]))
    uncovered_m2 = abs(GEOD.geometry_area_perimeter(uncovered)[0])
    assert uncovered_m2 > 10_000  # whole zones were left out on purpose
    overlaps = [(a.name, b.name) for a, b in combinations(zones, 2)
                if abs(GEOD.geometry_area_perimeter(a.geometry.intersection(b.geometry))[0])
                > 100]
    assert overlaps


def test_demo_issues_cover_the_year_and_every_status(demo: Store) -> None:
    issues = demo.issues()
    assert len(issues) >= 5000
    statuses = {r["code"] for r in reference_table("issue_statuses")}
    assert {i.status for i in issues} == statuses
    reported = [i.reported_at for i in issues if i.reported_at]
    assert min(reported) >= NOW - timedelta(days=366) and max(reported) <= NOW
    assert max(reported) - min(reported) > timedelta(days=330)
    open_states = {"reported", "accepted", "dispatched", "returned"}
    overdue = [i for i in issues if i.status in open_states and i.deadline
               and i.deadline < NOW]
    assert len(overdue) >= 20
    assert all(i.deadline and i.reported_at and i.deadline > i.reported_at for i in issues)


def test_recurring_issues_point_to_a_closed_one_nearby(demo: Store) -> None:
    issues = {i.id: i for i in demo.issues()}
    recurring = [i for i in issues.values() if i.recurring_of is not None]
    assert len(recurring) >= 50
    for r in recurring:
        base = issues[r.recurring_of]  # type: ignore[index]
        assert base.status == "closed" and base.category == r.category
        _, _, dist = GEOD.inv(base.lon, base.lat, r.lon, r.lat)
        assert dist <= 50
        assert base.closed_at and r.reported_at
        assert timedelta(0) < r.reported_at - base.closed_at <= timedelta(days=30)


def test_issues_are_routed_to_the_zone_that_contains_them(demo: Store) -> None:
    zones = {z.id: z for z in demo.features(Kind.zone)}
    issues = demo.issues()
    routed = [i for i in issues if i.zone_id is not None]
    assert len(routed) > 0.7 * len(issues)
    for i in routed[:500]:
        zone = zones[i.zone_id]  # type: ignore[index]
        assert zone.geometry.contains(shapely.Point(i.lon, i.lat))
        assert i.unit == zone.properties["unit"]
    covered = shapely.union_all([z.geometry for z in zones.values()])
    for i in [i for i in issues if i.zone_id is None][:200]:
        assert not covered.contains(shapely.Point(i.lon, i.lat))


def test_issues_cluster_at_markets(demo: Store) -> None:
    markets = shapely.union_all([m.geometry for m in demo.features(Kind.market)])
    boundary = demo.features(Kind.subdistrict)[0].geometry
    near = markets.buffer(0.0008)  # about 80 m around the markets
    issues = demo.issues()
    inside = sum(near.contains(shapely.Point(i.lon, i.lat)) for i in issues)
    share_of_area = near.intersection(boundary).area / boundary.area
    assert inside / len(issues) > 3 * share_of_area
    near_market_cats = Counter(i.category for i in issues
                               if near.contains(shapely.Point(i.lon, i.lat)))
    assert near_market_cats.most_common(1)[0][0] in ("street_vending", "market_hygiene",
                                                     "littering", "clutter")


def test_demo_is_deterministic(tmp_path: object) -> None:
    runs = []
    for k in range(2):
        s = open_store(f"sqlite:///{tmp_path}/d{k}.db")
        build_demo(s, seed=7, now=NOW)
        runs.append(([(f.name, f.geometry.wkt) for f in s.features(Kind.zone)],
                     [(i.category, round(i.lon, 9), i.status, i.reported_at)
                      for i in s.issues()]))
        s.close()
    assert runs[0] == runs[1]
    other = open_store(f"sqlite:///{tmp_path}/d3.db")
    build_demo(other, seed=8, now=NOW)
    assert [(i.category, round(i.lon, 9)) for i in other.issues()][:50] != [
        (c, x) for c, x, _, _ in runs[0][1][:50]]
    other.close()
    assert np.isfinite([i.lon for i in other.issues()]).all()


def test_cli_demo_no_serve_json(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--no-serve", "--db", db_url, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["issues"] >= 5000 and doc["zone"] >= 20
    s = open_store(db_url)
    try:
        assert s.issue_count() == doc["issues"]
        # building again replaces the demo rather than duplicating it
        assert main(["demo", "--no-serve", "--db", db_url, "--json"]) == 0
        assert s.issue_count() == doc["issues"]
    finally:
        s.close()
