"""Layer and feature endpoints (GeoJSON)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from geo.layers import geojson
from geo.model.errors import InvalidInput
from geo.model.kinds import LABELS_ZH, Kind, parse_kind
from server.auth import Reader
from server.deps import Id, StoreDep
from server.paging import CollectionDep, FeatureCollectionPage
from server.params import BBoxQuery, CoordsQuery, FieldsQuery, IssueFilters, PropertiesQuery
from server.schemas.common import GeoJSONFeature
from server.schemas.layers import FeatureNames, LayerInfo

router = APIRouter(tags=["layers"])



class GeoJSONResponse(JSONResponse):
    """JSON response with the GeoJSON media type."""

    media_type = geojson.MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return geojson.dumps(content)


@router.get("/api/layers", response_model=list[LayerInfo])
def list_layers(_: Reader, store: StoreDep) -> list[dict[str, Any]]:
    """Every layer kind with its Chinese label and feature count."""
    counts = store.layer_counts()
    return [{"kind": k.value, "label": LABELS_ZH[k], "count": counts.get(k.value, 0)}
            for k in Kind]


@router.get("/api/layers/{kind}", response_class=GeoJSONResponse,
            response_model=FeatureCollectionPage)
def layer_features(
    kind: str, user: Reader, store: StoreDep, asked: CollectionDep,
    bbox: BBoxQuery = None, properties: PropertiesQuery = None, fields: FieldsQuery = None,
) -> GeoJSONResponse:
    """Features of one layer, filtered by bbox and properties, as a paged GeoJSON
    FeatureCollection (numberMatched, and a `next` link while more remain); with `fields`,
    each feature carries only those properties (and its id)."""
    where, page = parse_properties(properties), asked.page
    layer, box = parse_kind(kind), geojson.parse_bbox(bbox)
    picked = geojson.parse_fields(fields)
    matched = store.count_features(layer, box, where, scope_unit=user.scope_unit)
    rows = store.features(layer, box, page.limit, where, scope_unit=user.scope_unit,
                          offset=page.offset, keys=geojson.stored_keys(picked)
                          ) if page.offset < matched else []
    return GeoJSONResponse(asked.of(geojson.features_encoded(rows, asked.coords, picked),
                                    matched))


@router.get("/api/layers/{kind}/names", response_model=FeatureNames)
def feature_names(
    kind: str,
    user: Reader,
    store: StoreDep,
    prefix: Annotated[str, Query(max_length=100,
                                 description="the start of the name (empty: every name)")] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """Find features of a layer by the start of their name (e.g. a zone for the issue filter),
    sorted by name: the first `limit` matches (id, name, unit) and how many match in all, in
    the caller's scope."""
    rows, matched = store.feature_names(parse_kind(kind), prefix.strip(), limit,
                                        scope_unit=user.scope_unit)
    return {"numberMatched": matched, "numberReturned": len(rows), "items": rows}


@router.get("/api/features/{feature_id}", response_class=GeoJSONResponse,
            response_model=GeoJSONFeature)
def one_feature(feature_id: Id, user: Reader, store: StoreDep,
                coords: CoordsQuery = None) -> GeoJSONResponse:
    """One feature as a GeoJSON Feature (404 outside a unit user's scope)."""
    out = geojson.parse_coords(coords)
    feature = store.feature(feature_id, scope_unit=user.scope_unit)
    return GeoJSONResponse(geojson.feature_json(feature, out))


@router.get("/api/issues.geojson", response_class=GeoJSONResponse,
            response_model=FeatureCollectionPage)
def issues_geojson(query: IssueFilters, store: StoreDep,
                   asked: CollectionDep) -> GeoJSONResponse:
    """Issues as GeoJSON points with the filters of GET /api/issues, paged as a
    FeatureCollection (limit/offset, numberMatched, a `next` link while more remain)."""
    query.offset, query.limit = asked.page.offset, asked.page.limit
    rows, matched = store.query_issues(query)
    now = datetime.now()
    return GeoJSONResponse(asked.of((geojson.issue_json(i, asked.coords, now) for i in rows),
                                    matched))


def parse_properties(text: str | None) -> dict[str, Any]:
    """The `properties` filter ({"unit": "…"} as JSON) of layer and tile requests."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise InvalidInput('properties 须为 JSON 对象，例如 {"unit": "市城管局"}')
    return value
