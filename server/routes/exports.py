"""Exports from the page: map snapshots of the current view and bulletins."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from geo.exports.bulletin import write_bulletin
from geo.exports.data import export_data
from geo.exports.snapshot import check_pixels, export_map
from geo.layers.geojson import parse_coords
from geo.model.kinds import parse_kind
from server.auth import Analyst
from server.deps import SettingsDep, StoreDep
from server.downloads import download_responses, file_download
from server.locale import request_locale
from server.params import CoordsQuery, IssueQueryDep, LayersQuery, RequiredPeriod, format_query
from server.workers import HeavyWork

router = APIRouter(tags=["exports"], dependencies=[HeavyWork])  # every export is heavy


@router.get("/api/export/map", response_model=None, response_class=Response,
            responses=download_responses("html", "png", "pdf"))
def map_snapshot(
    _: Analyst, store: StoreDep, settings: SettingsDep, query: IssueQueryDep, request: Request,
    format: Annotated[str, format_query("png", "html", "pdf")] = "png",
    view: Annotated[str, Query(pattern="^(main|zones|issues)$")] = "main",
    layers: LayersQuery = None,
    paper: Annotated[str, Query(pattern="^(A4|A3)$")] = "A4",
    landscape: bool = True,
    width: Annotated[int, Query(ge=200, le=6000)] = 1600,
    height: Annotated[int, Query(ge=200, le=6000)] = 1100,
    scale: Annotated[float, Query(ge=0.5, le=4)] = 1.0,
) -> Response:
    """A snapshot of what the page shows: its extent (bbox), visible layers (`layers`) and
    issue filters (the same query parameters as the issue list); PNG at a size and scale, PDF
    on A4/A3; its words in the requester's language."""
    options: dict[str, Any] = {}
    if format == "png":
        check_pixels(width, height, scale, settings.max_export_pixels)
        options = {"width": width, "height": height, "scale": scale}
    elif format == "pdf":
        options = {"paper": paper, "landscape": landscape}
    shown = [x for x in layers.split(",") if x] if layers is not None else None
    locale = request_locale(request)
    return file_download(lambda out: export_map(store, out, view, query.bbox, issues=query,
                                                layers=shown, locale=locale, **options),
                         f"ccmap-map.{format}")


@router.get("/api/export/data", response_model=None, response_class=Response,
            responses=download_responses("gpkg", "geojson", "csv", "xlsx"))
def data_export(
    _: Analyst, store: StoreDep, query: IssueQueryDep, request: Request,
    format: Annotated[str, format_query("gpkg", "geojson", "csv", "xlsx")] = "gpkg",
    coords: CoordsQuery = None, layers: LayersQuery = None,
) -> Response:
    """The city, or the selection (bbox, issue filters, layers), as GeoPackage, GeoJSON, or the
    ledger as CSV/xlsx with Chinese headers; gcj02 for Gaode-based tools (a GeoPackage in
    GCJ-02 or BD-09 is labelled as such)."""
    system = parse_coords(coords)
    kinds = [parse_kind(k) for k in layers.split(",") if k] if layers else None
    return file_download(lambda out: export_data(store, out, coords=system, bbox=query.bbox,
                                                 issues_query=query, kinds=kinds,
                                                 locale=request_locale(request)),
                         f"ccmap-data.{format}")


@router.get("/api/report", response_model=None, response_class=Response,
            responses=download_responses("html", "pdf"))
def bulletin(_: Analyst, store: StoreDep, settings: SettingsDep, period: RequiredPeriod,
             request: Request,
             format: Annotated[str, format_query("pdf", "html")] = "pdf") -> Response:
    """The weekly (2026-W47) or monthly (2026-11) bulletin (in English for an English
    user)."""
    rules = settings.indicator_rules()
    locale = request_locale(request)
    return file_download(lambda out: write_bulletin(store, period, out, rules, locale),
                         f"bulletin-{period}.{format}")
