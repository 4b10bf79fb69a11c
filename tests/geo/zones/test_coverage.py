"""Coverage gaps, checked against an independent geodesic calculation (pyproj.Geod)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pyproj
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import LineString, Point, box

from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.store import Store
from geo.zones.gaps import CoverageInput, analyse
from server.cli import main
from tests.conftest import add_user, bearer

GEOD = pyproj.Geod(ellps="WGS84")
NOW = datetime(2026, 11, 24, 9, 0)
AREA = box(121.460, 31.220, 121.480, 31.240)
Z1 = Feature(Kind.zone, box(121.460, 31.220, 121.470, 31.240), name="西区",
             properties={"unit": "甲单位", "zone_type": "grid"}, id=1)
Z2 = Feature(Kind.zone, box(121.468, 31.220, 121.475, 31.230), name="东南区",
             properties={"unit": "乙单位", "zone_type": "grid"}, id=2)
STREET = Feature(Kind.street, LineString([(121.462, 31.235), (121.478, 31.235)]), name="横路",
                 id=10)
STAFFED = Feature(Kind.street, LineString([(121.476, 31.222), (121.476, 31.238)]),
                  name="竖路", properties={"cadre": "王路长"}, id=11)
ALLEY = Feature(Kind.alley, LineString([(121.471, 31.226), (121.474, 31.226)]), name="小巷",
                id=12)


def _data(**extra: object) -> CoverageInput:
    base: dict[str, object] = {
        "jurisdiction": [Feature(Kind.subdistrict, AREA, name="街道", id=100)],
        "communities": [Feature(Kind.community, AREA, name="一社区", id=101)],
        "zones": [Z1, Z2], "lines": [STREET, STAFFED, ALLEY], "points": [], "issues": []}
    base.update(extra)
    return CoverageInput(**base)  # type: ignore[arg-type]


def _geodesic_area(geom: shapely.Geometry) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0])


def test_uncovered_area_and_overlap_match_geodesic_figures() -> None:
    report = analyse(_data(), NOW)
    expected_gap = _geodesic_area(AREA.difference(shapely.union_all([Z1.geometry,
                                                                      Z2.geometry])))
    assert report["uncovered_area"]["area_m2"] == pytest.approx(expected_gap, rel=0.005)
    assert report["jurisdiction_m2"] == pytest.approx(_geodesic_area(AREA), rel=0.005)
    share = 100 * expected_gap / _geodesic_area(AREA)
    assert report["uncovered_area"]["percent"] == pytest.approx(share, rel=0.005)
    [overlap] = report["overlaps"]
    assert overlap["zones"] == [1, 2] and overlap["units"] == ["甲单位", "乙单位"]
    expected = _geodesic_area(Z1.geometry.intersection(Z2.geometry))
    assert overlap["area_m2"] == pytest.approx(expected, rel=0.005)


def test_uncovered_street_length_ignores_cadre_assigned_segments() -> None:
    lines = analyse(_data(), NOW)["lines"]
    outside = STREET.geometry.difference(shapely.union_all([Z1.geometry, Z2.geometry]))
    expected = GEOD.geometry_length(outside)
    total = GEOD.geometry_length(STREET.geometry) + GEOD.geometry_length(STAFFED.geometry)
    street = lines["by_kind"]["street"]
    assert street["uncovered_m"] == pytest.approx(expected, rel=0.005)
    assert street["total_m"] == pytest.approx(total, rel=0.005)
    assert lines["by_kind"]["alley"]["uncovered_m"] == pytest.approx(0.0, abs=0.5)
    assert [p["name"] for p in lines["pieces"]] == ["横路"]  # 竖路 has a cadre (路长)
    [row] = [r for r in lines["by_community"] if r["kind"] == "street"]
    assert row["community"] == "一社区" and row["uncovered_m"] == pytest.approx(
        expected, rel=0.005)


def test_points_issues_and_forgotten_corners() -> None:
    tp_in = Feature(Kind.test_point, Point(121.465, 31.230), name="区内点", id=20,
                    category="bus_stop")
    tp_out = Feature(Kind.test_point, Point(121.478, 31.238), name="区外点", id=21,
                     category="bus_stop")
    owned = Feature(Kind.market, Point(121.479, 31.239), name="有主市场", id=22,
                    properties={"unit": "丙单位"})
    issues = [Issue("clutter", 121.4651, 31.2301, id=1, zone_id=1,
                    reported_at=NOW - timedelta(days=3)),
              Issue("clutter", 121.478, 31.236, id=2, zone_id=None,
                    reported_at=NOW - timedelta(days=90))]
    report = analyse(_data(points=[tp_in, tp_out, owned], issues=issues), NOW, days=30)
    assert [p["name"] for p in report["unassigned_points"]] == ["区外点"]
    assert report["uncovered_issues"] == {"count": 1, "ids": [2]}
    forgotten = report["forgotten"]
    assert [z["name"] for z in forgotten["zones"]] == ["东南区"]  # 西区 had an issue 3 days ago
    assert [p["name"] for p in forgotten["test_points"]] == ["区外点"]


def test_api_cli_and_layer_on_both_backends(client: TestClient, store: Store, db_url: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    store.add_features([Feature(Kind.subdistrict, AREA, name="街道"),
                        Feature(Kind.zone, Z1.geometry, name="西区", properties={"unit": "甲"})])
    report = client.get("/api/coverage").json()
    expected = _geodesic_area(AREA.difference(Z1.geometry))
    assert report["uncovered_area"]["area_m2"] == pytest.approx(expected, rel=0.005)
    assert report["uncovered_area"]["polygons"][0]["geometry"] is None
    layer = client.get("/api/coverage.geojson").json()
    assert [f["properties"]["gap"] for f in layer["features"]] == [
        "uncovered_area", "forgotten_zone"]  # no issue at all in the zone for 30 days
    quiet = layer["features"][1]
    assert quiet["geometry"]["type"] == "Point" and quiet["properties"]["name"] == "西区"
    assert main(["gaps", "--db", db_url, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["uncovered_area"]["area_m2"] == report["uncovered_area"]["area_m2"]
    assert main(["gaps", "--db", db_url]) == 0
    assert "uncovered area" in capsys.readouterr().out


def test_empty_store_is_not_an_error(client: TestClient) -> None:
    assert client.get("/api/coverage").json()["jurisdiction_m2"] == 0.0


def test_gaps_of_a_bbox_are_the_citys_gaps_inside_it(client: TestClient, store: Store,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The page refreshes the gaps of its view: computed from that area only, they are the
    gaps of the whole city cut at the bbox."""
    from geo.demo.city import build_demo
    from geo.zones.gaps import gap_features, load_input

    build_demo(store)  # (which replaces the users: log in again)
    add_user(store, "planner1", "planner")
    client.headers.update(bearer(client, "planner1"))
    now, days = datetime.now(), 2
    full = analyse(load_input(store, None, now, days), now, days)
    bbox = (121.468, 31.226, 121.478, 31.236)
    view = box(*bbox)
    real_issues = store.issues
    monkeypatch.setattr(store, "issues", lambda *a, **k: pytest.fail("read every issue"))
    part = analyse(load_input(store, bbox, now, days), now, days)
    monkeypatch.setattr(store, "issues", real_issues)

    def inside(doc: dict[str, object] | None) -> shapely.Geometry:
        return shapely.geometry.shape(doc).intersection(view)

    gap = sum(_geodesic_area(inside(p["geometry"])) for p in full["uncovered_area"]["polygons"])
    assert gap > 10_000 and part["uncovered_area"]["area_m2"] == pytest.approx(gap, rel=0.005)
    assert part["jurisdiction_m2"] == pytest.approx(_geodesic_area(view), rel=0.005)
    shared = sum(_geodesic_area(inside(o["geometry"])) for o in full["overlaps"])
    assert shared > 1000
    assert sum(o["area_m2"] for o in part["overlaps"]) == pytest.approx(shared, rel=0.005)
    loose = sum(GEOD.geometry_length(inside(p["geometry"])) for p in full["lines"]["pieces"])
    assert loose > 100
    assert sum(p["uncovered_m"] for p in part["lines"]["pieces"]) == pytest.approx(
        loose, rel=0.01, abs=5)

    def located(rows: list[dict[str, object]]) -> list[object]:
        return sorted(r["id"] for r in rows if view.intersects(Point(r["lon"], r["lat"])))

    assert sorted(p["id"] for p in part["unassigned_points"]) == located(
        full["unassigned_points"])
    near = {z.id for z in store.features(Kind.zone, bbox=bbox)}
    assert sorted(z["id"] for z in part["forgotten"]["zones"]) == sorted(
        z["id"] for z in full["forgotten"]["zones"] if z["id"] in near)
    assert sorted(p["id"] for p in part["forgotten"]["test_points"]) == located(
        full["forgotten"]["test_points"])
    assert part["forgotten"]["zones"] and part["forgotten"]["test_points"]
    uncovered = [i.id for i in store.issues(bbox=bbox)
                 if i.zone_id is None and view.intersects(Point(i.lon, i.lat))]
    assert uncovered and part["uncovered_issues"] == {"count": len(uncovered),
                                                      "ids": sorted(uncovered)}
    # the map's layer: the gaps of the view only
    layer = client.get("/api/coverage.geojson", params={
        "bbox": ",".join(map(str, bbox)), "days": days}).json()
    assert layer["numberMatched"] == len(gap_features(part))
    assert layer["features"] and all(  # a forgotten zone's marker may lie outside, not others
        shapely.geometry.shape(f["geometry"]).intersects(view.buffer(1e-9))
        for f in layer["features"] if f["properties"]["gap"] != "forgotten_zone")
    assert client.get("/api/coverage.geojson", params={"bbox": "1,2,3"}).status_code == 400


