"""`ccmap export data`: the GeoPackage reads back with the right layers and counts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from fastapi.testclient import TestClient

from geo.demo.city import build_demo
from geo.layers.coords import wgs84_to_gcj02
from geo.model.kinds import Kind
from geo.store import IssueQuery, Store, open_store
from server.cli import main
from tests.conftest import add_user, bearer


def test_geopackage_geojson_csv_and_xlsx(db_url: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    store = open_store(db_url)
    try:
        build_demo(store)
        counts = store.layer_counts()
        n_issues = store.issue_count()
    finally:
        store.close()
    gpkg = tmp_path / "city.gpkg"
    assert main(["export", "data", "--out", str(gpkg), "--db", db_url, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    layers = dict(pyogrio.list_layers(gpkg))
    assert set(layers) == set(counts) | {"issues"}
    for kind, n in counts.items():
        assert len(gpd.read_file(gpkg, layer=kind)) == n == doc["layers"][kind]
    issues = gpd.read_file(gpkg, layer="issues")
    assert len(issues) == n_issues and {"状态", "history"} <= set(issues.columns)
    assert json.loads(issues["history"][0])[0]["to_status"]
    zones = gpd.read_file(gpkg, layer="zone")
    assert zones["责任单位"].notna().sum() > 0 and zones.crs.to_epsg() == 4326
    geojson = tmp_path / "city.geojson"
    assert main(["export", "data", "--out", str(geojson), "--db", db_url,
                 "--coords", "gcj02"]) == 0
    fc = json.loads(geojson.read_text(encoding="utf-8"))
    assert len(fc["features"]) == sum(counts.values()) + n_issues
    wgs = gpd.read_file(gpkg, layer="test_point").geometry.iloc[0]
    gx, gy = wgs84_to_gcj02(wgs.x, wgs.y)
    first_point = next(f for f in fc["features"] if f["properties"]["kind"] == "test_point")
    assert first_point["geometry"]["coordinates"] == pytest.approx([float(gx), float(gy)])
    # a GeoPackage in GCJ-02 says so: its layers' CRS is GCJ-02, not EPSG:4326
    gcj = tmp_path / "city-gcj02.gpkg"
    assert main(["export", "data", "--out", str(gcj), "--db", db_url, "--coords", "gcj02"]) == 0
    for layer in ("test_point", "issues"):
        shifted = gpd.read_file(gcj, layer=layer)
        assert shifted.crs.to_epsg(min_confidence=100) is None
        assert shifted.crs.name == "GCJ-02" and "GCJ-02" in shifted.crs.datum.name
    point = gpd.read_file(gcj, layer="test_point").geometry.iloc[0]
    assert (point.x, point.y) == pytest.approx((float(gx), float(gy)))
    csv = tmp_path / "ledger.csv"
    assert main(["export", "data", "--out", str(csv), "--db", db_url]) == 0
    lines = csv.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("编号,外部编号,问题类型") and len(lines) == n_issues + 1
    assert main(["export", "data", "--out", str(tmp_path / "x.shp"), "--db", db_url]) == 2


def test_a_filtered_selection_from_the_api_and_the_cli(client: TestClient, store: Store,
                                                      db_url: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    build_demo(store, n_issues=600)
    add_user(store, "exporter", "admin")
    headers = bearer(client, "exporter")
    box = (121.465, 31.222, 121.478, 31.235)
    bbox = ",".join(map(str, box))
    expected, _ = store.query_issues(IssueQuery(categories=["illegal_ads"], bbox=box,
                                                limit=100_000))
    points = store.features(Kind.test_point, bbox=box)
    r = client.get(f"/api/export/data?format=gpkg&bbox={bbox}&category=illegal_ads"
                   "&layers=zone,test_point", headers=headers)
    assert r.status_code == 200, r.text
    gpkg = tmp_path / "sel.gpkg"
    gpkg.write_bytes(r.content)
    assert set(dict(pyogrio.list_layers(gpkg))) == {"zone", "test_point", "issues"}
    issues = gpd.read_file(gpkg, layer="issues")
    assert sorted(issues["id"]) == sorted(i.id for i in expected) and len(expected) > 0
    assert set(issues["类别"]) == {"illegal_ads"}
    assert sorted(gpd.read_file(gpkg, layer="test_point")["id"]) == sorted(
        p.id for p in points)
    geo = client.get(f"/api/export/data?format=geojson&bbox={bbox}&status=closed",
                     headers=headers).json()
    kinds = {f["properties"]["kind"] for f in geo["features"]}
    assert "issue" in kinds and {f["properties"]["status"] for f in geo["features"]
                                 if f["properties"]["kind"] == "issue"} == {"closed"}
    assert client.get("/api/export/data?format=shp", headers=headers).status_code == 422
    assert client.get("/api/export/data?layers=nope", headers=headers).status_code == 400
    out = tmp_path / "cli.csv"
    assert main(["export", "data", "--out", str(out), "--bbox", bbox, "--category",
                 "illegal_ads", "--db", db_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["layers"]["issues"] == len(expected)


def test_exports_stream_in_batches_and_write_what_one_batch_would(
        demo_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store is read and the file written a few rows at a time (memory stays flat on a
    city's ledger), and the file is the same as one written from a single batch."""
    import geo.exports.data as data

    read: list[int] = []
    batches = demo_store.issue_record_batches

    def counted(query: IssueQuery, size: int = 5000) -> Any:
        for rows in batches(query, size):
            read.append(len(rows))
            yield rows

    monkeypatch.setattr(demo_store, "issue_record_batches", counted)
    # the city's centre (~340 issues, ~40 features of 6 layers), ~50 batches of 7 per file:
    # as many batch joins to get wrong as the whole city's 770, in a sixteenth of the time
    extent = demo_store.extent()
    assert extent is not None
    w, s, e, n = extent
    cx, cy, dx, dy = (w + e) / 2, (s + n) / 2, (e - w) / 20, (n - s) / 20
    bbox = (cx - dx, cy - dy, cx + dx, cy + dy)
    for suffix in (".csv", ".geojson", ".gpkg"):
        monkeypatch.setattr(data, "BATCH", 1_000_000)
        whole = tmp_path / f"whole{suffix}"
        counts = data.export_data(demo_store, whole, bbox=bbox)
        read.clear()
        monkeypatch.setattr(data, "BATCH", 7)
        small = tmp_path / f"small{suffix}"
        assert data.export_data(demo_store, small, bbox=bbox) == counts
        assert 200 < counts["issues"] < demo_store.issue_count()
        assert max(read) == 7 and sum(read) == counts["issues"]
        if suffix != ".csv":
            assert sum(n for layer, n in counts.items() if layer != "issues") > 7
        if suffix != ".gpkg":
            assert small.read_bytes() == whole.read_bytes()
            continue
        assert pyogrio.list_layers(small).tolist() == pyogrio.list_layers(whole).tolist()
        for layer, _ in pyogrio.list_layers(whole):
            assert (pyogrio.read_info(small, layer=layer)["dtypes"].tolist()
                    == pyogrio.read_info(whole, layer=layer)["dtypes"].tolist())
            pd.testing.assert_frame_equal(gpd.read_file(small, layer=layer),
                                          gpd.read_file(whole, layer=layer))
