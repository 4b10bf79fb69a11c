"""Files users supply: no format guessing, nothing that reaches other files or URLs, limits.

Every attack here first works against plain GDAL (so the test can fail), then is refused by
geo.layers.userfiles with a reason, and over HTTP with 422 and the reason in `detail`.
"""

from __future__ import annotations

import io
import json
import sqlite3
import stat
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from shapely.geometry import Point

import geo.model.errors
from geo.layers import userfiles
from geo.layers.osm import read_osm
from geo.layers.reading import read_layer_bytes, read_layer_file
from geo.layers.userfiles import FileLimits, copy_limited
from geo.ledger.mapping import read_table, read_table_file
from geo.model.errors import CcmapError, ImportRejected, InvalidInput, LimitExceeded, UnsafeFile
from geo.model.kinds import Kind
from geo.store import Store
from server.app import create_app
from server.cli import main
from server.errors import STATUS
from server.settings import Settings
from tests.conftest import add_user, bearer, wait_for_job

SECRET = "TOPSECRET-7f3a"
POINT = {"type": "Feature", "properties": {"name": "公厕", "category": "public_toilet"},
         "geometry": {"type": "Point", "coordinates": [121.49, 31.22]}}


def _secret_csv(tmp_path: Path) -> Path:
    path = tmp_path / "secret.csv"
    path.write_text(f"name,lon,lat\n{SECRET},121.4,31.2\n", encoding="utf-8")
    return path


def _vrt(secret: Path) -> bytes:
    """A GDAL VRT document that serves the rows of another file on the server."""
    return (f'<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>{secret}</SrcDataSource>'
            f'<SrcLayer>{secret.stem}</SrcLayer><GeometryType>wkbPoint</GeometryType>'
            '<GeometryField encoding="PointFromColumns" x="lon" y="lat"/></OGRVRTLayer>'
            '</OGRVRTDataSource>').encode()


