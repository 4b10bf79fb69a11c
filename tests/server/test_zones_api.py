"""Zone editing: validation, versions, restore, merge, split, assignments, workload."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyproj
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import LineString, Point, box, mapping, shape

from geo.model.kinds import Kind
from geo.model.records import Feature
from geo.store import Store
from server.app import create_app
from server.settings import Settings
from tests.conftest import add_user, bearer

GEOD = pyproj.Geod(ellps="WGS84")
EN = {"Accept-Language": "en"}
AREA = box(121.460, 31.220, 121.480, 31.240)


@pytest.fixture
def city(store: Store) -> Store:
    """A sub-district with one grid zone, a street and a test point."""
    store.add_features([
        Feature(Kind.subdistrict, AREA, name="示范街道"),
        Feature(Kind.zone, box(121.460, 31.220, 121.470, 31.230), name="老网格",
                category="grid", properties={"zone_type": "grid", "unit": "甲单位"}),
        Feature(Kind.street, LineString([(121.461, 31.235), (121.479, 31.235)]), name="横路"),
        Feature(Kind.test_point, Point(121.475, 31.235), name="公交站", category="bus_stop"),
    ])
    return store


def _zone(geom: Any, **fields: Any) -> dict[str, Any]:
    return {"geometry": mapping(geom), "name": "新责任区", "zone_type": "grid",
            "unit": "乙单位", "responsible_person": "李四", "phone": "13800000000", **fields}


def test_create_validates_and_reports_overlap_and_clipping(client: TestClient,
                                                           city: Store) -> None:
    r = client.post("/api/zones", json=_zone(box(121.465, 31.225, 121.490, 31.235)))
    assert r.status_code == 201, r.text
    doc = r.json()
    kinds = {w["type"]: w for w in doc["warnings"]}
    outside = box(121.480, 31.225, 121.490, 31.235)
    assert kinds["clipped"]["outside_m2"] == pytest.approx(
        abs(GEOD.geometry_area_perimeter(outside)[0]), rel=0.005)
    assert kinds["overlap"]["unit"] == "甲单位" and kinds["overlap"]["area_m2"] > 0
    assert shape(doc["geometry"]).bounds[2] == pytest.approx(121.480)  # clipped at the edge
    assert doc["properties"]["responsible_person"] == "李四" and doc["version"] == 1


def test_bad_polygons_are_refused(client: TestClient, city: Store) -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[121.47, 31.23], [121.475, 31.235],
                                                  [121.475, 31.23], [121.47, 31.235],
                                                  [121.47, 31.23]]]}
    r = client.post("/api/zones", json={**_zone(box(0, 0, 1, 1)), "geometry": bowtie})
    assert r.status_code == 400 and "Self-intersection" in r.json()["detail"]
    r = client.post("/api/zones", json=_zone(Point(121.47, 31.23)))
    assert r.status_code == 400 and "Polygon" in r.json()["detail"]
    r = client.post("/api/zones", json=_zone(box(121.50, 31.25, 121.51, 31.26)))
    assert r.status_code == 400 and "责任区完全在辖区之外" in r.json()["detail"]
    r = client.post("/api/zones", json=_zone(box(121.47, 31.23, 121.475, 31.235),
                                            zone_type="castle"))
    assert r.status_code == 400
    assert city.layer_counts()["zone"] == 1


def test_refusing_policies(store: Store, city: Store) -> None:
    settings = Settings(database_url=store.url, basemap="none", zone_outside="refuse",
                        zone_overlap="refuse")
    add_user(store, "p", "planner")
    with TestClient(create_app(settings, store=store)) as c:
        h = bearer(c, "p")
        r = c.post("/api/zones", headers=h, json=_zone(box(121.475, 31.235, 121.49, 31.238)))
        assert r.status_code == 409 and r.json()["outside_m2"] > 0
        r = c.post("/api/zones", headers=h, json=_zone(box(121.465, 31.225, 121.475, 31.235)))
        assert r.status_code == 409 and r.json()["overlaps"][0]["unit"] == "甲单位"
        assert re.fullmatch(r"与「老网格」（甲单位）重叠 \d+ m²",
                            r.json()["overlaps"][0]["message"])
        # an English reader gets the refusal and each overlap in English (names as written)
        r = c.post("/api/zones", headers={**h, **EN},
                   json=_zone(box(121.465, 31.225, 121.475, 31.235)))
        assert r.status_code == 409 and r.json()["detail"].startswith("zone overlaps")
        assert re.fullmatch(r'overlaps "老网格" \(甲单位\) by \d+ m²',
                            r.json()["overlaps"][0]["message"])
    assert store.layer_counts()["zone"] == 1


def test_the_warnings_of_a_saved_zone_are_in_the_callers_language(client: TestClient,
                                                                   city: Store) -> None:
    drawn = _zone(box(121.465, 31.225, 121.490, 31.235))
    zh = {w["type"]: w["message"] for w in client.post("/api/zones", json=drawn).json()["warnings"]}
    en = {(w["type"], w.get("name")): w["message"]
          for w in client.post("/api/zones", json=drawn, headers=EN).json()["warnings"]}
    assert re.fullmatch(r"已按辖区边界裁剪 \d+ m²", zh["clipped"])
    assert re.fullmatch(r"clipped to the jurisdiction: \d+ m² left out", en["clipped", None])
    assert re.fullmatch(r'overlaps "老网格" \(甲单位\) by \d+ m²', en["overlap", "老网格"])


def test_versions_history_restore_and_stale_edit(client: TestClient, city: Store) -> None:
    zid = client.post("/api/zones", json=_zone(box(121.470, 31.230, 121.475, 31.235))).json()[
        "id"]
    r = client.put(f"/api/zones/{zid}", json=_zone(box(121.470, 31.230, 121.478, 31.238),
                                                   unit="丙单位", version=1))
    assert r.status_code == 200 and r.json()["version"] == 2
    stale = client.put(f"/api/zones/{zid}", json=_zone(box(121.47, 31.23, 121.471, 31.231),
                                                       version=1))
    assert stale.status_code == 409
    history = client.get(f"/api/zones/{zid}/history").json()
    assert [(h["version"], h["action"], h["properties"]["unit"]) for h in history] == [
        (1, "create", "乙单位"), (2, "update", "丙单位")]
    assert all(h["actor"] == "user:testadmin" for h in history)
    r = client.post(f"/api/zones/{zid}/restore", json={"version": 1})
    assert r.status_code == 200 and r.json()["version"] == 3
    assert r.json()["properties"]["unit"] == "乙单位"
    assert shape(r.json()["geometry"]).equals(box(121.470, 31.230, 121.475, 31.235))
    assert client.delete(f"/api/zones/{zid}").status_code == 200
    assert client.get(f"/api/features/{zid}").status_code == 404
    back = client.post(f"/api/zones/{zid}/restore", json={"version": 2}).json()
    assert back["properties"]["unit"] == "丙单位"  # a deleted zone comes back


def test_saving_zones_reroutes_issues(client: TestClient, city: Store) -> None:
    issue = client.post("/api/issues", json={"category": "clutter", "lon": 121.472,
                                             "lat": 31.232}).json()
    assert issue["flags"] == ["uncovered"]
    r = client.post("/api/zones", json=_zone(box(121.470, 31.230, 121.475, 31.235)))
    assert r.json()["rerouted_issues"] == 1
    now = client.get(f"/api/issues/{issue['id']}").json()
    assert now["unit"] == "乙单位" and now["zone_id"] == r.json()["id"]


def test_merge_and_split(client: TestClient, city: Store) -> None:
    a = client.post("/api/zones", json=_zone(box(121.470, 31.230, 121.475, 31.235),
                                            zone_type="sponsor_area")).json()["id"]
    b = client.post("/api/zones", json=_zone(box(121.475, 31.230, 121.480, 31.235),
                                            zone_type="sponsor_area")).json()["id"]
    merged = client.post("/api/zones/merge", json={"ids": [a, b], "name": "合并片区"}).json()
    assert shape(merged["geometry"]).equals(box(121.470, 31.230, 121.480, 31.235))
    assert client.get(f"/api/features/{a}").status_code == 404
    line = {"type": "LineString", "coordinates": [[121.4775, 31.229], [121.4775, 31.236]]}
    r = client.post(f"/api/zones/{merged['id']}/split", json={"line": line})
    assert r.status_code == 200
    pieces = [shape(z["geometry"]) for z in r.json()["zones"]]
    assert len(pieces) == 2 and sum(p.area for p in pieces) == pytest.approx(
        box(121.470, 31.230, 121.480, 31.235).area)
    miss = {"type": "LineString", "coordinates": [[121.50, 31.20], [121.51, 31.21]]}
    assert client.post(f"/api/zones/{merged['id']}/split", json={"line": miss}
                       ).status_code == 400


def test_assignments_and_workload(client: TestClient, city: Store) -> None:
    street = city.features(Kind.street)[0]
    point = city.features(Kind.test_point)[0]
    r = client.put(f"/api/features/{street.id}/assignment", json={"values": {"cadre": "张路长"}})
    assert r.status_code == 200 and r.json()["properties"]["cadre"] == "张路长"
    r = client.put(f"/api/features/{point.id}/assignment", json={"values": {"cadre": "x"}})
    assert r.status_code == 400
    r = client.put(f"/api/features/{point.id}/assignment",
                   json={"values": {"unit": "丁单位"}, "version": 1})
    assert r.status_code == 200 and r.json()["version"] == 2
    client.post("/api/zones", json=_zone(box(121.460, 31.230, 121.470, 31.240), unit="乙单位"))
    rows = {r["unit"]: r for r in client.get("/api/workload").json()}
    expected_km = GEOD.geometry_length(LineString([(121.461, 31.235), (121.470, 31.235)])) / 1e3
    assert rows["乙单位"]["street_km"] == pytest.approx(expected_km, rel=0.005)
    assert rows["丁单位"]["test_points"] == 1 and rows["甲单位"]["zones"] == 1
    assert client.get(f"/api/zones/{street.id}/history").json()[-1]["action"] == "assign"


def test_only_planners_and_admins_edit_zones(anon_client: TestClient, city: Store) -> None:
    for role in ("inspector", "unit", "viewer"):
        add_user(city, role, role, unit="甲单位" if role == "unit" else None)
        h = bearer(anon_client, role)
        r = anon_client.post("/api/zones", headers=h,
                             json=_zone(box(121.470, 31.230, 121.475, 31.235)))
        assert r.status_code == 403, role
    assert city.layer_counts()["zone"] == 1


def test_suggested_division_is_balanced_and_covers_the_area(client: TestClient,
                                                           store: Store) -> None:
    from geo.demo.city import build_demo

    build_demo(store)  # replaces the users too: log in as the demo planner
    client.headers.update(bearer(client, "planner", "ccmap-demo"))
    community = store.features(Kind.community)[0]
    zones_before = store.layer_counts()["zone"]
    r = client.post("/api/zones/suggest", json={"k": 4, "community_id": community.id})
    assert r.status_code == 200, r.text
    drafts = r.json()["features"]
    assert len(drafts) == 4
    union = shape(drafts[0]["geometry"]).union(shape(drafts[1]["geometry"]))
    for d in drafts[2:]:
        union = union.union(shape(d["geometry"]))
    assert union.symmetric_difference(community.geometry).area < 1e-4 * community.geometry.area
    loads = [d["properties"]["street_m"] + 300 * d["properties"]["test_points"]
             for d in drafts]
    assert max(loads) / min(loads) < 1.5  # balanced by street length and test points
    uncovered = client.post("/api/zones/suggest", json={"k": 2})
    assert uncovered.status_code == 200 and len(uncovered.json()["features"]) >= 2
    assert client.post("/api/zones/suggest", json={"k": 0}).status_code == 400
    assert store.layer_counts()["zone"] == zones_before  # drafts are not saved


def test_zone_files_follow_the_same_rules(db_url: str, city: Store,
                                          capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    import json

    from server.cli import main

    def write(name: str, geoms: list[Any], zone_type: str = "grid") -> Path:
        path = tmp_path / name
        path.write_text(json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": mapping(g),
             "properties": {"name": f"文件责任区{k}", "unit": "戊单位", "zone_type": zone_type}}
            for k, g in enumerate(geoms)]}), encoding="utf-8")
        return path

    ok = write("ok.geojson", [box(121.470, 31.230, 121.475, 31.235),
                              box(121.476, 31.236, 121.490, 31.239)])
    assert main(["import", "zones", str(ok), "--db", db_url, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["imported"] == 2
    assert any("裁剪" in w["reason"] for w in doc["warnings"])  # clipped at the boundary
    outside = write("outside.geojson", [box(121.50, 31.25, 121.51, 31.26)])
    assert main(["import", "zones", str(outside), "--db", db_url, "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["imported"] == 0 and "责任区完全在辖区之外" in doc["row_errors"][0]["reason"]
    bad_type = write("type.geojson", [box(121.47, 31.23, 121.471, 31.231)], "castle")
    assert main(["import", "zones", str(bad_type), "--db", db_url, "--json"]) == 2
    capsys.readouterr()
    assert city.layer_counts()["zone"] == 3


def test_segments_split_at_zone_boundaries_get_their_own_cadres(client: TestClient,
                                                                city: Store) -> None:
    client.post("/api/zones", json=_zone(box(121.460, 31.230, 121.470, 31.240)))
    street = city.features(Kind.street)[0]  # 121.461 → 121.479 at 31.235
    r = client.post(f"/api/features/{street.id}/split-at-zones")
    assert r.status_code == 200, r.text
    parts = r.json()["features"]
    assert len(parts) == 2 and {p["properties"]["name"] for p in parts} == {"横路"}
    lengths = sorted(shape(p["geometry"]).length for p in parts)
    assert lengths == pytest.approx(sorted([0.009, 0.009]))  # cut at 121.470
    west, east = sorted(parts, key=lambda p: shape(p["geometry"]).bounds[0])
    client.put(f"/api/features/{west['id']}/assignment", json={"values": {"cadre": "甲路长"}})
    client.put(f"/api/features/{east['id']}/assignment", json={"values": {"cadre": "乙路长"}})
    cadres = {f.properties.get("cadre") for f in city.features(Kind.street)}
    assert cadres == {"甲路长", "乙路长"}
    point = city.features(Kind.test_point)[0]
    assert client.post(f"/api/features/{point.id}/split-at-zones").status_code == 400
