"""The issue ledger (问题台账): intake, list, detail, transitions, photos, merge, re-inspection."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from geo.exports.tables import issue_rows
from geo.jobs.uploads import LedgerUpload, import_ledger
from geo.layers.coords import point_to_wgs84
from geo.layers.geojson import parse_coords
from geo.ledger import claims, workflows
from geo.ledger.mapping import load_category_map_data
from geo.ledger.photos import reencode
from geo.ledger.writes import report_issue
from geo.model.claims import check_claim
from geo.model.clients import parse_client_id, public_client_id
from geo.model.errors import InvalidInput
from geo.model.kinds import issue_categories, sources
from geo.model.lifecycle import allowed_next, is_overdue, statuses
from geo.model.records import Issue
from geo.model.users import User, require
from server.auth import CurrentUser, Reader
from server.deps import Id, SettingsDep, StoreDep
from server.downloads import download_responses, table_download
from server.locale import request_locale
from server.params import IssueListDep, format_query
from server.routes.casework import casework_detail
from server.schemas.common import JobAccepted
from server.schemas.issues import (
    IssueCreate,
    IssueCreated,
    IssueDetail,
    IssueMerge,
    IssuePage,
    IssuePublic,
    IssueTransition,
    IssueUpdate,
    PhotoStored,
    ReinspectionCreate,
    ReinspectionPublic,
    ReinspectionResult,
    ReinspectionScheduled,
)
from server.settings import Settings
from server.uploads import FilePart, check_size, receive_upload
from server.workers import HeavyWork, accepted, job_pool

router = APIRouter(tags=["issues"])
PHOTO_MEDIA = {"image/jpeg": "jpg", "image/png": "png"}  # what photos are served as


def issue_public(i: Issue, user: User | None = None,
                 now: datetime | None = None) -> dict[str, Any]:
    """An issue as the API returns it (labels, overdue, next actions for this user)."""
    now = now or datetime.now()
    cats = issue_categories()
    out: dict[str, Any] = {
        "id": i.id, "category": i.category,
        "category_label": cats.get(i.category, {}).get("label", i.category),
        "status": i.status, "status_label": statuses().get(i.status, i.status),
        "description": i.description, "address": i.address, "lon": i.lon, "lat": i.lat,
        "source": i.source, "source_label": sources().get(i.source, i.source),
        "reporter": i.reporter, "external_id": i.external_id, "zone_id": i.zone_id,
        "unit": i.unit, "community": i.community, "cadre": i.cadre, "flags": i.flags,
        "recurring_of": i.recurring_of,
        "duplicate_of": i.duplicate_of, "version": i.version,
        "overdue": is_overdue(i.status, i.deadline, now, i.paused_at),
        "urgency": i.urgency, "rework_count": i.rework_count,
        "extension_count": i.extension_count, "client_id": public_client_id(i.client_key),
        "accuracy_m": i.accuracy_m,
    }
    for key in ("reported_at", "deadline", "closed_at", "dispatched_at", "paused_at"):
        value = getattr(i, key)
        out[key] = value.isoformat(timespec="seconds") if value else None
    holder, until = claims.holder(i, now)  # a claim counts while it is live
    out.update(urgency=i.urgency, claimed_by=holder,
               claimed_until=until.isoformat(timespec="seconds") if until else None)
    if user is not None:
        out["allowed_next"] = allowed_next(i.status, user.role)
    return out


@router.post("/api/issues", status_code=201, response_model=IssueCreated,
             responses={200: {"model": IssueCreated, "description": "sent before with this "
                              "client_id: the first report, nothing created"}})
def create_issue(body: IssueCreate, user: CurrentUser, store: StoreDep,
                 response: Response) -> dict[str, Any]:
    """Report an issue: routed to its zone/unit, deadline from its category, 回潮 detected.
    With `client_id` (a UUID made by an offline client) a resend by the same user answers 200
    with the first report and creates nothing."""
    require(user, "issues:write")
    issue = Issue(**body.model_dump(exclude={"coords", "client_id"}))
    # clicked on a GCJ-02/BD-09 basemap
    issue.lon, issue.lat = point_to_wgs84(issue.lon, issue.lat, parse_coords(body.coords))
    intake, new = report_issue(store, issue, user.actor, client_id=body.client_id)
    if not new:
        response.status_code = 200
    created = store.issue(intake.ids[0])
    return {**issue_public(created, user),
            "duplicate_candidates": intake.duplicates.get(intake.ids[0], [])}


@router.get("/api/issues", response_model=IssuePage)
def list_issues(query: IssueListDep, user: Reader, store: StoreDep,
                request: Request) -> dict[str, Any]:
    """Issues matching the filters, one page at a time (total, and `next` while more remain)."""
    rows, total = store.query_issues(query)
    now = datetime.now()
    size = query.limit or len(rows)
    page = query.offset // size + 1 if size else 1
    more = query.offset + len(rows) < total and bool(rows)
    nxt = str(request.url.include_query_params(page=page + 1, page_size=size)) if more else None
    return {"total": total, "page": page, "page_size": size, "next": nxt,
            "items": [issue_public(i, None, now) for i in rows]}


@router.get("/api/issues/export", response_model=None, response_class=Response,
            dependencies=[HeavyWork],
            responses=download_responses("csv", "xlsx"))
def export_issues(query: IssueListDep, store: StoreDep, request: Request,
                  format: Annotated[str, format_query("csv", "xlsx")] = "csv") -> Response:
    """The filtered ledger as CSV or .xlsx with Chinese headers, or English ones for an
    English user (every matching issue)."""
    query.offset, query.limit = 0, None
    rows, _ = store.query_issues(query)
    locale = request_locale(request)
    return table_download(issue_rows(rows, locale=locale), format, "issues", locale)


@router.post("/api/issues/import", status_code=202, response_model=JobAccepted)
async def import_issues(request: Request, user: CurrentUser, store: StoreDep,
                        settings: SettingsDep) -> JSONResponse:
    """Bulk import a CSV/.xlsx ledger (multipart: `file`, repeatable `map` FIELD=COLUMN,
    `category_map` JSON, `dry_run`) as a job: 202 with `job_id` and `status_url`; the job's
    result is the report listing every bad row."""
    require(user, "issues:write")
    upload = await receive_upload(request, settings, "台账文件")
    try:
        category_map = upload.field("category_map")
        load_category_map_data(category_map)  # a bad map is a 400 now, not a failed job
        job = LedgerUpload(
            upload.path, upload.filename,
            dict(p.split("=", 1) for p in upload.fields.get("map", []) if "=" in p),
            category_map, _form_bool(upload.field("dry_run")), settings.file_limits(),
            settings.import_chunk_rows)
    except BaseException:
        upload.cleanup()
        raise
    job_id = job_pool(request).submit_job(
        "issue_import", user.actor, partial(import_ledger, store, job, user.actor),
        unit=user.unit, cleanup=upload.cleanup)
    return accepted(job_id)


def _form_bool(value: str | None) -> bool:
    """A form checkbox or flag: true/1/on/yes."""
    if value is None or value.strip().lower() in ("", "false", "0", "off", "no"):
        return False
    if value.strip().lower() in ("true", "1", "on", "yes"):
        return True
    raise InvalidInput(f"dry_run 须为 true 或 false，不能是 {value!r}")


@router.get("/api/issues/{issue_id}", response_model=IssueDetail)
def get_issue(issue_id: Id, user: Reader, store: StoreDep,
              settings: SettingsDep) -> dict[str, Any]:
    """One issue with its full history (留痕), photos and re-inspections, its clock (state,
    overdue, working hours left) and 延期 applications."""
    issue = store.issue(issue_id, scope_unit=user.scope_unit)
    history = [{**h, "at": h["at"].isoformat(timespec="seconds")}
               for h in store.issue_history(issue_id)]
    photos = [{"id": p["id"], "stage": p["stage"], "filename": p["filename"],
               "url": f"/api/photos/{p['id']}"} for p in store.photos(issue_id)]
    linked = [{"id": d.id, "reporter": d.reporter, "source": d.source,
               "source_label": sources().get(d.source, d.source), "reported_at": d.reported_at,
               "description": d.description} for d in store.duplicates_of(issue_id)]
    return {**issue_public(issue, user), "history": history, "photos": photos,
            "reinspections": store.reinspections(issue_id), "linked_reports": linked,
            **casework_detail(store, issue, user, settings)}


@router.patch("/api/issues/{issue_id}", response_model=IssuePublic)
def update_issue(issue_id: Id, body: IssueUpdate, user: CurrentUser,
                 store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    """Edit description, address, category, urgency or deadline (override) with a version
    check (409 when stale or while someone else holds the issue); a new category or urgency
    of a dispatched case moves its deadline to the new limit."""
    changes = body.model_dump(exclude_none=True, exclude={"version"})
    return issue_public(workflows.edit_issue(store, issue_id, changes, body.version, user,
                                             rules=settings.case_rules()), user)


@router.post("/api/issues/{issue_id}/transitions", response_model=IssuePublic)
def change_status(issue_id: Id, body: IssueTransition, user: CurrentUser,
                  store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    """Move an issue along the lifecycle; 409 for an illegal or stale change, 403 when the
    change is legal but not for the caller's role. 派遣 starts the clock (deadline: the
    category's limit in working time), 挂账 stops it; 退回 after a failed 核查 (返工) needs the
    reason as `note` and `photo_id`, a photo uploaded with stage=rework."""
    return issue_public(workflows.change_status(store, issue_id, body.to, body.note,
                                                body.version, user,
                                                rules=settings.case_rules(),
                                                photo_id=body.photo_id), user)


@router.post("/api/issues/{issue_id}/merge", response_model=IssuePublic)
def merge_issue(issue_id: Id, body: IssueMerge, user: CurrentUser,
                store: StoreDep) -> dict[str, Any]:
    """Mark this issue a duplicate of another: it is rejected, both histories are kept."""
    return issue_public(workflows.merge_duplicate(store, issue_id, body.into, body.note,
                                                  body.version, user), user)


async def read_photo(part: FilePart, settings: Settings) -> tuple[bytes, str]:
    """An uploaded photo (received to disk) re-encoded (geo.ledger.photos.reencode) and its media
    type; TooLarge over max_photo_mb, UnsafeFile/LimitExceeded when it is not a fit image."""
    check_size(part.size, settings.max_photo_mb, "照片文件", "CCMAP_MAX_PHOTO_MB")
    data = await run_in_threadpool(part.path.read_bytes)
    clean = await run_in_threadpool(reencode, data, settings.max_photo_pixels)
    return clean.data, clean.media_type


def photo_filename(name: str | None, media_type: str) -> str:
    """The user's file name with the extension of the re-encoded image."""
    stem = (name or "photo").rsplit("/", 1)[-1].rsplit("\\", 1)[-1].rsplit(".", 1)[0]
    return f"{stem[:100] or 'photo'}.{'png' if media_type == 'image/png' else 'jpg'}"


