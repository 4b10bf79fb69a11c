"""The demo city meets the minimums a demo promises, deterministically."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from datetime import timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely
from shapely.geometry.base import BaseGeometry

from geo.demo.city import build_demo
from geo.layers.projection import MetricFrame
from geo.model.kinds import Kind, reference_table
from geo.store import Store, open_store
from server.cli import main
from tests.conftest import DEMO_NOW

NOW = DEMO_NOW
GEOD = pyproj.Geod(ellps="WGS84")
FRAME = MetricFrame.around(121.4735, 31.2305)
ASSIGNED = (Kind.street, Kind.alley, Kind.market, Kind.compound, Kind.test_point)
OPEN = {"reported", "accepted", "dispatched", "returned"}


@pytest.fixture
def demo(demo_store: Store) -> Store:
    """The shared demo city (read only), built as of NOW."""
    return demo_store


def _m2(geom: shapely.Geometry) -> float:
    return float(abs(GEOD.geometry_area_perimeter(geom)[0]))


def test_demo_minimums(demo: Store) -> None:
    counts = demo.layer_counts()
    assert counts["community"] >= 5 and counts["zone"] >= 20 and counts["subdistrict"] == 1
    assert counts["street"] > 500 and counts["alley"] >= 10
    assert counts["market"] >= 3 and counts["compound"] >= 3
    points = demo.features(Kind.test_point)
    assert len(points) >= 60
    assert len({p.category for p in points}) >= 8
    assert len({p.name for p in points}) == len(points)
    assert {m.category for m in demo.features(Kind.market)} == {"farmers_market"}
    units = set()
    for z in demo.features(Kind.zone):
        assert z.properties["zone_type"] in ("storefront_duty", "grid", "sponsor_area",
                                             "district_patch")
        assert re.fullmatch(r"138\d{8}", z.properties["phone"])
        assert "\u4e00" <= z.properties["responsible_person"][0] <= "\u9fff"
        units.add(z.properties["unit"])
    assert "区市场监管局" in units and any(u.endswith("社区居委会") for u in units)
    assert len({z.properties["zone_type"] for z in demo.features(Kind.zone)}) == 4
    communities = demo.features(Kind.community)
    assert all("\u4e00" <= c.name[0] <= "\u9fff" and c.properties["population"] > 0
               for c in communities)
    # the communities tile the subdistrict: no hole, no overlap
    boundary = demo.features(Kind.subdistrict)[0].geometry
    mismatch = boundary.symmetric_difference(shapely.union_all([c.geometry for c in communities]))
    assert _m2(mismatch) < 1e-5 * _m2(boundary)  # only rounding slivers
    assert sum(_m2(c.geometry) for c in communities) == pytest.approx(_m2(boundary), rel=1e-3)


def test_every_feature_has_what_its_popup_shows(demo: Store) -> None:
    communities = {c.name for c in demo.features(Kind.community)}
    zones = {z.name: z for z in demo.features(Kind.zone)}
    in_gap: Counter[Kind] = Counter()
    for kind in ASSIGNED:
        for f in demo.features(kind):
            p = f.properties
            assert p["community"] in communities, (kind, f.name)
            line = kind in (Kind.street, Kind.alley)
            if "zone" in p:  # inside a zone: its unit, as the zone says
                assert p["unit"] == zones[p["zone"]].properties["unit"]
                assert not line or p["cadre"] == p["responsible_person"]
            else:  # in a gap: no unit (nor a 路长), and the popup says why
                assert "unit" not in p and "cadre" not in p and "责任区" in p["note"]
                in_gap[kind] += 1
            if "zone" in p or not line:
                assert p["responsible_person"] and re.fullmatch(r"138\d{8}", p["phone"])
    assert in_gap[Kind.street] > 0 and in_gap[Kind.test_point] > 0
    streets = demo.features(Kind.street)
    by_name: dict[str, set[str]] = {}
    for s in streets:
        if s.name and "cadre" in s.properties:
            by_name.setdefault(s.name, set()).add(s.properties["cadre"])
    assert all(len(cadres) == 1 for cadres in by_name.values())  # one 路长 per street


def test_road_class_points_lie_on_streets_of_that_class(demo: Store) -> None:
    streets = demo.features(Kind.street) + demo.features(Kind.alley)
    lines = FRAME.to_metric(np.array([s.geometry for s in streets], dtype=object))
    tree = shapely.STRtree(lines)
    wanted = {"main_road": {"primary"}, "secondary_road": {"secondary"},
              "commercial_street": {"tertiary"}, "back_alley": {"living_street", "service",
                                                                "pedestrian", "footway"}}
    checked: Counter[str] = Counter()
    for p in demo.features(Kind.test_point):
        if p.category not in wanted:
            continue
        near = tree.query(FRAME.to_metric(p.geometry), predicate="dwithin", distance=0.5)
        classes = {streets[k].properties.get("highway") for k in near.tolist()}
        kinds = {streets[k].kind for k in near.tolist()}
        assert classes & wanted[p.category], (p.name, classes)
        if p.category == "back_alley":
            assert Kind.alley in kinds
        checked[p.category] += 1
    assert set(checked) == set(wanted)


def test_demo_leaves_gaps_and_one_overlap(demo: Store) -> None:
    subdistrict = demo.features(Kind.subdistrict)[0]
    zones = demo.features(Kind.zone)
    uncovered = subdistrict.geometry.difference(shapely.union_all([z.geometry for z in zones]))
    assert _m2(uncovered) > 10_000  # whole zones were left out on purpose
    gap_names = re.findall(r"\w+社区第\d责任区", subdistrict.properties["note"])
    assert len(gap_names) == 2 and not {z.name for z in zones} & set(gap_names)
    overlaps = {(a.name, b.name) for a, b in combinations(zones, 2)
                if _m2(a.geometry.intersection(b.geometry)) > 100}
    assert overlaps
    noted = {z.name for z in zones if "重叠" in z.properties["note"]}
    assert len(noted) == 1 and all(noted & set(pair) for pair in overlaps)


def test_demo_issues_cover_the_year_and_every_status(demo: Store) -> None:
    issues = demo.issues()
    assert len(issues) >= 5000
    statuses = {r["code"] for r in reference_table("issue_statuses")}
    assert {i.status for i in issues} == statuses
    assert {i.source for i in issues} == {r["code"] for r in reference_table("issue_sources")}
    reported = [i.reported_at for i in issues if i.reported_at]
    assert len(reported) == len(issues)
    assert min(reported) >= NOW - timedelta(days=366) and max(reported) <= NOW
    assert max(reported) - min(reported) > timedelta(days=330)
    overdue = [i for i in issues if i.status in OPEN and i.deadline and i.deadline < NOW]
    assert len(overdue) >= 20
    limits = {r["code"]: r["time_limit_hours"] for r in reference_table("issue_categories")}
    for i in issues:
        if i.dispatched_at is None:  # the clock's demo cases have a deadline from 派遣 on
            assert i.deadline == i.reported_at + timedelta(hours=limits[i.category])  # type: ignore
        assert (i.closed_at is not None) == (i.status == "closed")
        assert i.description and "\u4e00" <= i.description[0] <= "\u9fff"
        assert i.address.startswith("示范街道")

    def closed_share(old: bool) -> float:
        group = [i for i in issues
                 if (NOW - i.reported_at > timedelta(days=30) if old  # type: ignore[operator]
                     else NOW - i.reported_at < timedelta(days=7))]  # type: ignore[operator]
        return sum(i.status == "closed" for i in group) / len(group)

    assert closed_share(old=True) > 0.8 and closed_share(old=False) < 0.3


def test_recurring_issues_point_to_a_closed_one_nearby(demo: Store) -> None:
    issues = {i.id: i for i in demo.issues()}
    recurring = [i for i in issues.values() if i.recurring_of is not None]
    assert len(recurring) >= 50
    for r in recurring:
        base = issues[r.recurring_of]
        assert base.status == "closed" and base.category == r.category
        _, _, dist = GEOD.inv(base.lon, base.lat, r.lon, r.lat)
        assert dist <= 50
        assert base.closed_at and r.reported_at
        assert timedelta(0) < r.reported_at - base.closed_at <= timedelta(days=30)
        assert "recurring" in r.flags


def test_issues_are_routed_by_the_smallest_zone_rule(demo: Store) -> None:
    zones = {z.id: z for z in demo.features(Kind.zone)}
    area = {k: _m2(z.geometry) for k, z in zones.items()}
    issues = demo.issues()
    routed = [i for i in issues if i.zone_id is not None]
    assert 0.7 * len(issues) < len(routed) < len(issues)
    flagged = Counter(f for i in issues for f in i.flags)
    assert flagged["overlap"] > 0 and flagged["uncovered"] == len(issues) - len(routed)
    for i in issues[::7]:
        pt = shapely.Point(i.lon, i.lat)
        containing = [k for k, z in zones.items() if z.geometry.contains(pt)]
        if not containing:
            assert i.zone_id is None and i.unit is None and "uncovered" in i.flags
            continue
        assert i.zone_id == min(containing, key=lambda k: area[k])
        assert i.unit == zones[i.zone_id].properties["unit"]
        assert ("overlap" in i.flags) == (len(containing) > 1)


def test_issues_cluster_at_hotspots(demo: Store) -> None:
    boundary = demo.features(Kind.subdistrict)[0].geometry
    issues = demo.issues()
    pts = shapely.points([i.lon for i in issues], [i.lat for i in issues])

    def near(geoms: Sequence[BaseGeometry], metres: float) -> tuple[float, Counter[str]]:
        """Issue share over area share within metres of geoms, and the categories there."""
        zone = FRAME.to_wgs84(shapely.union_all(
            [FRAME.to_metric(g) for g in geoms]).buffer(metres))
        inside = shapely.contains(zone, pts)
        ratio = inside.mean() / (zone.intersection(boundary).area / boundary.area)
        return ratio, Counter(i.category for i, k in zip(issues, inside, strict=True) if k)

    ratio, cats = near([m.geometry for m in demo.features(Kind.market)], 80)
    assert ratio > 3  # a uniform spread would give 1
    assert cats.most_common(1)[0][0] in ("street_vending", "market_hygiene", "littering",
                                         "clutter")
    ratio, cats = near([a.geometry for a in demo.features(Kind.alley)], 15)
    assert ratio > 3
    assert {c for c, _ in cats.most_common(3)} <= {
        "clutter", "sanitation_blackspot", "messy_overhead_cables", "pest_breeding_site",
        "wasteland"}
    schools = [p.geometry for p in demo.features(Kind.test_point)
               if p.category == "school_surroundings"]
    ratio, cats = near(schools, 60)
    assert ratio > 3
    assert {c for c, _ in cats.most_common(2)} & {"illegal_parking", "traffic_misconduct"}


def _snapshot(url: str, seed: int) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]]]:
    s = open_store(url)
    try:
        build_demo(s, seed=seed, now=NOW)
        features = [(f.kind, f.name, f.category, f.geometry.wkb, f.properties)
                    for kind in Kind for f in s.features(kind)]
        issues = [asdict(i) for i in s.issues()]
    finally:
        s.close()
    return features, issues


def test_demo_is_deterministic(tmp_path: Path) -> None:
    a = _snapshot(f"sqlite:///{tmp_path}/a.db", 7)
    b = _snapshot(f"sqlite:///{tmp_path}/b.db", 7)
    assert a == b
    c = _snapshot(f"sqlite:///{tmp_path}/c.db", 8)
    assert [x[3] for x in c[0]] != [x[3] for x in a[0]]
    assert [(i["lon"], i["category"]) for i in c[1]] != [(i["lon"], i["category"])
                                                         for i in a[1]]


def test_demo_builds_in_seconds(tmp_path: Path) -> None:
    s = open_store(f"sqlite:///{tmp_path}/t.db")
    try:
        start = time.perf_counter()
        counts = build_demo(s, now=NOW)
        elapsed = time.perf_counter() - start
    finally:
        s.close()
    assert counts["issues"] >= 5000
    assert elapsed < 20  # about 1.5 s on a 2-core machine; generous for slow CI


def test_cli_demo_no_serve_json(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--no-serve", "--db", db_url, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["issues"] >= 5000 and doc["zone"] >= 20 and doc["test_point"] >= 60
    s = open_store(db_url)
    try:
        assert s.issue_count() == doc["issues"]
        assert s.layer_counts()["zone"] == doc["zone"]
        # the planner's demo: one routed round, six inspections, two failed items as issues
        [round_row] = s.rounds()
        records = s.inspections(round_id=round_row["id"])
        assert doc["rounds"] == 1 and len(records) == doc["inspections"] == 6
        failed = [i for r in records for i in r["issue_ids"]]
        assert len(failed) == 2
        assert all(s.issue(i).source == "unannounced_inspection" for i in failed)
        # building again replaces the demo rather than duplicating it
        assert main(["demo", "--no-serve", "--db", db_url, "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == doc
        assert s.issue_count() == doc["issues"]
    finally:
        s.close()


def test_demo_has_cases_in_each_state_of_the_clock(demo: Store) -> None:
    from geo.demo.city import DEMO_UNIT
    from geo.store import IssueQuery

    rows = {e["state"]: e for e in demo.extensions()}
    assert set(rows) == {"pending", "approved"}
    pending = demo.issue(rows["pending"]["issue_id"])
    assert pending.paused_at is not None and pending.unit == DEMO_UNIT
    approved = demo.issue(rows["approved"]["issue_id"])
    assert approved.extension_count == 1 and approved.deadline == rows["approved"][
        "requested_deadline"] and approved.paused_at is None
    reworked, _ = demo.query_issues(IssueQuery(units=[DEMO_UNIT], statuses=["returned"],
                                               limit=None))
    assert sorted(i.rework_count for i in reworked if i.rework_count) == [1, 3]
    [escalated] = demo.query_issues(IssueQuery(flags=["escalated"]))[0]
    assert escalated.rework_count == 3
    paused, _ = demo.query_issues(IssueQuery(units=[DEMO_UNIT], statuses=["deferred"],
                                             limit=None))
    assert [i.paused_at for i in paused if i.paused_at] == [NOW]
