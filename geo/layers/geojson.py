"""RFC 7946 GeoJSON output: lon/lat, counter-clockwise exterior rings, no crs member."""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

import numpy as np
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from geo.layers.coords import CONVERTERS, SYSTEMS, convert_geometry
from geo.model.errors import InvalidGeometry, InvalidInput, LimitExceeded
from geo.model.lifecycle import is_overdue
from geo.model.records import Feature, Issue
from geo.store import BBox

MEDIA_TYPE = "application/geo+json"


def parse_bbox(text: str | None) -> BBox | None:
    """Parse 'minx,miny,maxx,maxy' (WGS84 lon/lat) or raise InvalidInput with the reason."""
    if not text:
        return None
    parts = text.split(",")
    try:
        minx, miny, maxx, maxy = (float(p) for p in parts)
    except ValueError:
        raise InvalidInput("bbox 须为“最小经度,最小纬度,最大经度,最大纬度”（单位为度），"
                           f"收到：{text!r}") from None
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InvalidInput(
            f"bbox {text!r} 不是有效的经纬度范围（单位为度，最小值 ≤ 最大值，"
            "顺序为最小经度,最小纬度,最大经度,最大纬度）"
        )
    return (minx, miny, maxx, maxy)


def parse_coords(value: str | None) -> str:
    """Validate an output coordinate system name (default wgs84)."""
    value = value or "wgs84"
    if value not in SYSTEMS:
        raise InvalidInput(f"coords 须为以下之一：{', '.join(SYSTEMS)}，收到：{value!r}")
    return value


# nesting depth of a position inside `coordinates`, per geometry type
POSITION_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2,
                  "Polygon": 2, "MultiPolygon": 3}