PHOTO_FORM = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary"},
                   "stage": {"type": "string", "enum": list(workflows.PHOTO_STAGES),
                             "default": "before"},
                   "client_id": {"type": "string", "format": "uuid"}}}}}}}


@router.post("/api/issues/{issue_id}/photos", status_code=201, openapi_extra=PHOTO_FORM,
             response_model=PhotoStored,
             responses={200: {"model": PhotoStored, "description": "sent before with this "
                              "client_id: the first photo, nothing stored"}})
async def upload_photo(issue_id: Id, request: Request, user: CurrentUser, store: StoreDep,
                       settings: SettingsDep, response: Response,
                       client_id: UUID | None = None) -> dict[str, Any]:
    """Attach a JPEG or PNG photo (multipart: `file`, `stage` before|after|rework: rework is
    the photo of a failed verification, 返工); units may add after-photos to their own. The
    body streams to disk, cut off at CCMAP_MAX_UPLOAD_MB. With `client_id` (a UUID made by an
    offline client; in the query or as a form field) a resend by the same user answers 200
    with the first photo and stores nothing."""
    issue = store.issue(issue_id, scope_unit=user.scope_unit)  # 404 before the body is read
    require(user, "issues:handle")
    done = workflows.resent_photo(store, issue_id, user, client_id)
    if done is None:
        check_claim(issue, user.username, datetime.now())  # and 409 while another holds it
        upload = await receive_upload(request, settings, "照片文件")
        try:
            stage = upload.field("stage") or "before"
            workflows.check_photo_stage(user, stage)  # before the photo is decoded
            client_id = client_id or parse_client_id(upload.field("client_id"))
            part = FilePart("file", upload.path, upload.filename, upload.size,
                            upload.content_type)
            data, content_type = await read_photo(part, settings)
        finally:
            upload.cleanup()
        done = workflows.add_photo(store, issue_id, stage,
                                   photo_filename(upload.filename, content_type), content_type,
                                   data, user, client_id=client_id)
    if not done.created:
        response.status_code = 200
    return {"id": done.id, "url": f"/api/photos/{done.id}", "stage": done.stage}


