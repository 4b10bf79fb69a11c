"""Request and response bodies of the issue ledger routes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from geo.model.clients import MAX_ACCURACY_M
from server.deps import DbInt, LocalDateTime
from server.schemas.casework import ExtensionPublic
from server.schemas.common import LocalTimeText


class IssueCreate(BaseModel):
    """Body of POST /api/issues."""

    category: str
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    description: str = ""
    address: str = ""
    source: str = Field("supervision", description="a source code (督导检查 by default)")
    reporter: str = ""
    reported_at: LocalDateTime | None = Field(None, description="default: now")
    deadline: LocalDateTime | None = Field(None, description="default: the category's time "
                                           "limit after reported_at")
    external_id: str | None = None
    coords: str = Field("wgs84", description="coordinate system of lon/lat: wgs84, gcj02, bd09")
    urgency: str = Field("normal", pattern="^(normal|urgent)$",
                         description="normal (一般) or urgent (紧急: a shorter time limit)")
    client_id: UUID | None = Field(None, description="a UUID made by an offline client: a "
                                   "second POST with it by the same user answers 200 with the "
                                   "first report and creates nothing")
    accuracy_m: float | None = Field(None, ge=0, le=MAX_ACCURACY_M,
                                     description="the GPS accuracy radius of lon/lat in metres, "
                                     "as the reporting device gave it")


class IssueUpdate(BaseModel):
    """Body of PATCH /api/issues/{id}: `version` is the one you read (optimistic locking)."""

    version: DbInt
    description: str | None = None
    address: str | None = None
    category: str | None = Field(None, description="an issue category code")
    deadline: LocalDateTime | None = Field(None, description="overrides the category's")
    urgency: str | None = Field(None, pattern="^(normal|urgent)$",
                                description="normal or urgent; the limit follows at 派遣")


class IssueTransition(BaseModel):
    """Body of POST /api/issues/{id}/transitions."""

    to: str
    version: DbInt
    note: str = ""
    photo_id: DbInt | None = Field(None, description="退回 after a failed 核查 (返工): the "
                                   "verification photo, uploaded with stage=rework")


class IssueMerge(BaseModel):
    """Body of POST /api/issues/{id}/merge: this issue is a duplicate of `into`."""

    into: DbInt
    version: DbInt
    note: str = ""


class ReinspectionCreate(BaseModel):
    """Body of POST /api/issues/{id}/reinspections."""

    due: LocalDateTime


class ReinspectionResult(BaseModel):
    """Body of POST /api/reinspections/{id}."""

    result: str = Field(pattern="^(held|came_back)$")
    note: str = ""


class IssuePage(BaseModel):
    """One page of the issue list: `total` counts every match; `next` is the URL of the
    following page, null on the last."""

    total: int
    page: int
    page_size: int
    next: str | None = None
    items: list[dict[str, Any]]


class IssuePublic(BaseModel):
    """An issue as the API returns it: codes with their Chinese labels, the route (zone, unit,
    community, cadre), timestamps as ISO 8601 local time, whether it is overdue, and (to a
    signed-in user) the statuses the user may move it to."""

    model_config = ConfigDict(extra="allow")
    id: int
    category: str
    category_label: str | None
    status: str
    status_label: str | None
    description: str | None
    address: str | None
    lon: float
    lat: float
    source: str | None
    source_label: str | None
    reporter: str | None
    external_id: str | None
    zone_id: int | None
    unit: str | None
    community: str | None
    cadre: str | None
    flags: list[str] | None
    recurring_of: int | None
    duplicate_of: int | None
    version: int
    overdue: bool
    reported_at: str | None
    deadline: str | None = Field(description="the deadline in force: set from the category's "
                                 "limit at report, again in working time at 派遣; moved by "
                                 "延期, 返工 and a stopped clock")
    closed_at: str | None
    urgency: str = Field(description="normal (一般) | urgent (紧急)")
    dispatched_at: str | None = Field(description="派遣: when the clock started")
    paused_at: str | None = Field(description="when the clock stopped (挂账/缓办 or a pending "
                                  "延期); null while it runs")
    rework_count: int = Field(description="failed verifications (返工)")
    extension_count: int = Field(description="approved extensions (延期)")
    allowed_next: list[str] | None = None
    claimed_by: str | None = Field(None, description="who holds the issue (认领), while the "
                                   "claim is live; others' writes get 409 until then")
    claimed_until: str | None = None
    client_id: str | None = Field(None, description="the UUID an offline client sent the "
                                  "report with (POST /api/issues `client_id`)")
    accuracy_m: float | None = Field(None, description="the reporting device's GPS accuracy "
                                     "radius in metres (null: not sent)")


class PhotoStored(BaseModel):
    """A stored photo: its id, where to fetch it, its stage."""

    id: int
    url: str
    stage: str


class IssueCreated(IssuePublic):
    """A reported issue, and the open issues nearby that may be the same (duplicate
    candidates, by id)."""

    duplicate_candidates: list[int]


class IssueEvent(BaseModel):
    """One entry of an issue's history (留痕): a status change or a note."""

    model_config = ConfigDict(extra="allow")
    id: int
    issue_id: int
    from_status: str | None
    to_status: str | None
    actor: str | None
    note: str | None
    at: str


class PhotoRef(BaseModel):
    """A photo of an issue: fetch its bytes from `url`."""

    id: int
    stage: str
    filename: str | None
    url: str


class ReinspectionScheduled(BaseModel):
    """A scheduled 回头看: its id."""

    id: int


class ReinspectionPublic(BaseModel):
    """A re-inspection (回头看): when it is due and, once recorded, whether the fix held."""

    id: int
    issue_id: int
    due: LocalTimeText
    result: str | None
    done_at: LocalTimeText | None
    actor: str | None
    note: str | None


class LinkedReport(BaseModel):
    """A report merged into an issue as its duplicate: its reporter is linked to the issue."""

    id: int
    reporter: str | None
    source: str | None
    source_label: str | None
    reported_at: LocalTimeText | None
    description: str | None


class IssueDetail(IssuePublic):
    """One issue with its full history, photos, re-inspections, its clock and 延期, and the
    reports merged into it as duplicates (linked_reports)."""

    history: list[IssueEvent]
    photos: list[PhotoRef]
    reinspections: list[ReinspectionPublic]
    linked_reports: list[LinkedReport] = []
    clock: str = Field(description="not_started | running | paused | waiting (handled, "
                       "awaiting 核查) | stopped (closed or rejected)")
    clock_label: str
    urgency_label: str
    due_in_working_hours: float | None = Field(description=(
        "working hours to the deadline (negative: past it); while the clock is stopped, "
        "what it had left when it stopped"))
    escalated: bool = Field(description="督办: failed verification too often")
    extensions: list[ExtensionPublic]
    may_apply_extension: bool
    may_decide_extension: bool
