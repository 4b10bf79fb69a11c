"""Layer file import: formats, CRS, Chinese offsets, field mapping and the row-level report."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
from shapely.geometry import LineString, Point, Polygon

from geo.layers.coords import wgs84_to_gcj02
from geo.layers.reading import read_layer_bytes, read_layer_file
from geo.model.errors import ImportRejected, InvalidInput
from geo.model.kinds import Kind
from geo.store import open_store
from server.cli import main
from tests.conftest import FIXTURES

LAYERS = FIXTURES / "layers"
GEOD = pyproj.Geod(ellps="WGS84")


def test_geojson_bowtie_is_repaired_and_reported() -> None:
    result = read_layer_file(LAYERS / "zones_bowtie.geojson", Kind.zone)
    assert [f.name for f in result.features] == ["福佑路责任区", "蝴蝶结责任区"]
    assert result.features[0].properties["unit"] == "区城管执法局"
    assert result.features[0].properties["responsible_person"] == "王伟"
    repaired = result.features[1].geometry
    assert repaired.is_valid and repaired.geom_type == "MultiPolygon"
    [warning] = result.problems
    assert warning.row == 2 and warning.severity == "warning"
    assert "Self-intersection" in warning.reason


def test_wrong_geometry_type_and_missing_geometry_reject_the_file() -> None:
    with pytest.raises(ImportRejected) as info:
        read_layer_file(LAYERS / "streets_with_point.geojson", Kind.street)
    rows = {(p.row, p.column): p.reason for p in info.value.problems}
    assert "图层 street 不接受 Point 几何，应为 LineString/MultiLineString" in rows[(2, "geometry")]
    assert "几何缺失或为空" in rows[(3, "geometry")]
    assert 1 not in {p.row for p in info.value.problems}


def test_projected_geopackage_is_reprojected(tmp_path: Path) -> None:
    wgs = LineString([(121.47, 31.23), (121.48, 31.231)])
    frame = gpd.GeoDataFrame({"name": ["中山东一路"]}, geometry=[wgs], crs=4326).to_crs(4549)
    path = tmp_path / "streets.gpkg"
    frame.to_file(path, driver="GPKG")  # CGCS2000 / 3-degree Gauss-Kruger CM 120E
    [street] = read_layer_file(path, Kind.street).features
    assert street.geometry.equals_exact(wgs, tolerance=1e-7)  # back in lon/lat, ~1 cm
    assert GEOD.geometry_length(street.geometry) == pytest.approx(GEOD.geometry_length(wgs))


def test_projected_coordinates_without_crs_are_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "points.geojson"
    frame = gpd.GeoDataFrame({"name": ["x"], "category": ["bus_stop"]},
                             geometry=[Point(121.47, 31.23)], crs=4326).to_crs(32651)
    path.write_text(frame.set_crs(None, allow_override=True).to_json(), encoding="utf-8")
    with pytest.raises(ImportRejected) as info:
        read_layer_file(path, Kind.test_point)
    assert "看似投影坐标" in (info.value.problems[0].hint or "")


def test_zipped_shapefile_with_gbk_attributes(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"名称": ["方浜中路", "河南南路"], "lanes": [2, 4]},
                             geometry=[LineString([(121.48, 31.22), (121.49, 31.22)]),
                                       LineString([(121.48, 31.23), (121.48, 31.24)])],
                             crs=4326)
    shp = tmp_path / "roads.shp"
    frame.to_file(shp, encoding="gbk")
    (tmp_path / "roads.cpg").unlink(missing_ok=True)  # offices often ship no .cpg
    archive = tmp_path / "roads.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in tmp_path.glob("roads.*"):
            if part.suffix != ".zip":
                zf.write(part, part.name)
    result = read_layer_file(archive, Kind.street)
    assert [f.name for f in result.features] == ["方浜中路", "河南南路"]
    assert result.features[1].properties["lanes"] == 4


def test_gbk_csv_with_chinese_columns() -> None:
    result = read_layer_file(LAYERS / "test_points_gbk.csv", Kind.test_point)
    names = [(f.name, f.category, f.properties["unit"]) for f in result.features]
    assert names == [("豫园公厕", "public_toilet", "区绿化市容局"),
                     ("老西门公交站", "bus_stop", "区交通委")]
    assert result.features[0].geometry.equals(Point(121.492, 31.227))


def test_wkt_csv_and_field_mapping(tmp_path: Path) -> None:
    result = read_layer_file(LAYERS / "test_points_wkt.csv", Kind.test_point)
    assert [f.category for f in result.features] == ["bus_stop", "public_toilet"]
    path = tmp_path / "zones.csv"
    path.write_text("MC,DW,wkt\n一号片区,区文明办,\"POLYGON ((121.47 31.23, 121.48 31.23, "
                    "121.48 31.24, 121.47 31.23))\"\n", encoding="utf-8")
    [zone] = read_layer_file(path, Kind.zone, field_map={"name": "MC", "unit": "DW"}).features
    assert zone.name == "一号片区" and zone.properties == {"unit": "区文明办"}
    with pytest.raises(InvalidInput, match="现有列：MC, DW"):
        read_layer_file(path, Kind.zone, field_map={"name": "名称"})


def test_swapped_lat_lon_rows_get_a_hint() -> None:
    with pytest.raises(ImportRejected) as info:
        read_layer_file(LAYERS / "test_points_swapped.csv", Kind.test_point)
    [problem] = info.value.problems
    assert problem.row == 2 and problem.reason == "经纬度似乎写反了"


def test_csv_row_errors_name_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "points.csv"
    path.write_text("name,category,lon,lat\n好点,bus_stop,121.47,31.23\n坏点,bus_stop,abc,31.2\n"
                    "怪类,spaceport,121.47,31.23\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as info:
        read_layer_file(path, Kind.test_point)
    problems = {p.row: p for p in info.value.problems}
    assert problems[3].column == "lon" and problems[3].reason == "坐标缺失或不是数字"
    assert problems[4].column == "category" and "bus_stop" in (problems[4].hint or "")
    assert 2 not in problems


def test_gcj02_input_is_converted_to_wgs84(tmp_path: Path) -> None:
    gx, gy = wgs84_to_gcj02(121.4737, 31.2304)
    path = tmp_path / "amap.csv"
    path.write_text(f"name,category,lon,lat\n高德取点,bus_stop,{gx:.9f},{gy:.9f}\n",
                    encoding="utf-8")
    [point] = read_layer_file(path, Kind.test_point, coords="gcj02").features
    _, _, metres = GEOD.inv(point.geometry.x, point.geometry.y, 121.4737, 31.2304)
    assert metres < 0.05
    [raw] = read_layer_file(path, Kind.test_point).features
    _, _, offset = GEOD.inv(raw.geometry.x, raw.geometry.y, 121.4737, 31.2304)
    assert offset > 300  # without --coords the point would be hundreds of metres off


def test_unreadable_inputs_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello")
    with pytest.raises(InvalidInput, match="不支持的文件类型"):
        read_layer_file(tmp_path / "a.txt", Kind.street)
    (tmp_path / "b.geojson").write_text("{not json")
    with pytest.raises(InvalidInput, match="无法读取"):
        read_layer_file(tmp_path / "b.geojson", Kind.street)
    (tmp_path / "c.zip").write_bytes(b"PK-not-really")
    with pytest.raises(InvalidInput, match="不是有效的 zip 文件"):
        read_layer_file(tmp_path / "c.zip", Kind.street)
    (tmp_path / "d.csv").write_bytes("名称,x\n".encode("utf-16"))
    with pytest.raises(InvalidInput):
        read_layer_file(tmp_path / "d.csv", Kind.street)


def test_bytes_upload_reads_like_a_file() -> None:
    data = (LAYERS / "zones_bowtie.geojson").read_bytes()
    assert len(read_layer_bytes(data, "z.geojson", Kind.zone).features) == 2


def test_cli_import_reports_and_leaves_store_unchanged(
        db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    ok = ["import", "zones", str(LAYERS / "zones_bowtie.geojson"), "--db", db_url, "--json"]
    assert main(ok) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["imported"] == 2 and doc["errors"] == 0 and len(doc["warnings"]) == 1
    bad = ["import", "layer", str(LAYERS / "streets_with_point.geojson"), "--kind", "street",
           "--db", db_url, "--json"]
    assert main(bad) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["imported"] == 0 and doc["errors"] == 2
    assert {(e["row"], e["column"]) for e in doc["row_errors"]} == {(2, "geometry"),
                                                                    (3, "geometry")}
    store = open_store(db_url)
    try:
        assert store.layer_counts() == {"zone": 2}  # the refused file wrote nothing
        zones = store.features(Kind.zone)
        assert np.isclose(zones[0].geometry.area, Polygon(
            [(121.47, 31.23), (121.48, 31.23), (121.48, 31.24), (121.47, 31.24)]).area)
    finally:
        store.close()


def test_cadres_are_assigned_by_file(tmp_path: Path) -> None:
    path = tmp_path / "streets.csv"
    path.write_text("名称,路长,wkt\n福佑路,张三,\"LINESTRING (121.47 31.23, 121.48 31.23)\"\n",
                    encoding="utf-8")
    [street] = read_layer_file(path, Kind.street).features
    assert street.name == "福佑路" and street.properties == {"cadre": "张三"}