@router.get("/api/photos/{photo_id}", response_model=None, response_class=Response,
            responses=download_responses("jpg", "png", "bin"))
def get_photo(photo_id: Id, user: Reader, store: StoreDep) -> Response:
    """A photo's bytes (within the caller's scope), as the image type it was re-encoded to;
    never sniffed or shown as anything else."""
    meta, data = store.photo(photo_id)
    store.issue(meta["issue_id"], scope_unit=user.scope_unit)
    media = meta["content_type"] if meta["content_type"] in PHOTO_MEDIA else \
        "application/octet-stream"
    ext = PHOTO_MEDIA.get(media, "bin")
    return Response(data, media_type=media, headers={
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'inline; filename="photo-{photo_id}.{ext}"',
        "Content-Security-Policy": "default-src 'none'; sandbox"})


@router.post("/api/issues/{issue_id}/reinspections", status_code=201,
             response_model=ReinspectionScheduled)
def schedule(issue_id: Id, body: ReinspectionCreate, user: CurrentUser,
             store: StoreDep) -> dict[str, Any]:
    """Schedule a 回头看 of a closed issue."""
    require(user, "issues:write")
    if store.issue(issue_id).status != "closed":
        raise InvalidInput("只有已结案的问题才能安排回头看")
    return {"id": store.schedule_reinspection(issue_id, body.due, user.actor)}


@router.post("/api/reinspections/{reinspection_id}", response_model=ReinspectionPublic)
def record(reinspection_id: Id, body: ReinspectionResult, user: CurrentUser,
           store: StoreDep) -> dict[str, Any]:
    """Record whether the fix held or the problem came back."""
    require(user, "issues:write")
    return store.record_reinspection(reinspection_id, body.result, body.note, user.actor)
