"""Read layer files (GeoJSON, GeoPackage, Shapefile, CSV) into validated features.

Row numbers in reports are what a user finds in the file: for CSV the line number (the header
is line 1, so the first data row is 2); for every other format the feature's position, from 1.
A file with any error-level problem is refused whole (ImportRejected); repairs are warnings.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry
from tqdm import tqdm

from geo.layers.coords import SYSTEMS, convert_geometry
from geo.layers.userfiles import (
    CSV,
    LAYER_FORMATS,
    FileLimits,
    check_path,
    file_format,
    read_csv_file,
    read_vector_file,
    user_name,
)
from geo.model.errors import ImportRejected, InvalidInput, LimitExceeded, RowProblem
from geo.model.kinds import AREA, GEOMETRY_TYPES, LINE, POINT, Kind, test_point_categories
from geo.model.records import Feature

FIELDS = ("name", "category", "unit", "responsible_person", "phone", "cadre")
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("name", "名称", "名字", "mc", "NAME"),
    "category": ("category", "类别", "类型", "type", "lx"),
    "unit": ("unit", "责任单位", "单位", "包保单位"),
    "responsible_person": ("responsible_person", "责任人", "person"),
    "phone": ("phone", "电话", "联系电话", "tel"),
    "cadre": ("cadre", "路长", "街长"),
}
LON_COLUMNS = ("lon", "lng", "long", "longitude", "x", "经度")
LAT_COLUMNS = ("lat", "latitude", "y", "纬度")
WKT_COLUMNS = ("wkt", "geometry", "geom", "the_geom")
LON_FIRST = "请把经度写在前面（x 为经度，y 为纬度）"
FORMATS = ".geojson, .json, .gpkg, .zip (Shapefile), .shp, .csv"
ENCODINGS = ("utf-8-sig", "gb18030")
GEOMETRY_FAMILY = {"Point": POINT, "LineString": LINE, "Polygon": AREA}


@dataclass
class ImportResult:
    """Validated features ready to store, and the warnings (repairs) made on the way."""

    features: list[Feature] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


def read_layer_bytes(data: bytes, filename: str, kind: Kind, coords: str = "wgs84",
                     field_map: dict[str, str] | None = None,
                     limits: FileLimits | None = None) -> ImportResult:
    """read_layer_file for an upload: the bytes are written to a temporary file first."""
    with tempfile.TemporaryDirectory(prefix="ccmap-layer-") as tmp:
        path = Path(tmp) / "upload.bin"  # the format comes from filename, not this name
        path.write_bytes(data)
        return read_layer_file(path, kind, coords, field_map, limits=limits, filename=filename)


def read_layer_file(path: Path, kind: Kind, coords: str = "wgs84",
                    field_map: dict[str, str] | None = None,
                    progress: bool = False, limits: FileLimits | None = None,
                    filename: str | None = None) -> ImportResult:
    """Read, reproject to WGS84, map fields and validate every row of a layer file.

    `filename` is the name the user gave (it picks the format and appears in messages; the
    default is path's own name); `limits` caps features, rows, unpacked bytes and vertices."""
    if coords not in SYSTEMS:
        raise InvalidInput(f"--coords 须为以下之一：{', '.join(SYSTEMS)}")
    name = user_name(filename) if filename else path.name
    frame, first_row, problems = _read_frame(path, name, limits or FileLimits())
    columns = _resolve_fields(frame, field_map or {})
    geoms = np.asarray(frame.geometry.values, dtype=object)
    problems += _check_vertices(geoms, first_row, limits)
    problems += _check_crs_and_ranges(frame, geoms, first_row)
    if coords != "wgs84":
        ok = ~shapely.is_missing(geoms)
        geoms[ok] = convert_geometry(geoms[ok], coords, "wgs84")
    allowed = GEOMETRY_TYPES[kind]
    categories = test_point_categories() if kind is Kind.test_point else None
    extra = [c for c in frame.columns if c != frame.geometry.name and c not in columns.values()]
    bad_rows = {p.row for p in problems if p.severity == "error"}
    features: list[Feature] = []
    records = pd.DataFrame(frame.drop(columns=frame.geometry.name)).to_dict("records")
    rows = range(len(frame))
    for i in tqdm(rows, desc="validating", unit=" rows", disable=not progress):
        row_no = first_row + i
        if row_no in bad_rows:  # already reported (unreadable coordinates, CRS, swapped)
            continue
        record = records[i]
        geom, problem = _check_geometry(geoms[i], allowed, kind, row_no)
        if problem:
            problems.append(problem)
        if geom is None:
            continue
        values = {f: _text(record[c]) for f, c in columns.items()}
        if categories is not None and values.get("category") not in categories:
            problems.append(RowProblem(row_no, f"未知的测评点位类别 {values.get('category')!r}",
                                       columns.get("category"),
                                       hint=f"可用代码：{', '.join(categories)}"))
            continue
        props = {c: _json_value(record[c]) for c in extra}
        props.update({f: values[f] for f in ("unit", "responsible_person", "phone", "cadre")
                      if values.get(f)})
        features.append(Feature(kind, geom, name=values.get("name") or "",
                                category=values.get("category") or None, properties=props))
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ImportRejected(f"{name}：{len({p.row for p in errors})} 行中有 "
                             f"{len(errors)} 处问题，未导入任何数据",
                             problems=problems)
    if not features:
        raise InvalidInput(f"{name} 中没有要素")
    return ImportResult(features, [p for p in problems if p.severity != "error"])


def _read_frame(path: Path, name: str,
                limits: FileLimits) -> tuple[gpd.GeoDataFrame, int, list[RowProblem]]:
    """The file as a GeoDataFrame, the row number of its first record, and read problems.

    geo.layers.userfiles picks the reader from the name's extension and checks the content first."""
    fmt = file_format(name, LAYER_FORMATS, FORMATS)
    check_path(path, name)
    if fmt == CSV:
        frame, first_row, problems = _read_csv(path, name, limits)
    else:
        frame, first_row, problems = read_vector_file(path, name, fmt, limits), 1, []
    if limits.max_features is not None and len(frame) > limits.max_features:
        setting = limits.setting("MAX_LAYER_FEATURES")
        raise LimitExceeded(f"{name} 有 {len(frame)} 个要素，超过上限 "
                            f"{limits.max_features} 个（{setting}）", limit=limits.max_features,
                            setting=setting)
    return frame, first_row, problems


def _check_vertices(geoms: np.ndarray, first_row: int,
                    limits: FileLimits | None) -> list[RowProblem]:
    """Rows whose geometry has more vertices than allowed; those geometries are dropped."""
    if limits is None or limits.max_vertices is None or not len(geoms):
        return []
    counts = shapely.get_num_coordinates(geoms)
    over = np.flatnonzero(counts > limits.max_vertices)
    setting = limits.setting("MAX_GEOMETRY_VERTICES")
    problems = [RowProblem(first_row + int(i), f"几何有 {int(counts[i])} 个顶点，超过上限 "
                           f"{limits.max_vertices}（{setting}）", "geometry",
                           hint="请简化或拆分该几何") for i in over]
    geoms[over] = None  # reported; not reprojected or validated
    return problems


def _read_csv(path: Path, name: str,
              limits: FileLimits) -> tuple[gpd.GeoDataFrame, int, list[RowProblem]]:
    df = read_csv_file(path, name, limits)
    lower = {c.strip().lower(): c for c in df.columns}
    wkt_col = next((lower[c] for c in WKT_COLUMNS if c in lower), None)
    lon_col = next((lower[c] for c in LON_COLUMNS if c in lower), None)
    lat_col = next((lower[c] for c in LAT_COLUMNS if c in lower), None)
    problems: list[RowProblem] = []
    geoms: list[BaseGeometry | None] = []
    if wkt_col is not None:
        for i, value in enumerate(df[wkt_col]):
            try:
                geoms.append(shapely.from_wkt(value) if value.strip() else None)
            except shapely.errors.GEOSException as exc:
                problems.append(RowProblem(i + 2, f"unreadable WKT: {exc}", wkt_col))
                geoms.append(None)
        used = [wkt_col]
    elif lon_col is not None and lat_col is not None:
        lon = pd.to_numeric(df[lon_col], errors="coerce")
        lat = pd.to_numeric(df[lat_col], errors="coerce")
        for i, (x, y) in enumerate(zip(lon, lat, strict=True)):
            if math.isnan(x) or math.isnan(y):
                col = lon_col if math.isnan(x) else lat_col
                problems.append(RowProblem(i + 2, "坐标缺失或不是数字", col))
                geoms.append(None)
            else:
                geoms.append(shapely.Point(x, y))
        used = [lon_col, lat_col]
    else:
        raise InvalidInput(f"{name} 没有坐标列：须有经纬度列（{'/'.join(LON_COLUMNS)} 与 "
                           f"{'/'.join(LAT_COLUMNS)}）或 WKT 列（{'/'.join(WKT_COLUMNS)}）；"
                           f"现有列：{', '.join(df.columns)}")
    frame = gpd.GeoDataFrame(df.drop(columns=used), geometry=geoms, crs=None)
    return frame, 2, problems


def _resolve_fields(frame: gpd.GeoDataFrame, field_map: dict[str, str]) -> dict[str, str]:
    """Our field → the file's column, from --map first, then known aliases."""
    unknown = [f for f in field_map if f not in FIELDS]
    if unknown:
        raise InvalidInput(f"--map 字段 {unknown[0]!r} 无效，可用字段：{', '.join(FIELDS)}")
    columns = [c for c in frame.columns if c != frame.geometry.name]
    missing = [c for c in field_map.values() if c not in columns]
    if missing:
        raise InvalidInput(f"文件中没有列 {missing[0]!r}；现有列："
                           f"{', '.join(map(str, columns))}")
    out = dict(field_map)
    lower = {str(c).lower(): c for c in columns}
    for f in FIELDS:
        if f not in out:
            hit = next((lower[a.lower()] for a in FIELD_ALIASES[f] if a.lower() in lower), None)
            if hit is not None:
                out[f] = hit
    return out


def _check_crs_and_ranges(frame: gpd.GeoDataFrame, geoms: np.ndarray,
                          first_row: int) -> list[RowProblem]:
    """Reproject to WGS84 when the file says its CRS; flag projected or swapped lon/lat."""
    problems: list[RowProblem] = []
    crs = frame.crs
    present = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    if crs is not None and not CRS(crs).equals(CRS.from_epsg(4326), ignore_axis_order=True):
        projected = gpd.GeoSeries(geoms[present], crs=crs).to_crs(4326)
        geoms[present] = np.asarray(projected.values, dtype=object)
    bounds = np.full((len(geoms), 4), np.nan)
    if present.any():
        bounds[present] = shapely.bounds(geoms[present])
    for i in np.flatnonzero(present):
        minx, miny, maxx, maxy = bounds[i]
        row = first_row + int(i)
        if maxx > 180 or minx < -180 or maxy > 90 or miny < -90:
            if abs(minx) <= 90 and miny >= 73 and maxy <= 136:
                problems.append(RowProblem(row, "经纬度似乎写反了", hint=LON_FIRST))
            else:
                problems.append(RowProblem(
                    row, f"坐标 ({minx:.1f}, {miny:.1f}) 不是经纬度",
                    hint="看似投影坐标（米）：请为文件附上坐标系（.prj 或 GeoPackage 的 SRS），"
                         "以便 ccmap 转换"))
        elif minx >= 3 and maxx <= 54 and miny >= 73 and maxy <= 136:
            problems.append(RowProblem(row, "经纬度似乎写反了（该点会落在中国以外）",
                                       hint=LON_FIRST))
    return problems


def _check_geometry(geom: Any, allowed: frozenset[str], kind: Kind,
                    row: int) -> tuple[BaseGeometry | None, RowProblem | None]:
    """The geometry to store (repaired where safe) and the problem found, if any."""
    if geom is None or shapely.is_missing(geom) or shapely.is_empty(geom):
        return None, RowProblem(row, "几何缺失或为空", "geometry")
    if geom.geom_type not in allowed:
        return None, RowProblem(row, f"图层 {kind.value} 不接受 {geom.geom_type} 几何，应为 "
                                f"{'/'.join(sorted(allowed))}", "geometry")
    if shapely.is_valid(geom):
        return geom, None
    reason = shapely.is_valid_reason(geom)
    fixed = _same_family(shapely.make_valid(geom), geom.geom_type)
    if fixed is None or fixed.geom_type not in allowed:
        return None, RowProblem(row, f"几何无效（{reason}），无法安全修复", "geometry")
    return fixed, RowProblem(row, f"已修复无效几何：{reason}", "geometry", severity="warning")


def _same_family(geom: BaseGeometry, original_type: str) -> BaseGeometry | None:
    """Keep only the parts of geom of the original type's family (drop stray lines/points)."""
    family = next(f for t, f in GEOMETRY_FAMILY.items() if t in original_type)
    if geom.geom_type in family:
        return geom
    parts = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type in family]
    if not parts:
        return None
    merged = shapely.union_all(parts)
    return merged if merged.geom_type in family else None


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip()
    return str(value).strip()


def _json_value(value: Any) -> Any:
    """A value that survives JSON: NaN → None, timestamps → ISO text, numpy → Python."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
