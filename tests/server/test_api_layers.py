"""HTTP contract of the layer endpoints (through the app factory, on both backends)."""

from __future__ import annotations

import gzip

from fastapi.testclient import TestClient
from shapely.geometry import LineString, Point, Polygon, shape

from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.store import Store


def _seed(store: Store) -> list[int]:
    clockwise = Polygon([(121.47, 31.23), (121.47, 31.24), (121.48, 31.24), (121.48, 31.23)])
    return store.add_features([
        Feature(Kind.street, LineString([(121.47, 31.23), (121.48, 31.23)]), name="延安东路",
                category="primary", properties={"highway": "primary"}),
        Feature(Kind.street, LineString([(121.60, 31.30), (121.61, 31.30)]), name="远处路"),
        Feature(Kind.zone, clockwise, name="一号责任区", properties={"unit": "区城管局"}),
        Feature(Kind.test_point, Point(121.475, 31.235), name="人民广场", category="park_square"),
    ])


def test_health_reports_ok_and_backend(client: TestClient, store: Store) -> None:
    _seed(store)
    body = client.get("/api/health").json()
    assert body["status"] == "ok"
    assert body["database"] in ("sqlite", "postgis")
    assert body["layers"]["street"] == 2
    assert body["tile_reseed"] is None  # the tests' servers run without reseeding


