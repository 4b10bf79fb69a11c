"""Request and response bodies of the case clock's routes: the calendar, time limits, 延期."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from server.deps import LocalDateTime
from server.schemas.common import LocalTimeText

UNIT_PATTERN = "^(working_hours|working_days|hours|days)$"


class CalendarDayIn(BaseModel):
    """One calendar entry: the days start_date..end_date (default: start_date only) are days
    off (`off`, 休息日) or workdays (`work`, 调休上班)."""

    start_date: date
    end_date: date | None = None
    kind: str = Field(description="off (休息日) or work (调休上班)")
    note: str = Field("", max_length=200)


class CalendarDaysCreate(BaseModel):
    """Body of POST /api/calendar/days: one entry or many (a year's schedule), written all
    or none."""

    days: list[CalendarDayIn] = Field(min_length=1, max_length=5000)


class CalendarDaysCreated(BaseModel):
    """The ids of the entries written."""

    ids: list[int]
    count: int


class CalendarDayPublic(BaseModel):
    """A calendar entry of the office."""

    id: int
    start_date: str
    end_date: str
    kind: str
    kind_label: str
    note: str
    created_by: str
    created_at: str


class CalendarDayPage(BaseModel):
    """A page of calendar entries: numberMatched counts every match; follow `next`."""

    items: list[CalendarDayPublic]
    numberMatched: int
    numberReturned: int
    next: str | None = None


class DeadlineAnswer(BaseModel):
    """start + amount of unit in the office's working time: the deadline (Beijing time, ISO
    8601 without an offset), and warnings for a year whose holidays nobody has entered."""

    start: str
    deadline: str
    amount: float
    unit: str
    unit_label: str
    office_hours: str
    warnings: list[str]
    package_years: list[int] = Field(description="the years the holiday package knows")


class LimitValue(BaseModel):
    """A time limit: an amount of a unit, and how the UI says it (2 工作日)."""

    amount: float
    unit: str
    label: str


class TimeLimitPublic(BaseModel):
    """The limit in force for a category and urgency, its default, and whether the office set
    its own."""

    category: str
    category_label: str
    urgency: str
    urgency_label: str
    amount: float
    unit: str
    label: str
    default: LimitValue
    office: bool


class TimeLimitIn(BaseModel):
    """The office's limit of a category and urgency; amount null: back to the default."""

    category: str
    urgency: str = Field("normal", pattern="^(normal|urgent)$")
    amount: float | None = Field(None, gt=0)
    unit: str | None = Field(None, pattern=UNIT_PATTERN)


class TimeLimitsUpdate(BaseModel):
    """Body of PUT /api/time-limits: the limits to set (others keep theirs), all or none."""

    limits: list[TimeLimitIn] = Field(min_length=1, max_length=200)


class ExtensionCreate(BaseModel):
    """Body of POST /api/issues/{id}/extensions: why, and the deadline asked for."""

    reason: str = Field(min_length=1, max_length=2000)
    requested_deadline: LocalDateTime


class ExtensionDecision(BaseModel):
    """Body of POST /api/extensions/{id}/decision."""

    approve: bool
    note: str = Field("", max_length=2000)


class ExtensionPublic(BaseModel):
    """A 延期 application and, once decided, its decision (the deadline before and after)."""

    id: int
    issue_id: int
    unit: str | None
    reason: str
    requested_deadline: LocalTimeText
    requested_by: str
    requested_at: LocalTimeText
    state: str = Field(description="pending | approved | rejected")
    state_label: str
    decided_by: str | None
    decided_at: LocalTimeText | None
    decision_note: str | None
    old_deadline: LocalTimeText | None
    new_deadline: LocalTimeText | None


class ExtensionPage(BaseModel):
    """A page of 延期 applications, newest first: numberMatched counts every match."""

    items: list[ExtensionPublic]
    numberMatched: int
    numberReturned: int
    next: str | None = None
