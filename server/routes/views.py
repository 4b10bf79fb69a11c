"""Inspector views: heatmap cells and rankings (打分排名)."""

from __future__ import annotations

import gzip
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from geo.analytics.choropleth import choropleth
from geo.analytics.dashboard import dashboard
from geo.analytics.hotspots import hotspots
from geo.analytics.indicators import indicator_table
from geo.analytics.scoring import formula_text, ranking, weights
from geo.tiling.cells import factor_for_zoom, heatmap
from geo.zones.gaps import jurisdiction
from server.auth import Analyst, Reader
from server.deps import SettingsDep, StoreDep
from server.downloads import download_responses, table_download
from server.locale import request_locale
from server.params import (
    CoordsQuery,
    IssueFilters,
    PeriodQuery,
    SinceQuery,
    UntilQuery,
    format_query,
)
from server.schemas.analytics import (
    Choropleth,
    Dashboard,
    Heatmap,
    Hotspots,
    RankingFormula,
    RankingRow,
)
from server.schemas.indicators import IndicatorRow

router = APIRouter(tags=["views"])
RANKING_HEADERS = [("rank", "排名"), ("name", "名称"), ("score", "得分"), ("trend", "升降"),
                   ("change", "名次变化"), ("issues", "问题数"), ("closed", "结案数"),
                   ("overdue", "超期数"), ("recurring", "回潮数"),
                   ("rectification_rate", "整改率"), ("on_time_closure_rate", "按期结案率"),
                   ("recurrence_rate", "回潮率")]
CHOROPLETH_GZIP_MIN = 1000  # smaller answers go as they are (like the app's GZip middleware)


@router.get("/api/heatmap", response_model=Heatmap)
def heatmap_cells(
    query: IssueFilters,
    store: StoreDep,
    zoom: Annotated[int, Query(ge=0, le=22)] = 15,
    overdue_weight: Annotated[float, Query(ge=0, le=10)] = 1.0,
) -> dict[str, Any]:
    """Issue counts per grid cell for the filters (category, status, source, from, to, bbox,
    overdue, recurring); overdue issues can weigh more (overdue_weight=2)."""
    factor = factor_for_zoom(zoom)  # the zoom's cells counted in SQL, in one query
    counted = store.issue_cell_counts(query, overdue_weight, factor=factor)
    total = sum(n for _, _, n, _ in counted)
    return heatmap([(x, y, w) for x, y, _, w in counted], total, zoom)


@router.get("/api/hotspots", response_class=JSONResponse, response_model=Hotspots)
def hot_and_cold_spots(
    query: IssueFilters,
    store: StoreDep,
    cell: Annotated[float, Query(ge=20, le=5000, description="grid cell size, metres")] = 100,
    recurrence: Annotated[bool, Query(description="only recurring (回潮) issues")] = False,
    permutations: Annotated[int, Query(ge=99, le=9999)] = 999,
) -> JSONResponse:
    """Getis–Ord Gi* hot and cold spots (FDR-corrected) of the filtered issues as GeoJSON,
    on blocks of the base cells counted in the database (cell_m: about `cell` metres)."""
    if recurrence:
        query.recurring = True
    result = hotspots(store.issue_cells(query), jurisdiction(store), cell, permutations)
    return JSONResponse({"type": "FeatureCollection", "features": result.pop("features"),
                         **result})


@router.get("/api/choropleth", response_class=JSONResponse, response_model=Choropleth)
def choropleth_layer(
    request: Request,
    user: Analyst,
    store: StoreDep,
    level: str = "zone",
    metric: str = "issues",
    since: SinceQuery = None,
    until: UntilQuery = None,
    coords: CoordsQuery = None,
) -> Response:
    """Zones or communities classed by a metric (natural breaks) with a legend, as GeoJSON."""
    # the document comes encoded (its areas' Features are kept encoded between requests);
    # gzipped here at level 1: a city's 5 MB of zones in 0.03 s of CPU instead of the 0.15 s
    # of the app's GZip middleware at level 6, 12 % larger
    body = choropleth(store, level, metric, since, until, scope_unit=user.scope_unit,
                      coords=coords)
    headers = {"Vary": "Accept-Encoding"}
    if len(body) >= CHOROPLETH_GZIP_MIN and "gzip" in request.headers.get("accept-encoding", ""):
        body = gzip.compress(body, compresslevel=1)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="application/json", headers=headers)


@router.get("/api/dashboard", response_model=Dashboard)
def dashboard_figures(user: Reader, store: StoreDep, period: PeriodQuery = None) -> dict[str, Any]:
    """KPIs with the previous period, top categories, worst and most improved zones, trend,
    of a period (default: this week)."""
    return dashboard(store, period, scope_unit=user.scope_unit)


@router.get("/api/ranking", response_model=None,
            responses=download_responses("json", "csv", "xlsx",
                                         model=list[RankingRow] | list[IndicatorRow]))
def rank(
    request: Request,
    user: Reader,
    store: StoreDep,
    settings: SettingsDep,
    level: str = "community",
    period: PeriodQuery = None,
    format: Annotated[str, format_query("json", "csv", "xlsx")] = "json",
    basis: Annotated[str, Query(pattern="^(issues|indicators)$", description=(
        "issues: the score of the rates of the issues reported in the period (default); "
        "indicators: the 综合指标值 of the evaluation indicators (as /api/indicators, "
        "also by category)"))] = "issues",
) -> list[dict[str, Any]] | Response:
    """Ranked communities, zones or units for a week (2026-W47), month (2026-11) or range
    (2026-11-01..2026-11-15), with the change against the previous period."""
    doc = ranking(store, level, period, scope_unit=user.scope_unit, basis=basis,
                  rules=settings.indicator_rules())
    rows: list[dict[str, Any]] = doc["rows"]
    if format == "json":  # plain JSON types: encoded as they are (5,000 zones' rows)
        return JSONResponse(rows)
    if basis == "indicators":
        return table_download(indicator_table(rows), format,
                              f"ranking-indicators-{level}-{doc['period']}",
                              request_locale(request))
    table = [[label for _, label in RANKING_HEADERS]]
    table += [[r[key] for key, _ in RANKING_HEADERS] for r in rows]
    return table_download(table, format, f"ranking-{level}-{doc['period']}",
                          request_locale(request))


@router.get("/api/ranking/formula", response_model=RankingFormula)
def formula(_: Reader) -> dict[str, Any]:
    """How the score is computed (shown to the user)."""
    return {"weights": weights(), "formula": formula_text(),
            "notes": "on_time_closure_rate 按期结案率; rectification_rate 整改率; "
                 "no_recurrence_rate = 1 − 回潮率; no_overdue_rate = 1 − 超期数/问题数; "
                 "assessment_score_rate 测评得分率 = 合格项/适用项"
                 "（无检查记录时不计，其余权重按比例放大）"}
