"""Vector tiles of every layer and of issues (Mapbox Vector Tile), with ETags."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, FastAPI, Path, Request
from fastapi.responses import Response

from geo.maps.tilecache import (
    GZIP_MAGIC,
    TileCaches,
    plain,
    tile_data,
    tile_request,
    tile_tags,
)
from geo.tiling.tilejson import tilejson
from geo.tiling.tiles import MAX_ZOOM, NextDeadlines, etag_matches
from server.auth import Reader
from server.deps import SettingsDep, StoreDep
from server.params import FieldsQuery, IssueFilters, PropertiesQuery
from server.routes.layers import parse_properties
from server.schemas.common import BINARY
from server.schemas.ogc import TileJSON
from server.settings import Settings

router = APIRouter(tags=["tiles"])

MVT_MEDIA = "application/vnd.mapbox-vector-tile"
CACHE_CONTROL = "private, max-age=0, must-revalidate"  # answers depend on the caller's scope
TileIndex = Annotated[int, Path(ge=0, le=(1 << MAX_ZOOM) - 1)]
_cache_lock = threading.Lock()
T = TypeVar("T")


def _per_app(app: FastAPI, name: str, make: Callable[[], T]) -> T:
    """The app's one `name` (a per-process cache), made on first use."""
    with _cache_lock:
        if not hasattr(app.state, name):
            setattr(app.state, name, make())
        made: T = getattr(app.state, name)
        return made


def tile_caches(app: FastAPI, settings: Settings) -> TileCaches:
    """The process's tile caches (memory, then the machine's disk cache), made on first use."""
    return _per_app(app, "tile_cache", lambda: TileCaches.make(
        int(settings.tile_cache_mb * 1e6), settings.tile_cache_path(),
        int(settings.tile_cache_disk_mb * 1e6), write_behind=True))


def close_tile_caches(app: FastAPI) -> None:
    """At shutdown: the process's tiles still queued for the disk written (for the next
    server), if it made its caches."""
    caches: TileCaches | None = getattr(app.state, "tile_cache", None)
    if caches is not None:
        caches.close()


@router.get(
    "/api/tiles/{layer}/{z}/{x}/{y}.mvt",
    response_class=Response,
    responses={200: {"description": "the tile (empty body: nothing in it)",
                     "content": {MVT_MEDIA: {"schema": BINARY}}},
               304: {"description": "not modified since the ETag sent in If-None-Match"}},
)
def vector_tile(
    layer: str,
    z: Annotated[int, Path(ge=0, le=MAX_ZOOM)],
    x: TileIndex,
    y: TileIndex,
    request: Request,
    user: Reader,
    query: IssueFilters,
    store: StoreDep,
    settings: SettingsDep,
    properties: PropertiesQuery = None,
    size: int = 256,
    fields: FieldsQuery = None,
) -> Response:
    """A Mapbox Vector Tile of a layer kind (street, zone, …) or of `issues`, or of several
    of them at once (a comma list, e.g. `subdistrict,community,street`).

    `size=512`: the tile is drawn 512 pixels wide (at map zoom z + 1), so it leaves out what
    would be too small there and holds the issue cells or points of zoom z + 1 (as the four
    256-pixel tiles of zoom z + 1 do; up to 4 x 1000 issue points).

    Feature layers hold one MVT layer named after the kind (properties id, kind, name,
    category, unit, or those listed in `fields`; the feature id always), filtered like
    GET /api/layers/{kind} (`properties`, one layer only).
    `issues` takes the filters of GET /api/issues and holds the MVT layer `issues` (id,
    category, status, overdue, or the `issues:` items of `fields`; the feature id always)
    from zoom 14 when the tile has at most 1000 of them (4000 from
    zoom 16 on; with the unit as the only filter, counted over the 50 m cells the tile
    touches), else
    `issue_cells` (count, cell_deg): issues counted per grid cell. A comma list gives one tile
    holding each listed layer's MVT layers in the order listed (the page draws them bottom to
    top), the same features as the single-layer tiles. A unit user's tiles hold only what it
    may see. The ETag changes with every write to any of the layers, and for issue tiles that
    show or filter by `overdue`, when an open issue in them passes its deadline; If-None-Match
    answers 304. The header X-Tile-Cache tells where a 200 answer came from: `hit-memory`
    (this worker's cache), `hit-disk` (the cache shared by the machine's workers, filled by
    them and by `ccmap tiles seed`) or `miss` (built for this request).
    """
    req = tile_request(layer, z, x, y, size, query, parse_properties(properties),
                       user.scope_unit, fields)
    tags = tile_tags(store, req, _per_app(request.app, "next_deadlines", NextDeadlines))
    headers = {"ETag": tags.tag, "Cache-Control": CACHE_CONTROL}
    if etag_matches(request.headers.get("if-none-match"), tags.tag):
        return Response(status_code=304, headers=headers)
    data, result = tile_data(store, req, tags, tile_caches(request.app, settings))
    headers["X-Tile-Cache"] = result  # hit-memory | hit-disk | miss (as GeoWebCache says)
    return _mvt_response(data, request, headers)


@router.get("/api/tiles/{layer}.json", response_model=TileJSON)
def tile_json(layer: str, request: Request, user: Reader, store: StoreDep) -> dict[str, Any]:
    """The TileJSON 3.0.0 document of a tile layer (or comma list, as in the tile URL): the
    {z}/{x}/{y} URL template, zooms, bounds (the layers' extent in the caller's scope) and the
    MVT layers with their fields, so that QGIS or MapLibre can add the tiles as an XYZ
    source."""
    template = str(request.base_url).rstrip("/") + f"/api/tiles/{layer}/{{z}}/{{x}}/{{y}}.mvt"
    return tilejson(layer, template, store.extent(scope_unit=user.scope_unit))


def _mvt_response(data: bytes, request: Request, headers: dict[str, str]) -> Response:
    """The tile's bytes as stored (gzip) to a client that takes gzip, else decompressed."""
    if data[:2] == GZIP_MAGIC:  # an MVT starts with 0x1a (layers), never with this
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
        else:
            data = plain(data)
    return Response(data, media_type=MVT_MEDIA, headers=headers)
