"""The evaluation indicators (考评指标) per unit, zone, community or category for a period."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from geo.analytics.indicators import indicator_table, indicators
from server.auth import Reader
from server.deps import SettingsDep, StoreDep
from server.downloads import download_responses, table_download
from server.locale import request_locale
from server.params import PeriodQuery, format_query
from server.schemas.indicators import IndicatorReport, IndicatorRow

router = APIRouter(tags=["indicators"])
LevelQuery = Annotated[str, Query(
    pattern="^(unit|zone|community|category|city)$",
    description="group by unit (责任单位), zone (责任区), community (社区), category (问题类型), "
                "or city (one row: everything in the caller's scope)")]


@router.get("/api/indicators", response_model=None,
            responses=download_responses("json", "csv", "xlsx", model=list[IndicatorRow]))
def indicator_rows(
    request: Request,
    user: Reader,
    store: StoreDep,
    settings: SettingsDep,
    level: LevelQuery = "unit",
    period: PeriodQuery = None,
    format: Annotated[str, format_query("json", "csv", "xlsx")] = "json",
) -> Response:
    """立案数, 应结案数, 结案数, 按期结案数, 结案率, 按期结案率, 返工率, 延期率, 超期数 and
    综合指标值 per group for a period (a unit user: its own cases), ranked by the score, each
    with the previous period's figures and the change (环比)."""
    doc = indicators(store, level, period, scope_unit=user.scope_unit,
                     rules=settings.indicator_rules())
    if format == "json":
        return JSONResponse(doc["rows"])
    return table_download(indicator_table(doc["rows"]), format,
                          f"indicators-{level}-{doc['period']}", request_locale(request))


@router.get("/api/indicators/report", response_model=IndicatorReport)
def indicator_report(user: Reader, store: StoreDep, settings: SettingsDep,
                     level: LevelQuery = "unit", period: PeriodQuery = None) -> dict[str, Any]:
    """The indicators of /api/indicators with the period's bounds, the previous period, the
    rules in force (缓办, weights, formula) and the total of the caller's scope."""
    return indicators(store, level, period, scope_unit=user.scope_unit,
                      rules=settings.indicator_rules(), with_total=True)