def test_layer_is_rfc7946_geojson_filtered_by_bbox(client: TestClient, store: Store) -> None:
    _seed(store)
    r = client.get("/api/layers/street", params={"bbox": "121.46,31.22,121.49,31.25"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    doc = r.json()
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    assert [f["properties"]["name"] for f in doc["features"]] == ["延安东路"]
    assert doc["features"][0]["geometry"]["coordinates"][0] == [121.47, 31.23]  # lon, lat


def test_polygon_rings_are_counter_clockwise(client: TestClient, store: Store) -> None:
    _seed(store)
    zone = client.get("/api/layers/zone").json()["features"][0]
    assert shape(zone["geometry"]).exterior.is_ccw
    assert zone["properties"]["unit"] == "区城管局"


def test_large_layer_is_gzip_compressed(client: TestClient, store: Store) -> None:
    store.add_features([Feature(Kind.test_point, Point(121.47 + i * 1e-5, 31.23), name=f"点位{i}",
                                category="bus_stop") for i in range(500)])
    r = client.get("/api/layers/test_point", headers={"Accept-Encoding": "gzip"})
    assert r.headers.get("content-encoding") == "gzip"
    assert len(r.json()["features"]) == 500
    raw = client.get("/api/layers/test_point", headers={"Accept-Encoding": "identity"}).content
    assert len(gzip.compress(raw)) < len(raw) / 3


def test_limit_and_properties_filter(client: TestClient, store: Store) -> None:
    _seed(store)
    assert len(client.get("/api/layers/street?limit=1").json()["features"]) == 1
    r = client.get("/api/layers/zone", params={"properties": '{"unit": "区城管局"}'})
    assert len(r.json()["features"]) == 1
    r = client.get("/api/layers/zone", params={"properties": '{"unit": "别的单位"}'})
    assert r.json()["features"] == []


def test_fields_pick_the_properties_each_feature_carries(client: TestClient,
                                                        store: Store) -> None:
    ids = _seed(store)
    ids += store.add_features([Feature(Kind.zone, Point(121.6, 31.3).buffer(0.001),
                                       name="二号责任区")])

    def props(kind: str, fields: str, **params: str) -> list[dict[str, object]]:
        doc = client.get(f"/api/layers/{kind}", params={"fields": fields, **params}).json()
        return [f["properties"] for f in doc["features"]]

    # what the map draws a test point with: its id (a click fetches the rest) and category
    assert props("test_point", "category") == [{"id": ids[3], "category": "park_square"}]
    assert props("street", "name,highway", bbox="121.46,31.22,121.49,31.25") == [
        {"id": ids[0], "name": "延安东路", "highway": "primary"}]
    # a property a feature lacks is left out; an empty list: the id only
    assert props("zone", "unit,name") == [{"id": ids[2], "unit": "区城管局", "name": "一号责任区"},
                                         {"id": ids[4], "name": "二号责任区"}]
    assert props("zone", "") == [{"id": ids[2]}, {"id": ids[4]}]
    # the same features, pages and counts as without fields
    doc = client.get("/api/layers/zone", params={"fields": "unit", "limit": 1}).json()
    assert doc["numberMatched"] == 2 and doc["numberReturned"] == 1
    assert doc["features"][0]["geometry"] == client.get(
        "/api/layers/zone", params={"limit": 1}).json()["features"][0]["geometry"]
    for bad in ("unit;drop", "a b", "1st", ",".join(f"p{i}" for i in range(51))):
        r = client.get("/api/layers/zone", params={"fields": bad})
        assert r.status_code == 400 and "fields" in r.json()["detail"], bad


def test_layers_list_has_chinese_labels_and_counts(client: TestClient, store: Store) -> None:
    _seed(store)
    layers = {row["kind"]: row for row in client.get("/api/layers").json()}
    assert layers["alley"]["label"] == "背街小巷" and layers["alley"]["count"] == 0
    assert layers["test_point"]["count"] == 1


def test_feature_by_id_and_not_found(client: TestClient, store: Store) -> None:
    ids = _seed(store)
    r = client.get(f"/api/features/{ids[3]}")
    assert r.status_code == 200 and r.json()["properties"]["category"] == "park_square"
    assert client.get("/api/features/999999").status_code == 404


def test_bad_parameters_are_400_with_reason(client: TestClient) -> None:
    r = client.get("/api/layers/streets")
    assert r.status_code == 400 and "未知的图层类型 'streets'，可选类型：" in r.json()["detail"]
    r = client.get("/api/layers/street", params={"bbox": "31.22,121.46,31.25,121.49"})
    assert r.status_code == 400 and "不是有效的经纬度范围" in r.json()["detail"]
    r = client.get("/api/layers/street", params={"properties": "[1]"})
    assert r.status_code == 400


def test_issues_geojson_filters(client: TestClient, store: Store) -> None:
    store.add_issues([Issue("illegal_ads", 121.47, 31.23, status="closed", description="小广告"),
                      Issue("street_vending", 121.475, 31.235, status="reported")])
    doc = client.get("/api/issues.geojson", params={"status": "reported"}).json()
    assert [f["properties"]["category"] for f in doc["features"]] == ["street_vending"]
    assert doc["features"][0]["geometry"] == {"type": "Point", "coordinates": [121.475, 31.235]}


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert "/api/layers/{kind}" in client.get("/openapi.json").json()["paths"]


def test_features_found_by_the_start_of_their_name(client: TestClient, store: Store) -> None:
    """The map's zone filter: a page of names by prefix, how many match, the caller's scope."""
    from tests.conftest import add_user, bearer

    square = Polygon([(121.47, 31.23), (121.48, 31.23), (121.48, 31.24), (121.47, 31.24)])
    names = [f"豫园社区第{i}责任区" for i in range(1, 8)] + ["豫园%_区", "淮海社区第1责任区"]
    ids = store.add_features([Feature(Kind.zone, square, name=n,
                                      properties={"unit": "甲单位" if i % 2 else "乙单位"})
                              for i, n in enumerate(names)])
    store.add_features([Feature(Kind.street, LineString([(121.47, 31.23), (121.48, 31.23)]),
                                name="豫园路")])
    doc = client.get("/api/layers/zone/names", params={"prefix": "豫园社区", "limit": 3}).json()
    assert doc["numberMatched"] == 7 and doc["numberReturned"] == 3
    assert [z["name"] for z in doc["items"]] == names[:3]  # by name
    assert doc["items"][0] == {"id": ids[0], "name": names[0], "unit": "乙单位"}
    # the prefix is text, not a pattern: % and _ match themselves only
    assert [z["name"] for z in client.get("/api/layers/zone/names",
                                          params={"prefix": "豫园%"}).json()["items"]] == \
        ["豫园%_区"]
    assert client.get("/api/layers/zone/names", params={"prefix": "豫园_"}).json()[
        "numberMatched"] == 0
    everything = client.get("/api/layers/zone/names", params={"limit": 100}).json()
    assert everything["numberMatched"] == everything["numberReturned"] == len(names)
    assert client.get("/api/layers/zone/names", params={"prefix": "不存在"}).json() == {
        "numberMatched": 0, "numberReturned": 0, "items": []}
    # a unit user finds only its own zones
    add_user(store, "jia", "unit", unit="甲单位")
    mine = client.get("/api/layers/zone/names", params={"limit": 100},
                      headers=bearer(client, "jia")).json()
    assert {z["unit"] for z in mine["items"]} == {"甲单位"}
    assert mine["numberMatched"] == sum(1 for i in range(len(names)) if i % 2)
    assert client.get("/api/layers/nothing/names").status_code == 400
    assert client.get("/api/layers/zone/names", params={"limit": 0}).status_code == 422
