"""OGC API – Features (Part 1 Core + GeoJSON, Part 2 CRS) at /ogc: the layers, zones and
issues, scoped to the caller as on /api/layers and /api/issues.geojson (Bearer tokens as
everywhere). Errors are answered in the OGC exception shape (server/errors.py, OgcRoute)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from geo.model.errors import InvalidInput
from geo.ogc.crs import parse_crs
from geo.ogc.documents import (
    GEOJSON,
    JSON,
    collection,
    collection_extent,
    collections,
    conformance,
    landing_page,
    link,
)
from geo.ogc.features import ItemsQuery, item, items
from geo.ogc.query import DEFAULT_LIMIT, parse_bbox, parse_datetime, parse_limit
from server.auth import Reader
from server.deps import StoreDep
from server.errors import OGC_ERROR_RESPONSES, OgcRoute
from server.paging import collection_page
from server.params import (
    OffsetQuery,
    OgcBBoxCrsQuery,
    OgcBBoxQuery,
    OgcCrsQuery,
    OgcDatetimeQuery,
    OgcFormatQuery,
    OgcLimitQuery,
    Page,
)
from server.routes.layers import GeoJSONResponse
from server.schemas.ogc import (
    CollectionInfo,
    Collections,
    Conformance,
    LandingPage,
    OgcFeature,
    OgcFeatureCollection,
)

router = APIRouter(prefix="/ogc", tags=["ogc"], responses=OGC_ERROR_RESPONSES,
                   route_class=OgcRoute)
ITEMS_PARAMS = frozenset({"bbox", "bbox-crs", "crs", "datetime", "limit", "offset", "f"})
ITEM_PARAMS = frozenset({"crs", "f"})
GEOJSON_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"headers": {"Content-Crs": {
    "description": "the CRS of the coordinates, <URI>", "schema": {"type": "string"}}}}}


def _root(request: Request) -> str:
    return str(request.url_for("ogc_landing"))


def _only(request: Request, known: frozenset[str]) -> None:
    """400 for a query parameter the route does not know (Part 1: not silently ignored)."""
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise InvalidInput(f"unknown parameter {', '.join(unknown)}; this request takes "
                           + ", ".join(sorted(known)) + " (未知参数)")


@router.get("", name="ogc_landing", response_model=LandingPage,
            response_model_exclude_none=True)
def landing(request: Request, f: OgcFormatQuery = None) -> dict[str, Any]:
    """The landing page: links to the API definition, conformance and the collections."""
    openapi = str(request.base_url).rstrip("/") + (request.app.openapi_url or "")
    return landing_page(_root(request), openapi)


@router.get("/conformance", response_model=Conformance)
def conformance_classes(f: OgcFormatQuery = None) -> dict[str, Any]:
    """The conformance classes: Part 1 core and GeoJSON, Part 2 CRS."""
    return conformance()


@router.get("/collections", response_model=Collections, response_model_exclude_none=True)
def list_collections(request: Request, user: Reader, store: StoreDep,
                     f: OgcFormatQuery = None) -> dict[str, Any]:
    """Every collection: one per layer kind (the zones are `zone`) and `issues`, each with
    its extent in the caller's scope and the CRSs it can be asked in."""
    return collections(_root(request),
                       lambda c: collection_extent(store, c, user.scope_unit))


@router.get("/collections/{collection_id}", response_model=CollectionInfo,
            response_model_exclude_none=True)
def one_collection(collection_id: str, request: Request, user: Reader, store: StoreDep,
                   f: OgcFormatQuery = None) -> dict[str, Any]:
    """One collection's document."""
    return collection(_root(request), collection_id,
                      collection_extent(store, collection_id, user.scope_unit))


@router.get("/collections/{collection_id}/items", response_class=GeoJSONResponse,
            response_model=OgcFeatureCollection, responses=GEOJSON_RESPONSE)
def collection_items(
    collection_id: str, request: Request, user: Reader, store: StoreDep,
    bbox: OgcBBoxQuery = None, bbox_crs: OgcBBoxCrsQuery = None, crs: OgcCrsQuery = None,
    when: OgcDatetimeQuery = None, limit: OgcLimitQuery = DEFAULT_LIMIT,
    offset: OffsetQuery = 0, f: OgcFormatQuery = None,
) -> GeoJSONResponse:
    """A page of a collection's features, by id: numberMatched counts every match in the
    caller's scope; follow the `next` link until there is none. bbox is in bbox-crs; crs
    names the CRS of the answer (the Content-Crs header repeats it); datetime filters issues
    by reported_at."""
    _only(request, ITEMS_PARAMS)
    out, page_size = parse_crs(crs), parse_limit(limit)
    since, until = parse_datetime(when)
    query = ItemsQuery(out, offset, page_size.served,
                       parse_bbox(bbox, parse_crs(bbox_crs, "bbox-crs")), since, until,
                       user.scope_unit)
    features, matched = items(store, collection_id, query)
    stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    doc = collection_page(request, Page(offset, page_size.served), features, matched,
                          timeStamp=stamp)
    doc["links"].append(link(f"{_root(request)}/collections/{collection_id}", "collection",
                             JSON, "the collection"))
    headers = {"Content-Crs": f"<{out.uri}>"}
    if page_size.clamped:
        headers["Warning"] = (f'299 ccmap "limit {page_size.asked} is over the maximum; '
                              f'{page_size.served} features per page"')
    return GeoJSONResponse(doc, headers=headers)


@router.get("/collections/{collection_id}/items/{item_id}", response_class=GeoJSONResponse,
            response_model=OgcFeature, responses=GEOJSON_RESPONSE)
def collection_item(collection_id: str, item_id: str, request: Request, user: Reader,
                    store: StoreDep, crs: OgcCrsQuery = None,
                    f: OgcFormatQuery = None) -> GeoJSONResponse:
    """One feature by its id (404 when it is not in the collection or outside the caller's
    scope)."""
    _only(request, ITEM_PARAMS)
    out = parse_crs(crs)
    doc = item(store, collection_id, item_id, out, user.scope_unit)
    base = f"{_root(request)}/collections/{collection_id}"
    doc["links"] = [link(str(request.url), "self", GEOJSON, "this feature"),
                    link(base, "collection", JSON, "the collection")]
    return GeoJSONResponse(doc, headers={"Content-Crs": f"<{out.uri}>"})
