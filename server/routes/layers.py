"""Layer and feature endpoints (GeoJSON)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from geo import geojson
from geo.errors import InvalidInput
from geo.kinds import LABELS_ZH, Kind, parse_kind
from geo.store import IssueQuery
from server.auth import Reader
from server.deps import Id, SettingsDep, StoreDep
from server.routes.issues import issue_query

router = APIRouter(tags=["layers"])

BBoxQuery = Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (WGS84)")]
CoordsQuery = Annotated[str | None, Query(
    description="output coordinates: wgs84 (default), gcj02 or bd09 (for Chinese basemaps)")]


class GeoJSONResponse(JSONResponse):
    """JSON response with the GeoJSON media type."""

    media_type = geojson.MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@router.get("/api/layers")
def list_layers(_: Reader, store: StoreDep) -> list[dict[str, Any]]:
    """Every layer kind with its Chinese label and feature count."""
    counts = store.layer_counts()
    return [{"kind": k.value, "label": LABELS_ZH[k], "count": counts.get(k.value, 0)}
            for k in Kind]


@router.get("/api/layers/{kind}", response_class=GeoJSONResponse)
def layer_features(
    kind: str,
    user: Reader,
    store: StoreDep,
    settings: SettingsDep,
    bbox: BBoxQuery = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    properties: Annotated[
        str | None, Query(description='JSON object of property filters, e.g. {"unit":"…"}')
    ] = None,
    coords: CoordsQuery = None,
) -> GeoJSONResponse:
    """Features of one layer as a GeoJSON FeatureCollection, filtered by bbox and properties."""
    where = _parse_properties(properties)
    out = geojson.parse_coords(coords)
    limit = min(limit or settings.layer_limit, settings.layer_limit)
    rows = store.features(parse_kind(kind), geojson.parse_bbox(bbox), limit, where,
                          scope_unit=user.scope_unit)
    return GeoJSONResponse(geojson.collection(geojson.feature_json(f, out) for f in rows))


@router.get("/api/features/{feature_id}", response_class=GeoJSONResponse)
def one_feature(feature_id: Id, user: Reader, store: StoreDep,
                coords: CoordsQuery = None) -> GeoJSONResponse:
    """One feature as a GeoJSON Feature (404 outside a unit user's scope)."""
    out = geojson.parse_coords(coords)
    feature = store.feature(feature_id, scope_unit=user.scope_unit)
    return GeoJSONResponse(geojson.feature_json(feature, out))


@router.get("/api/issues.geojson", response_class=GeoJSONResponse)
def issues_geojson(
    query: Annotated[IssueQuery, Depends(issue_query)],
    settings: SettingsDep,
    store: StoreDep,
    coords: CoordsQuery = None,
) -> GeoJSONResponse:
    """Issues as GeoJSON points, with the filters of GET /api/issues (page size up to the
    layer limit)."""
    out = geojson.parse_coords(coords)
    query.offset, query.limit = 0, settings.layer_limit
    rows, _ = store.query_issues(query)
    now = datetime.now()
    return GeoJSONResponse(geojson.collection(geojson.issue_json(i, out, now) for i in rows))


def _parse_properties(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise InvalidInput('properties must be a JSON object such as {"unit": "市城管局"}')
    return value
