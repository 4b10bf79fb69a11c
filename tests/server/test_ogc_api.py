"""OGC API – Features at /ogc (Part 1 Core + GeoJSON, Part 2 CRS), through the app on both
backends: the documents, paging, CRSs, filters, the caller's scope and the errors' shape;
and the tiles' TileJSON. Real clients (GDAL, OWSLib) are in test_ogc_clients.py."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import LineString, Point, Polygon

from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.ogc import query as ogc_query
from geo.store import Store
from tests.conftest import add_user, bearer

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
CGCS2000 = "http://www.opengis.net/def/crs/EPSG/0/4490"
OWN, OTHER = "区城管执法局", "区市场监管局"


def _seed(store: Store) -> dict[str, list[int]]:
    """Two zones of two units, a street, 25 test points and 6 issues of two units."""
    zones = store.add_features([
        Feature(Kind.zone, Polygon([(121.46, 31.22), (121.48, 31.22), (121.48, 31.24),
                                    (121.46, 31.24)]), name="一号", properties={"unit": OWN}),
        Feature(Kind.zone, Polygon([(121.50, 31.22), (121.52, 31.22), (121.52, 31.24),
                                    (121.50, 31.24)]), name="二号", properties={"unit": OTHER}),
    ])
    streets = store.add_features([Feature(Kind.street, LineString(
        [(121.47, 31.23), (121.48, 31.23)]), name="延安东路")])
    points = store.add_features([Feature(Kind.test_point, Point(121.40 + i * 0.001, 31.20),
                                         name=f"点位{i}", category="bus_stop")
                                 for i in range(25)])
    issues = store.add_issues([
        Issue("garbage", 121.47, 31.23, unit=OWN, reported_at=datetime(2026, 3, d, 8, 0))
        for d in (1, 2, 3)] + [
        Issue("garbage", 121.51, 31.23, unit=OTHER, reported_at=datetime(2026, 3, d, 8, 0))
        for d in (1, 2, 3)])
    return {"zone": zones, "street": streets, "test_point": points, "issues": issues}


def _ids(doc: dict[str, Any]) -> list[int]:
    return [f["id"] for f in doc["features"]]


def _link(doc: dict[str, Any], rel: str) -> str | None:
    return next((k["href"] for k in doc["links"] if k["rel"] == rel), None)


def _all_pages(client: TestClient, url: str, **params: Any) -> tuple[list[int], list[int]]:
    """Follow the next links from the first page: the ids met, and numberMatched per page."""
    ids: list[int] = []
    matched: list[int] = []
    r = client.get(url, params=params)
    while True:
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["numberReturned"] == len(doc["features"])
        ids += _ids(doc)
        matched.append(doc["numberMatched"])
        nxt = _link(doc, "next")
        if nxt is None:
            return ids, matched
        r = client.get(nxt)


def test_landing_page_and_conformance_say_where_everything_is(client: TestClient) -> None:
    doc = client.get("/ogc").json()
    rels = {k["rel"]: k for k in doc["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    assert rels["service-desc"]["href"].endswith("/openapi.json")
    assert client.get(rels["service-desc"]["href"]).json()["paths"]["/ogc/collections"]
    assert rels["data"]["href"].endswith("/ogc/collections")
    classes = client.get(rels["conformance"]["href"]).json()["conformsTo"]
    for part in ("ogcapi-features-1/1.0/conf/core", "ogcapi-features-1/1.0/conf/geojson",
                 "ogcapi-features-2/1.0/conf/crs"):
        assert f"http://www.opengis.net/spec/{part}" in classes


def test_collections_are_the_layers_zones_and_issues_with_their_crs(
        client: TestClient, store: Store) -> None:
    _seed(store)
    doc = client.get("/ogc/collections", params={"f": "json"}).json()
    by_id = {c["id"]: c for c in doc["collections"]}
    assert set(by_id) == {k.value for k in Kind} | {"issues"}
    for c in by_id.values():
        assert c["crs"] == [CRS84, EPSG_4326, CGCS2000] and c["storageCrs"] == CRS84
        assert any(k["rel"] == "items" and k["type"] == "application/geo+json"
                   for k in c["links"])
    assert by_id["zone"]["extent"]["spatial"]["bbox"] == [[121.46, 31.22, 121.52, 31.24]]
    assert by_id["street"]["extent"]["spatial"]["bbox"] == [[121.47, 31.23, 121.48, 31.23]]
    assert "extent" not in by_id["market"]  # no markets: no extent
    one = client.get("/ogc/collections/zone").json()
    assert one == by_id["zone"]


def test_items_page_by_limit_and_offset_and_the_next_links_meet_each_feature_once(
        client: TestClient, store: Store) -> None:
    seeded = _seed(store)
    r = client.get("/ogc/collections/test_point/items", params={"limit": 10})
    assert r.headers["content-type"].startswith("application/geo+json")
    assert r.headers["content-crs"] == f"<{CRS84}>"
    doc = r.json()
    assert doc["type"] == "FeatureCollection"
    assert (doc["numberMatched"], doc["numberReturned"]) == (25, 10)
    assert doc["timeStamp"].endswith("Z")
    assert _ids(doc) == seeded["test_point"][:10]
    assert "offset=10" in (_link(doc, "next") or "") and _link(doc, "prev") is None
    ids, matched = _all_pages(client, "/ogc/collections/test_point/items", limit=10)
    assert ids == seeded["test_point"] and matched == [25, 25, 25]
    second = client.get("/ogc/collections/test_point/items",
                        params={"limit": 10, "offset": 10}).json()
    assert "offset=0" in (_link(second, "prev") or "")
    default = client.get("/ogc/collections/test_point/items").json()
    assert default["numberReturned"] == 10  # Part 1's default limit


def test_a_limit_over_the_maximum_is_served_as_the_maximum_and_said_so(
        client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    seeded = _seed(store)
    monkeypatch.setattr(ogc_query, "MAX_LIMIT", 7)
    r = client.get("/ogc/collections/test_point/items", params={"limit": 100})
    assert r.status_code == 200
    doc = r.json()
    assert (doc["numberMatched"], doc["numberReturned"]) == (25, 7)
    assert "limit 100" in r.headers["warning"]
    assert "limit=7" in (_link(doc, "next") or "")
    ids, matched = _all_pages(client, "/ogc/collections/test_point/items", limit=100)
    assert sorted(ids) == seeded["test_point"] and len(set(ids)) == len(ids) == matched[0]


def test_crs_gives_latitude_first_for_epsg_4326_and_cgcs2000(
        client: TestClient, store: Store) -> None:
    seeded = _seed(store)
    fid = seeded["street"][0]
    url = f"/ogc/collections/street/items/{fid}"
    plain = client.get(url)
    assert plain.json()["geometry"]["coordinates"][0] == [121.47, 31.23]
    assert plain.headers["content-crs"] == f"<{CRS84}>"
    for uri in (EPSG_4326, CGCS2000):
        r = client.get(url, params={"crs": uri})
        assert r.status_code == 200 and r.headers["content-crs"] == f"<{uri}>"
        lat, lon = r.json()["geometry"]["coordinates"][0]
        assert lat == pytest.approx(31.23, abs=1e-6) and lon == pytest.approx(121.47, abs=1e-6)
    issues = client.get("/ogc/collections/issues/items", params={"crs": EPSG_4326}).json()
    assert issues["features"][0]["geometry"]["coordinates"] == [31.23, 121.47]
    zone = client.get("/ogc/collections/zone/items", params={"crs": CGCS2000}).json()
    ring = zone["features"][0]["geometry"]["coordinates"][0]
    assert all(31 < lat < 32 and 121 < lon < 122 for lat, lon in ring)


def test_bbox_is_read_in_the_axis_order_of_bbox_crs(client: TestClient, store: Store) -> None:
    seeded = _seed(store)
    url = "/ogc/collections/zone/items"
    assert _ids(client.get(url, params={"bbox": "121.455,31.215,121.485,31.245"}).json()) \
        == seeded["zone"][:1]
    latlon = {"bbox": "31.215,121.455,31.245,121.485"}
    for uri in (EPSG_4326, CGCS2000):
        assert _ids(client.get(url, params={**latlon, "bbox-crs": uri}).json()) \
            == seeded["zone"][:1]
    r = client.get(url, params={"bbox": "121.455,31.215,121.485,31.245", "bbox-crs": EPSG_4326})
    assert r.status_code == 400 and "minlat,minlon,maxlat,maxlon" in r.json()["description"]
    six = client.get(url, params={"bbox": "121.455,31.215,0,121.485,31.245,10"}).json()
    assert _ids(six) == seeded["zone"][:1]


def test_datetime_filters_issues_by_an_instant_a_date_and_intervals(
        client: TestClient, store: Store) -> None:
    issues = _seed(store)["issues"]
    first, second, third = issues[0], issues[1], issues[2]

    def own(when: str) -> list[int]:
        r = client.get("/ogc/collections/issues/items",
                       params={"datetime": when, "bbox": "121.46,31.22,121.48,31.24"})
        assert r.status_code == 200, r.text
        return _ids(r.json())

    assert own("2026-03-02T08:00:00") == [second]
    aware = datetime(2026, 3, 2, 8, 0).astimezone().isoformat()  # the same instant, offset
    assert own(aware) == [second]
    assert own("2026-03-02") == [second]
    assert own("2026-03-01T08:00:00/2026-03-02T08:00:00") == [first, second]  # both ends in
    assert own("2026-03-02T00:00:00/..") == [second, third]
    assert own("../2026-03-02T00:00:00") == [first]
    assert own("/2026-03-01T08:00:00") == [first]
    assert own("../..") == [first, second, third]
    assert own("2026-03-02T08:00:01") == []


@pytest.mark.parametrize(("url", "params", "status", "words"), [
    ("/ogc/collections/nothing", {}, 404, "no collection 'nothing'"),
    ("/ogc/collections/nothing/items", {}, 404, "collections: street"),
    ("/ogc/collections/zone/items", {"bbox": "1,2,3"}, 400, "bbox must be 4 numbers"),
    ("/ogc/collections/zone/items", {"bbox": "121.5,31,121.4,32"}, 400, "minimum"),
    ("/ogc/collections/zone/items", {"bbox": "a,b,c,d"}, 400, "bbox must be"),
    ("/ogc/collections/zone/items", {"crs": "EPSG:3857"}, 400, "is not supported"),
    ("/ogc/collections/zone/items", {"bbox-crs": "urn:x"}, 400, "bbox-crs 'urn:x'"),
    ("/ogc/collections/issues/items", {"datetime": "yesterday"}, 400, "not RFC 3339"),
    ("/ogc/collections/issues/items", {"datetime": "2026-03-05/2026-03-01"}, 400,
     "ends before it starts"),
    ("/ogc/collections/zone/items", {"datetime": "2026-03-01"}, 400, "has no time"),
    ("/ogc/collections/zone/items", {"limit": 0}, 400, "limit"),
    ("/ogc/collections/zone/items", {"limit": "many"}, 400, "limit"),
    ("/ogc/collections/zone/items", {"status": "open"}, 400, "unknown parameter status"),
    ("/ogc/collections/zone/items", {"f": "html"}, 400, "f"),
    ("/ogc/collections/zone/items/abc", {}, 404, "no feature 'abc'"),
    ("/ogc/collections/zone/items/99999999999999999999", {}, 404, "no feature"),
])
def test_bad_requests_are_answered_in_the_ogc_exception_shape(
        client: TestClient, store: Store, url: str, params: dict[str, Any], status: int,
        words: str) -> None:
    _seed(store)
    r = client.get(url, params=params)
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"code", "description"}
    assert body["code"] == ("NotFound" if status == 404 else "InvalidParameterValue")
    assert words in body["description"]


def test_a_feature_of_another_collection_is_not_found(client: TestClient, store: Store) -> None:
    seeded = _seed(store)
    zone = seeded["zone"][0]
    doc = client.get(f"/ogc/collections/zone/items/{zone}").json()
    assert doc["id"] == zone and doc["properties"]["name"] == "一号"
    assert {k["rel"] for k in doc["links"]} == {"self", "collection"}
    r = client.get(f"/ogc/collections/street/items/{zone}")
    assert r.status_code == 404 and r.json()["code"] == "NotFound"


def test_the_caller_needs_a_token_and_sees_only_its_scope(
        anon_client: TestClient, store: Store) -> None:
    seeded = _seed(store)
    assert anon_client.get("/ogc").status_code == 200  # the landing page holds no data
    r = anon_client.get("/ogc/collections/issues/items")
    assert r.status_code == 401 and r.json()["code"] == "Unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"
    add_user(store, "cg", "unit", unit=OWN)
    unit = bearer(anon_client, "cg")
    issues = anon_client.get("/ogc/collections/issues/items", headers=unit).json()
    assert _ids(issues) == seeded["issues"][:3] and issues["numberMatched"] == 3
    same = anon_client.get("/api/issues.geojson", headers=unit, params={"sort": "id"}).json()
    assert _ids(same) == _ids(issues)
    zones = anon_client.get("/ogc/collections/zone/items", headers=unit).json()
    assert _ids(zones) == seeded["zone"][:1]
    hidden = seeded["issues"][3]
    r = anon_client.get(f"/ogc/collections/issues/items/{hidden}", headers=unit)
    assert r.status_code == 404
    r = anon_client.get("/ogc/collections", headers=unit)
    zone_doc = next(c for c in r.json()["collections"] if c["id"] == "zone")
    assert zone_doc["extent"]["spatial"]["bbox"] == [[121.46, 31.22, 121.48, 31.24]]


def test_tilejson_offers_the_vector_tiles_as_an_xyz_source(
        client: TestClient, store: Store) -> None:
    _seed(store)
    doc = client.get("/api/tiles/street.json").json()
    assert doc["tilejson"] == "3.0.0" and doc["scheme"] == "xyz"
    assert doc["tiles"] == ["http://testserver/api/tiles/street/{z}/{x}/{y}.mvt"]
    assert doc["bounds"] == [121.40, 31.20, 121.52, 31.24]
    assert doc["minzoom"] == 0 and doc["maxzoom"] >= 18
    assert [v["id"] for v in doc["vector_layers"]] == ["street"]
    assert doc["vector_layers"][0]["fields"]["name"] == "String"
    n = 1 << 14  # the zoom-14 tile holding the street's start
    x = int((121.471 + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(31.23))) / math.pi) / 2 * n)
    url = doc["tiles"][0].format(z=14, x=x, y=y)
    tile = client.get(url)
    assert tile.status_code == 200 and len(tile.content) > 0
    issues = client.get("/api/tiles/issues.json").json()
    assert [v["id"] for v in issues["vector_layers"]] == ["issues", "issue_cells",
                                                          "issue_cells_edge"]
    several = client.get("/api/tiles/zone,street.json").json()
    assert [v["id"] for v in several["vector_layers"]] == ["zone", "street"]
    assert client.get("/api/tiles/nothing.json").status_code == 404
