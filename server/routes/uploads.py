"""POST /api/layers/{kind}: import a layer file (a job) or a GeoJSON body into the store."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from geo.jobs.uploads import LayerUpload, import_layer
from geo.layers.geojson import parse_coords
from geo.model.errors import InvalidInput
from geo.model.kinds import parse_kind
from geo.zones.editing import ZonePolicy
from server.auth import LayerWriter
from server.deps import SettingsDep, StoreDep
from server.errors import localized_fields
from server.locale import request_locale
from server.params import CoordsQuery
from server.schemas.common import JobAccepted
from server.schemas.layers import LayerImported
from server.uploads import receive_upload
from server.workers import accepted, in_pool, job_pool

router = APIRouter(tags=["layers"])


@router.post("/api/layers/{kind}", status_code=201, response_model=LayerImported,
             responses={202: {"model": JobAccepted,
                              "description": "a file upload: a job, follow status_url"}})
async def upload_layer(
    kind: str,
    request: Request,
    user: LayerWriter,
    store: StoreDep,
    settings: SettingsDep,
    coords: CoordsQuery = None,
    mapping: Annotated[list[str] | None,
                       Query(alias="map", description="FIELD=COLUMN, repeatable")] = None,
) -> JSONResponse:
    """Import a file (multipart field `file`: GeoJSON, GeoPackage, zipped Shapefile, CSV) or
    GeoJSON (request body), all or nothing.

    A file becomes a job: 202 with `job_id` and `status_url` (also the Location header); follow
    GET /api/jobs/{id} for progress and the report. A GeoJSON body up to CCMAP_JOB_THRESHOLD_MB
    is imported at once (201 with the report); a larger one is a job too. Either way the work
    runs in the bounded worker pool, never on the event loop.
    """
    layer_kind, system = parse_kind(kind), parse_coords(coords)
    multipart = _is_multipart(request.headers.get("content-type", ""))
    upload = await receive_upload(request, settings, "图层文件", raw_name="upload.geojson")
    job = LayerUpload(upload.path, upload.filename, layer_kind, system,
                      dict(pair.split("=", 1) for pair in mapping or [] if "=" in pair),
                      ZonePolicy(settings.zone_outside, settings.zone_overlap),
                      settings.file_limits())
    if not multipart and upload.size <= settings.job_threshold_mb * 1e6:
        try:
            doc = await in_pool(request, import_layer, store, job, user.actor)
        finally:
            upload.cleanup()
        locale = request_locale(request)  # the report's row problems in the caller's language
        return JSONResponse(localized_fields(doc, locale), status_code=201)
    job_id = job_pool(request).submit_job(
        "layer_import", user.actor, partial(import_layer, store, job, user.actor),
        unit=user.unit, cleanup=upload.cleanup)
    return accepted(job_id)


def _is_multipart(content_type: str) -> bool:
    """Whether a layer upload is a multipart file (else a GeoJSON body; anything else is
    refused)."""
    if content_type.startswith("multipart/form-data"):
        return True
    if content_type.split(";")[0].strip() not in ("application/geo+json", "application/json"):
        raise InvalidInput("请发送 GeoJSON（application/geo+json），或以 multipart 表单在 "
                           "`file` 字段上传文件（GeoJSON、GeoPackage、压缩的 Shapefile、CSV）")
    return False
