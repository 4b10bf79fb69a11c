"""Every upload route (layer file, issue ledger, photo, inspection with photos) and every JSON
body goes through one helper with one limit: CCMAP_MAX_UPLOAD_MB, answered 413 with the size,
the limit and the setting to raise; a photo's own limit (CCMAP_MAX_PHOTO_MB) in the same
words."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from server.settings import Settings

LIMIT = "上限为 0.05 MB（CCMAP_MAX_UPLOAD_MB）"


@pytest.fixture
def settings(db_url: str) -> Settings:
    """A 50 kB upload limit and a 5 kB photo limit."""
    return Settings(database_url=db_url, basemap="none", max_upload_mb=0.05, max_photo_mb=0.005)


def _noise_png(side: int) -> bytes:
    """A PNG that does not compress: side × side random pixels."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "PNG")
    return out.getvalue()


def _issue(client: TestClient) -> int:
    r = client.post("/api/issues", json={"category": "illegal_ads", "lon": 121.48,
                                          "lat": 31.23})
    assert r.status_code == 201, r.text
    issue_id: int = r.json()["id"]
    return issue_id


def _chunks(data: bytes) -> Iterator[bytes]:
    return iter([data[i:i + 4096] for i in range(0, len(data), 4096)])


@pytest.mark.parametrize("route", ["/api/layers/market", "/api/issues/import",
                                   "/api/issues/{issue}/photos", "/api/inspections"])
def test_an_oversized_file_is_413_with_the_size_and_the_limit(client: TestClient,
                                                              route: str) -> None:
    url = route.format(issue=_issue(client) if "{issue}" in route else "")
    big = os.urandom(60_000)
    r = client.post(url, files={"file": ("big.csv", big), "photo_x": ("p.png", big)},
                    data={"record": "{}"})
    assert r.status_code == 413, r.text
    detail = r.json()["detail"]
    assert re.fullmatch(r"上传内容为 0\.\d+ MB，超过上限 0\.05 MB（CCMAP_MAX_UPLOAD_MB）", detail)
    assert r.json()["limit_mb"] == 0.05


def test_a_body_over_the_limit_without_a_length_is_cut_off_in_the_same_words(
        client: TestClient) -> None:
    r = client.post("/api/layers/market", content=_chunks(os.urandom(60_000)),
                    headers={"content-type": "application/geo+json"})
    assert r.status_code == 413 and LIMIT in r.json()["detail"]
    r = client.post("/api/issues", content=_chunks(b'{"description": "' + b"x" * 60_000 + b'"}'),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["detail"].startswith("请求体过大，" + LIMIT)


def test_a_photo_over_its_own_limit_is_413_in_the_same_words(client: TestClient) -> None:
    photo = _noise_png(64)  # about 12 kB: under the upload limit, over the photo limit
    r = client.post(f"/api/issues/{_issue(client)}/photos", files={"file": ("p.png", photo)})
    assert r.status_code == 413, r.text
    assert re.match(r"照片文件为 0\.01\d* MB，超过上限 0\.005 MB（CCMAP_MAX_PHOTO_MB）",
                    r.json()["detail"])


def test_a_photo_or_ledger_not_sent_as_a_file_is_400(client: TestClient) -> None:
    r = client.post(f"/api/issues/{_issue(client)}/photos", content=b"\x89PNG",
                    headers={"content-type": "image/png"})
    assert r.status_code == 400 and "请以 multipart 表单上传照片文件" in r.json()["detail"]
    r = client.post("/api/issues/import", content=b"a,b\n", headers={"content-type": "text/csv"})
    assert r.status_code == 400 and "请以 multipart 表单上传台账文件" in r.json()["detail"]
