"""POST /api/layers/{kind}: import a layer file or a GeoJSON body into the store."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from geo.errors import InvalidInput, TooLarge
from geo.importing import read_layer_bytes
from geo.kinds import Kind, parse_kind
from geo.ledger import reroute_all
from geo.zones import ZonePolicy, validate_zone_import
from server.auth import LayerWriter
from server.deps import SettingsDep, StoreDep

router = APIRouter(tags=["layers"])


async def read_limited(request: Request, limit_bytes: int) -> bytes:
    """The request body, refused with 413 as soon as it passes limit_bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit_bytes:
        raise TooLarge(f"upload is {int(declared) / 1e6:.1f} MB; the limit is "
                       f"{limit_bytes / 1e6:.1f} MB (CCMAP_MAX_UPLOAD_MB)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit_bytes:
            raise TooLarge(f"upload exceeds the limit of {limit_bytes / 1e6:.1f} MB "
                           "(CCMAP_MAX_UPLOAD_MB)")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/api/layers/{kind}", status_code=201)
async def upload_layer(
    kind: str,
    request: Request,
    user: LayerWriter,
    store: StoreDep,
    settings: SettingsDep,
    coords: Annotated[str, Query(description="wgs84, gcj02 or bd09")] = "wgs84",
    mapping: Annotated[list[str] | None,
                       Query(alias="map", description="FIELD=COLUMN, repeatable")] = None,
) -> JSONResponse:
    """Import GeoJSON (request body) or a file (multipart field `file`); all or nothing."""
    layer_kind = parse_kind(kind)
    body = await read_limited(request, int(settings.max_upload_mb * 1e6))
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        filename, data = await _multipart_file(request, body)
    elif content_type.split(";")[0].strip() in ("application/geo+json", "application/json"):
        filename, data = "upload.geojson", body
    else:
        raise InvalidInput("send GeoJSON (application/geo+json) or a multipart upload with a "
                           "`file` field (GeoJSON, GeoPackage, zipped Shapefile, CSV)")
    field_map = dict(pair.split("=", 1) for pair in mapping or [] if "=" in pair)
    result = read_layer_bytes(data, filename, layer_kind, coords, field_map)
    if layer_kind is Kind.zone:  # the same rules as zones drawn on the map
        result.features, extra = validate_zone_import(
            store, result.features, ZonePolicy(settings.zone_outside, settings.zone_overlap))
        result.problems += extra
    ids = store.add_features(result.features, actor=user.actor)
    doc: dict[str, Any] = {"imported": len(ids), "ids": ids,
                           "warnings": [p.as_dict() for p in result.problems]}
    if layer_kind in (Kind.zone, Kind.street, Kind.alley):  # zones or cadres changed
        doc["rerouted_issues"] = reroute_all(store, user.actor)
    return JSONResponse(doc, status_code=201)


async def _multipart_file(request: Request, body: bytes) -> tuple[str, bytes]:
    """The `file` part of a multipart body that has already been size-checked."""
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartParser

    async def replay() -> Any:
        yield body

    form = await MultiPartParser(request.headers, replay()).parse()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidInput("multipart upload needs a `file` field with a file name")
    return upload.filename, await upload.read()
