"""POST /api/layers/{kind}: uploads are validated, all-or-nothing and size-limited."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from geo.i18n import CJK, translate
from geo.model.kinds import Kind
from geo.store import Store
from server.app import create_app
from server.settings import Settings
from tests.conftest import FIXTURES, add_user, bearer, wait_for_job

LAYERS = FIXTURES / "layers"


def test_geojson_body_is_imported(client: TestClient, store: Store) -> None:
    body = (LAYERS / "zones_bowtie.geojson").read_bytes()
    r = client.post("/api/layers/zone", content=body,
                    headers={"content-type": "application/geo+json"})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["imported"] == 2 and len(doc["ids"]) == 2
    assert doc["warnings"][0]["row"] == 2
    assert {f.name for f in store.features(Kind.zone)} == {"福佑路责任区", "蝴蝶结责任区"}
    # the report's row problems come in the caller's language
    en = client.post("/api/layers/zone", content=body, headers={
        "content-type": "application/geo+json", "Accept-Language": "en"}).json()
    assert CJK.search(doc["warnings"][0]["reason"])
    assert en["warnings"][0]["reason"] == translate(doc["warnings"][0]["reason"], "en")
    assert not CJK.search(en["warnings"][0]["reason"])


def test_multipart_csv_with_field_mapping(client: TestClient, store: Store) -> None:
    csv = "MC,LX,lon,lat\n豫园公厕,public_toilet,121.492,31.227\n".encode()
    r = client.post("/api/layers/test_point", params=[("map", "name=MC"), ("map", "category=LX")],
                    files={"file": ("points.csv", csv, "text/csv")})
    job = wait_for_job(client, r)
    assert job["state"] == "done", job
    assert job["result"]["imported"] == 1 and (job["done"], job["total"]) == (1, 1)
    [point] = store.features(Kind.test_point)
    assert job["result"]["ids"] == [point.id]
    assert (point.name, point.category) == ("豫园公厕", "public_toilet")


def test_rejected_file_is_422_with_rows_and_writes_nothing(client: TestClient,
                                                           store: Store) -> None:
    body = (LAYERS / "streets_with_point.geojson").read_bytes()
    r = client.post("/api/layers/street", content=body,
                    headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert {p["row"] for p in r.json()["problems"]} == {2, 3}
    assert store.layer_counts() == {}


def test_oversized_upload_is_413_and_writes_nothing(store: Store) -> None:
    settings = Settings(database_url=store.url, basemap="none", max_upload_mb=0.001)
    big = json.dumps({"type": "FeatureCollection", "features": [], "pad": "x" * 5000})
    add_user(store, "planner1", "planner")
    with TestClient(create_app(settings, store=store)) as c:
        r = c.post("/api/layers/street", content=big,
                   headers={"content-type": "application/geo+json", **bearer(c, "planner1")})
    assert r.status_code == 413 and "CCMAP_MAX_UPLOAD_MB" in r.json()["detail"]
    assert store.layer_counts() == {}


def test_unsupported_uploads_are_400(client: TestClient) -> None:
    r = client.post("/api/layers/street", content=b"hello",
                    headers={"content-type": "text/plain"})
    assert r.status_code == 400 and "GeoJSON" in r.json()["detail"]
    job = wait_for_job(client, client.post(
        "/api/layers/street", files={"file": ("x.docx", b"PK", "application/zip")}))
    assert job["state"] == "failed" and "不支持的文件类型" in job["message"]
    # a failed job's message in the caller's language (the page shows it as it comes)
    en = client.get(f"/api/jobs/{job['id']}", headers={"Accept-Language": "en"}).json()
    assert en["message"] == translate(job["message"], "en") and not CJK.search(en["message"])
    r = client.post("/api/layers/street", content=b"{broken",
                    headers={"content-type": "application/geo+json"})
    assert r.status_code == 400
    r = client.post("/api/layers/roads", content=b"{}",
                    headers={"content-type": "application/geo+json"})
    assert r.status_code == 400 and "未知的图层类型 'roads'，可选类型：" in r.json()["detail"]
