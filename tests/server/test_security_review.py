"""Fixes from the security review, over HTTP on both databases: unit scope of zone history and
the dashboard, role refusals, formula injection, coordinates, photos, and odd input that used
to answer 500."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from PIL import Image
from shapely.geometry import LineString, box, mapping

from geo.exports.tables import safe_cell, table_bytes
from geo.model.kinds import Kind
from geo.model.records import Feature
from geo.store import Store
from server.app import create_app
from server.settings import Settings
from tests.conftest import add_user, bearer, tiny_png

AREA = box(121.460, 31.220, 121.480, 31.240)


@pytest.fixture
def city(store: Store) -> list[int]:
    """A sub-district, zone A (unit 甲) and zone B (unit 乙), and a street."""
    return store.add_features([
        Feature(Kind.subdistrict, AREA, name="示范街道"),
        Feature(Kind.zone, box(121.460, 31.220, 121.470, 31.230), name="A区", category="grid",
                properties={"zone_type": "grid", "unit": "甲"}),
        Feature(Kind.zone, box(121.470, 31.230, 121.480, 31.240), name="B区", category="grid",
                properties={"zone_type": "grid", "unit": "乙"}),
        Feature(Kind.street, LineString([(121.461, 31.235), (121.479, 31.235)]), name="横路"),
    ])


def _issue(client: TestClient, **extra: Any) -> Any:
    return client.post("/api/issues", json={"category": "illegal_ads", "lon": 121.465,
                                            "lat": 31.225, **extra})


def _zone(geometry: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"geometry": geometry, "name": "新区", "zone_type": "sponsor_area", **extra}


# 1. scope -------------------------------------------------------------------------------------

def test_unit_user_reads_only_its_own_zones_history(client: TestClient, store: Store,
                                                    city: list[int]) -> None:
    a, b = city[1], city[2]
    for zid, unit in ((a, "甲"), (b, "乙")):  # a version each, so both have a history
        r = client.put(f"/api/zones/{zid}", json={
            "geometry": mapping(store.feature(zid).geometry), "name": f"区{zid}",
            "zone_type": "grid", "unit": unit, "version": 1})
        assert r.status_code == 200, r.text
    add_user(store, "u甲", "unit", unit="甲")
    h = bearer(client, "u甲")
    assert client.get(f"/api/zones/{a}/history", headers=h).status_code == 200
    r = client.get(f"/api/zones/{b}/history", headers=h)
    assert r.status_code == 404 and "乙" not in r.text
    assert client.get(f"/api/zones/{b}/history").status_code == 200  # the admin sees it


def test_a_zone_never_edited_has_an_empty_history_not_a_404(client: TestClient,
                                                           city: list[int]) -> None:
    r = client.get(f"/api/zones/{city[1]}/history")  # imported, never saved on the map
    assert r.status_code == 200 and r.json() == []
    assert client.get("/api/zones/987654/history").status_code == 404


def test_dashboard_and_ranking_name_only_the_unit_users_zones(client: TestClient, store: Store,
                                                              city: list[int]) -> None:
    # an overdue issue in zone A lowers A's score, so B (issues not yet due, overdue in
    # February: enough in both months to count as improved) climbs above it
    assert _issue(client, reported_at="2026-03-10T09:00:00",
                  deadline="2026-03-11T09:00:00").json()["unit"] == "甲"
    for month, deadline in (("02", "2026-02-11"), ("03", "2026-04-30")):
        for _ in range(3):
            assert _issue(client, reported_at=f"2026-{month}-10T09:00:00",
                          deadline=f"{deadline}T09:00:00",
                          lon=121.475, lat=31.235).json()["unit"] == "乙"
    add_user(store, "u甲", "unit", unit="甲")
    h = bearer(client, "u甲")
    admin = client.get("/api/dashboard?period=2026-03").json()
    assert "B区" in [z["name"] for z in admin["most_improved"]]  # the leak being tested
    mine = client.get("/api/dashboard?period=2026-03", headers=h).json()
    assert {z["name"] for z in mine["most_improved"] + mine["worst_zones"]} <= {"A区"}
    ranked = client.get("/api/ranking?level=zone&period=2026-03", headers=h).json()
    assert [r["name"] for r in ranked] == ["A区"]


# 2. role refusals --------------------------------------------------------------------------

def test_role_refusal_is_403_illegal_change_409(client: TestClient, store: Store,
                                               city: list[int]) -> None:
    add_user(store, "viewer", "viewer")
    iid = _issue(client).json()["id"]
    r = client.post(f"/api/issues/{iid}/transitions", headers=bearer(client, "viewer"),
                    json={"to": "accepted", "version": 1})
    assert r.status_code == 403 and "角色 viewer 不能将问题从" in r.json()["detail"]
    r = client.post(f"/api/issues/{iid}/transitions", json={"to": "closed", "version": 1})
    assert r.status_code == 409
    assert store.issue(iid).status == "reported"


# 3. formula injection ------------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://x","y")', "+1+2", "-2+3", "@SUM(A1)", "\tx", "\r=1"]


def test_exports_neutralise_formulas_in_csv_and_xlsx(client: TestClient,
                                                     city: list[int]) -> None:
    for text in FORMULAS:
        assert _issue(client, description=text, address="安全地址").status_code == 201
    r = client.get("/api/issues/export?format=csv&sort=id")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"), newline="")))
    col = rows[0].index("问题描述")
    assert [row[col] for row in rows[1:]] == ["'" + t for t in FORMULAS]
    assert rows[1][rows[0].index("地址")] == "安全地址"
    for url in ("/api/issues/export?format=xlsx&sort=id", "/api/export/data?format=xlsx"):
        ws = load_workbook(io.BytesIO(client.get(url).content)).active
        values = list(ws.values)
        # XML (inside xlsx) may read a CR back as LF, depending on how the writer escaped it
        descriptions = sorted(str(v[values[0].index("问题描述")]).replace("\r", "\n")
                              for v in values[1:])
        assert descriptions == sorted("'" + t.replace("\r", "\n") for t in FORMULAS)
        lon = next(ws.iter_rows(min_row=2, max_row=2))[values[0].index("经度")]
        assert lon.data_type == "n" and lon.value == pytest.approx(121.465)


def test_numbers_stay_numbers_text_is_prefixed() -> None:
    assert safe_cell(-5) == -5 and safe_cell(-2.5) == -2.5 and safe_cell("-5") == "'-5"
    assert safe_cell("普通文字") == "普通文字" and safe_cell(None) is None
    data, _ = table_bytes([["数", "文"], [-5, "=1+1"]], "xlsx")
    ws = load_workbook(io.BytesIO(data)).active
    number, text = next(ws.iter_rows(min_row=2, max_row=2))
    assert (number.value, number.data_type) == (-5, "n")
    assert (text.value, text.data_type) == ("'=1+1", "s")


# 4. coordinates ------------------------------------------------------------------------------

SQUARE = [[121.471, 31.231], [121.472, 31.231], [121.472, 31.232], [121.471, 31.231]]


@pytest.mark.parametrize(("ring", "reason"), [
    ([[500, 31.22], [501, 31.22], [501, 31.23], [500, 31.22]], "不是以度为单位的经纬度"),
    ([[121.471, 95], [121.472, 95], [121.472, 96], [121.471, 95]], "不是以度为单位的经纬度"),
    (SQUARE[:3], "多边形的环须闭合"),  # open ring of 3 positions
    ([[121.471, 31.231], [121.472, 31.231], [121.472, 31.232], [121.471, 31.232]],
     "多边形的环须闭合"),
    ([[121.471, "31.231"], *SQUARE[1:]], "不是以度为单位的经纬度"),
])
def test_zones_with_bad_coordinates_are_refused(client: TestClient, store: Store,
                                                city: list[int], ring: list[Any],
                                                reason: str) -> None:
    r = client.post("/api/zones", json=_zone({"type": "Polygon", "coordinates": [ring]}))
    assert r.status_code == 422 and reason in r.json()["detail"], r.text
    r = client.put(f"/api/zones/{city[1]}", json=_zone(
        {"type": "Polygon", "coordinates": [ring]}, version=1))
    assert r.status_code == 422
    assert store.layer_counts()["zone"] == 2 and store.feature(city[1]).version == 1


def test_vertex_limit_and_split_line(store: Store, city: list[int]) -> None:
    settings = Settings(database_url=store.url, basemap="none", max_geometry_vertices=5)
    add_user(store, "p", "planner")
    with TestClient(create_app(settings, store=store)) as c:
        h = bearer(c, "p")
        ok = c.post("/api/zones", headers=h, json=_zone({"type": "Polygon",
                                                         "coordinates": [SQUARE]}))
        assert ok.status_code == 201, ok.text
        many = [[121.471 + k * 1e-4, 31.231] for k in range(6)] + [[121.471, 31.232],
                                                                   [121.471, 31.231]]
        r = c.post("/api/zones", headers=h, json=_zone({"type": "Polygon",
                                                        "coordinates": [many]}))
        assert r.status_code == 422 and "CCMAP_MAX_GEOMETRY_VERTICES" in r.json()["detail"]
        line = {"type": "LineString", "coordinates": [[121.465, 31.0], [121.465, 999]]}
        r = c.post(f"/api/zones/{city[1]}/split", headers=h, json={"line": line})
        assert r.status_code == 422
        r = c.post(f"/api/zones/{city[3]}/split", headers=h, json={"line": {
            "type": "LineString", "coordinates": [[121.465, 31.21], [121.465, 31.25]]}})
        assert r.status_code == 400 and "不是责任区" in r.json()["detail"]
    assert store.layer_counts()["zone"] == 3 and store.layer_counts()["street"] == 1


def test_restore_refuses_a_version_of_another_kind(client: TestClient, store: Store,
                                                   city: list[int]) -> None:
    street = city[3]
    r = client.put(f"/api/features/{street}/assignment", json={"values": {"cadre": "张"}})
    assert r.status_code == 200
    r = client.post(f"/api/zones/{street}/restore", json={"version": 2})
    assert r.status_code == 400 and "不是责任区" in r.json()["detail"]
    assert store.feature(street).kind is Kind.street
    assert store.layer_counts()["zone"] == 2


def test_points_are_checked(client: TestClient, store: Store, city: list[int]) -> None:
    assert _issue(client, lon=500).status_code == 422
    r = client.post("/api/plan/rounds", json={"seed": 1, "start": [500, 31.2]})
    assert r.status_code == 422
    assert "坐标（500.0, 31.2）不是以度为单位的经纬度" in r.json()["detail"]
    assert store.issue_count() == 0 and store.rounds() == []


# 5. photos -----------------------------------------------------------------------------------

def _jpeg(size: tuple[int, int] = (30, 20), orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    if orientation:
        exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buf, "JPEG", exif=exif.tobytes())
    return buf.getvalue()


def _upload(client: TestClient, iid: int, name: str, data: bytes, media: str) -> Any:
    return client.post(f"/api/issues/{iid}/photos", files={"file": (name, data, media)})


def test_photos_are_reencoded_and_served_safely(client: TestClient, city: list[int]) -> None:
    iid = _issue(client).json()["id"]
    polyglot = _jpeg(orientation=6) + b"<html><script>alert(document.cookie)</script></html>"
    r = _upload(client, iid, "x.jpg", polyglot, "image/jpeg")
    assert r.status_code == 201, r.text
    served = client.get(r.json()["url"])
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"].startswith("inline; filename=\"photo-")
    assert b"script" not in served.content and b"SecretCam" not in served.content
    img = Image.open(io.BytesIO(served.content))
    assert img.format == "JPEG" and img.size == (20, 30)  # turned upright by EXIF 6
    assert not img.getexif()
    alpha = _upload(client, iid, "a.png", tiny_png(mode="RGBA"), "image/png")
    assert client.get(alpha.json()["url"]).headers["content-type"] == "image/png"
    names = [p["filename"] for p in client.get(f"/api/issues/{iid}").json()["photos"]]
    assert names == ["x.jpg", "a.png"]


@pytest.mark.parametrize("payload", [
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    b"<html><script>alert(1)</script></html>",
    b"\xff\xd8\xff\xe0" + b"<script>alert(1)</script>",  # JPEG magic, no image
])
def test_non_images_named_jpg_are_refused(client: TestClient, store: Store, city: list[int],
                                          payload: bytes) -> None:
    iid = _issue(client).json()["id"]
    r = _upload(client, iid, "x.jpg", payload, "image/jpeg")
    assert r.status_code == 422
    assert "照片格式无效：须为可解码的 JPEG、PNG 或 WebP 图像" in r.json()["detail"]
    assert store.photos(iid) == []


def test_photo_pixel_and_size_limits(store: Store, city: list[int]) -> None:
    settings = Settings(database_url=store.url, basemap="none", max_photo_pixels=1000,
                        max_photo_mb=0.01)
    add_user(store, "a", "admin")
    with TestClient(create_app(settings, store=store)) as c:
        c.headers.update(bearer(c, "a"))
        iid = _issue(c).json()["id"]
        r = _upload(c, iid, "big.png", tiny_png((100, 100)), "image/png")  # 10,000 px
        assert r.status_code == 422 and "CCMAP_MAX_PHOTO_PIXELS" in r.json()["detail"]
        r = _upload(c, iid, "huge.jpg", _jpeg() + b"\0" * 20_000, "image/jpeg")
        assert r.status_code == 413
        assert _upload(c, iid, "ok.png", tiny_png((20, 20)), "image/png").status_code == 201
    assert len(store.photos(iid)) == 1


# 6. odd input --------------------------------------------------------------------------------

@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_in_json_bodies_are_422(client: TestClient, store: Store,
                                                 city: list[int], token: str) -> None:
    body = '{"category": "illegal_ads", "lon": ' + token + ', "lat": 31.225}'
    r = client.post("/api/issues", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and token.lstrip("-") in r.json()["detail"]
    zone = json.dumps(_zone({"type": "Polygon", "coordinates": [SQUARE]})).replace(
        "121.471", token, 1)
    r = client.post("/api/zones", content=zone, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert store.issue_count() == 0 and store.layer_counts()["zone"] == 2


def test_ids_beyond_bigint_are_refused(client: TestClient, city: list[int]) -> None:
    big = 2**63
    iid = _issue(client).json()["id"]
    for url in (f"/api/issues/{big}", f"/api/features/{big}", f"/api/zones/{big}/history",
                f"/api/issues?zone={big}", f"/api/photos/{big}", f"/api/plan/rounds/{big}"):
        assert client.get(url).status_code == 422, url
    r = client.post(f"/api/issues/{iid}/transitions", json={"to": "accepted", "version": big})
    assert r.status_code == 422
    r = client.post(f"/api/issues/{iid}/merge", json={"into": big, "version": 1})
    assert r.status_code == 422
    r = client.post("/api/zones/merge", json={"ids": [city[1], big]})
    assert r.status_code == 422
    assert client.get(f"/open311/v2/requests/{big}.json").status_code == 404


def test_dates_far_away_are_refused(client: TestClient, store: Store, city: list[int]) -> None:
    assert _issue(client, reported_at="9999-12-31T00:00:00").status_code == 422
    assert _issue(client, deadline="1066-10-14T09:00:00").status_code == 422
    assert client.get("/api/issues?from=9999-01-01T00:00:00").status_code == 422
    assert client.get("/api/dashboard?period=9999-12").status_code == 422
    assert client.get("/api/ranking?period=2026-01-01..9999-12-31").status_code == 422
    iid = _issue(client).json()["id"]
    r = client.patch(f"/api/issues/{iid}", json={"version": 1, "deadline": "9999-12-31T23:59"})
    assert r.status_code == 422 and store.issue(iid).version == 1


def test_timestamps_with_an_offset_are_stored_as_local_time(client: TestClient,
                                                            city: list[int]) -> None:
    sent = "2026-05-01T08:00:00+08:00"
    local = datetime.fromisoformat(sent).astimezone().replace(tzinfo=None)
    issue = _issue(client, reported_at=sent).json()
    assert issue["reported_at"] == local.isoformat(timespec="seconds")
    utc = _issue(client, reported_at="2026-05-01T00:00:00Z").json()
    assert utc["reported_at"] == issue["reported_at"]  # the same instant
    listed = client.get("/api/issues", params={"from": "2026-05-01T08:00:00+08:00",
                                               "to": "2026-05-01T08:00:01+08:00"}).json()
    assert listed["total"] == 2


def test_duplicate_external_id_is_409(client: TestClient, store: Store,
                                      city: list[int]) -> None:
    first = _issue(client, external_id="12345-A")
    assert first.status_code == 201
    again = _issue(client, external_id="12345-A", description="再次上报")
    assert again.status_code == 409 and "12345-A" in again.json()["detail"]
    assert again.json()["external_ids"] == ["12345-A"]
    assert store.issue_count() == 1


def test_png_export_beyond_the_pixel_limit_is_refused_before_rendering(
        client: TestClient, city: list[int]) -> None:
    r = client.get("/api/export/map?format=png&width=6000&height=6000&scale=4")
    assert r.status_code == 422 and "CCMAP_MAX_EXPORT_PIXELS" in r.json()["detail"]