def check_lonlat(lon: Any, lat: Any) -> None:
    """InvalidGeometry unless lon/lat are finite numbers within ±180/±90 degrees."""
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lon, lat))
    if not (numbers and math.isfinite(lon) and math.isfinite(lat)
            and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidGeometry(f"坐标（{lon!r}, {lat!r}）不是以度为单位的经纬度"
                              "（经度 -180..180，纬度 -90..90）")


def check_geometry(doc: Any, max_vertices: int) -> None:
    """Refuse a GeoJSON geometry sent to the API unless every position is finite lon/lat
    degrees, every polygon ring is closed with at least 4 positions, and it has at most
    max_vertices vertices (InvalidGeometry, LimitExceeded: HTTP 422)."""
    kind = doc.get("type") if isinstance(doc, dict) else None
    if kind not in POSITION_DEPTH:
        raise InvalidGeometry("geometry 须为含 coordinates 的 GeoJSON 对象，type 为以下之一："
                              f"{', '.join(POSITION_DEPTH)}")
    assert isinstance(doc, dict)
    count = 0

    def walk(node: Any, depth: int) -> None:
        nonlocal count
        if not isinstance(node, list | tuple):
            raise InvalidGeometry(f"{kind} 的 coordinates 不是由坐标位置组成的嵌套列表")
        if depth == 0:
            if len(node) not in (2, 3):
                raise InvalidGeometry(f"坐标位置应为 [lon, lat]，而不是 {len(node)} 个数值")
            check_lonlat(node[0], node[1])
            count += 1
            if count > max_vertices:
                raise LimitExceeded(f"几何图形的顶点超过 {max_vertices} 个"
                                    "（CCMAP_MAX_GEOMETRY_VERTICES）", limit=max_vertices)
            return
        for child in node:
            walk(child, depth - 1)

    walk(doc.get("coordinates"), POSITION_DEPTH[kind])
    coords = doc["coordinates"]
    rings = coords if kind == "Polygon" else \
        [r for poly in coords for r in poly] if kind == "MultiPolygon" else []
    for ring in rings:
        if len(ring) < 4 or list(ring[0]) != list(ring[-1]):
            raise InvalidGeometry("多边形的环须闭合（首尾坐标相同）且至少有 4 个坐标位置，"
                                  f"该环有 {len(ring)} 个")


def check_shape(geom: BaseGeometry, max_vertices: int) -> None:
    """check_geometry for a shapely geometry (e.g. a stored version about to be restored)."""
    check_geometry(mapping(geom), max_vertices)


def geometry_json(geom: shapely.Geometry) -> dict[str, Any]:
    """Geometry as an RFC 7946 dict (exterior rings counter-clockwise, holes clockwise)."""
    oriented = cast(BaseGeometry, shapely.orient_polygons(geom))
    return dict(mapping(oriented))


def feature_json(f: Feature, coords: str = "wgs84") -> dict[str, Any]:
    """A stored feature as a GeoJSON Feature (coords gcj02/bd09 shift it for those basemaps)."""
    geom = convert_geometry(f.geometry, "wgs84", coords)
    return {"type": "Feature", "id": f.id, "geometry": geometry_json(geom),
            "properties": _properties(f)}


def _properties(f: Feature, fields: Sequence[str] | None = None) -> dict[str, Any]:
    """A feature's GeoJSON properties: its own, then id, kind, name, category, version; with
    fields, the id and those of them it has."""
    props = {**f.properties, "id": f.id, "kind": f.kind.value, "name": f.name,
             "category": f.category, "version": f.version}
    if fields is None:
        return props
    return {"id": f.id, **{k: props[k] for k in fields if props.get(k) is not None}}


# every feature's own properties, from its columns (the rest are the feature's JSON properties)
OWN_PROPERTIES = ("id", "kind", "name", "category", "version")
MAX_FIELDS = 50
_FIELD_NAME = re.compile(r"[^\W\d][\w:.\-]{0,63}")


def parse_fields(spec: str | None) -> tuple[str, ...] | None:
    """The properties a `fields` comma list asks each feature to carry, in order, once each
    (None: all; "": none, the id only); InvalidInput for a name that is no property name."""
    if spec is None:
        return None
    names = tuple(dict.fromkeys(n.strip() for n in spec.split(",") if n.strip()))
    bad = [n for n in names if not _FIELD_NAME.fullmatch(n)]
    if bad:
        raise InvalidInput(f"fields：{bad[0][:80]!r} 不是属性名（应为逗号分隔的属性名，"
                           "如 name,unit）")
    if len(names) > MAX_FIELDS:
        raise InvalidInput(f"fields：最多 {MAX_FIELDS} 个属性名，实有 {len(names)} 个")
    return names


def stored_keys(fields: Sequence[str] | None) -> tuple[str, ...] | None:
    """Of the properties `fields` asks for, those read from a feature's JSON properties
    (None: all of them)."""
    return None if fields is None else tuple(f for f in fields if f not in OWN_PROPERTIES)


class EncodedFeature(str):
    """A GeoJSON Feature already encoded as JSON text: `dumps` writes it as it is."""


FeatureDoc = dict[str, Any] | EncodedFeature  # a Feature of a document dumps writes
# the map's GeoJSON writes coordinates to 7 decimal places (about 1 cm; OpenStreetMap keeps
# as many): the digits past them draw nothing, yet were a third of a page of zones' bytes and
# half of them gzipped. Exports and OGC API Features write what is stored.
COORD_DECIMALS = 7


def features_encoded(rows: Sequence[Feature], coords: str = "wgs84",
                     fields: Sequence[str] | None = None) -> list[EncodedFeature]:
    """The features as feature_json gives them (with fields, the id and those properties;
    coordinates to COORD_DECIMALS places), encoded as JSON text in one pass whose geometries
    GEOS writes (shapely.to_geojson): a page of a thousand zones in 21 ms, not the 60-110 ms
    of feature_json and json.dumps."""
    geoms = np.asarray([convert_geometry(f.geometry, "wgs84", coords) for f in rows],
                       dtype=object)
    rounded = shapely.transform(geoms, lambda xy: np.round(xy, COORD_DECIMALS))
    texts = shapely.to_geojson(shapely.orient_polygons(rounded))
    out = []
    for f, geometry in zip(rows, texts, strict=True):
        props = json.dumps(_properties(f, fields), ensure_ascii=False, separators=(",", ":"))
        out.append(EncodedFeature(f'{{"type":"Feature","id":{json.dumps(f.id)},'
                                  f'"geometry":{geometry},"properties":{props}}}'))
    return out


def dumps(doc: Any) -> bytes:
    """A GeoJSON document as compact UTF-8 JSON, its `features` written as they are where
    they are EncodedFeature (features_encoded)."""
    features = doc.get("features") if isinstance(doc, dict) else None
    if not (isinstance(features, list) and features
            and all(isinstance(f, EncodedFeature) for f in features)):
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    mark = f"ccmap-features-{uuid.uuid4().hex}"  # a string no document holds: their place
    head = json.dumps({**doc, "features": mark}, ensure_ascii=False, separators=(",", ":"))
    before, after = head.split(json.dumps(mark), 1)
    return (before + "[" + ",".join(features) + "]" + after).encode("utf-8")


def issue_json(i: Issue, coords: str = "wgs84", now: datetime | None = None) -> dict[str, Any]:
    """An issue as a GeoJSON point Feature (coords as in feature_json)."""
    props: dict[str, Any] = {
        "id": i.id, "category": i.category, "status": i.status, "description": i.description,
        "address": i.address, "source": i.source, "reporter": i.reporter, "unit": i.unit,
        "zone_id": i.zone_id, "recurring_of": i.recurring_of, "external_id": i.external_id,
        "cadre": i.cadre, "version": i.version,
        "overdue": is_overdue(i.status, i.deadline, now or datetime.now(), i.paused_at),
    }
    for key in ("reported_at", "deadline", "closed_at"):
        value = getattr(i, key)
        props[key] = value.isoformat(timespec="minutes") if value else None
    lon, lat = (i.lon, i.lat) if coords == "wgs84" else CONVERTERS[("wgs84", coords)](i.lon, i.lat)
    return {"type": "Feature", "id": i.id,
            "geometry": {"type": "Point", "coordinates": [float(lon), float(lat)]},
            "properties": props}


def collection(features: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Wrap GeoJSON features in a FeatureCollection."""
    return {"type": "FeatureCollection", "features": list(features)}
