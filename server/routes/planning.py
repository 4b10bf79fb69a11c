"""Assessment planning (测评计划): samples, rounds, route sheets, inspections, scores, posts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from geo.analytics.scoring import parse_period
from geo.exports.route_sheet import render_sheet, sheet_context, write_sheet
from geo.layers.coords import point_to_wgs84
from geo.layers.geojson import check_lonlat, parse_coords
from geo.model.clients import device_position
from geo.model.errors import InvalidInput
from geo.planner.inspections import (
    checklist,
    checklists,
    public_inspection,
    record_inspection_once,
    scores,
)
from geo.planner.network import network_distance
from geo.planner.rounds import RoundSpec, create_round, round_geojson, round_stops, stop_rows
from geo.planner.sampling import draw_sample
from geo.planner.siting import plan_posts
from server.auth import Analyst, Inspector, Planner
from server.deps import MAX_ID, Id, IdQuery, SettingsDep, StoreDep
from server.downloads import download_responses, file_download, table_download
from server.locale import request_locale
from server.paging import PAGE_HEADERS, CollectionDep, FeatureCollectionPage, link_headers
from server.params import PageDep, PeriodQuery, format_query
from server.routes.issues import photo_filename, read_photo
from server.routes.layers import GeoJSONResponse
from server.schemas.planning import (
    ChecklistItem,
    InspectionCreate,
    InspectionPublic,
    InspectionRecorded,
    PostPlan,
    RoundCreate,
    RoundCreated,
    RoundDetail,
    RoundSummary,
    Sample,
    ScoreTable,
)
from server.settings import Settings
from server.uploads import receive_form
from server.workers import HeavyWork, in_pool

router = APIRouter(tags=["planning"])


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    teams = row["plan"]["teams"]
    return {"id": row["id"], "name": row["name"], "created_at": row["created_at"].isoformat(),
            "created_by": row["created_by"], "teams": len(teams),
            "stops": sum(len(t["stops"]) for t in teams),
            "unscheduled": len(row["plan"]["unscheduled"])}


@router.get("/api/plan/sample", response_model=None, dependencies=[HeavyWork],
            responses=download_responses("json", "csv", "xlsx", model=Sample))
def plan_sample(_: Analyst, store: StoreDep, seed: Annotated[int, Query(ge=0, le=MAX_ID)],
                risk: bool = False,
                exclude_days: Annotated[int, Query(ge=0, le=3650)] = 0,
                revisit: bool = True,
                format: Annotated[str, format_query("json", "csv", "xlsx")] = "json",
                ) -> dict[str, Any] | Response:
    """A reproducible sample of test points per category quota, stratified by community
    (JSON, or a CSV/xlsx table with Chinese headers)."""
    doc = draw_sample(store, seed, risk=risk, exclude_days=exclude_days, revisit=revisit)
    if format == "json":
        return doc
    return table_download(stop_rows(doc["points"]), format, f"sample-seed{seed}")


@router.post("/api/plan/rounds", status_code=201, dependencies=[HeavyWork],
             response_model=RoundCreated)
def new_round(body: RoundCreate, user: Planner, store: StoreDep,
              settings: SettingsDep) -> dict[str, Any]:
    """Draw a sample, split it into balanced teams routed on the streets, and store it."""
    if body.start:
        check_lonlat(*body.start)
    start = point_to_wgs84(*body.start, parse_coords(body.coords)) if body.start else None
    spec = RoundSpec(teams=body.teams, mode=body.mode, budget_min=body.budget_min,
                     service_min=body.service_min, start=start,
                     return_to_start=body.return_to_start, inspectors=body.inspectors,
                     time_limit_s=settings.plan_solver_seconds)
    row = create_round(store, body.seed, spec, user.actor, name=body.name, risk=body.risk,
                       exclude_days=body.exclude_days)
    return {**_summary(row), "plan": row["plan"]}


@router.get("/api/plan/rounds", response_model=list[RoundSummary])
def list_rounds(_: Analyst, store: StoreDep) -> list[dict[str, Any]]:
    """Every round, newest first."""
    return [_summary(r) for r in store.rounds()]


@router.get("/api/plan/rounds/{round_id}", response_model=RoundDetail)
def get_round(round_id: Id, _: Analyst, store: StoreDep) -> dict[str, Any]:
    """One round with its teams, ordered stops, paths and inspection progress."""
    row = store.round(round_id)
    done = {r["feature_id"]: r["id"] for r in store.inspections(round_id=round_id)}
    return {**_summary(row), "plan": row["plan"], "inspected": done}


@router.get("/api/plan/rounds/{round_id}/stops", response_model=None, response_class=Response,
            responses=download_responses("csv", "xlsx"))
def round_table(round_id: Id, _: Analyst, store: StoreDep,
                format: Annotated[str, format_query("csv", "xlsx")] = "csv") -> Response:
    """Every stop of a round (team, order, address, ETA) as CSV or xlsx."""
    return table_download(stop_rows(round_stops(store.round(round_id))), format,
                          f"round-{round_id}-stops")


@router.get("/api/plan/rounds/{round_id}/geojson", response_class=GeoJSONResponse,
            response_model=FeatureCollectionPage)
def round_layer(round_id: Id, _: Analyst, store: StoreDep,
                asked: CollectionDep) -> GeoJSONResponse:
    """The round for the map: team routes, numbered stops (inspected or not), the start;
    paged like every FeatureCollection (numberMatched, follow the `next` link)."""
    row = store.round(round_id)
    done = {r["feature_id"] for r in store.inspections(round_id=round_id)}
    doc = round_geojson(row, asked.coords, done)
    return GeoJSONResponse(asked.cut(doc["features"]))


@router.get("/api/plan/rounds/{round_id}/sheet", response_model=None, response_class=Response,
            dependencies=[HeavyWork],
            responses=download_responses("html", "pdf"))
def route_sheet(round_id: Id, _: Analyst, store: StoreDep, request: Request,
                team: Annotated[int | None, Query(ge=1)] = None,
                format: Annotated[str, format_query("html", "pdf")] = "html") -> Response:
    """Printable route sheet (路线单) of a round or one team, as HTML or PDF (A4), in the
    requester's language."""
    locale = request_locale(request)
    if format == "html":
        return HTMLResponse(render_sheet(sheet_context(store, round_id, team, locale)))
    name = f"route-sheet-{round_id}" + (f"-team{team}" if team else "") + ".pdf"
    return file_download(lambda out: write_sheet(store, round_id, out, team, locale), name)


