"""The case clock: the office's calendar and time limits, deadlines in working time, and 延期
(extension) applications with their decisions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from geo.calendar.office import (
    add_calendar_days,
    day_public,
    deadline_answer,
    limits_table,
    office_calendar,
    set_time_limits,
)
from geo.ledger.casework import EXTENSIBLE, apply_extension, case_clock, decide_extension
from geo.model.records import Issue
from geo.model.users import User, may
from geo.store import Store
from server.auth import Admin, CurrentUser, Reader
from server.deps import Id, IdQuery, SettingsDep, StoreDep
from server.paging import json_page
from server.params import PageDep
from server.schemas.casework import (
    UNIT_PATTERN,
    CalendarDayPage,
    CalendarDayPublic,
    CalendarDaysCreate,
    CalendarDaysCreated,
    DeadlineAnswer,
    ExtensionCreate,
    ExtensionDecision,
    ExtensionPage,
    ExtensionPublic,
    TimeLimitPublic,
    TimeLimitsUpdate,
)
from server.settings import Settings

router = APIRouter(tags=["casework"])
STATE_LABELS = {"pending": "待审批", "approved": "已批准", "rejected": "已驳回"}
YearQuery = Annotated[int | None, Query(ge=1900, le=2200,
                                        description="only the entries touching this year")]


def extension_public(row: dict[str, Any]) -> dict[str, Any]:
    """An application as the API returns it."""
    return {**row, "state_label": STATE_LABELS.get(row["state"], row["state"])}


def casework_detail(store: Store, issue: Issue, user: User,
                    settings: Settings) -> dict[str, Any]:
    """The clock of one issue (state, overdue, working hours left), its latest 延期
    applications and what the user may do with them."""
    calendar = office_calendar(store, settings.office_hours)
    own = user.scope_unit is None or issue.unit == user.scope_unit
    return {**case_clock(issue, calendar, datetime.now()),
            "extensions": [extension_public(r) for r in store.extensions(issue_id=issue.id,
                                                                         limit=20)],
            "may_apply_extension": may(user, "extensions:apply") and own
            and issue.status in EXTENSIBLE and issue.paused_at is None
            and issue.dispatched_at is not None,
            "may_decide_extension": may(user, "extensions:decide")}


@router.get("/api/calendar/deadline", response_model=DeadlineAnswer)
def deadline(_: Reader, store: StoreDep, settings: SettingsDep,
             start: Annotated[datetime, Query(description=(
                 "ISO 8601; naive: Beijing time, with an offset (+08:00, Z): converted"))],
             amount: Annotated[float, Query(ge=0, le=100_000, description="how much time")],
             unit: Annotated[str, Query(pattern=UNIT_PATTERN, description=(
                 "working_hours | working_days | hours | days"))]) -> dict[str, Any]:
    """The deadline `amount` `unit` after `start` with the office hours and the calendar in
    force (public holidays, 调休 workdays, the office's own days); `warnings` name a year whose
    holidays nobody has entered (counted Monday to Friday)."""
    return deadline_answer(office_calendar(store, settings.office_hours), start, amount, unit,
                           settings.office_hours)


@router.get("/api/calendar/days", response_model=CalendarDayPage)
def calendar_days(_: Reader, store: StoreDep, request: Request, page: PageDep,
                  year: YearQuery = None) -> dict[str, Any]:
    """The office's own days off and workdays, by start date, one page at a time."""
    since, until = (date(year, 1, 1), date(year, 12, 31)) if year else (None, None)
    rows = store.calendar_days(since, until, limit=page.limit, offset=page.offset)
    return json_page(request, page, [day_public(r) for r in rows],
                     store.calendar_day_count(since, until))


@router.post("/api/calendar/days", status_code=201, response_model=CalendarDaysCreated)
def add_days(body: CalendarDaysCreate, admin: Admin, store: StoreDep) -> dict[str, Any]:
    """Enter days off or workdays (a local holiday, a year's schedule the holiday package does
    not know yet), all or none: entries overlapping each other or stored ones are refused
    (422, each with the reason) and nothing is written. Audited."""
    ids = add_calendar_days(store, [d.model_dump() for d in body.days], admin.actor)
    return {"ids": ids, "count": len(ids)}


@router.delete("/api/calendar/days/{day_id}", response_model=CalendarDayPublic)
def delete_day(day_id: Id, admin: Admin, store: StoreDep) -> dict[str, Any]:
    """Delete one calendar entry (audited); the entry as it was."""
    return day_public(store.delete_calendar_day(day_id, admin.actor))


@router.get("/api/time-limits", response_model=list[TimeLimitPublic])
def time_limits(_: Reader, store: StoreDep) -> list[dict[str, Any]]:
    """Every category's time limit (处置时限) for normal and urgent cases: the one in force,
    the default, and whether the office set its own."""
    return limits_table(store)


@router.put("/api/time-limits", response_model=list[TimeLimitPublic])
def put_time_limits(body: TimeLimitsUpdate, admin: Admin,
                    store: StoreDep) -> list[dict[str, Any]]:
    """Set the office's limits (amount null: back to the default), all or none; audited.
    They apply from the next 派遣 (or restarted 返工) on."""
    set_time_limits(store, [x.model_dump() for x in body.limits], admin.actor)
    return limits_table(store)


@router.post("/api/issues/{issue_id}/extensions", status_code=201,
             response_model=ExtensionPublic)
def apply(issue_id: Id, body: ExtensionCreate, user: CurrentUser, store: StoreDep,
          settings: SettingsDep) -> dict[str, Any]:
    """Apply for a 延期 of one of the unit's dispatched cases, before its deadline: the clock
    stops until a supervisor decides. 422 past CCMAP_EXTENSION_MAX_DAYS or with one pending
    already, 409 for a case that is not running or is overdue, 403 for a role that may not."""
    return extension_public(apply_extension(store, issue_id, body.reason,
                                            body.requested_deadline, user,
                                            settings.case_rules()))


@router.post("/api/extensions/{extension_id}/decision", response_model=ExtensionPublic)
def decide(extension_id: Id, body: ExtensionDecision, user: CurrentUser, store: StoreDep,
           settings: SettingsDep) -> dict[str, Any]:
    """Approve (the deadline becomes the one asked for) or reject (the clock runs on with what
    it had left) a pending application: admins and inspectors, not the applicant (403)."""
    return extension_public(decide_extension(store, extension_id, body.approve, body.note,
                                             user, settings.case_rules()))


@router.get("/api/extensions", response_model=ExtensionPage)
def list_extensions(user: Reader, store: StoreDep, request: Request, page: PageDep,
                    state: Annotated[str | None, Query(
                        pattern="^(pending|approved|rejected)$",
                        description="pending | approved | rejected")] = None,
                    unit: Annotated[list[str] | None, Query(
                        description="responsible units")] = None,
                    issue: IdQuery = None) -> dict[str, Any]:
    """延期 applications, newest first, one page at a time (a unit user: its own)."""
    where: dict[str, Any] = {"state": state, "units": unit or [], "issue_id": issue,
                             "scope_unit": user.scope_unit}
    rows = store.extensions(**where, limit=page.limit, offset=page.offset)
    return json_page(request, page, [extension_public(r) for r in rows],
                     store.extension_total(**where))
