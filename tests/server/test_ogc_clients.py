"""Real OGC API Features clients against a live ccmap server over the reduced city, on both
backends: GDAL's OAPIF driver (ogrinfo/ogr2ogr from Debian's gdal-bin) lists the collections and
copies every issue, following the next links; OWSLib reads the documents and pages."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from geo.ogc import query as ogc_query
from server.app import create_app
from server.settings import Settings
from tests.browser.conftest import serve_app
from tests.conftest import TEST_PASSWORD, ReducedCity, missing


@pytest.fixture(scope="module")
def live_city(reduced_city: ReducedCity) -> Iterator[tuple[str, dict[str, str]]]:
    """The reduced city served by uvicorn: its /ogc URL and an admin's bearer header."""
    settings = Settings(database_url=reduced_city.url, basemap="none")
    with serve_app(create_app(settings)) as url:
        r = httpx.post(f"{url}/api/auth/token",
                       data={"username": "cityadmin", "password": TEST_PASSWORD})
        assert r.status_code == 200, r.text
        yield f"{url}/ogc", {"Authorization": f"Bearer {r.json()['access_token']}"}


def _gdal(tool: str, *args: str, headers: dict[str, str]) -> str:
    """Run ogrinfo/ogr2ogr with the bearer token passed as GDAL passes HTTP headers."""
    if shutil.which(tool) is None:
        missing(f"{tool} not installed (apt-get install gdal-bin)")
    env = {**os.environ, "GDAL_HTTP_HEADERS": "\r\n".join(f"{k}: {v}"
                                                        for k, v in headers.items())}
    done = subprocess.run([tool, *args], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_gdal_lists_the_collections(live_city: tuple[str, dict[str, str]]) -> None:
    url, auth = live_city
    out = _gdal("ogrinfo", "-ro", "-q", f"OAPIF:{url}", headers=auth)
    names = {line.split(":", 1)[1].split("(")[0].strip() for line in out.splitlines()
             if line[:1].isdigit() and ":" in line}
    assert {"street", "zone", "test_point", "community", "issues"} <= names


def test_gdal_copies_every_issue_paging_at_the_maximum_limit(
        live_city: tuple[str, dict[str, str]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    url, auth = live_city
    monkeypatch.setattr(ogc_query, "MAX_LIMIT", 3000)  # the live server runs in this process
    matched = httpx.get(f"{url}/collections/issues/items", params={"limit": 1},
                        headers=auth).json()["numberMatched"]
    assert matched > 3 * 3000  # the copy takes several pages
    out = tmp_path / "issues.geojson"
    _gdal("ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{url}", "issues",
          "-oo", "PAGE_SIZE=10000", headers=auth)  # asks more than the maximum: clamped
    ids = [f["properties"]["id"] for f in json.loads(out.read_text("utf-8"))["features"]]
    assert len(ids) == matched and len(set(ids)) == matched


def test_gdal_copies_a_layer_with_its_geometries(
        live_city: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    url, auth = live_city
    matched = httpx.get(f"{url}/collections/street/items", params={"limit": 1},
                        headers=auth).json()["numberMatched"]
    out = tmp_path / "streets.geojson"
    _gdal("ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{url}", "street",
          "-oo", "PAGE_SIZE=10000", headers=auth)
    features = json.loads(out.read_text("utf-8"))["features"]
    assert len(features) == matched > 0
    assert {f["geometry"]["type"] for f in features} <= {"LineString", "MultiLineString"}


def test_owslib_reads_the_collections_and_pages(live_city: tuple[str, dict[str, str]]) -> None:
    features_api = pytest.importorskip("owslib.ogcapi.features",
                                       reason="OWSLib not installed (dev extra)")
    url, auth = live_city
    api = features_api.Features(url, headers=auth)
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in \
        api.conformance()["conformsTo"]
    ids = {c["id"] for c in api.collections()["collections"]}
    assert {"street", "zone", "issues"} <= ids
    assert api.collection("zone")["storageCrs"].endswith("/CRS84")
    first = api.collection_items("issues", limit=500)
    second = api.collection_items("issues", limit=500, offset=500)
    assert first["numberReturned"] == second["numberReturned"] == 500
    assert not {f["id"] for f in first["features"]} & {f["id"] for f in second["features"]}
    one = api.collection_item("issues", str(first["features"][0]["id"]))
    assert one["id"] == first["features"][0]["id"]
    lonlat = api.collection_items("zone", limit=1)["features"][0]["geometry"]
    latlon = api.collection_items(
        "zone", limit=1, crs="http://www.opengis.net/def/crs/EPSG/0/4490")["features"][0]
    lon, lat = lonlat["coordinates"][0][0]
    assert latlon["geometry"]["coordinates"][0][0] == pytest.approx([lat, lon], abs=1e-6)
