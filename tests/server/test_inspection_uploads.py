"""Inspection and issue photo uploads stream under CCMAP_MAX_UPLOAD_MB (413 as they stream,
nothing written, no temporary file left); GET /api/inspections pages (both backends)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from shapely.geometry import Point

from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.planner.inspections import checklist, record_inspection
from geo.store import Store
from server.app import create_app
from server.settings import Settings
from tests.conftest import add_user, bearer, tiny_png

LIMIT_MB = 0.02  # 20 kB: the noise photo below is larger, the tiny PNG far smaller


@pytest.fixture
def limited(store: Store, db_url: str) -> Iterator[TestClient]:
    """An inspector's client on an app with a 20 kB upload limit and pages of 10 (max 20)."""
    settings = Settings(database_url=db_url, basemap="none", max_upload_mb=LIMIT_MB,
                        page_size=10, max_page=20)
    add_user(store, "i1", "inspector")
    with TestClient(create_app(settings, store=store)) as c:
        c.headers.update(bearer(c, "i1"))
        yield c


def _market(store: Store, n: int = 1) -> list[int]:
    return store.add_features([Feature(Kind.test_point, Point(121.005 + i * 1e-4, 31.005),
                                       name=f"菜场{i}", category="farmers_market")
                               for i in range(n)])


def _results(fail: str | None = None) -> dict[str, dict[str, str]]:
    return {i["code"]: {"result": "fail" if i["code"] == fail else "pass", "note": ""}
            for i in checklist("farmers_market")}


def _noise_png() -> bytes:
    """A valid PNG of about 30 kB (random pixels do not compress)."""
    pixels = np.random.default_rng(3).integers(0, 255, (100, 100, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    assert buf.tell() > LIMIT_MB * 1e6
    return buf.getvalue()


def _chunked(body: bytes) -> Iterator[bytes]:
    return iter([body[i:i + 4096] for i in range(0, len(body), 4096)])


def _multipart(data: dict[str, str], files: dict[str, Any]) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://x/", data=data, files=files)
    return request.read(), request.headers["content-type"]


def test_oversized_inspection_is_413_while_it_streams_and_writes_nothing(
        limited: TestClient, store: Store, spool: Path) -> None:
    [point] = _market(store)
    fail = checklist("farmers_market")[0]["code"]
    record = json.dumps({"feature_id": point, "inspector": "王五", "results": _results(fail)})
    files = {f"photo_{fail}": ("p.png", _noise_png(), "image/png")}
    r = limited.post("/api/inspections", data={"record": record}, files=files)
    assert r.status_code == 413, r.text  # Content-Length over the limit
    assert "CCMAP_MAX_UPLOAD_MB" in r.json()["detail"]
    body, content_type = _multipart({"record": record}, files)
    r = limited.post("/api/inspections", content=_chunked(body),
                     headers={"content-type": content_type})
    assert r.status_code == 413, r.text  # no Content-Length: cut off while streaming
    assert store.inspections() == [] and store.issue_count() == 0
    assert list(spool.iterdir()) == []
    # under the limit the photo is still re-encoded onto the failed item's issue
    small = {f"photo_{fail}": ("p.png", tiny_png(), "image/png")}
    r = limited.post("/api/inspections", data={"record": record}, files=small)
    assert r.status_code == 201, r.text
    [issue_id] = r.json()["issue_ids"]
    assert r.json()["photos"] == [fail]
    assert [p["content_type"] for p in store.photos(issue_id)] == ["image/jpeg"]
    assert list(spool.iterdir()) == []


def test_malformed_inspection_forms_are_400(limited: TestClient, store: Store,
                                           spool: Path) -> None:
    [point] = _market(store)
    record = json.dumps({"feature_id": point, "inspector": "王五", "results": _results()})
    r = limited.post("/api/inspections", files={"photo_x": ("p.png", b"x", "image/png")})
    assert r.status_code == 400 and "`record`" in r.json()["detail"]
    r = limited.post("/api/inspections", content=b"--nope\r\n\r\n",
                     headers={"content-type": "multipart/form-data; boundary=other"})
    assert r.status_code == 400, r.text
    r = limited.post("/api/inspections", data={"record": "{not json"},
                     files={"photo_x": ("p.png", b"x", "image/png")})
    assert r.status_code == 422, r.text  # was a 500
    r = limited.post("/api/inspections", json={"feature_id": "one", "results": {}})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["feature_id"]
    r = limited.post("/api/inspections", content=b"{not json",
                     headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    r = limited.post("/api/inspections", data={"record": record})  # urlencoded: not read
    assert r.status_code == 400 and "multipart" in r.json()["detail"]
    assert store.inspections() == [] and list(spool.iterdir()) == []
    r = limited.post("/api/inspections", json=json.loads(record))
    assert r.status_code == 201, r.text


def test_oversized_issue_photo_is_413_while_it_streams(store: Store, db_url: str,
                                                      spool: Path) -> None:
    settings = Settings(database_url=db_url, basemap="none", max_upload_mb=LIMIT_MB)
    add_user(store, "boss", "admin")
    [iid] = store.add_issues([Issue(category="illegal_ads", lon=121.47, lat=31.23)])
    with TestClient(create_app(settings, store=store)) as c:
        c.headers.update(bearer(c, "boss"))
        files = {"file": ("big.png", _noise_png(), "image/png")}
        r = c.post(f"/api/issues/{iid}/photos", files=files)
        assert r.status_code == 413 and "CCMAP_MAX_UPLOAD_MB" in r.json()["detail"]
        body, content_type = _multipart({"stage": "before"}, files)
        r = c.post(f"/api/issues/{iid}/photos", content=_chunked(body),
                   headers={"content-type": content_type})
        assert r.status_code == 413, r.text
        assert store.photos(iid) == [] and list(spool.iterdir()) == []
        r = c.post(f"/api/issues/{iid}/photos", data={"stage": "later"},
                   files={"file": ("a.png", tiny_png(), "image/png")})
        assert r.status_code == 400 and "stage" in r.json()["detail"]
        r = c.post(f"/api/issues/{iid}/photos", data={"stage": "after"},
                   files={"file": ("a.png", tiny_png(), "image/png")})
        assert r.status_code == 201 and r.json()["stage"] == "after"
        assert [p["stage"] for p in store.photos(iid)] == ["after"]
    assert list(spool.iterdir()) == []


def test_inspection_list_pages_with_a_total(limited: TestClient, store: Store) -> None:
    a, b = _market(store, 2)
    for k in range(25):
        record_inspection(store, a if k % 5 else b, _results(), inspector="王五", actor="t")
    add_user(store, "v1", "viewer")
    viewer = bearer(limited, "v1")
    r = limited.get("/api/inspections", headers=viewer)
    assert r.status_code == 200 and r.headers["x-total-count"] == "25"
    seen = [rec["id"] for rec in r.json()]
    assert len(seen) == 10
    while 'rel="next"' in r.headers.get("link", ""):
        url = r.headers["link"].split(">")[0].lstrip("<")
        r = limited.get(url, headers=viewer)
        seen += [rec["id"] for rec in r.json()]
    assert seen == [rec["id"] for rec in store.inspections()] and len(set(seen)) == 25
    r = limited.get("/api/inspections", params={"feature": b}, headers=viewer)
    assert r.headers["x-total-count"] == "5" and len(r.json()) == 5
    assert "link" not in r.headers
    r = limited.get("/api/inspections", params={"limit": 21}, headers=viewer)
    assert r.status_code == 422 and "CCMAP_MAX_PAGE" in r.json()["detail"]
