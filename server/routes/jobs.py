"""GET /api/jobs/{id}: follow an upload or import that runs in the worker pool."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from geo.accounts import Role, User
from geo.errors import NotFound
from server.auth import CurrentUser
from server.deps import StoreDep

router = APIRouter(tags=["jobs"])


def job_public(row: dict[str, Any]) -> dict[str, Any]:
    """A job as the API returns it."""
    out = {k: row[k] for k in ("id", "kind", "state", "done", "total", "message", "result")}
    for key in ("created_at", "started_at", "finished_at"):
        value: datetime | None = row[key]
        out[key] = value.isoformat(timespec="seconds") if value else None
    return out


def _may_see(user: User, row: dict[str, Any]) -> bool:
    return user.role is Role.admin or row["actor"] == user.actor


@router.get("/api/jobs/{job_id}")
def get_job(job_id: int, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    """State, progress and result of one job; only its submitter (or an admin) sees it."""
    row = store.job(job_id)
    if not _may_see(user, row):
        raise NotFound(f"job {job_id} does not exist")
    return job_public(row)


@router.get("/api/jobs")
def list_jobs(user: CurrentUser, store: StoreDep,
              limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[dict[str, Any]]:
    """The caller's jobs (every job for an admin), newest first."""
    actor = None if user.role is Role.admin else user.actor
    return [job_public(r) for r in store.jobs(actor=actor, limit=limit)]
