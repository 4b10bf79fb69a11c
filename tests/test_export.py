"""`ccmap export data`: the GeoPackage reads back with the right layers and counts."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest

from geo.coords import wgs84_to_gcj02
from geo.demo import build_demo
from geo.store import open_store
from server.cli import main


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
    csv = tmp_path / "ledger.csv"
    assert main(["export", "data", "--out", str(csv), "--db", db_url]) == 0
    lines = csv.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("编号,外部编号,问题类型") and len(lines) == n_issues + 1
    assert main(["export", "data", "--out", str(tmp_path / "x.shp"), "--db", db_url]) == 2
