"""Coverage totals (issue 15): the figures a planner asks first, checked against an independent
geopandas computation in the UTM zone geopandas estimates, on a constructed case with known
answers and on the demo city, on both backends, the same over HTTP and on the command line."""

from __future__ import annotations

import json
from datetime import datetime
from itertools import combinations

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import LineString, Point, box

from geo.model.kinds import Kind
from geo.model.records import Feature
from geo.store import Store
from geo.zones.gaps import CoverageInput, analyse
from server.cli import main
from tests.conftest import add_user, bearer

NOW = datetime(2026, 11, 24, 9, 0)
AREA = box(121.460, 31.220, 121.480, 31.240)
# three zones: A and B overlap in a strip, C lies on that strip too (claimed three times)
ZA = Feature(Kind.zone, box(121.460, 31.220, 121.470, 31.240), name="A", id=1)
ZB = Feature(Kind.zone, box(121.468, 31.220, 121.476, 31.230), name="B", id=2)
ZC = Feature(Kind.zone, box(121.467, 31.222, 121.471, 31.226), name="C", id=3)
HALF_OUT = Feature(Kind.street, LineString([(121.465, 31.235), (121.475, 31.235)]),
                   name="半出路", id=10)  # half inside A, half in the gap
STAFFED = Feature(Kind.street, LineString([(121.478, 31.221), (121.478, 31.239)]),
                  name="有路长", properties={"cadre": "王路长"}, id=11)
ALLEY = Feature(Kind.alley, LineString([(121.474, 31.232), (121.479, 31.232)]), name="外巷",
                id=12)  # wholly outside every zone
MARKET = Feature(Kind.market, Point(121.477, 31.238), name="无主市场", id=20)
OWNED = Feature(Kind.market, Point(121.479, 31.239), name="有主市场", id=21,
                properties={"unit": "丙单位"})
TP_OUT = Feature(Kind.test_point, Point(121.473, 31.236), name="区外点", id=22)
TP_IN = Feature(Kind.test_point, Point(121.462, 31.230), name="区内点", id=23)


def _utm(geoms: list[shapely.Geometry]) -> gpd.GeoSeries:
    s = gpd.GeoSeries(geoms, crs=4326)
    return s.to_crs(s.estimate_utm_crs())


def _expected(area: shapely.Geometry, zones: list[Feature], lines: list[Feature],
              points: list[Feature]) -> dict[str, float]:
    """The totals by geopandas/shapely, straight from their definitions."""
    crs = gpd.GeoSeries([area], crs=4326).estimate_utm_crs()

    def m(gs: list[shapely.Geometry]) -> gpd.GeoSeries:
        return gpd.GeoSeries(gs, crs=4326).to_crs(crs)

    m_area = m([area]).iloc[0]
    m_zones = list(m([z.geometry for z in zones]))
    cover = shapely.union_all(m_zones)
    pairs = [a.intersection(b).intersection(m_area) for a, b in combinations(m_zones, 2)]
    loose = [g.intersection(m_area).difference(cover).length
             for f, g in zip(lines, m([f.geometry for f in lines]), strict=True)
             if not f.properties.get("cadre")]
    orphans = [p for p in points if not p.properties.get("unit")
               and not any(z.geometry.intersects(p.geometry) for z in zones)]
    return {"uncovered_m2": m_area.difference(cover).area,
            "overlap_m2": shapely.union_all(pairs).area,
            "overlap_pairs_sum_m2": sum(g.area for g in pairs),
            "unassigned_km": sum(loose) / 1000,
            "orphan_points": len(orphans),
            "overlap_pairs": sum(g.area >= 1.0 for g in pairs)}


def _data() -> CoverageInput:
    return CoverageInput([Feature(Kind.subdistrict, AREA, name="街道")], [], [ZA, ZB, ZC],
                         [HALF_OUT, STAFFED, ALLEY], [MARKET, OWNED, TP_OUT, TP_IN], [])


def test_totals_of_a_constructed_case_match_geopandas() -> None:
    t = analyse(_data(), NOW)["totals"]
    exp = _expected(AREA, [ZA, ZB, ZC], [HALF_OUT, STAFFED, ALLEY],
                    [MARKET, OWNED, TP_OUT, TP_IN])
    assert t["scope"] == "jurisdiction" and t["bbox"] is None
    assert t["uncovered_m2"] == pytest.approx(exp["uncovered_m2"], rel=1e-4)
    assert t["uncovered_km2"] == pytest.approx(exp["uncovered_m2"] / 1e6, abs=1e-4)
    # the union of the overlaps counts the strip C lies on once; the sum of pairs does not
    assert t["overlap_m2"] == pytest.approx(exp["overlap_m2"], rel=1e-4)
    assert t["overlap_pairs_sum_m2"] == pytest.approx(exp["overlap_pairs_sum_m2"], rel=1e-4)
    assert t["overlap_pairs_sum_m2"] > t["overlap_m2"] * 1.2
    # half of 半出路 (about 475 m) and all of 外巷 (about 475 m); 有路长 has a 路长
    assert t["unassigned_km"] == pytest.approx(exp["unassigned_km"], abs=1e-3)
    assert 0.9 < t["unassigned_km"] < 1.0
    assert t["outside_zones_km"] > t["unassigned_km"] + 1.9  # 有路长 is outside too
    assert (t["orphan_points"], t["orphan_markets"], t["orphan_test_points"]) == (2, 1, 1)
    assert t["orphan_points"] == exp["orphan_points"]
    assert t["parts"]["overlap_pairs"] == exp["overlap_pairs"] == 3
    assert t["parts"]["line_pieces"] == 2 and t["parts"]["orphan_points"] == 2
    assert t["left_out"] == dict.fromkeys(t["parts"], 0)