@router.get("/api/checklists", response_model=dict[str, list[ChecklistItem]])
def all_checklists(_: Analyst) -> dict[str, list[dict[str, str]]]:
    """Checklist items per test point category."""
    return checklists()


@router.get("/api/checklists/{category}", response_model=list[ChecklistItem])
def one_checklist(category: str, _: Analyst) -> list[dict[str, str]]:
    """The checklist of one test point category."""
    return checklist(category)


def _inspection_record(raw: str | bytes) -> InspectionCreate:
    """The inspection JSON validated; bad JSON or fields are a 422 like any request body."""
    try:
        return InspectionCreate.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


@router.post("/api/inspections", status_code=201, response_model=InspectionRecorded,
             responses={200: {"model": InspectionRecorded, "description": "sent before with "
                              "this client_id: the first record, nothing created"},
                        409: {"description": "the test point is no longer a stop of the round"}})
async def new_inspection(request: Request, user: Inspector, store: StoreDep,
                         settings: SettingsDep, response: Response) -> dict[str, Any]:
    """Record an inspection (JSON, or multipart with `record` JSON and `photo_<code>` files).

    Failed items become issues (source 暗访/督导检查); a photo of a failed item is attached to
    its issue as the before-photo. With `client_id` (a UUID made by an offline client) a
    resend by the same user answers 200 with the first record and creates nothing.
    """
    body, photos = await _inspection_body(request, settings)

    def save() -> tuple[dict[str, Any], bool]:  # routing failed items is heavy: in the pool
        return record_inspection_once(
            store, body.feature_id, body.results,
            body.inspector or user.display_name or user.username, actor=user.actor,
            round_id=body.round_id, source=body.source, photos=photos,
            client_id=body.client_id,
            device=device_position(body.lon, body.lat, body.accuracy_m))

    record, new = await in_pool(request, save)
    if not new:
        response.status_code = 200
    return record