def _zip(members: dict[str, bytes], infos: list[tuple[zipfile.ZipInfo, bytes]] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for info, data in infos:
            zf.writestr(info, data)
    return buf.getvalue()


def _fc(*features: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps({"type": "FeatureCollection", **extra, "features": list(features)},
                      ensure_ascii=False).encode()


def _shapefile_zip(tmp_path: Path) -> bytes:
    gpd.GeoDataFrame({"name": ["豫园公厕"], "category": ["public_toilet"]},
                     geometry=[Point(121.492, 31.227)], crs=4326).to_file(tmp_path / "p.shp")
    return _zip({f"p{ext}": (tmp_path / f"p{ext}").read_bytes()
                 for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg")})


def _gpkg(tmp_path: Path, n: int = 1) -> Path:
    path = tmp_path / "points.gpkg"
    gpd.GeoDataFrame({"name": [f"公厕{i}" for i in range(n)], "category": ["public_toilet"] * n},
                     geometry=[Point(121.49 + i / 1000, 31.22) for i in range(n)],
                     crs=4326).to_file(path, driver="GPKG")
    return path


# --- the attack works against GDAL left to guess ------------------------------------------

def test_plain_gdal_would_leak_the_secret(tmp_path: Path) -> None:
    """The reported hole: GDAL guesses VRT from the content and reads the other file."""
    disguised = tmp_path / "streets.geojson"
    disguised.write_bytes(_vrt(_secret_csv(tmp_path)))
    assert SECRET in gpd.read_file(disguised, engine="pyogrio")["name"].tolist()


@pytest.mark.parametrize("name", ["streets.geojson", "streets.json", "points.csv",
                                  "points.gpkg", "points.shp"])
def test_vrt_in_any_disguise_is_refused(tmp_path: Path, name: str) -> None:
    data = _vrt(_secret_csv(tmp_path))
    with pytest.raises(UnsafeFile, match="VRT") as info:
        read_layer_bytes(data, name, Kind.test_point)
    assert SECRET not in info.value.message


@pytest.mark.parametrize("members", [{"a.shp": "vrt", "a.dbf": b""}, {"a.vrt": "vrt"},
                                     {"p.shp": b"x", "layers/inner.zip": b"PK"}])
def test_vrt_or_nested_archive_inside_a_zip_is_refused(tmp_path: Path,
                                                       members: dict[str, Any]) -> None:
    vrt = _vrt(_secret_csv(tmp_path))
    data = _zip({k: vrt if v == "vrt" else v for k, v in members.items()})
    with pytest.raises(UnsafeFile) as info:
        read_layer_bytes(data, "streets.zip", Kind.test_point)
    assert SECRET not in info.value.message


@pytest.mark.parametrize("name", ["streets.geojson", "points.gpkg", "points.shp", "p.zip"])
def test_the_driver_is_forced_even_if_the_content_checks_were_skipped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Second line of defence: GDAL only ever gets GeoJSON:…, GPKG:… or a Shapefile folder."""
    monkeypatch.setattr(userfiles, "check_geojson", lambda path, name: None)
    monkeypatch.setattr(userfiles, "check_gpkg", lambda path, name: None)
    monkeypatch.setattr(userfiles, "SHP_MAGIC", b"")
    monkeypatch.setattr(userfiles, "check_archive",
                        lambda zf, name, limits, max_ratio=None: zf.infolist())
    vrt = _vrt(_secret_csv(tmp_path))
    path = tmp_path / name
    path.write_bytes(_zip({"a.shp": vrt}) if name.endswith(".zip") else vrt)
    fmt = userfiles.file_format(name, userfiles.LAYER_FORMATS, "")
    with pytest.raises(InvalidInput, match="无法读取") as info:  # GDAL found no layer
        userfiles.read_vector_file(path, name, fmt, FileLimits())
    assert SECRET not in info.value.message


def test_vsi_names_and_contents_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeFile, match="/vsi"):
        read_layer_bytes(_fc(POINT), "/vsicurl/http://127.0.0.1/x.geojson", Kind.test_point)
    csv = "name,category,wkt\n公厕,public_toilet,/vsicurl/http://127.0.0.1/a\n".encode()
    with pytest.raises(UnsafeFile, match="/vsi"):
        read_layer_bytes(csv, "points.csv", Kind.test_point)
    with pytest.raises(UnsafeFile, match="/vsi"):
        read_layer_file(Path(f"/vsizip/{tmp_path}/a.zip/a.shp"), Kind.test_point)


# --- GeoJSON ------------------------------------------------------------------------------

@pytest.mark.parametrize("crs", [
    {"type": "link", "properties": {"href": "http://127.0.0.1:9/crs.wkt", "type": "ogcwkt"}},
    {"type": "url", "properties": {"url": "file:///etc/passwd"}},
    {"type": "name", "properties": {"name": "/etc/passwd"}},
])
@pytest.mark.parametrize("key", ["crs", "CRS", "cr\\u0073"])
def test_geojson_crs_that_gdal_would_fetch_is_refused(crs: dict[str, Any], key: str) -> None:
    data = _fc(POINT, crs=crs).replace(b'"crs"', f'"{key}"'.encode())
    with pytest.raises(UnsafeFile, match="crs"):
        read_layer_bytes(data, "p.geojson", Kind.test_point)
    feature = {**POINT, "geometry": {**POINT["geometry"], "crs": crs}}  # per geometry too
    with pytest.raises(UnsafeFile, match="crs"):
        read_layer_bytes(_fc(feature), "p.geojson", Kind.test_point)


def test_geojson_crs_codes_and_properties_named_crs_are_fine() -> None:
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    feature = {**POINT, "properties": {**POINT["properties"], "crs": "http://example.org/x"}}
    [f] = read_layer_bytes(_fc(feature, crs=crs), "p.geojson", Kind.test_point).features
    assert f.name == "公厕"


@pytest.mark.parametrize("doc", [
    {"type": "gdal_streamed_alg", "command_line": "gdal vector read /etc/passwd"},
    {"type": "Topology", "objects": {}},
    {"features": []},
])
def test_json_that_is_not_geojson_is_refused(doc: dict[str, Any]) -> None:
    with pytest.raises(UnsafeFile, match="不是 GeoJSON"):
        read_layer_bytes(json.dumps(doc).encode(), "x.json", Kind.test_point)


# --- zips ---------------------------------------------------------------------------------

def test_zipped_shapefile_still_imports(tmp_path: Path) -> None:
    [f] = read_layer_bytes(_shapefile_zip(tmp_path), "厕所.zip", Kind.test_point,
                           limits=FileLimits(max_unpacked_bytes=10_000)).features
    assert f.name == "豫园公厕"


def test_zip_bomb_is_refused_from_its_declared_size(tmp_path: Path) -> None:
    bomb = _zip({"p.shp": b"\0" * 20_000_000})
    assert len(bomb) < 100_000
    limits = FileLimits(max_unpacked_bytes=1_000_000)
    with pytest.raises(LimitExceeded, match="CCMAP_MAX_UNPACKED_MB") as info:
        read_layer_bytes(bomb, "bomb.zip", Kind.test_point, limits=limits)
    assert info.value.detail["setting"] == "CCMAP_MAX_UNPACKED_MB"
    cli = Settings().file_limits(cli=True)
    with pytest.raises(LimitExceeded, match="CCMAP_CLI_MAX_UNPACKED_MB"):
        read_layer_bytes(bomb, "bomb.zip", Kind.test_point,
                         limits=FileLimits(1_000_000, setting_prefix=cli.setting_prefix))


def test_unpacking_counts_real_bytes_whatever_the_headers_say() -> None:
    """The guard behind the declared sizes: the copy itself stops at the budget."""
    out = io.BytesIO()
    with pytest.raises(LimitExceeded, match="CCMAP_MAX_UNPACKED_MB"):
        copy_limited(io.BytesIO(b"\0" * 3_000_000), out, 2_000_000, "lying.zip",
                     FileLimits(max_unpacked_bytes=2_000_000))
    assert out.tell() <= 2_000_000
    assert copy_limited(io.BytesIO(b"ab"), io.BytesIO(), 2, "ok.zip", FileLimits()) == 2


def test_zip_members_that_escape_or_link_are_refused(tmp_path: Path) -> None:
    shp = _shapefile_zip(tmp_path)
    link = zipfile.ZipInfo("p.shp")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    cases = {
        "是符号链接": _zip({}, [(link, b"/etc/passwd")]),
        r"指向压缩包之外（\.\.）": _zip({"../evil.shp": b"x"}),
        "名称为绝对路径": _zip({"/tmp/evil.shp": b"x"}),
    }
    for reason, data in cases.items():
        with pytest.raises(UnsafeFile, match=reason):
            read_layer_bytes(data, "p.zip", Kind.test_point)
    two = _zip({"a.shp": b"x", "b.shp": b"x"})
    with pytest.raises(UnsafeFile, match=r"须只含一个 \.shp"):
        read_layer_bytes(two, "p.zip", Kind.test_point)
    assert read_layer_bytes(shp, "p.zip", Kind.test_point).features  # the same, well made


# --- GeoPackage ---------------------------------------------------------------------------

def test_geopackage_imports_and_plain_sqlite_is_refused(tmp_path: Path) -> None:
    path = _gpkg(tmp_path)
    assert len(read_layer_file(path, Kind.test_point).features) == 1
    plain = tmp_path / "plain.gpkg"
    with sqlite3.connect(plain) as conn:
        conn.execute("CREATE TABLE t (a)")
    with pytest.raises(UnsafeFile, match="但不是 GeoPackage"):
        read_layer_file(plain, Kind.test_point)


@pytest.mark.parametrize("sql", [
    "CREATE VIEW leak AS SELECT * FROM points",
    "CREATE TRIGGER t AFTER INSERT ON points BEGIN SELECT ogr_geocode(NEW.name); END",
    "CREATE VIRTUAL TABLE v USING fts4(x)",
    "CREATE TABLE notes (a TEXT DEFAULT ('/vsicurl/http://127.0.0.1/'))",
])
def test_geopackage_schema_that_runs_sql_or_reaches_out_is_refused(tmp_path: Path,
                                                                   sql: str) -> None:
    path = _gpkg(tmp_path)
    with sqlite3.connect(path) as conn:
        conn.execute(sql)
    with pytest.raises(UnsafeFile, match=r"points\.gpkg"):
        read_layer_file(path, Kind.test_point)


# --- content limits -----------------------------------------------------------------------

def test_feature_limit_is_checked_before_reading(tmp_path: Path) -> None:
    limits = FileLimits(max_features=2)
    data = _fc(POINT, POINT, POINT)
    with pytest.raises(LimitExceeded, match="CCMAP_MAX_LAYER_FEATURES"):
        read_layer_bytes(data, "p.geojson", Kind.test_point, limits=limits)
    with pytest.raises(LimitExceeded, match="要素超过 2 个"):
        read_layer_file(_gpkg(tmp_path, 3), Kind.test_point, limits=limits)
    assert len(read_layer_bytes(_fc(POINT, POINT), "p.geojson", Kind.test_point,
                                limits=limits).features) == 2


def test_geometry_over_the_vertex_limit_is_a_row_problem() -> None:
    long = {"type": "Feature", "properties": {"name": "长街"},
            "geometry": {"type": "LineString",
                         "coordinates": [[121.4 + i / 1e4, 31.2] for i in range(50)]}}
    short = {**long, "properties": {"name": "短街"},
             "geometry": {"type": "LineString", "coordinates": [[121.4, 31.2], [121.5, 31.2]]}}
    limits = FileLimits(max_vertices=10)
    with pytest.raises(ImportRejected) as info:
        read_layer_bytes(_fc(short, long), "s.geojson", Kind.street, limits=limits)
    [problem] = info.value.problems
    assert problem.row == 2 and "几何有 50 个顶点，超过上限 10" in problem.reason
    assert "CCMAP_MAX_GEOMETRY_VERTICES" in problem.reason
    assert len(read_layer_bytes(_fc(short, long), "s.geojson", Kind.street).features) == 2


def test_csv_over_the_row_limit_is_refused() -> None:
    rows = "".join(f"A{i},乱堆乱放,121.47,31.23\n" for i in range(5))
    data = ("编号,问题类型,经度,纬度\n" + rows).encode("gb18030")
    with pytest.raises(LimitExceeded, match=r"超过 4 行.*CCMAP_MAX_IMPORT_ROWS"):
        read_table(data, "台账.csv", FileLimits(max_rows=4))
    assert len(read_table(data, "台账.csv", FileLimits(max_rows=5))) == 5
    layer = ("name,category,lon,lat\n" + "公厕,public_toilet,121.4,31.2\n" * 3).encode()
    with pytest.raises(LimitExceeded, match=r"p\.csv 超过 2 行"):
        read_layer_bytes(layer, "p.csv", Kind.test_point, limits=FileLimits(max_rows=2))


def test_csv_that_is_xml_or_json_is_refused() -> None:
    for data, what in ((b'<?xml version="1.0"?><a/>', "XML"), (_fc(POINT), "JSON")):
        with pytest.raises(UnsafeFile, match=what):
            read_table(data, "台账.csv")


# --- xlsx ---------------------------------------------------------------------------------

def _xlsx(rows: int = 2) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(["编号", "问题类型", "经度", "纬度"])
    for i in range(rows):
        ws.append([f"X-{i}", "乱堆乱放", 121.47, 31.23])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _replace_member(data: bytes, member: str, content: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    return _zip({n: (content if n == member else src.read(n)) for n in src.namelist()})


def test_xlsx_reads_from_a_path_named_otherwise(tmp_path: Path) -> None:
    path = tmp_path / "upload.bin"
    path.write_bytes(_xlsx())
    frame = read_table_file(path, "台账.xlsx")
    assert frame["编号"].tolist() == ["X-0", "X-1"]
    with pytest.raises(LimitExceeded, match="超过 1 行"):
        read_table_file(path, "台账.xlsx", FileLimits(max_rows=1))


def test_broken_xlsx_is_a_clear_error_never_a_crash() -> None:
    good = _xlsx()
    billion_laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                      b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
                      b'<worksheet>&lol2;</worksheet>')
    cases: list[tuple[bytes, type[CcmapError]]] = [
        (good[:len(good) // 2], InvalidInput),  # truncated
        (b"PK\x03\x04" + b"\x00" * 100, InvalidInput),
        (b"\xd0\xcf\x11\xe0 an old .xls", UnsafeFile),
        (_zip({"hello.txt": b"hi"}), UnsafeFile),
        (_replace_member(good, "xl/worksheets/sheet1.xml", b"<worksheet><sheetData><row"),
         InvalidInput),
        (_replace_member(good, "xl/worksheets/sheet1.xml", billion_laughs), InvalidInput),
        (_replace_member(good, "xl/workbook.xml", b"not xml at all"), InvalidInput),
    ]
    for data, error in cases:
        with pytest.raises(error, match=r"台账\.xlsx"):
            read_table(data, "台账.xlsx")


def test_xlsx_bomb_is_refused_before_openpyxl_opens_it() -> None:
    bomb = _replace_member(_xlsx(), "xl/worksheets/sheet1.xml", b" " * 5_000_000)
    with pytest.raises(LimitExceeded, match="CCMAP_MAX_UNPACKED_MB"):
        read_table(bomb, "台账.xlsx", FileLimits(max_unpacked_bytes=1_000_000))
    with pytest.raises(LimitExceeded, match="zip 炸弹"):  # far below the size limit too
        read_table(bomb, "台账.xlsx", FileLimits(max_unpacked_bytes=100_000_000))


# --- OSM ----------------------------------------------------------------------------------

def test_osm_content_must_match_its_name(tmp_path: Path) -> None:
    cases = {
        "a.osm": _vrt(_secret_csv(tmp_path)),
        "b.osm": b'<?xml version="1.0"?><!DOCTYPE osm [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                 b'<osm version="0.6"><node id="1" lat="1" lon="1"><tag k="name" v="&x;"/>'
                 b'</node></osm>',
        "c.osm.pbf": b'<osm version="0.6"></osm>',
        "d.osm": b"name,lon,lat\n",
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(UnsafeFile, match=name):
            read_osm(path)


def test_osm_limits(tmp_path: Path) -> None:
    nodes = "".join(f'<node id="{i}" lat="31.2" lon="121.{i}"><tag k="amenity" '
                    f'v="toilets"/></node>' for i in range(1, 4))
    path = tmp_path / "x.osm"
    path.write_text(f'<?xml version="1.0"?>\n<osm version="0.6">{nodes}</osm>')
    assert len(read_osm(path).features) == 3
    with pytest.raises(LimitExceeded, match="CCMAP_MAX_LAYER_FEATURES"):
        read_osm(path, limits=FileLimits(max_features=2))


# --- the CLI uses its own limits ----------------------------------------------------------

def test_cli_import_names_the_cli_setting(db_url: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.geojson"
    path.write_bytes(_fc(POINT, POINT))
    monkeypatch.setenv("CCMAP_CLI_MAX_LAYER_FEATURES", "1")
    assert main(["import", "layer", "--kind", "test_point", str(path), "--db", db_url]) == 2
    assert "CCMAP_CLI_MAX_LAYER_FEATURES" in capsys.readouterr().err
    vrt = tmp_path / "streets.geojson"
    vrt.write_bytes(_vrt(_secret_csv(tmp_path)))
    assert main(["import", "layer", "--kind", "street", str(vrt), "--db", db_url]) == 2
    err = capsys.readouterr().err
    assert "VRT" in err and SECRET not in err


# --- over HTTP ----------------------------------------------------------------------------

def _refusal(client: TestClient, r: Any) -> dict[str, Any]:
    """Why an upload was refused: a 422 answer, or a failed job whose error maps to 422."""
    if r.status_code == 202:
        job = wait_for_job(client, r)
        assert job["state"] == "failed", job
        error = job["result"]
        assert STATUS[getattr(geo.model.errors, error["error"])] == 422, error
        return {**error, "raw": json.dumps(job, ensure_ascii=False)}
    assert r.status_code == 422, r.text
    return {**r.json(), "raw": r.text}


def test_http_vrt_uploads_are_422_and_store_nothing(client: TestClient, store: Store,
                                                    tmp_path: Path) -> None:
    vrt = _vrt(_secret_csv(tmp_path))
    answers = [
        client.post("/api/layers/test_point", content=vrt,
                    headers={"content-type": "application/geo+json"}),
        client.post("/api/layers/test_point", files={"file": ("streets.geojson", vrt)}),
        client.post("/api/layers/test_point", files={"file": ("points.csv", vrt)}),
        client.post("/api/layers/test_point",
                    files={"file": ("points.zip", _zip({"a.shp": vrt, "a.dbf": b""}))}),
        client.post("/api/layers/test_point",
                    files={"file": ("points.zip", _zip({"a.vrt": vrt}))}),
    ]
    for r in answers:
        refusal = _refusal(client, r)
        assert "VRT" in refusal["detail"], refusal
        assert SECRET not in refusal["raw"]
    assert store.layer_counts() == {}


def test_http_zip_bomb_and_row_limit(store: Store, tmp_path: Path) -> None:
    settings = Settings(database_url=store.url, basemap="none", max_unpacked_mb=1,
                        max_import_rows=2)
    add_user(store, "admin1", "admin")
    with TestClient(create_app(settings, store=store)) as c:
        c.headers.update(bearer(c, "admin1"))
        bomb = _zip({"p.shp": b"\0" * 20_000_000})
        refusal = _refusal(c, c.post("/api/layers/test_point",
                                     files={"file": ("bomb.zip", bomb)}))
        assert refusal["error"] == "LimitExceeded" and "CCMAP_MAX_UNPACKED_MB" in \
            refusal["detail"]
        ok = _shapefile_zip(tmp_path)
        r = c.post("/api/layers/test_point", files={"file": ("toilets.zip", ok)})
        if r.status_code == 202:
            assert wait_for_job(c, r)["state"] == "done"
        else:
            assert r.status_code == 201, r.text
        assert store.layer_counts() == {"test_point": 1}
        csv = ("编号,问题类型,经度,纬度\n" + "A,乱堆乱放,121.47,31.23\n" * 3).encode()
        refusal = _refusal(c, c.post("/api/issues/import", files={"file": ("台账.csv", csv)}))
        assert "CCMAP_MAX_IMPORT_ROWS" in refusal["detail"]
    assert store.issues() == []


def test_http_broken_xlsx_ledger_is_refused_not_a_crash(client: TestClient,
                                                        store: Store) -> None:
    broken = _xlsx()[:2000]
    r = client.post("/api/issues/import", files={"file": ("台账.xlsx", broken)})
    if r.status_code == 202:
        job = wait_for_job(client, r)
        assert job["state"] == "failed" and job["result"]["error"] == "InvalidInput", job
        assert "台账.xlsx" in job["result"]["detail"]
    else:
        assert r.status_code == 400 and "台账.xlsx" in r.json()["detail"]
    assert store.issues() == []