def test_a_limit_shortens_the_lists_never_the_totals() -> None:
    full = analyse(_data(), NOW)
    short = analyse(_data(), NOW, limit=1)
    t = short["totals"]
    assert {k: v for k, v in t.items() if k != "left_out"} == {
        k: v for k, v in full["totals"].items() if k != "left_out"}
    assert len(short["overlaps"]) == 1 and short["overlaps"][0] == full["overlaps"][0]
    assert len(short["lines"]["pieces"]) == 1 and len(short["unassigned_points"]) == 1
    assert t["left_out"]["overlap_pairs"] == 2 and t["left_out"]["line_pieces"] == 1
    assert t["left_out"]["orphan_points"] == 1


def test_totals_of_a_bbox_are_of_that_area() -> None:
    bbox = (121.466, 31.221, 121.474, 31.237)
    report = analyse(CoverageInput(**{**_data().__dict__, "bbox": bbox}), NOW)
    t = report["totals"]
    view = box(*bbox)
    exp = _expected(AREA.intersection(view), [ZA, ZB, ZC],
                    [Feature(f.kind, f.geometry.intersection(view), properties=f.properties)
                     for f in (HALF_OUT, STAFFED, ALLEY)],
                    [p for p in (MARKET, OWNED, TP_OUT, TP_IN) if view.intersects(p.geometry)])
    assert t["scope"] == "bbox" and t["bbox"] == list(bbox)
    assert t["uncovered_m2"] == pytest.approx(exp["uncovered_m2"], rel=1e-4)
    assert t["overlap_m2"] == pytest.approx(exp["overlap_m2"], rel=1e-4)
    assert t["unassigned_km"] == pytest.approx(exp["unassigned_km"], abs=1e-3)
    assert t["orphan_points"] == exp["orphan_points"] == 1  # 区外点 only


def test_demo_city_totals_match_geopandas_over_http_and_cli(
        client: TestClient, store: Store, db_url: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    from geo.demo.city import build_demo

    build_demo(store)  # (which replaces the users: log in again)
    add_user(store, "planner1", "planner")
    client.headers.update(bearer(client, "planner1"))
    api = client.get("/api/coverage").json()
    t = api["totals"]
    area = shapely.union_all([f.geometry for f in store.features(Kind.subdistrict)])
    zones = store.features(Kind.zone)
    exp = _expected(area, zones, store.features(Kind.street) + store.features(Kind.alley),
                    store.features(Kind.market) + store.features(Kind.test_point))
    assert t["uncovered_m2"] > 10_000 and t["overlap_m2"] > 1000 and t["unassigned_km"] > 0.1
    assert t["uncovered_m2"] == pytest.approx(exp["uncovered_m2"], rel=1e-3)
    assert t["overlap_m2"] == pytest.approx(exp["overlap_m2"], rel=1e-3)
    assert t["unassigned_km"] == pytest.approx(exp["unassigned_km"], rel=1e-3, abs=1e-3)
    assert t["orphan_points"] == exp["orphan_points"] == len(api["unassigned_points"])
    assert t["parts"]["overlap_pairs"] == exp["overlap_pairs"] == len(api["overlaps"])
    assert t["uncovered_issues"] == sum(i.zone_id is None for i in store.issues())
    # the command line carries the same totals, and prints them first
    assert main(["gaps", "--db", db_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"] == t
    assert main(["gaps", "--db", db_url]) == 0
    text = capsys.readouterr().out
    assert text.startswith("totals (jurisdiction)")
    assert f"uncovered area {t['uncovered_km2']:.3f} km²" in text
    assert f"unassigned street/alley {t['unassigned_km']:.2f} km" in text
    # a limit over HTTP and on the command line: shorter lists, the same totals
    short = client.get("/api/coverage", params={"limit": 1}).json()
    assert len(short["overlaps"]) == 1
    assert short["totals"]["left_out"]["overlap_pairs"] == len(api["overlaps"]) - 1
    assert {k: v for k, v in short["totals"].items() if k != "left_out"} == {
        k: v for k, v in t.items() if k != "left_out"}
    assert main(["gaps", "--db", db_url, "--json", "--limit", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"] == short["totals"]
    # a bbox: the totals say they are of that area, the same over HTTP and the CLI
    bbox = "121.468,31.226,121.478,31.236"
    part = client.get("/api/coverage", params={"bbox": bbox}).json()["totals"]
    assert part["scope"] == "bbox" and part["bbox"] == [float(x) for x in bbox.split(",")]
    assert 0 < part["uncovered_m2"] < t["uncovered_m2"]
    assert main(["gaps", "--db", db_url, "--json", "--bbox", bbox]) == 0
    assert json.loads(capsys.readouterr().out)["totals"] == part
