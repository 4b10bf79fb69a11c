"""Coverage gaps (覆盖缺口): JSON report and a GeoJSON layer for the map."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from shapely.geometry import shape

from geo.i18n import translate
from geo.layers import geojson
from geo.layers.coords import convert_geometry
from geo.store import BBox, Store
from geo.zones.gaps import ReportCache, gap_features
from server.auth import Analyst
from server.deps import StoreDep
from server.locale import request_locale
from server.paging import CollectionDep, FeatureCollectionPage
from server.params import BBoxQuery
from server.routes.layers import GeoJSONResponse, router
from server.schemas.analytics import CoverageReport

DaysQuery = Annotated[int, Query(ge=1, le=3650, description="forgotten corner window (days)")]


@router.get("/api/coverage", tags=["coverage"], response_model=CoverageReport,
            response_model_exclude_unset=True)  # the sections a report has, no nulls added
def coverage(_: Analyst, request: Request, store: StoreDep, days: DaysQuery = 30,
             geometry: bool = False,
             bbox: BBoxQuery = None,
             limit: Annotated[int | None, Query(ge=0, description=(
                 "list at most this many parts of each kind, largest first (totals count "
                 "all; totals.left_out says how many were left out)"))] = None
             ) -> dict[str, Any]:
    """Totals first (uncovered area, overlap area, unassigned km, orphan points, counts of
    parts), then uncovered area, overlaps, uncovered street/alley length, unassigned points,
    uncovered issues and forgotten corners (geometries included with ?geometry=true); with a
    bbox, of the part of the jurisdiction inside it only (computed there only)."""
    report = _report(request, store, days, geometry, geojson.parse_bbox(bbox), limit)
    if report.get("message"):  # why there is nothing to analyse
        report = {**report, "message": translate(report["message"], request_locale(request))}
    return report


def _report(request: Request, store: Store, days: int, geometry: bool, bbox: BBox | None,
            limit: int | None = None) -> dict[str, Any]:
    cache: ReportCache = request.app.state.gap_reports
    return cache.report(store, bbox, days, geometry, limit)


@router.get("/api/coverage.geojson", response_class=GeoJSONResponse, tags=["coverage"],
            response_model=FeatureCollectionPage)
def coverage_layer(_: Analyst, request: Request, store: StoreDep, asked: CollectionDep,
                   days: DaysQuery = 30, bbox: BBoxQuery = None) -> GeoJSONResponse:
    """The gaps as GeoJSON features (gap = uncovered_area | overlap | uncovered_line), paged
    (numberMatched counts every gap; follow the `next` link); with a bbox, the gaps inside it
    (areas and lines cut at its edges), computed there only."""
    report = _report(request, store, days, True, geojson.parse_bbox(bbox))
    doc = asked.cut(gap_features(report))
    if asked.coords != "wgs84":
        for f in doc["features"]:
            geom = convert_geometry(shape(f["geometry"]), "wgs84", asked.coords)
            f["geometry"] = geojson.geometry_json(geom)
    return GeoJSONResponse(doc)
