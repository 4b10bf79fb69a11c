"""Vector tiles (GET /api/tiles/{layer}/{z}/{x}/{y}.mvt) on both backends, through the app.

Every tile is decoded twice: with mapbox-vector-tile, and with a protobuf decoder built from
the vector tile spec (tests/mvt_reference.py: its .proto written as a descriptor, geometry
commands decoded by hand), which shares no code with either encoder (geo.tiling.tiles' own
writer on SQLite, ST_AsMVT on PostGIS; the writer is also checked byte for byte against
mapbox-vector-tile's encoder).
Expected tile coordinates come from pyproj, not from the app's own projection code.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from typing import Any

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon, mapping
from sqlalchemy import text

from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.store import IssueQuery, Store, open_store
from geo.tiling.tiles import Tile, cell_grid
from server.params import issue_filters
from tests.conftest import ReducedCity, add_user, bearer
from tests.mvt_reference import TILE_MESSAGE, decode_independently

MVT = "application/vnd.mapbox-vector-tile"
MERC = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
HALF = 20037508.342789244


def get_tile(client: TestClient, layer: str, z: int, x: int, y: int,
             headers: dict[str, str] | None = None,
             **params: Any) -> dict[str, list[dict[str, Any]]]:
    """Fetch a tile, decode it with both decoders, check they agree; the independent result."""
    r = client.get(f"/api/tiles/{layer}/{z}/{x}/{y}.mvt", params=params, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == MVT
    ours = decode_independently(r.content)
    theirs = mapbox_vector_tile.decode(r.content, default_options={"y_coord_down": True})
    assert set(ours) == set(theirs)
    for name, feats in ours.items():
        other = theirs[name]["features"]
        assert [f["properties"] for f in feats] == [f["properties"] for f in other]
        assert [f["id"] or 0 for f in feats] == [f["id"] for f in other]
    return ours


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """Tile holding a point, from pyproj's Web Mercator."""
    mx, my = MERC.transform(lon, lat)
    n = 2 ** z
    return int((mx + HALF) / (2 * HALF) * n), int((HALF - my) / (2 * HALF) * n)


def units(lon: float, lat: float, z: int, x: int, y: int) -> tuple[float, float]:
    """A point in tile units (0..4096 inside the tile), from pyproj's Web Mercator."""
    mx, my = MERC.transform(lon, lat)
    n = 2 ** z
    return ((mx + HALF) / (2 * HALF) * n - x) * 4096, ((HALF - my) / (2 * HALF) * n - y) * 4096


def tiles_covering(bbox: tuple[float, float, float, float], z: int) -> list[tuple[int, int]]:
    """Every (x, y) at zoom z over bbox (west, south, east, north)."""
    x0, y0 = tile_of(bbox[0], bbox[3], z)
    x1, y1 = tile_of(bbox[2], bbox[1], z)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def ids(tile: dict[str, list[dict[str, Any]]], layer: str) -> set[int]:
    """Feature ids of one MVT layer, checked to equal the `id` property."""
    feats = tile.get(layer, [])
    for f in feats:
        assert f["id"] == f["properties"]["id"]
    return {f["id"] for f in feats}


# --- tests ----------------------------------------------------------------------------------
def test_street_crossing_two_tiles_is_in_both_and_a_far_one_in_none(
        client: TestClient, store: Store) -> None:
    z = 15
    x, _ = tile_of(121.47, 31.23, z)
    # the western edge of tile x+1, from pyproj
    edge = (x + 1) / 2 ** z * 360 - 180
    crossing = LineString([(edge - 0.002, 31.2301), (edge + 0.002, 31.2302)])
    a, far, zone = store.add_features([
        Feature(Kind.street, crossing, name="延安东路", category="main"),
        Feature(Kind.street, LineString([(121.60, 31.30), (121.61, 31.30)]), name="远处路"),
        Feature(Kind.zone, Polygon([(edge - 0.001, 31.2295), (edge - 0.0005, 31.2295),
                                    (edge - 0.0005, 31.23), (edge - 0.001, 31.23)]),
                name="一号责任区", properties={"unit": "区城管局"}),
    ])
    cy = tile_of(edge, 31.2301, z)[1]
    left = get_tile(client, "street", z, x, cy)
    right = get_tile(client, "street", z, x + 1, cy)
    assert ids(left, "street") == ids(right, "street") == {a}
    assert set(left) == {"street"}  # the MVT layer is named after the kind
    props = left["street"][0]["properties"]
    assert props == {"id": a, "kind": "street", "name": "延安东路", "category": "main"}
    assert left["street"][0]["type"] == 2  # LINESTRING
    # clipped to the tile + buffer: the start point is where pyproj puts it
    (start, *_rest, end), = left["street"][0]["parts"]
    ex, ey = units(edge - 0.002, 31.2301, z, x, cy)
    assert abs(start[0] - ex) <= 2 and abs(start[1] - ey) <= 2
    assert 4096 < end[0] <= 4096 + 64 + 1  # into the buffer, not beyond
    # the far street is in no tile near; the zone is only in the left tile
    fx, fy = tile_of(121.605, 31.30, z)
    assert ids(get_tile(client, "street", z, fx, fy), "street") == {far}
    assert ids(get_tile(client, "zone", z, x, cy), "zone") == {zone}
    zone_tile = get_tile(client, "zone", z, x, cy)["zone"][0]
    assert zone_tile["type"] == 3 and zone_tile["properties"]["unit"] == "区城管局"
    assert get_tile(client, "zone", z, x + 1, cy + 1) == {}
    r = client.get(f"/api/tiles/street/{z}/{x - 3}/{cy}.mvt")
    assert r.status_code == 200 and r.content == b""


def test_fields_choose_the_properties_and_every_feature_keeps_its_id(
        client: TestClient, store: Store) -> None:
    """The page asks for the properties it draws with (fields=zone:unit): the same features,
    each with its id, and only those properties; the ETag tells the variants apart."""
    z = 15
    x, y = tile_of(121.4705, 31.2305, z)
    street, zone = store.add_features([
        Feature(Kind.street, LineString([(121.470, 31.230), (121.471, 31.231)]),
                name="延安东路", category="main"),
        Feature(Kind.zone, Polygon([(121.470, 31.230), (121.471, 31.230), (121.471, 31.231),
                                    (121.470, 31.231)]), name="一号责任区",
                properties={"unit": "区城管局"})])
    full = get_tile(client, "zone,street", z, x, y)
    assert full["zone"][0]["properties"] == {"id": zone, "kind": "zone", "name": "一号责任区",
                                             "unit": "区城管局"}
    lean = get_tile(client, "zone,street", z, x, y, fields="unit")
    assert [(f["id"], f["properties"]) for f in lean["zone"]] == [(zone, {"unit": "区城管局"})]
    assert [(f["id"], f["properties"]) for f in lean["street"]] == [(street, {})]
    assert [f["parts"] for f in lean["street"]] == [f["parts"] for f in full["street"]]
    bare = get_tile(client, "zone,street,issues", z, x, y, fields="")
    assert [(f["id"], f["properties"]) for f in bare["zone"]] == [(zone, {})]
    two = get_tile(client, "zone", z, x, y, fields="unit, name")["zone"][0]["properties"]
    assert two == {"name": "一号责任区", "unit": "区城管局"}
    # `layer:name` for one layer only (what the page asks: a street draws with nothing)
    page = get_tile(client, "zone,street", z, x, y, fields="zone:unit")
    assert [(f["id"], f["properties"]) for f in page["zone"]] == [(zone, {"unit": "区城管局"})]
    assert [(f["id"], f["properties"]) for f in page["street"]] == [(street, {})]
    mixed = get_tile(client, "zone,street", z, x, y, fields="name, street:category")
    assert [f["properties"] for f in mixed["zone"]] == [{"name": "一号责任区"}]
    assert [f["properties"] for f in mixed["street"]] == [{"name": "延安东路",
                                                           "category": "main"}]

    def tag(**params: str) -> str:
        r = client.get(f"/api/tiles/zone/{z}/{x}/{y}.mvt", params=params)
        assert r.status_code == 200
        return r.headers["etag"]

    assert len({tag(), tag(fields="unit"), tag(fields="")}) == 3
    assert tag(fields="name,unit") == tag(fields="unit,name")
    # the zone layer's tile is the same, however the fields say it: one cache entry
    assert tag(fields="zone:unit") == tag(fields="unit") == tag(fields="unit,street:name")
    assert tag(fields="street:unit") == tag(fields="")
    for params in ({"fields": "colour"}, {"fields": "unit,wkb"}, {"fields": "zone:wkb"}):
        r = client.get(f"/api/tiles/zone/{z}/{x}/{y}.mvt", params=params)
        assert r.status_code == 400 and "未知字段" in r.json()["detail"]
    r = client.get(f"/api/tiles/zone/{z}/{x}/{y}.mvt", params={"fields": "road:unit"})
    assert r.status_code == 400 and "未知图层 'road'" in r.json()["detail"]


