"""GET /api/jobs/{id}: follow an upload or import that runs in the worker pool."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from geo.i18n import DEFAULT, translate
from geo.jobs.runner import fail_stale
from geo.model.errors import NotFound
from geo.model.lifecycle import ACTIVE_JOB_STATES
from geo.model.users import Role, User
from server.auth import CurrentUser
from server.deps import SettingsDep, StoreDep
from server.errors import localized_fields
from server.locale import request_locale
from server.paging import PAGE_HEADERS, link_headers
from server.params import PageDep
from server.schemas.common import JobPublic

router = APIRouter(tags=["jobs"])


def job_public(row: dict[str, Any], locale: str = DEFAULT) -> dict[str, Any]:
    """A job as the API returns it, its message and its result's row problems in locale."""
    out = {k: row[k] for k in ("id", "kind", "state", "done", "total", "message", "result")}
    if locale != DEFAULT:
        if out["message"]:
            out["message"] = translate(out["message"], locale)
        if isinstance(out["result"], dict):
            out["result"] = localized_fields(out["result"], locale)
    for key in ("created_at", "started_at", "finished_at"):
        value: datetime | None = row[key]
        out[key] = value.isoformat(timespec="seconds") if value else None
    return out


def _may_see(user: User, row: dict[str, Any]) -> bool:
    return user.role is Role.admin or row["actor"] == user.actor


@router.get("/api/jobs/{job_id}", response_model=JobPublic)
def get_job(job_id: int, user: CurrentUser, store: StoreDep, settings: SettingsDep,
            request: Request) -> dict[str, Any]:
    """State, progress and result of one job; only its submitter (or an admin) sees it.
    A queued/running job without a heartbeat for CCMAP_JOB_STALE_MINUTES is failed."""
    row = store.job(job_id)
    if not _may_see(user, row):
        raise NotFound(f"任务 {job_id} 不存在")
    if row["state"] in ACTIVE_JOB_STATES and fail_stale(
            store, timedelta(minutes=settings.job_stale_minutes), job_id=job_id):
        row = store.job(job_id)
    return job_public(row, request_locale(request))


@router.get("/api/jobs", responses={200: {"headers": PAGE_HEADERS}}, response_model=list[JobPublic])
def list_jobs(user: CurrentUser, store: StoreDep, settings: SettingsDep, request: Request,
              response: Response, page: PageDep) -> list[dict[str, Any]]:
    """The caller's jobs (every job for an admin), newest first, one page at a time
    (X-Total-Count, and a Link header with rel="next" while more remain)."""
    actor = None if user.role is Role.admin else user.actor
    fail_stale(store, timedelta(minutes=settings.job_stale_minutes))
    rows = store.jobs(actor=actor, limit=page.limit, offset=page.offset)
    response.headers.update(link_headers(request, page, store.job_count(actor=actor)))
    locale = request_locale(request)
    return [job_public(r, locale) for r in rows]