def test_the_layers_pages_share_one_analysis_and_any_write_makes_a_new_one(
        client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The map asks for a whole city's gaps a page at a time: the pages after the first are
    cut from the first one's analysis (a city's takes seconds), and a write of an issue or of
    a zone gives the next request a new analysis, never a stale one."""
    import geo.zones.gaps as gaps

    clock = [NOW]
    client.app.state.gap_reports = gaps.ReportCache(  # type: ignore[attr-defined]
        clock=lambda: clock[0])
    runs: list[int] = []
    real = gaps.analyse

    def counted(*args: object, **kwargs: object) -> dict[str, object]:
        runs.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(gaps, "analyse", counted)
    store.add_features([Feature(Kind.subdistrict, AREA, name="街道"),
                        Feature(Kind.zone, Z1.geometry, name="西区", properties={"unit": "甲"})])

    def layer() -> list[str]:
        """The gaps of the map's layer, a gap a page."""
        doc = client.get("/api/coverage.geojson", params={"limit": 1}).json()
        shown = [f["properties"]["gap"] for f in doc["features"]]
        while after := [link["href"] for link in doc["links"] if link["rel"] == "next"]:
            doc = client.get(after[0]).json()
            shown += [f["properties"]["gap"] for f in doc["features"]]
        return shown

    assert layer() == ["uncovered_area", "forgotten_zone"] and len(runs) == 1
    assert layer() == ["uncovered_area", "forgotten_zone"] and len(runs) == 1  # nothing changed
    clock[0] = NOW + timedelta(seconds=61)  # a report is kept a minute: its window moves on
    assert layer() == ["uncovered_area", "forgotten_zone"] and len(runs) == 2
    assert client.get("/api/coverage").status_code == 200
    assert len(runs) == 3  # another question (the report without geometries): its own
    # an issue in the zone yesterday: the zone is no longer a forgotten corner
    store.add_issues([Issue("litter", 121.465, 31.230, reported_at=clock[0] - timedelta(days=1))])
    assert layer() == ["uncovered_area"] and len(runs) == 4
    # a zone over the rest of the area: nothing left uncovered (but float slivers)
    before = client.get("/api/coverage").json()["totals"]["uncovered_m2"]
    assert before > 1_000_000 and len(runs) == 5
    store.add_features([Feature(Kind.zone, box(121.470, 31.220, 121.480, 31.240), name="东区",
                                properties={"unit": "乙"})])
    assert client.get("/api/coverage").json()["totals"]["uncovered_m2"] < 100
    assert len(runs) == 6