def test_issue_fields_choose_what_the_points_carry_and_each_keeps_its_id(
        client: TestClient, store: Store) -> None:
    """The page asks for an issue point's status only (fields=...,issues:status): the same
    points, each with its id (a click fetches the issue by it), and the ETag tells apart."""
    z, lon, lat = 17, 121.4705, 31.2305
    x, y = tile_of(lon, lat, z)
    [issue] = store.add_issues([Issue("litter", lon, lat)])
    full = get_tile(client, "issues", z, x, y)["issues"]
    assert [(f["id"], sorted(f["properties"])) for f in full] == [
        (issue, ["category", "id", "overdue", "status"])]
    status = full[0]["properties"]["status"]
    page = get_tile(client, "issues", z, x, y, fields="zone:unit,issues:status")["issues"]
    assert [(f["id"], f["properties"]) for f in page] == [(issue, {"status": status})]
    assert [f["parts"] for f in page] == [f["parts"] for f in full]
    two = get_tile(client, "issues", z, x, y, fields="issues:overdue, issues:category")
    assert two["issues"][0]["properties"] == {"category": "litter", "overdue": False}
    # names without a layer are the feature layers': the points keep every property
    kept = get_tile(client, "zone,issues", z, x, y, fields="unit")["issues"]
    assert [f["properties"] for f in kept] == [f["properties"] for f in full]

    def tag(**params: str) -> str:
        r = client.get(f"/api/tiles/issues/{z}/{x}/{y}.mvt", params=params)
        assert r.status_code == 200
        return r.headers["etag"]

    assert tag() == tag(fields="unit") != tag(fields="issues:status")
    assert tag(fields="issues:status") == tag(fields="zone:unit,issues:status")
    # cells carry none of an issue's properties: one tile, one cache entry, whatever the fields
    size = cell_grid(Tile(12, *tile_of(lon, lat, 12))).size_deg
    # (the tile holding the issue's cell's centre)
    cx, cy = tile_of((lon // size + 0.5) * size, (lat // size + 0.5) * size, 12)
    cells = [client.get(f"/api/tiles/issues/12/{cx}/{cy}.mvt", params=params)
             for params in ({}, {"fields": "issues:status"})]
    assert "issue_cells" in mapbox_vector_tile.decode(cells[0].content)
    assert cells[0].headers["etag"] == cells[1].headers["etag"]
    for spec in ("issues:unit", "issues:colour", "issues:"):
        r = client.get(f"/api/tiles/issues/{z}/{x}/{y}.mvt", params={"fields": spec})
        assert r.status_code == 400 and "未知字段" in r.json()["detail"], spec


def test_every_feature_reachable_and_tiny_ones_only_at_detail_zoom(
        client: TestClient, store: Store) -> None:
    feats = []
    for i in range(12):
        lon, lat = 121.40 + i * 0.013, 31.20 + (i % 5) * 0.011
        feats.append(Feature(Kind.street, LineString([(lon, lat), (lon + 0.004, lat + 0.001)]),
                             name=f"路{i}"))
        feats.append(Feature(Kind.compound, Polygon([(lon, lat + 0.003), (lon + 0.002, lat + 0.003),
                                                     (lon + 0.002, lat + 0.005),
                                                     (lon, lat + 0.005)]), name=f"小区{i}"))
        feats.append(Feature(Kind.compound, Point(lon + 0.001, lat - 0.002), name=f"点{i}"))
    tiny = Feature(Kind.compound, Polygon([(121.45, 31.25), (121.45003, 31.25),
                                           (121.45003, 31.25003), (121.45, 31.25003)]),
                   name="微小")
    new = store.add_features([*feats, tiny])
    tiny_id = new[-1]
    extent = (121.39, 31.19, 121.57, 31.27)
    for kind in (Kind.street, Kind.compound):
        want = {i for i, f in zip(new, [*feats, tiny], strict=True) if f.kind is kind}
        seen: set[int] = set()
        for x, y in tiles_covering(extent, 14):
            seen |= ids(get_tile(client, kind.value, 14, x, y), kind.value)
        assert seen == want
    # below zoom 14 a 3 m square is left out, the points and larger areas stay
    seen = set()
    for x, y in tiles_covering(extent, 12):
        seen |= ids(get_tile(client, "compound", 12, x, y), "compound")
    assert tiny_id not in seen
    assert seen == {i for i, f in zip(new, feats, strict=False) if f.kind is Kind.compound}


def _two_units_zones_and_a_street(store: Store) -> list[int]:
    """Ids of 甲单位's zone, 乙单位's zone (the same square) and a street with no unit."""
    square = [(121.47, 31.23), (121.48, 31.23), (121.48, 31.24), (121.47, 31.24)]
    return store.add_features([
        Feature(Kind.zone, Polygon(square), name="甲", properties={"unit": "甲单位"}),
        Feature(Kind.zone, Polygon(square), name="乙", properties={"unit": "乙单位"}),
        Feature(Kind.street, LineString([(121.47, 31.235), (121.48, 31.235)]), name="公共路"),
    ])


def test_unit_user_sees_only_its_features_and_issues(
        client: TestClient, anon_client: TestClient, store: Store) -> None:
    mine, theirs, street = _two_units_zones_and_a_street(store)
    issues = store.add_issues([Issue("litter", 121.475, 31.235, unit="甲单位"),
                               Issue("litter", 121.4751, 31.2351, unit="乙单位"),
                               Issue("litter", 121.4752, 31.2352, unit="乙单位")])
    add_user(store, "jia", "unit", unit="甲单位")
    unit_headers = bearer(client, "jia")
    z = 16
    x, y = tile_of(121.475, 31.235, z)
    admin_zone = get_tile(client, "zone", z, x, y)
    assert ids(admin_zone, "zone") == {mine, theirs}
    h = unit_headers
    assert ids(get_tile(client, "zone", z, x, y, headers=h), "zone") == {mine}
    assert ids(get_tile(client, "street", z, x, y, headers=h), "street") == {street}
    assert ids(get_tile(client, "issues", z, x, y, headers=h), "issues") == {issues[0]}
    low = tile_of(121.475, 31.235, 10)
    cells = get_tile(client, "issues", 10, *low, headers=h)["issue_cells"]
    assert sum(c["properties"]["count"] for c in cells) == 1
    cells = get_tile(client, "issues", 10, *low)["issue_cells"]
    assert sum(c["properties"]["count"] for c in cells) == 3
    # the same tile answers the admin and the unit user with different ETags
    r_admin = client.get(f"/api/tiles/zone/{z}/{x}/{y}.mvt")
    r_user = client.get(f"/api/tiles/zone/{z}/{x}/{y}.mvt", headers=h)
    assert r_admin.headers["etag"] != r_user.headers["etag"]
    assert client.get(f"/api/tiles/zone/{z}/{x}/{y}.mvt",
                      headers={**h, "If-None-Match": r_admin.headers["etag"]}).status_code == 200
    # like the GeoJSON endpoints, tiles need a login
    assert anon_client.get(f"/api/tiles/zone/{z}/{x}/{y}.mvt",
                           headers={"Authorization": ""}).status_code == 401


def test_each_tile_of_one_shape_gets_its_own_values(store: Store) -> None:
    """A feature tile's query is made once a shape and run with each request's values: tiles
    asked one after another, for other units, scopes, names, places and zooms, each hold
    their own features."""
    near = [(121.47, 31.23), (121.48, 31.23), (121.48, 31.24), (121.47, 31.24)]
    far = [(121.60, 31.23), (121.61, 31.23), (121.61, 31.24), (121.60, 31.24)]
    a, b, c = store.add_features([
        Feature(Kind.zone, Polygon(near), name="甲", properties={"unit": "甲单位", "grade": 1}),
        Feature(Kind.zone, Polygon(near), name="乙", properties={"unit": "乙单位", "grade": 2}),
        Feature(Kind.zone, Polygon(far), name="丙", properties={"unit": "甲单位", "grade": 2})])

    def tile_ids(lon: float, z: int, **kw: Any) -> set[int]:
        x, y = tile_of(lon, 31.235, z)
        data = store.feature_tile(Kind.zone, Tile(z, x, y), **kw)
        return {f["id"] for f in decode_independently(data).get("zone", [])}

    for z in (12, 16):  # below z14 the size filter is in the query, from z14 on not
        assert tile_ids(121.475, z, where={"unit": "甲单位"}) == {a}
        assert tile_ids(121.475, z, where={"unit": "乙单位"}) == {b}
        assert tile_ids(121.475, z, where={"grade": 2}) == {b}  # compared as text, as GeoJSON
        assert tile_ids(121.475, z, where={"name": "甲"}) == {a}
        assert tile_ids(121.475, z, scope_unit="乙单位") == {b}
        assert tile_ids(121.475, z, scope_unit="甲单位") == {a}
        assert tile_ids(121.605, z, scope_unit="甲单位") == {c}
        assert tile_ids(121.605, z, scope_unit="乙单位") == set()
        assert tile_ids(121.475, z) == {a, b}


def test_filters_match_the_geojson_endpoints(client: TestClient, store: Store) -> None:
    square = [(121.47, 31.23), (121.48, 31.23), (121.48, 31.24), (121.47, 31.24)]
    a, b = store.add_features([
        Feature(Kind.zone, Polygon(square), name="甲", properties={"unit": "甲单位"}),
        Feature(Kind.zone, Polygon(square), name="乙", properties={"unit": "乙单位"})])
    now = datetime.now()
    new = store.add_issues([
        Issue("litter", 121.475, 31.235, status="reported", source="hotline",
              deadline=now - timedelta(days=1), reported_at=now - timedelta(days=3),
              zone_id=a, unit="甲单位", community="东社区"),
        Issue("litter", 121.4752, 31.2352, status="closed", source="hotline",
              reported_at=now - timedelta(days=2), zone_id=b, unit="乙单位",
              community="东社区"),
        Issue("graffiti", 121.4754, 31.2354, status="reported", source="grid_patrol",
              deadline=now + timedelta(days=1), reported_at=now - timedelta(days=1),
              zone_id=b, unit="乙单位", community="西社区"),
    ])
    z = 16
    x, y = tile_of(121.475, 31.235, z)
    assert ids(get_tile(client, "zone", z, x, y, properties='{"unit": "甲单位"}'), "zone") == {a}
    cases: list[tuple[dict[str, Any], set[int]]] = [
        ({}, set(new)),
        ({"category": "litter"}, {new[0], new[1]}),
        ({"status": ["reported"]}, {new[0], new[2]}),
        ({"source": "grid_patrol"}, {new[2]}),
        ({"overdue": "true"}, {new[0]}),
        ({"from": (now - timedelta(days=2, hours=1)).isoformat()}, {new[1], new[2]}),
        ({"unit": "乙单位"}, {new[1], new[2]}),
        ({"community": "东社区"}, {new[0], new[1]}),
        ({"zone": b}, {new[1], new[2]}),
        ({"zone": b, "community": "东社区", "unit": "乙单位"}, {new[1]}),
    ]
    for params, want in cases:
        tile = get_tile(client, "issues", z, x, y, **params)
        assert ids(tile, "issues") == want, params
        geojson = client.get("/api/issues.geojson", params=params).json()
        assert {f["properties"]["id"] for f in geojson["features"]} == want
        # the cells of a low zoom and the heatmap count the same issues
        cells = get_tile(client, "issues", 10, *tile_of(121.475, 31.235, 10), **params)
        assert sum(c["properties"]["count"] for c in cells.get("issue_cells", [])) == len(want), \
            params
        heat = client.get("/api/heatmap", params={**params, "zoom": 10}).json()
        assert heat["total"] == len(want), params
    first = next(f for f in get_tile(client, "issues", z, x, y)["issues"] if f["id"] == new[0])
    assert first["properties"] == {"id": new[0], "category": "litter", "status": "reported",
                                   "overdue": True}
    assert first["type"] == 1  # POINT


def test_issue_cells_at_low_zoom_sum_to_the_filtered_total(
        client: TestClient, store: Store) -> None:
    rows = []
    for i in range(400):  # a 0.3 x 0.2 degree area: crosses tile edges at every zoom used
        lon = 121.30 + (i * 37 % 400) / 400 * 0.3
        lat = 31.10 + (i * 91 % 400) / 400 * 0.2
        rows.append(Issue("litter" if i % 3 else "graffiti", lon, lat,
                          status="reported" if i % 2 else "closed"))
    store.add_issues(rows)
    extent = (121.29, 31.09, 121.61, 31.31)
    for params in ({}, {"category": "litter"}, {"category": "litter", "status": "closed"}):
        total = client.get("/api/issues", params={**params, "page_size": 1}).json()["total"]
        assert 0 < total <= 400
        for z in (7, 10, 12, 13):
            count = 0
            for x, y in tiles_covering(extent, z):
                tile = get_tile(client, "issues", z, x, y, **params)
                assert "issues" not in tile  # never points below zoom 14
                for cell in tile.get("issue_cells", []):
                    assert cell["id"] is None and cell["type"] == 1
                    assert cell["properties"]["cell_deg"] > 0
                    count += cell["properties"]["count"]
            assert count == total, (params, z)


def test_a_cell_by_a_tile_edge_is_drawn_on_each_tile_its_circle_reaches(
        client: TestClient, store: Store) -> None:
    """A cell's circle, up to 0.42 of a cell across (static/js/tilestyles.js), crosses into
    the tiles next to it: each tile also holds, as `issue_cells_edge`, the cells of the ring
    around it, exactly as the neighbour that owns each holds it (place and count), so a map
    draws the whole circle and counts it once."""
    step = 0.0005
    store.add_issues([Issue("litter", 121.40 + i * step * 3 + step / 2,
                            31.20 + j * step * 3 + step / 2, status="reported")
                      for i in range(40) for j in range(40) if (i * 7 + j * 3) % 5])
    extent = (121.40, 31.20, 121.46, 31.26)
    for z, params in ((11, {}), (12, {}), (13, {"status": "reported"})):
        owned: dict[tuple[int, int], int] = {}  # a cell's centre in the zoom's units: count
        edges: dict[tuple[int, int], dict[tuple[int, int], int]] = {}
        width = 0.0
        for x, y in tiles_covering(extent, z):
            tile = get_tile(client, "issues", z, x, y, **params)
            for cell in tile.get("issue_cells", []):
                (ux, uy), = cell["parts"][0]
                assert 0 <= ux <= 4096 and 0 <= uy <= 4096
                owned[(x * 4096 + ux, y * 4096 + uy)] = cell["properties"]["count"]
                width = cell["properties"]["cell_deg"] / 360 * 2 ** z * 4096
            edges[(x, y)] = {}
            for cell in tile.get("issue_cells_edge", []):
                (ux, uy), = cell["parts"][0]
                assert not (0 < ux < 4096 and 0 < uy < 4096), "an edge cell outside the tile"
                assert max(-ux, -uy, ux - 4096, uy - 4096) <= 1.01 * width + 1
                edges[(x, y)][(x * 4096 + ux, y * 4096 + uy)] = cell["properties"]["count"]
        assert owned and width > 0
        for (x, y), ring in edges.items():
            # the ring's cells are the neighbours' own, as they hold them
            assert ring.items() <= owned.items(), (z, x, y)
            # and every cell whose circle reaches into the tile is there or the tile's own
            box = (x * 4096, y * 4096, (x + 1) * 4096, (y + 1) * 4096)
            for (gx, gy), n in owned.items():
                inside = box[0] <= gx < box[2] and box[1] <= gy < box[3]
                dx = max(box[0] - gx, 0, gx - box[2])
                dy = max(box[1] - gy, 0, gy - box[3])
                if not inside and math.hypot(dx, dy) < 0.42 * width:
                    assert ring.get((gx, gy)) == n, (z, x, y, gx, gy)
        assert any(edges.values()), "no cell near a tile edge: the test shows nothing"


def test_dense_issue_cells_are_bubbles_a_count_can_be_read_in(
        client: TestClient, store: Store) -> None:
    """Where every 50 m base cell holds an issue (a city's million), a cell tile's cells are
    about a marker cluster wide on screen (45-90 pixels), so each count has room; not a dot
    every 10 pixels."""
    step = 0.0005
    store.add_issues([Issue("litter", 121.40 + i * step + step / 2, 31.20 + j * step + step / 2)
                      for i in range(60) for j in range(60)])
    extent = (121.40, 31.20, 121.43, 31.23)
    for z in (11, 12, 13):
        cells = [c for x, y in tiles_covering(extent, z)
                 for c in get_tile(client, "issues", z, x, y).get("issue_cells", [])]
        assert sum(c["properties"]["count"] for c in cells) == 3600
        for cell in cells:
            px = cell["properties"]["cell_deg"] / 360 * 256 * 2 ** z
            assert 45 <= px <= 90, (z, px)
        # as many cells as the area's width in cells, squared (one or two more a side where
        # the grid's cells cross the area's edges)
        side = 0.03 / cells[0]["properties"]["cell_deg"]
        assert len(cells) <= (math.ceil(side) + 1) ** 2, z


def test_512_pixel_issue_tiles_hold_the_next_zooms_cells_and_points(
        client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import geo.store.sql

    rows = [Issue("litter", 121.30 + (i * 37 % 300) / 300 * 0.3,
                  31.10 + (i * 91 % 300) / 300 * 0.2) for i in range(300)]
    added = set(store.add_issues(rows))
    extent = (121.29, 31.09, 121.61, 31.31)

    def cells(tile: dict[str, list[dict[str, Any]]]) -> list[tuple[int, float]]:
        assert "issues" not in tile
        return [(c["properties"]["count"], c["properties"]["cell_deg"])
                for c in tile.get("issue_cells", [])]

    for z in (9, 12):  # a 512-pixel tile of zoom z is drawn at z + 1: that zoom's cells
        big = [c for x, y in tiles_covering(extent, z)
               for c in cells(get_tile(client, "issues", z, x, y, size=512))]
        small = [c for x, y in tiles_covering(extent, z + 1)
                 for c in cells(get_tile(client, "issues", z + 1, x, y))]
        assert sorted(big) == sorted(small) and sum(n for n, _ in big) == 300, z
    # drawn at zoom 14, a 512-pixel tile of zoom 13 holds the points themselves
    points: set[int] = set()
    for x, y in tiles_covering(extent, 13):
        tile = get_tile(client, "issues", 13, x, y, size=512)
        assert "issue_cells" not in tile
        points |= ids(tile, "issues")
    assert points == added
    # as many points per square pixel: 4 x MAX_TILE_POINTS in a 512-pixel tile, then cells
    x, y = tile_of(121.45, 31.2, 13)
    n = len(ids(get_tile(client, "issues", 13, x, y, size=512), "issues"))
    assert n > 4
    # (each time with a filter that matches every issue, so the tile is built, not cached)
    monkeypatch.setattr(geo.store.sql, "MAX_TILE_POINTS", (n + 3) // 4)
    assert ids(get_tile(client, "issues", 13, x, y, size=512, category="litter"), "issues")
    monkeypatch.setattr(geo.store.sql, "MAX_TILE_POINTS", (n - 1) // 4)
    assert set(get_tile(client, "issues", 13, x, y, size=512,
                        status="reported")) - {"issue_cells_edge"} == {"issue_cells"}


def test_dense_tiles_fall_back_to_cells(client: TestClient, store: Store,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import geo.store.sql

    store.add_issues([Issue("litter", 121.475 + i * 1e-5, 31.235) for i in range(8)])
    x, y = tile_of(121.475, 31.235, 15)
    assert len(ids(get_tile(client, "issues", 15, x, y), "issues")) == 8
    monkeypatch.setattr(geo.store.sql, "MAX_TILE_POINTS", 5)
    store.add_issues([Issue("litter", 121.4751, 31.2351)])  # a new version: not cached
    tile = get_tile(client, "issues", 15, x, y)
    assert set(tile) - {"issue_cells_edge"} == {"issue_cells"}
    assert sum(c["properties"]["count"] for c in tile["issue_cells"]) == 9
    # close up (CLOSE_ZOOM) a tile holds 4 x as many points: a block's issues stay clickable
    x, y = tile_of(121.475, 31.235, 16)
    assert len(ids(get_tile(client, "issues", 16, x, y), "issues")) == 9


def test_a_street_level_tile_by_a_dense_one_keeps_its_points(
        client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tile surely too dense for points is known from the counts kept per 4 x 4 base cells
    (0037) without reading its points; a block of them that reaches over the tile's edge does
    not count for it: a few points beside a dense neighbour stay points, and a tile with twice
    the limit inside it is cells."""
    import geo.store.sql

    monkeypatch.setattr(geo.store.sql, "MAX_TILE_POINTS", 5)
    x, y = tile_of(121.475, 31.235, 15)
    west, south, east, north = Tile(15, x, y).lonlat_bounds()
    mid = (south + north) / 2
    # 4 issues in the tile, 30 just past its east edge (their 200 m blocks straddle it)
    store.add_issues([Issue("litter", west + (east - west) * (0.2 + 0.1 * i), mid)
                      for i in range(4)]
                     + [Issue("litter", east + 0.0004 + i * 1e-6, mid) for i in range(30)])
    assert len(ids(get_tile(client, "issues", 15, x, y), "issues")) == 4
    store.add_issues([Issue("litter", (west + east) / 2 + i * 1e-6, mid) for i in range(11)])
    tile = get_tile(client, "issues", 15, x, y)
    assert "issues" not in tile
    assert sum(c["properties"]["count"] for c in tile["issue_cells"]) == 15


def test_etag_304_and_new_etag_after_each_write(client: TestClient, store: Store) -> None:
    z = 16
    x, y = tile_of(121.475, 31.235, z)
    url = f"/api/tiles/street/{z}/{x}/{y}.mvt"
    (sid,) = store.add_features([Feature(Kind.street, LineString([(121.47, 31.235),
                                                                  (121.48, 31.235)]))])
    first = client.get(url)
    tag = first.headers["etag"]
    assert first.headers["cache-control"] == "private, max-age=0, must-revalidate"
    again = client.get(url, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == tag
    zone_url = f"/api/tiles/zone/{z}/{x}/{y}.mvt"
    zone_tag = client.get(zone_url).headers["etag"]
    issues_url = f"/api/tiles/issues/{z}/{x}/{y}.mvt"
    issues_tag = client.get(issues_url).headers["etag"]
    # each write changes its own layer's ETag (and the tile), not the others'
    feature = store.feature(sid)
    feature.name = "改名路"
    store.save_feature(feature, "test", "update")
    changed = client.get(url, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    assert get_tile(client, "street", z, x, y)["street"][0]["properties"]["name"] == "改名路"
    assert client.get(zone_url, headers={"If-None-Match": zone_tag}).status_code == 304
    assert client.get(issues_url, headers={"If-None-Match": issues_tag}).status_code == 304
    steps = [
        lambda: store.add_features([Feature(Kind.street, LineString([(121.471, 31.236),
                                                                     (121.479, 31.236)]))]),
        lambda: store.delete_feature(sid, "test"),
    ]
    for step in steps:
        tag = client.get(url).headers["etag"]
        step()
        assert client.get(url, headers={"If-None-Match": tag}).status_code == 200
    tag = client.get(url).headers["etag"]
    store.clear()  # users too: log in again
    add_user(store, "testadmin2", "admin")
    client.headers.update(bearer(client, "testadmin2"))
    cleared = client.get(url, headers={"If-None-Match": tag})
    assert cleared.status_code == 200 and cleared.content == b""
    # issue writes: creation, update, transition, routing
    (iid,) = store.add_issues([Issue("litter", 121.475, 31.235)])
    issue_writes = [
        lambda: store.update_issue(iid, {"description": "x"}, store.issue(iid).version, "t"),
        lambda: client.post(f"/api/issues/{iid}/transitions",
                            json={"to": "accepted", "version": store.issue(iid).version}),
        lambda: store.update_routes([store.issue(iid)], "t"),
        lambda: store.add_issues([Issue("litter", 121.4751, 31.2351)]),
    ]
    for step in issue_writes:
        tag = client.get(issues_url).headers["etag"]
        assert client.get(issues_url, headers={"If-None-Match": tag}).status_code == 304
        step()
        assert client.get(issues_url, headers={"If-None-Match": tag}).status_code == 200
    statuses = {f["properties"]["status"] for f in get_tile(client, "issues", z, x, y)["issues"]}
    assert statuses == {"accepted", "reported"}


def test_a_case_written_elsewhere_keeps_an_issue_tiles_etag_and_cache(
        client: TestClient, store: Store) -> None:
    """A centre writes a case every few seconds: an issue tile keeps its ETag (and is served
    from the cache) while cases elsewhere change, and shows a change in it at once; a tile
    holding both places changes too."""
    here, far = (121.475, 31.235), (121.60, 31.10)  # about 19 km apart
    (a,) = store.add_issues([Issue("litter", *here)])
    (b,) = store.add_issues([Issue("litter", *far)])
    assert tile_of(*here, 8) == tile_of(*far, 8)
    url = "/api/tiles/issues/{}/{}/{}.mvt".format(16, *tile_of(*here, 16))
    wide = "/api/tiles/issues/{}/{}/{}.mvt".format(8, *tile_of(*here, 8))
    tag, wide_tag = client.get(url).headers["etag"], client.get(wide).headers["etag"]
    client.post(f"/api/issues/{b}/transitions",
                json={"to": "accepted", "version": store.issue(b).version})
    assert client.get(url, headers={"If-None-Match": tag}).status_code == 304
    again = client.get(url)
    assert again.headers["etag"] == tag and again.headers["x-tile-cache"] == "hit-memory"
    assert client.get(wide, headers={"If-None-Match": wide_tag}).status_code == 200
    client.post(f"/api/issues/{a}/transitions",
                json={"to": "accepted", "version": store.issue(a).version})
    changed = client.get(url, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["x-tile-cache"] == "miss"
    z, x, y = 16, *tile_of(*here, 16)
    assert [f["properties"]["status"] for f in get_tile(client, "issues", z, x, y)["issues"]
            ] == ["accepted"]


def test_unfiltered_cell_tiles_hold_what_the_issues_counted_one_by_one_hold(
        client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's cell tiles (no filter) merge the counts kept per base cell (0021) or, at the
    zooms whose cells are made of 4 x 4, 16 x 16 or 64 x 64 of them, those kept per such block
    (0037): after each kind of write they hold the cells of the issues counted one by one (a
    filter that matches every issue takes that way); the migrations count the issues already
    there."""
    import pandas as pd

    import geo.store.sql
    from geo.store.bulk import WRITE_COLUMNS
    from tests.geo.store.test_issue_partitions import _migrate

    extent = (121.29, 31.09, 121.61, 31.31)
    # street-level tiles draw cells too (as dense ones do): their cells are 8 x 8 base cells
    monkeypatch.setattr(geo.store.sql, "MAX_TILE_POINTS", 0)

    def cells(**params: Any) -> list[tuple[Any, ...]]:
        out = []
        # map zooms 10 (cells of 128 x 128 base cells: read from level 6), 11 (64 x 64:
        # level 6), 13 (16 x 16: level 4) and 14 (8 x 8: level 2)
        for z in (9, 10, 12, 13):
            for x, y in tiles_covering(extent, z):
                tile = get_tile(client, "issues", z, x, y, size=512, **params)
                out += sorted((z, x, y, layer, str(c["parts"]), c["properties"]["count"])
                              for layer in ("issue_cells", "issue_cells_edge")
                              for c in tile.get(layer, []))
        return out

    def agree() -> int:
        kept, counted = cells(), cells(category=["litter", "graffiti"])
        assert kept == counted
        own = [c for c in kept if c[3] == "issue_cells"]
        assert sum(c[-1] for c in own if c[0] == 13) == sum(c[-1] for c in own if c[0] == 12)
        return sum(c[-1] for c in own if c[0] == 12)

    store.add_issues([Issue("litter", 121.30 + (i * 37 % 300) / 1000,
                            31.10 + (i * 91 % 300) / 1500) for i in range(300)])
    assert agree() == 300
    row = asdict(Issue("graffiti", 121.45, 31.2, reported_at=datetime(2026, 11, 2, 9)))
    store.write_issue_columns(pd.DataFrame([{k: row[k] for k in WRITE_COLUMNS}] * 3), "t")
    assert agree() == 303
    (iid,) = store.add_issues([Issue("litter", 121.5, 31.25)])
    store.update_issue(iid, {"description": "x"}, store.issue(iid).version, "t")
    assert agree() == 304
    try:  # a database migrated to 0021 counts the issues it holds
        _migrate(store, "0020", down=True)
        _migrate(store, "head", down=False)
        assert agree() == 304
    finally:
        store.migrate()  # type: ignore[attr-defined]
    store.clear()
    add_user(store, "testadmin3", "admin")
    client.headers.update(bearer(client, "testadmin3"))
    assert agree() == 0


def test_a_units_cell_tiles_hold_what_its_issues_counted_one_by_one_hold(
        client: TestClient, store: Store) -> None:
    """A unit's cell tiles (a unit user's every tile, or the 责任单位 filter alone) merge the
    counts kept per unit and base cell (0035): after each kind of write that adds issues or
    changes their unit they hold the cells of the unit's issues counted one by one (a category
    filter that matches every issue takes that way); the migration counts the issues there."""
    import pandas as pd

    from geo.model.records import IssueRoute
    from geo.store.bulk import WRITE_COLUMNS
    from tests.geo.store.test_issue_partitions import _migrate

    extent = (121.29, 31.09, 121.61, 31.31)

    def cells(units: list[str], **params: Any) -> list[tuple[Any, ...]]:
        out = []
        for z in (9, 12):
            for x, y in tiles_covering(extent, z):
                tile = get_tile(client, "issues", z, x, y, size=512, unit=units, **params)
                out += sorted((z, x, y, str(c["parts"]), c["properties"]["count"])
                              for c in tile.get("issue_cells", []))
        return out

    def agree(*units: str) -> int:
        kept, counted = cells(list(units)), cells(list(units), category=["litter", "graffiti"])
        assert kept == counted
        return sum(c[-1] for c in kept if c[0] == 12)

    owners = ["城管局", "环卫所", None]
    ids = store.add_issues([Issue("litter", 121.30 + (i * 37 % 300) / 1000,
                                  31.10 + (i * 91 % 300) / 1500, unit=owners[i % 3])
                            for i in range(300)])
    assert (agree("城管局"), agree("环卫所"), agree("城管局", "环卫所")) == (100, 100, 200)
    row = asdict(Issue("graffiti", 121.45, 31.2, reported_at=datetime(2026, 11, 2, 9),
                       unit="环卫所"))
    store.write_issue_columns(pd.DataFrame([{k: row[k] for k in WRITE_COLUMNS}] * 3), "t")
    assert (agree("城管局"), agree("环卫所")) == (100, 103)
    store.update_issue(ids[0], {"unit": "环卫所"}, store.issue(ids[0]).version, "t")
    store.update_issue(ids[2], {"unit": "城管局"}, store.issue(ids[2]).version, "t")  # had none
    assert (agree("城管局"), agree("环卫所")) == (100, 104)
    moved = [store.issue(i) for i in ids[3:30]]  # a re-route: 9 of each unit and 9 of none
    store.update_routes([IssueRoute(i.id or 0, i.lon, i.lat, unit="城管局" if i.unit else None,
                                    reported_at=i.reported_at) for i in moved], "t")
    assert (agree("城管局"), agree("环卫所")) == (109, 95)
    try:  # a database migrated to 0035 counts the issues it holds
        _migrate(store, "0034", down=True)
        _migrate(store, "head", down=False)
        assert (agree("城管局"), agree("环卫所")) == (109, 95)
    finally:
        store.migrate()  # type: ignore[attr-defined]
    # a unit's own user: every tile of its unit, and nothing of another unit's filter
    filtered = cells(["城管局"])
    add_user(store, "chengguan", "unit", unit="城管局")
    client.headers.update(bearer(client, "chengguan"))
    assert cells([]) == filtered and cells(["环卫所"]) == []
    store.clear()
    add_user(store, "testadmin3", "admin")
    client.headers.update(bearer(client, "testadmin3"))
    assert agree("城管局") == 0


def _clock_at(client: TestClient, monkeypatch: pytest.MonkeyPatch, when: datetime) -> None:
    """Serve the issue filters of every request as if it were `when` (their IssueQuery.now)."""
    @functools.wraps(issue_filters)  # the same parameters, read by FastAPI
    async def filters_at(*args: Any, **kwargs: Any) -> IssueQuery:
        return replace(await issue_filters(*args, **kwargs), now=when)

    monkeypatch.setitem(client.app.dependency_overrides,  # type: ignore[attr-defined]
                        issue_filters, filters_at)


def test_issue_tiles_keep_their_etag_until_a_deadline_in_them_passes(
        client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A browser revalidating an issue tile keeps its copy (304) as the clock moves on, until an
    open issue in the tile passes its deadline (it becomes overdue without any write) or an
    issue changes; deadlines elsewhere, of handled issues, or filtered out do not count, nor
    do any in points that do not carry `overdue` (the page's, fields=issues:status)."""
    t0 = datetime.now().replace(microsecond=0)
    first, second, closed, _far, other_category = store.add_issues([
        Issue("litter", 121.475, 31.235, deadline=t0 + timedelta(hours=2)),
        Issue("litter", 121.4752, 31.2352, deadline=t0 + timedelta(hours=5)),
        Issue("litter", 121.4754, 31.2354, status="closed", deadline=t0 + timedelta(minutes=30)),
        Issue("litter", 121.49, 31.235, deadline=t0 + timedelta(hours=1)),  # another z16 tile
        Issue("graffiti", 121.4756, 31.2356, deadline=t0 + timedelta(minutes=45)),
    ])
    points = tile_of(121.475, 31.235, 16)
    assert tile_of(121.49, 31.235, 16) != points
    cells = tile_of(121.475, 31.235, 10)
    assert tile_of(121.49, 31.235, 10) == cells
    urls = {"points": "/api/tiles/issues/16/{}/{}.mvt".format(*points),
            "litter points": "/api/tiles/issues/16/{}/{}.mvt?category=litter".format(*points),
            "overdue points": "/api/tiles/issues/16/{}/{}.mvt?overdue=true".format(*points),
            "cells": "/api/tiles/issues/10/{}/{}.mvt".format(*cells),
            "status points": "/api/tiles/issues/16/{}/{}.mvt?fields=issues:status".format(
                *points),
            "overdue cells": "/api/tiles/issues/10/{}/{}.mvt?overdue=true".format(*cells)}

    def at(when: datetime) -> dict[str, str]:
        """Each tile's ETag at that time."""
        _clock_at(client, monkeypatch, when)
        return {name: client.get(url).headers["etag"] for name, url in urls.items()}

    def overdue(when: datetime) -> dict[int, bool]:
        """The `overdue` of each issue point in the tile at that time."""
        _clock_at(client, monkeypatch, when)
        return {f["id"]: f["properties"]["overdue"]
                for f in get_tile(client, "issues", 16, *points)["issues"]}

    def overdue_count(when: datetime) -> int:
        """The overdue issues the overdue-filtered cell tile counts at that time."""
        _clock_at(client, monkeypatch, when)
        tile = get_tile(client, "issues", 10, *cells, overdue="true")
        return sum(c["properties"]["count"] for c in tile.get("issue_cells", []))

    tags = at(t0)
    assert overdue(t0) == {first: False, second: False, closed: False, other_category: False}
    # the closed issue's, the graffiti's and the far issue's deadlines pass: only the tiles
    # that read the graffiti or the far issue change
    later = at(t0 + timedelta(minutes=90))
    assert [n for n in urls if later[n] != tags[n]] == ["points", "overdue points",
                                                        "overdue cells"]
    _clock_at(client, monkeypatch, t0 + timedelta(minutes=90))
    for name in ("litter points", "cells"):
        assert client.get(urls[name], headers={"If-None-Match": tags[name]}).status_code == 304
    assert overdue(t0 + timedelta(minutes=90)) == {first: False, second: False, closed: False,
                                                   other_category: True}
    assert overdue_count(t0 + timedelta(minutes=90)) == 2  # the graffiti and the far issue
    # up to the first litter issue's deadline itself (overdue is deadline < now) nothing changes
    assert at(t0 + timedelta(hours=2)) == later
    _clock_at(client, monkeypatch, t0 + timedelta(hours=2))
    for name, tag in later.items():
        assert client.get(urls[name], headers={"If-None-Match": tag}).status_code == 304
    # a microsecond after it, the point tiles and the overdue cells change, the cells do not
    past = t0 + timedelta(hours=2, microseconds=1)
    after = at(past)
    assert [n for n in urls if after[n] == later[n]] == ["cells", "status points"]
    _clock_at(client, monkeypatch, past)
    for name in ("points", "litter points", "overdue points", "overdue cells"):
        r = client.get(urls[name], headers={"If-None-Match": later[name]})
        assert r.status_code == 200 and r.headers["etag"] == after[name]
    assert overdue(past) == {first: True, second: False, closed: False, other_category: True}
    assert ids(get_tile(client, "issues", 16, *points, overdue="true"), "issues") == {
        first, other_category}
    assert overdue_count(past) == 3
    # and then nothing until the second's deadline
    assert at(t0 + timedelta(hours=4)) == after
    # a write still changes the ETag, the clock standing still
    _clock_at(client, monkeypatch, t0 + timedelta(hours=4))
    store.update_issue(second, {"description": "x"}, store.issue(second).version, "t")
    for name, tag in after.items():
        assert client.get(urls[name], headers={"If-None-Match": tag}).status_code == 200
    # once every deadline has passed, the tiles hold until the next write
    final = at(t0 + timedelta(days=1))
    assert at(t0 + timedelta(days=30)) == final
    assert overdue(t0 + timedelta(days=30)) == {first: True, second: True, closed: False,
                                                other_category: True}


def test_issue_tile_valid_until_reads_the_tiles_area_and_filters(store: Store) -> None:
    """The store's next deadline of a tile: of its open issues in its points' area (buffer
    included) or, filtered by overdue, its cells' area; None for cells without that filter."""
    from geo.tiling.tiles import Tile

    t0 = datetime.now().replace(microsecond=0)
    z = 16
    x, y = tile_of(121.475, 31.235, z)
    tile = Tile(z, x, y)
    # just east of the tile's east edge, inside its buffer (64 of 4096 units)
    east = (x + 1 + 32 / 4096) / 2 ** z * 360 - 180
    store.add_issues([
        Issue("litter", 121.475, 31.235, deadline=t0 + timedelta(hours=3)),
        Issue("litter", east, 31.235, deadline=t0 + timedelta(hours=2)),
        Issue("litter", 121.475, 31.235, status="dispatched", deadline=t0),
        Issue("graffiti", 121.475, 31.235, status="rejected", deadline=t0 + timedelta(hours=1)),
    ])
    assert tile_of(east, 31.235, z) == (x + 1, y)
    at = IssueQuery(now=t0 - timedelta(seconds=1))
    assert store.issue_tile_valid_until(at, tile) == t0
    assert store.issue_tile_valid_until(replace(at, now=t0), tile) == t0
    later = replace(at, now=t0 + timedelta(seconds=1))
    assert store.issue_tile_valid_until(later, tile) == t0 + timedelta(hours=2)
    assert store.issue_tile_valid_until(replace(later, overdue=True), tile) == t0 + timedelta(
        hours=2)
    assert store.issue_tile_valid_until(replace(later, categories=["graffiti"]), tile) is None
    assert store.issue_tile_valid_until(replace(later, now=t0 + timedelta(hours=3)), tile) == (
        t0 + timedelta(hours=3))
    assert store.issue_tile_valid_until(replace(later, now=t0 + timedelta(days=1)), tile) is None
    low = Tile(10, *tile_of(121.475, 31.235, 10))
    assert store.issue_tile_valid_until(later, low) is None
    assert store.issue_tile_valid_until(replace(later, overdue=False), low) == t0 + timedelta(
        hours=2)


def _open_deadline_index(store: Store) -> tuple[bool, int, int]:
    """Whether ix_issues_open_deadline exists; on PostgreSQL also how many partitions of issues
    have it attached, and how many partitions there are (0, 0 on SQLite)."""
    engine = store.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return bool(conn.execute(text("SELECT 1 FROM sqlite_master WHERE type = 'index' "
                                          "AND name = 'ix_issues_open_deadline'")).first()), 0, 0
        index = conn.execute(text("SELECT to_regclass('ix_issues_open_deadline')")).scalar()
        attached = conn.execute(text("SELECT count(*) FROM pg_inherits WHERE inhparent = "
                                     "to_regclass('ix_issues_open_deadline')")).scalar_one()
        parts = conn.execute(text("SELECT count(*) FROM pg_inherits "
                                  "WHERE inhparent = 'issues'::regclass")).scalar_one()
        return index is not None, int(attached), int(parts)


def test_the_next_deadline_index_is_made_and_dropped_by_its_migration(store: Store) -> None:
    """Migration 0017's partial index of open issues by deadline (on PostGIS on every month
    partition) serves issue_tile_valid_until with the same answers; its downgrade drops it."""
    from geo.tiling.tiles import Tile
    from tests.geo.store.test_issue_partitions import _migrate

    t0 = datetime.now().replace(microsecond=0)
    z = 16
    tile = Tile(z, *tile_of(121.475, 31.235, z))
    store.add_issues([
        Issue("litter", 121.475, 31.235, reported_at=t0 - timedelta(days=70),
              deadline=t0 + timedelta(hours=5)),  # an older month, a deadline moved on
        Issue("litter", 121.475, 31.235, reported_at=t0, deadline=t0 + timedelta(hours=3)),
        Issue("litter", 121.475, 31.235, reported_at=t0, status="handled",
              deadline=t0 + timedelta(hours=1)),  # not open: it never becomes overdue
        Issue("litter", 121.6, 31.3, reported_at=t0, deadline=t0 + timedelta(hours=2)),
    ])
    at = IssueQuery(now=t0)
    cells = Tile(10, *tile_of(121.475, 31.235, 10))
    answers = [(at, tile, t0 + timedelta(hours=3)),
               (replace(at, now=t0 + timedelta(hours=4)), tile, t0 + timedelta(hours=5)),
               (replace(at, now=t0 + timedelta(hours=6)), tile, None),
               (replace(at, overdue=False), cells, t0 + timedelta(hours=2))]
    for query, where, until in answers:
        assert store.issue_tile_valid_until(query, where) == until
    made, attached, parts = _open_deadline_index(store)
    assert made and attached == parts
    if store.postgis:  # type: ignore[attr-defined]
        assert parts >= 3  # two months and the DEFAULT partition at least
    try:
        _migrate(store, "0016", down=True)
        assert _open_deadline_index(store)[:2] == (False, 0)
        _migrate(store, "head", down=False)
    finally:
        store.migrate()  # type: ignore[attr-defined]  # head again whatever happened
    made, attached, parts = _open_deadline_index(store)
    assert made and attached == parts
    for query, where, until in answers:
        assert store.issue_tile_valid_until(query, where) == until


def _check_migrated_tiles_start_at_the_layers_version(
        store: Store, before: str, layer: str, versions: Callable[[], dict[Any, int]]) -> None:
    """A database migrated from revision `before` (which knew no blocks of `layer`), written
    there, gives every tile of the layer the layer's version."""
    from tests.geo.store.test_issue_partitions import _migrate

    try:
        _migrate(store, before, down=True)
        with store.engine.begin() as conn:  # type: ignore[attr-defined]  # a write back then
            conn.execute(text("UPDATE layer_versions SET version = version + 5 "
                              "WHERE layer = :layer"), {"layer": layer})
        _migrate(store, "head", down=False)
        version = store.layer_version(layer)
        assert all(v == version for v in versions().values())
    finally:
        store.migrate()  # type: ignore[attr-defined]


def test_an_issue_write_changes_the_version_of_the_tiles_around_it_only(store: Store) -> None:
    """A city's centre writes a case every few seconds: each write changes the version (so the
    ETag) of the issue tiles that may show that issue, at every zoom, and no other tile's;
    clearing the store changes them all; a migrated database starts at the layer's version."""
    import pandas as pd

    from geo.store.bulk import WRITE_COLUMNS
    from geo.tiling.tiles import Tile

    here, far = (121.475, 31.235), (121.60, 31.10)  # about 19 km apart
    (a,) = store.add_issues([Issue("litter", *here)])
    store.add_issues([Issue("litter", *far)])

    def at(lon: float, lat: float, z: int, px: int = 512) -> Tile:
        return Tile(z, *tile_of(lon, lat, z), px)

    near = [at(*here, 15), at(*here, 12, 256), at(121.4752, 31.2352, 16), at(*here, 7)]
    away = [at(*far, 15), at(*far, 12, 256)]

    def versions() -> dict[Tile, int]:
        return {t: store.layer_versions(["street", "issues"], t)["issues"] for t in near + away}

    def ledger_import() -> None:  # the streamed import's write (columns, COPY on PostGIS)
        row = asdict(Issue("litter", 121.4751, 31.2349, reported_at=datetime(2026, 11, 2, 9)))
        store.write_issue_columns(pd.DataFrame([{k: row[k] for k in WRITE_COLUMNS}]), "t")

    writes = [
        lambda: store.update_issue(a, {"description": "x"}, store.issue(a).version, "t"),
        lambda: store.update_routes([store.issue(a)], "t"),
        lambda: store.add_issues([Issue("litter", 121.4753, 31.2347)]),
        ledger_import,
    ]
    for write in writes:
        before, layer = versions(), store.layer_version("issues")
        write()
        after = versions()
        assert store.layer_version("issues") > layer  # GeoJSON ETags follow every write
        assert all(after[t] > before[t] for t in near)
        assert all(after[t] == before[t] for t in away)
    before = versions()
    store.clear()
    after = versions()
    assert all(after[t] > before[t] for t in near + away)
    _check_migrated_tiles_start_at_the_layers_version(store, "0018", "issues", versions)


def test_a_feature_edit_changes_the_version_of_the_tiles_around_it_only(store: Store) -> None:
    """A planner edits a zone: the zone tiles that may show it, before and after, get a new
    version (so ETag and cache key), at every zoom; the city's other zone tiles and the other
    layers' tiles keep theirs. An import, clearing the store or an edit of a feature as large
    as a city changes them all; a migrated database starts at the layers' versions."""
    from geo.tiling.tiles import Tile

    here, far = (121.475, 31.235), (121.60, 31.10)  # about 19 km apart

    def square(lon: float, lat: float, d: float = 0.002) -> Polygon:
        return Polygon([(lon, lat), (lon + d, lat), (lon + d, lat + d), (lon, lat + d)])

    zone, _, _ = store.add_features([
        Feature(Kind.zone, square(*here), properties={"unit": "甲"}),
        Feature(Kind.zone, square(*far), properties={"unit": "乙"}),
        Feature(Kind.street, LineString([here, (here[0] + 0.003, here[1])]))])

    def at(lon: float, lat: float, z: int, px: int = 512) -> Tile:
        return Tile(z, *tile_of(lon, lat, z), px)

    near = [at(*here, 15), at(*here, 12, 256), at(here[0] + 0.001, here[1] + 0.001, 16),
            at(*here, 7)]
    away = [at(*far, 15), at(*far, 12, 256)]

    def versions(layer: str = "zone") -> dict[Tile, int]:
        return {t: store.layer_versions([layer, "issues"], t)[layer] for t in near + away}

    def edit(**changes: Any) -> None:
        store.save_feature(replace(store.feature(zone), **changes), "t", "update")

    streets = versions("street")
    for write in (lambda: edit(geometry=square(here[0] + 0.0005, here[1])),
                  lambda: edit(properties={"unit": "丙"}),  # a property: the same tiles
                  lambda: store.add_features([Feature(Kind.zone, square(*here, 0.001))]),
                  lambda: store.delete_feature(store.add_features(
                      [Feature(Kind.zone, square(here[0] - 0.001, here[1]))])[0], "t")):
        before, layer = versions(), store.layer_version("zone")
        write()
        after = versions()
        assert store.layer_version("zone") > layer  # GeoJSON ETags follow every write
        assert all(after[t] > before[t] for t in near)
        assert all(after[t] == before[t] for t in away)
    assert versions("street") == streets
    # moved across the city: the tiles where it was and where it is now
    before = versions()
    edit(geometry=square(*far))
    after = versions()
    assert all(after[t] > before[t] for t in near + away)
    # as large as a city (more than MAX_FEATURE_BLOCKS blocks): every zone tile
    for write in (lambda: edit(geometry=square(121.0, 31.0, 0.7)), store.clear):
        before = versions()
        write()
        after = versions()
        assert all(after[t] > before[t] for t in near + away)
    store.add_features([Feature(Kind.zone, square(*here))])
    _check_migrated_tiles_start_at_the_layers_version(store, "0029", "zone", versions)


def test_a_zone_edited_elsewhere_keeps_a_pages_shared_tile_cached(
        client: TestClient, store: Store) -> None:
    """The page's shared tile of several layers keeps its ETag and cache while a planner edits
    a zone 19 km away, and changes with an edit in it."""
    here, far = (121.475, 31.235), (121.60, 31.10)
    square = [(0.0, 0.0), (0.002, 0.0), (0.002, 0.002), (0.0, 0.002)]
    a, b = store.add_features([
        Feature(Kind.zone, Polygon([(here[0] + x, here[1] + y) for x, y in square])),
        Feature(Kind.zone, Polygon([(far[0] + x, far[1] + y) for x, y in square]))])
    url = "/api/tiles/community,zone,street/{}/{}/{}.mvt?size=512&fields=unit".format(
        14, *tile_of(*here, 14))
    tag = client.get(url).headers["etag"]

    def put(zone: int, geometry: Polygon, unit: str) -> None:
        r = client.put(f"/api/zones/{zone}", json={
            "geometry": mapping(geometry), "name": "责任区", "zone_type": "grid", "unit": unit,
            "version": store.feature(zone).version})
        assert r.status_code == 200, r.text

    put(b, Polygon([(far[0] + x + 0.001, far[1] + y) for x, y in square]), "乙单位")
    again = client.get(url, headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert client.get(url).headers["x-tile-cache"] == "hit-memory"
    put(a, store.feature(a).geometry, "甲单位")
    changed = client.get(url, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["x-tile-cache"] == "miss"
    z, x, y = 14, *tile_of(*here, 14)
    units = [f["properties"] for f in get_tile(client, "zone", z, x, y, size=512,
                                                 fields="unit")["zone"]]
    assert units == [{"unit": "甲单位"}]


def test_refused_write_leaves_the_version(store: Store) -> None:
    from geo.model.errors import Conflict

    (sid,) = store.add_features([Feature(Kind.zone, Polygon([(0, 0), (1, 0), (1, 1)]))])
    before = store.layer_version("zone")
    stale = store.feature(sid)
    with pytest.raises(Conflict):
        store.save_feature(stale, "t", "update", expected_version=stale.version + 5)
    assert store.layer_version("zone") == before
    store.save_feature(stale, "t", "update", expected_version=stale.version)
    assert store.layer_version("zone") == before + 1
    # a feature that changes kind bumps both layers
    street_before = store.layer_version("street")
    moved = store.feature(sid)
    moved.kind = Kind.community
    community_before = store.layer_version("community")
    store.save_feature(moved, "t", "update")
    assert store.layer_version("zone") == before + 2
    assert store.layer_version("community") == community_before + 1
    assert store.layer_version("street") == street_before
    # read together (a combined tile's ETag) they are the same versions; unknown layers are 0
    assert store.layer_versions(["zone", "community", "street", "no_such_layer"]) == {
        "zone": before + 2, "community": community_before + 1, "street": street_before,
        "no_such_layer": 0}


def test_bad_tile_requests_are_4xx(client: TestClient) -> None:
    assert client.get("/api/tiles/roads/10/0/0.mvt").status_code == 404
    assert "未知瓦片图层" in client.get("/api/tiles/roads/10/0/0.mvt").json()["detail"]
    assert client.get("/api/tiles/street/23/0/0.mvt").status_code == 422
    assert client.get("/api/tiles/street/-1/0/0.mvt").status_code == 422
    assert client.get("/api/tiles/street/2/4/0.mvt").status_code == 404
    assert client.get("/api/tiles/street/2/0/4.mvt").status_code == 404
    assert client.get("/api/tiles/street/2/0/a.mvt").status_code == 422
    assert client.get(f"/api/tiles/street/0/{2**40}/0.mvt").status_code == 422
    assert client.get("/api/tiles/street/2/0/0.mvt", params={"category": "litter"}
                      ).status_code == 400
    assert client.get("/api/tiles/issues/2/0/0.mvt", params={"properties": '{"a": 1}'}
                      ).status_code == 400
    assert client.get("/api/tiles/street/2/0/0.mvt", params={"properties": "[1]"}
                      ).status_code == 400
    assert client.get("/api/tiles/issues/2/0/0.mvt", params={"overdue": "maybe"}
                      ).status_code == 422
    assert client.get("/api/tiles/street/2/3/3.mvt").status_code == 200


def test_large_tiles_are_gzipped_once_and_plain_on_request(
        client: TestClient, store: Store) -> None:
    store.add_features([Feature(Kind.street, LineString([(121.47, 31.23 + i * 1e-4),
                                                         (121.48, 31.2301 + i * 1e-4)]),
                                name=f"路{i}") for i in range(100)])
    x, y = tile_of(121.475, 31.235, 14)
    url = f"/api/tiles/street/14/{x}/{y}.mvt"
    for _ in range(2):  # encoded, then from the cache
        zipped = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip"
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.content == zipped.content  # httpx decodes the gzipped body
        assert len(decode_independently(plain.content)["street"]) == 100


CITY_LAYERS = ["street", "alley", "market", "test_point", "zone", "community", "subdistrict"]


def test_every_feature_of_every_layer_of_the_reduced_city_is_in_its_tiles(
        city_client: TestClient, reduced_city: ReducedCity) -> None:
    store = open_store(reduced_city.url)
    try:
        counts = store.layer_counts()
        want = {kind: {f.id for f in store.features(Kind(kind))} for kind in CITY_LAYERS}
        issue_ids = {i.id for batch in store.issue_batches() for i in batch}
        total = store.issue_count()
    finally:
        store.close()
    files = {f["kind"]: f["count"] for f in reduced_city.manifest["files"].values()}
    for kind in CITY_LAYERS:  # what the database holds is what the files had
        assert len(want[kind]) == counts[kind] == files[kind] > 0, kind
    assert len(issue_ids) == total == files["issues"]
    # z14: the first zoom that leaves nothing out for being small
    for kind in CITY_LAYERS:
        seen: set[int] = set()
        for x, y in tiles_covering(reduced_city.extent, 14):
            seen |= ids(get_tile(city_client, kind, 14, x, y), kind)
        assert seen == want[kind], kind
    # issues: single points at street level, every one of them in some tile
    seen = set()
    for x, y in tiles_covering(reduced_city.extent, 17):
        tile = get_tile(city_client, "issues", 17, x, y)
        assert "issue_cells" not in tile  # few enough per tile at z17 for points
        seen |= ids(tile, "issues")
    assert seen == issue_ids
    # cells at city zoom: their counts add up to every issue, at each zoom
    for z in (10, 12, 13):
        cells = [c for x, y in tiles_covering(reduced_city.extent, z)
                 for c in get_tile(city_client, "issues", z, x, y).get("issue_cells", [])]
        assert sum(c["properties"]["count"] for c in cells) == total, z


# --- tiles of several layers at once (the map page asks for one per z/x/y) -----------------
BASE_LAYERS = ["subdistrict", "community", "zone", "street", "alley", "market", "test_point"]


def test_combined_tile_holds_each_layers_tile_in_order(
        city_client: TestClient, reduced_city: ReducedCity) -> None:
    combo = ",".join([*BASE_LAYERS, "issues"])
    west, south, east, north = reduced_city.extent
    centre = ((west + east) / 2, (south + north) / 2)
    checked = 0
    for z in (12, 14, 16):
        x0, y0 = tile_of(*centre, z)
        for x, y in ((x0, y0), (x0 + 1, y0), (x0, y0 + 1)):
            both = get_tile(city_client, combo, z, x, y)
            r = city_client.get(f"/api/tiles/{combo}/{z}/{x}/{y}.mvt")
            names = [layer.name for layer in _layers(r.content)]
            # every layer's features, decoded from its own tile, and in the order asked for
            expected: dict[str, list[dict[str, Any]]] = {}
            for kind in [*BASE_LAYERS, "issues"]:
                expected.update(get_tile(city_client, kind, z, x, y))
            assert names == list(expected)
            assert both == expected
            checked += sum(len(v) for v in both.values())
    assert checked > 1000
    # a subset in another order: those layers only, in that order
    x, y = tile_of(*centre, 14)
    sub = city_client.get(f"/api/tiles/alley,street/14/{x}/{y}.mvt")
    assert [layer.name for layer in _layers(sub.content)] == ["alley", "street"]


def _layers(data: bytes) -> list[Any]:
    msg = TILE_MESSAGE()
    msg.ParseFromString(data)
    return list(msg.layers)


def test_combined_tile_etag_changes_when_any_one_layer_is_edited(
        client: TestClient, store: Store) -> None:
    z = 16
    x, y = tile_of(121.475, 31.235, z)
    url = f"/api/tiles/community,zone,street,issues/{z}/{x}/{y}.mvt"
    square = [(121.47, 31.23), (121.48, 31.23), (121.48, 31.24), (121.47, 31.24)]
    community, zone, street = store.add_features([
        Feature(Kind.community, Polygon(square), name="社区"),
        Feature(Kind.zone, Polygon(square), name="责任区", properties={"unit": "甲"}),
        Feature(Kind.street, LineString([(121.47, 31.235), (121.48, 31.235)]), name="路")])
    (iid,) = store.add_issues([Issue("litter", 121.475, 31.235)])
    other = f"/api/tiles/alley/{z}/{x}/{y}.mvt"

    def rename(fid: int, name: str) -> None:
        feature = store.feature(fid)
        feature.name = name
        store.save_feature(feature, "test", "update")

    edits = {"community": lambda: rename(community, "新社区"),
             "zone": lambda: rename(zone, "新责任区"),
             "street": lambda: rename(street, "新路"),
             "issues": lambda: store.update_issue(iid, {"description": "x"},
                                                  store.issue(iid).version, "t"),
             "alley (not in the tile)": lambda: store.add_features([Feature(
                 Kind.alley, LineString([(121.471, 31.236), (121.479, 31.236)]))])}
    for what, edit in edits.items():
        tag = client.get(url).headers["etag"]
        assert client.get(url, headers={"If-None-Match": tag}).status_code == 304
        other_tag = client.get(other).headers["etag"]
        edit()
        after = client.get(url, headers={"If-None-Match": tag})
        if what.startswith("alley"):
            assert after.status_code == 304  # the layers it holds did not change
            assert client.get(other, headers={"If-None-Match": other_tag}).status_code == 200
        else:
            assert after.status_code == 200 and after.headers["etag"] != tag, what
    tile = get_tile(client, "community,zone,street,issues", z, x, y)
    assert [f["properties"]["name"] for f in tile["street"]] == ["新路"]
    assert [f["properties"]["name"] for f in tile["zone"]] == ["新责任区"]
    assert [f["properties"]["name"] for f in tile["community"]] == ["新社区"]


def test_combined_tile_keeps_a_unit_users_scope_and_refuses_bad_lists(
        client: TestClient, anon_client: TestClient, store: Store) -> None:
    mine, theirs, street = _two_units_zones_and_a_street(store)
    issues = store.add_issues([Issue("litter", 121.475, 31.235, unit="甲单位"),
                               Issue("litter", 121.4751, 31.2351, unit="乙单位")])
    add_user(store, "jia2", "unit", unit="甲单位")
    h = bearer(client, "jia2")
    z = 16
    x, y = tile_of(121.475, 31.235, z)
    combo = "zone,street,issues"
    admin = get_tile(client, combo, z, x, y)
    unit = get_tile(client, combo, z, x, y, headers=h)
    assert (ids(admin, "zone"), ids(unit, "zone")) == ({mine, theirs}, {mine})
    assert ids(admin, "street") == ids(unit, "street") == {street}
    assert (ids(admin, "issues"), ids(unit, "issues")) == (set(issues), {issues[0]})
    r_admin = client.get(f"/api/tiles/{combo}/{z}/{x}/{y}.mvt")
    assert client.get(f"/api/tiles/{combo}/{z}/{x}/{y}.mvt",
                      headers={**h, "If-None-Match": r_admin.headers["etag"]}).status_code == 200
    # issue filters apply to the issues in it
    filtered = get_tile(client, combo, z, x, y, unit="乙单位")
    assert ids(filtered, "issues") == {issues[1]} and ids(filtered, "zone") == {mine, theirs}
    assert anon_client.get(f"/api/tiles/{combo}/{z}/{x}/{y}.mvt",
                           headers={"Authorization": ""}).status_code == 401
    assert client.get(f"/api/tiles/zone,roads/{z}/{x}/{y}.mvt").status_code == 404
    assert client.get(f"/api/tiles/zone,zone/{z}/{x}/{y}.mvt").status_code == 404
    assert client.get(f"/api/tiles/zone,street/{z}/{x}/{y}.mvt",
                      params={"properties": '{"name": "甲"}'}).status_code == 400
    assert client.get(f"/api/tiles/zone,street/{z}/{x}/{y}.mvt",
                      params={"category": "litter"}).status_code == 400


def test_512_pixel_tiles_hold_what_the_next_zooms_256_pixel_tiles_hold(
        city_client: TestClient, reduced_city: ReducedCity) -> None:
    store = open_store(reduced_city.url)
    try:
        want = {kind: {f.id for f in store.features(Kind(kind))} for kind in BASE_LAYERS}
    finally:
        store.close()
    combo = ",".join(BASE_LAYERS)
    big: dict[str, set[int]] = {k: set() for k in BASE_LAYERS}
    small: dict[str, set[int]] = {k: set() for k in BASE_LAYERS}
    for x, y in tiles_covering(reduced_city.extent, 13):
        tile512 = get_tile(city_client, combo, 13, x, y, size=512)
        tile256 = get_tile(city_client, combo, 13, x, y)
        for kind in BASE_LAYERS:
            big[kind] |= ids(tile512, kind)
            small[kind] |= ids(tile256, kind)
            # the four z14 tiles it stands for: their features are all in it
            quarter = set().union(*(ids(get_tile(city_client, kind, 14, 2 * x + i, 2 * y + j),
                                        kind) for i in (0, 1) for j in (0, 1)))
            assert quarter <= ids(tile512, kind), kind
    # drawn at z14, a z13 tile leaves nothing out for being small; drawn at z13 it does
    assert big == want
    assert any(small[k] < want[k] for k in BASE_LAYERS)
    r = city_client.get(f"/api/tiles/street/13/{x}/{y}.mvt", params={"size": 512})
    assert r.headers["etag"] != city_client.get(f"/api/tiles/street/13/{x}/{y}.mvt"
                                                ).headers["etag"]
    assert city_client.get(f"/api/tiles/street/13/{x}/{y}.mvt",
                           params={"size": 300}).status_code == 400


def test_our_tile_writer_writes_what_mapbox_vector_tile_writes() -> None:
    """SQLite's tiles come from geo.tiling.tiles' own MVT writer: for awkward geometry (multi-parts,
    holes, wrong windings, rings and lines that collapse when rounded, repeated points) and
    every kind of property value, its bytes are those of mapbox-vector-tile's encoder."""
    import numpy as np
    from shapely.geometry import MultiLineString, MultiPoint, MultiPolygon

    from geo.tiling.tiles import EXTENT, _encode

    square = Polygon([(10, 10), (10, 900), (900, 900), (900, 10)],  # counter-clockwise on screen
                     [[(100, 100), (200, 100), (200, 200), (100, 200)]])
    geoms = [Point(5.5, 6.5), MultiPoint([(1, 2), (3000, 4000)]),
             LineString([(0, 0), (0.2, 0.1), (10.4, 10.6), (10.4, 10.6), (4000.5, 20)]),
             LineString([(7, 7), (7.2, 7.1)]),  # collapses to one point: left out
             MultiLineString([[(0, 0), (50, 50)], [(60, 60), (60.1, 60.2)], [(70, 0), (0, 70)]]),
             square, MultiPolygon([square, Polygon([(1000, 1000), (2000, 1000), (1500, 1800)])]),
             Polygon([(3000, 3000), (3000.2, 3000.1), (3000.1, 3000.3)]),  # collapses
             Polygon()]
    props: list[dict[str, Any]] = [
        {"name": "南关街", "n": 3, "x": 2.5, "flag": True}, {"name": "南关街", "n": 3.0},
        {"n": -7, "flag": False, "none": None}, {"big": 2 ** 40}, {"name": ""}, {},
        {"kind": "zone", "unit": "区文明办"}, {"n": 1}, {"n": 1}]
    ids: list[int | None] = [1, 2, 3, None, 5, 6, 2 ** 35, 8, 9]
    column = np.empty(len(geoms), dtype=object)
    column[:] = geoms
    names = list(dict.fromkeys(k for p in props for k in p))  # the writer takes columns
    ours = _encode("layer", column, {k: [p.get(k) for p in props] for k in names}, ids)
    features = [{"geometry": g, "properties": p, **({"id": i} if i is not None else {})}
                for g, p, i in zip(geoms, props, ids, strict=True) if not g.is_empty]
    theirs = bytes(mapbox_vector_tile.encode({"name": "layer", "features": features},
                                             default_options={"extents": EXTENT,
                                                              "y_coord_down": True}))
    assert ours == theirs
    decoded = mapbox_vector_tile.decode(ours, default_options={"y_coord_down": True})
    assert [f.get("id") for f in decoded["layer"]["features"]] == [1, 2, 3, 5, 6, 2 ** 35]


def test_our_tile_writer_matches_mapbox_vector_tile_when_no_geometry_has_parts() -> None:
    """A city's streets and zones are single lines and polygons, which the writer encodes
    without splitting them into parts: the bytes are still mapbox-vector-tile's."""
    import numpy as np

    from geo.tiling.tiles import EXTENT, _encode

    geoms = [LineString([(0, 0), (0.2, 0.1), (10.4, 10.6), (10.4, 10.6), (4000.5, 20)]),
             LineString([(7, 7), (7.2, 7.1)]),  # collapses to one point: left out
             LineString([(-50, 30), (4100, 30)]),
             Polygon([(10, 10), (10, 900), (900, 900), (900, 10)],
                     [[(100, 100), (200, 100), (200, 200), (100, 200)]]),
             Polygon([(3000, 3000), (3000.2, 3000.1), (3000.1, 3000.3)]),  # collapses
             Polygon([(1000, 1000), (2000, 1000), (1500, 1800)])]
    ids = [1, 2, 3, 4, 5, 6]
    column = np.empty(len(geoms), dtype=object)
    column[:] = geoms
    ours = _encode("layer", column, {"name": [f"路{i}" for i in ids]}, ids)
    features = [{"geometry": g, "properties": {"name": f"路{i}"}, "id": i}
                for g, i in zip(geoms, ids, strict=True)]
    theirs = bytes(mapbox_vector_tile.encode({"name": "layer", "features": features},
                                             default_options={"extents": EXTENT,
                                                              "y_coord_down": True}))
    assert ours == theirs
    decoded = mapbox_vector_tile.decode(ours, default_options={"y_coord_down": True})
    assert [f["id"] for f in decoded["layer"]["features"]] == [1, 3, 4, 6]


def test_our_tile_writer_writes_mapbox_vector_tiles_properties_for_any_mix() -> None:
    """Property columns of every kind, mixed (ids, booleans beside 0 and 1, equal ints and
    floats, the same value in two columns, missing values, whole columns missing): the keys
    and values tables and the tags are byte for byte mapbox-vector-tile's, 300 seeded draws."""
    import random

    import numpy as np

    from geo.tiling.tiles import EXTENT, _encode

    rng = random.Random(14)
    pool = [0, 1, 1.0, -1, 2 ** 40, True, False, None, "a", "b", "", "南", 2.5, 0.0, 7, 3, "1",
            2 ** 63 - 1, -(2 ** 63)]
    for _ in range(300):
        n, width = rng.randint(1, 12), rng.randint(0, 4)
        geoms = [Point(rng.randint(0, EXTENT), rng.randint(0, EXTENT)) for _ in range(n)]
        draw = [lambda: rng.choice([True, False]), lambda: rng.randint(0, 5),
                lambda: rng.choice(pool), lambda: None]
        columns = {f"k{j}": [f() for _ in range(n)]
                   for j, f in enumerate(rng.choice(draw) for _ in range(width))}
        ids = [rng.choice([None, rng.randint(0, 10 ** 6)]) for _ in range(n)]
        column = np.empty(n, dtype=object)
        column[:] = geoms
        ours = _encode("layer", column, columns, ids)
        features = [{"geometry": g, "properties": {k: v[i] for k, v in columns.items()},
                     **({"id": ids[i]} if ids[i] is not None else {})}
                    for i, g in enumerate(geoms)]
        theirs = bytes(mapbox_vector_tile.encode({"name": "layer", "features": features},
                                                 default_options={"extents": EXTENT,
                                                                  "y_coord_down": True}))
        assert ours == theirs, (columns, ids)


def test_points_are_written_as_mapbox_vector_tile_writes_them() -> None:
    """Issue points and cells are written without making geometries: the bytes of
    mapbox-vector-tile's encoder for the same points, rounded half to even, and properties."""
    import random

    import numpy as np

    from geo.tiling.tiles import EXTENT, Tile, encode_points

    rng = random.Random(16)
    for _ in range(50):
        tile = Tile(15, 27000 + rng.randint(0, 9), 13000 + rng.randint(0, 9),
                    rng.choice([256, 512]))
        west, south, east, north = tile.lonlat_bounds(64)
        rows = [(rng.uniform(west, east), rng.uniform(south, north), rng.randint(1, 10 ** 6),
                 rng.choice(["litter", "vending"]), rng.choice(["reported", "closed"]),
                 rng.choice([0, 1, None])) for _ in range(rng.randint(1, 40))]
        ours = encode_points(tile, "issues", ("id", "category", "status", "overdue"),
                             [(r[0], r[1], r[2], *r[2:]) for r in rows], with_id=True)
        ux, uy = tile.to_units(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]))
        features = [{"geometry": Point(x, y), "id": r[2], "properties": {
            "id": r[2], "category": r[3], "status": r[4],
            "overdue": None if r[5] is None else bool(r[5])}}
            for x, y, r in zip(np.rint(ux), np.rint(uy), rows, strict=True)]
        theirs = bytes(mapbox_vector_tile.encode({"name": "issues", "features": features},
                                                 default_options={"extents": EXTENT,
                                                                  "y_coord_down": True}))
        assert ours == theirs


def test_next_deadlines_are_kept_only_while_they_are_exact() -> None:
    """A tile's next deadline, kept per worker, is given again only between the time it was
    found and itself (at the deadline the issue is not overdue yet); unknown before or after."""
    from datetime import datetime, timedelta

    from geo.tiling.tiles import NextDeadlines

    kept = NextDeadlines(max_items=2)
    found, due = datetime(2026, 12, 1, 8, 0), datetime(2026, 12, 1, 12, 0)
    kept.put("tile a", found, due)
    assert kept.get("tile a", found) == (True, due)
    assert kept.get("tile a", due) == (True, due)
    assert kept.get("tile a", due + timedelta(microseconds=1)) == (False, None)
    assert kept.get("tile a", found - timedelta(seconds=1)) == (False, None)
    kept.put("tile b", found, None)  # nothing due in it: None until a write changes the key
    assert kept.get("tile b", found + timedelta(days=400)) == (True, None)
    assert kept.get("tile a", found)[0]  # a used last: b is the least recent
    kept.put("tile c", found, due)
    assert not kept.get("tile b", found)[0] and kept.get("tile a", found)[0]


def test_a_unit_users_street_level_tile_holds_its_units_points_up_to_the_limit(
        client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit's own user sees its unit's issues in a street-level tile as points while they are
    few enough, however many other units' issues share the tile, and as cells past the limit
    (decided from the counts kept per unit and base cell, 0035); the points are exactly the
    unit's issues there, none cut."""
    import geo.store.sql

    around = [(121.45 + (i % 20) * 4e-4, 31.2 + (i // 20) * 4e-4) for i in range(60)]
    own = store.add_issues([Issue("litter", x, y, unit="城管局") for x, y in around[:9]])
    store.add_issues([Issue("litter", x, y, unit="环卫所") for x, y in around[9:]])
    add_user(store, "chengguan", "unit", unit="城管局")
    client.headers.update(bearer(client, "chengguan"))
    x, y = tile_of(121.455, 31.201, 13)
    monkeypatch.setattr(geo.store.sql, "MAX_TILE_POINTS", 3)  # 12 points in a 512-pixel tile
    tile = get_tile(client, "issues", 13, x, y, size=512)
    assert "issue_cells" not in tile and ids(tile, "issues") == set(own)
    monkeypatch.setattr(geo.store.sql, "MAX_TILE_POINTS", 2)  # 8: the unit's 10 are cells
    store.add_issues([Issue("litter", 121.4502, 31.2002, unit="城管局")])  # a new version
    tile = get_tile(client, "issues", 13, x, y, size=512)
    assert "issues" not in tile
    assert sum(c["properties"]["count"] for c in tile["issue_cells"]) == 10


def test_a_unit_tile_never_draws_a_cut_list_of_points_when_its_kept_counts_are_wrong(
        client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kept counts per unit choose points or cells, but the points are read one over the
    limit: counts that say too few (here zeroed by hand) give no points tile holding part of
    the unit's issues."""
    from sqlalchemy import text

    import geo.store.sql

    store.add_issues([Issue("litter", 121.45 + i * 4e-4, 31.2, unit="城管局") for i in range(9)])
    with store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("UPDATE issue_unit_cell_counts SET n = 0"))
    add_user(store, "chengguan", "unit", unit="城管局")
    client.headers.update(bearer(client, "chengguan"))
    monkeypatch.setattr(geo.store.sql, "MAX_TILE_POINTS", 2)  # 8 points in a 512-pixel tile
    x, y = tile_of(121.452, 31.2, 13)
    assert "issues" not in get_tile(client, "issues", 13, x, y, size=512)
