"""RFC 7946 GeoJSON output: lon/lat, counter-clockwise exterior rings, no crs member."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from geo.coords import CONVERTERS, SYSTEMS, convert_geometry
from geo.errors import InvalidInput
from geo.features import Feature, Issue
from geo.lifecycle import is_overdue
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
        raise InvalidInput(f"bbox must be minx,miny,maxx,maxy in degrees, got {text!r}") from None
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InvalidInput(
            f"bbox {text!r} is not lon/lat degrees with min <= max "
            "(order: minlon,minlat,maxlon,maxlat)"
        )
    return (minx, miny, maxx, maxy)


def parse_coords(value: str | None) -> str:
    """Validate an output coordinate system name (default wgs84)."""
    value = value or "wgs84"
    if value not in SYSTEMS:
        raise InvalidInput(f"coords must be one of {', '.join(SYSTEMS)}, got {value!r}")
    return value


def geometry_json(geom: shapely.Geometry) -> dict[str, Any]:
    """Geometry as an RFC 7946 dict (exterior rings counter-clockwise, holes clockwise)."""
    oriented = cast(BaseGeometry, shapely.orient_polygons(geom))
    return dict(mapping(oriented))


def feature_json(f: Feature, coords: str = "wgs84") -> dict[str, Any]:
    """A stored feature as a GeoJSON Feature (coords gcj02/bd09 shift it for those basemaps)."""
    props = {**f.properties, "id": f.id, "kind": f.kind.value, "name": f.name,
             "category": f.category, "version": f.version}
    geom = convert_geometry(f.geometry, "wgs84", coords)
    return {"type": "Feature", "id": f.id, "geometry": geometry_json(geom), "properties": props}


def issue_json(i: Issue, coords: str = "wgs84", now: datetime | None = None) -> dict[str, Any]:
    """An issue as a GeoJSON point Feature (coords as in feature_json)."""
    props: dict[str, Any] = {
        "id": i.id, "category": i.category, "status": i.status, "description": i.description,
        "address": i.address, "source": i.source, "reporter": i.reporter, "unit": i.unit,
        "zone_id": i.zone_id, "recurring_of": i.recurring_of, "external_id": i.external_id,
        "cadre": i.cadre, "version": i.version,
        "overdue": is_overdue(i.status, i.deadline, now or datetime.now()),
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