@router.get("/api/inspections", responses={200: {"headers": PAGE_HEADERS}},
            response_model=list[InspectionPublic])
def list_inspections(_: Analyst, store: StoreDep, request: Request, response: Response,
                     page: PageDep, round: IdQuery = None,
                     feature: IdQuery = None) -> list[dict[str, Any]]:
    """Inspection records, oldest first, filtered by round or test point, one page at a time
    (X-Total-Count, and a Link header with rel="next" while more remain)."""
    rows = store.inspections(feature_id=feature, round_id=round, limit=page.limit,
                             offset=page.offset)
    matched = store.inspection_count(feature_id=feature, round_id=round)
    response.headers.update(link_headers(request, page, matched))
    return [public_inspection(r) for r in rows]


@router.get("/api/plan/scores", response_model=ScoreTable)
def score_rates(_: Analyst, store: StoreDep,
                level: Annotated[str, Query(pattern="^(point|category|community|zone|unit)$")]
                = "community", period: PeriodQuery = None) -> dict[str, Any]:
    """Inspection score rates (测评得分率 = passed / applicable) by level, best first, of a
    period (default: every inspection)."""
    start = end = None
    label = "all"
    if period:
        start, end, label = parse_period(period, datetime.now())
    return {"level": level, "period": label, "rows": scores(store, level, start, end)}


@router.get("/api/plan/posts", dependencies=[HeavyWork], response_model=PostPlan)
def post_sites(
    _: Analyst,
    store: StoreDep,
    model: Annotated[str, Query(pattern="^(mclp|lscp)$")] = "mclp",
    p: Annotated[int | None, Query(ge=1, le=500)] = None,
    distance: Annotated[float, Query(gt=0, le=20_000)] = 500,
    demand: Annotated[str, Query(pattern="^(test_point|issues)$")] = "test_point",
    candidate_kind: str | None = None,
) -> dict[str, Any]:
    """Where to put posts: p sites covering the most demand (MCLP) or the fewest covering
    all (LSCP), on street-network distance when streets are loaded."""
    return plan_posts(store, model=model, p=p if model == "mclp" else None, service_m=distance,
                      demand=demand, candidate_kind=candidate_kind,
                      distance=network_distance(store))


async def _inspection_body(request: Request, settings: Settings
                           ) -> tuple[InspectionCreate, dict[str, tuple[str, bytes, str]]]:
    """The inspection record and its photos (item code → file name, bytes, media type) from a
    JSON body, or from a multipart form (`record` JSON, `photo_<code>` files)."""
    photos: dict[str, tuple[str, bytes, str]] = {}
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        # streamed to disk and cut off at CCMAP_MAX_UPLOAD_MB (413), removed when read
        form = await receive_form(request, settings)
        try:
            raw = form.field("record")
            if raw is None:
                raise InvalidInput("multipart 表单提交的巡查记录须有 `record` 字段（内容为 JSON）")
            body = _inspection_record(raw)
            for part in form.files:
                if part.name.startswith("photo_") and part.filename:
                    data, media = await read_photo(part, settings)
                    photos[part.name.removeprefix("photo_")] = (
                        photo_filename(part.filename, media), data, media)
        finally:
            form.cleanup()
    else:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media and media != "application/json" and not media.endswith("+json"):
            raise InvalidInput("巡查记录须以 JSON 发送，或以 multipart 表单发送（`record` 字段"
                               "放记录，`photo_<code>` 字段放照片文件）")
        body = _inspection_record(await request.body())  # size-checked by StrictJSONMiddleware
    return body, photos
