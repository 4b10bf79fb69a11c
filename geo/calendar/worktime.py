"""The working-time clock: which days are workdays, and time added or measured in office hours.

A day is a workday when the office's own table says so (an extra workday, or a day off),
else as chinese-calendar says for the years it knows (public holidays, and weekend days made
workdays by 调休), else Monday to Friday. Working days are counted in office hours: one
working day is one day's office hours (7.5 h by default), so 2 working days from 16:00 end at
16:00 on the second workday after, and a clock paused mid-day resumes with what it had left.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from itertools import pairwise

import chinese_calendar
from chinese_calendar import constants

from geo.model.errors import InvalidInput

UNITS = ("working_hours", "working_days", "hours", "days")
UNIT_LABELS = {"working_hours": "工作时", "working_days": "工作日", "hours": "小时", "days": "天"}
DEFAULT_OFFICE_HOURS = "08:30-12:00,13:30-17:30"
PACKAGE_YEARS = (min(constants.holidays).year, max(constants.holidays).year)
MAX_SPAN_DAYS = 3660  # a deadline further than ten years away is an input error
NATURAL = ("hours", "days")  # units of plain time: the clock runs nights, weekends, holidays
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")  # China has one time zone, no DST


def to_beijing(value: datetime) -> datetime:
    """A naive Beijing time: an aware datetime converted, a naive one taken as Beijing time."""
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value.astimezone(BEIJING).replace(tzinfo=None)
    return value.replace(tzinfo=None)


@dataclass(frozen=True)
class LocalDays:
    """An office's own entry: the days start..end (inclusive) are days off ("off") or
    workdays ("work")."""

    start: date
    end: date
    kind: str
    note: str = ""
    id: int | None = None


def parse_office_hours(text: str) -> tuple[tuple[time, time], ...]:
    """'08:30-12:00,13:30-17:30' → ((08:30, 12:00), (13:30, 17:30)); InvalidInput if the
    periods are malformed, empty or out of order."""
    periods: list[tuple[time, time]] = []
    try:
        for part in text.split(","):
            a, b = (time.fromisoformat(x.strip()) for x in part.split("-"))
            periods.append((a, b))
    except ValueError as exc:
        raise InvalidInput(f"办公时间 {text!r} 格式有误，应写作 08:30-12:00,13:30-17:30 这样的格式"
                           f"（{exc}）") from exc
    for (a, b), nxt in zip(periods, [*periods[1:], None], strict=True):
        if not a < b or (nxt is not None and not b <= nxt[0]):
            raise InvalidInput(f"办公时间 {text!r} 有误：各时段须按先后排列且互不相接")
    return tuple(periods)


def check_local_days(days: Sequence[LocalDays]) -> None:
    """InvalidInput if an entry is reversed, of an unknown kind, or overlaps another."""
    for d in days:
        if d.kind not in ("off", "work"):
            raise InvalidInput(f"日历条目类型须为 off 或 work，不是 {d.kind!r}")
        if d.end < d.start:
            raise InvalidInput(f"日历条目 {d.start} 至 {d.end}：结束日期早于开始日期")
    ordered = sorted(days, key=lambda d: d.start)
    for a, b in pairwise(ordered):
        if b.start <= a.end:
            raise InvalidInput(f"日历条目日期重叠：{a.start} 至 {a.end} 与 "
                               f"{b.start} 至 {b.end}")


@lru_cache(maxsize=4096)
def _package_workday(d: date) -> bool | None:
    if not PACKAGE_YEARS[0] <= d.year <= PACKAGE_YEARS[1]:
        return None
    return bool(chinese_calendar.is_workday(d))


@dataclass
class WorkCalendar:
    """Office hours plus the calendar of workdays; adds and measures working time."""

    office_hours: tuple[tuple[time, time], ...] = field(
        default_factory=lambda: parse_office_hours(DEFAULT_OFFICE_HOURS))
    local: Sequence[LocalDays] = ()

    def __post_init__(self) -> None:
        check_local_days(self.local)
        self._local: dict[date, bool] = {}
        for entry in self.local:
            d = entry.start
            while d <= entry.end:
                self._local[d] = entry.kind == "work"
                d += timedelta(days=1)
        self._local_years = {d.year for d in self._local}

    @property
    def day_minutes(self) -> float:
        """Office minutes in one working day."""
        return sum(_minutes(a, b) for a, b in self.office_hours)

    def is_workday(self, d: date) -> bool:
        """Whether d is a workday for this office."""
        if d in self._local:
            return self._local[d]
        known = _package_workday(d)
        return known if known is not None else d.weekday() < 5

    def knows(self, year: int) -> bool:
        """Whether the holidays of a year are known (to the package, or entered locally)."""
        return PACKAGE_YEARS[0] <= year <= PACKAGE_YEARS[1] or year in self._local_years

    def warnings(self, *moments: datetime | None) -> list[str]:
        """A warning for each year among moments whose holidays nobody has entered."""
        years = sorted({m.year for m in moments if m is not None and not self.knows(m.year)})
        return [f"{y} 年节假日未录入: holidays of {y} are not known (chinese-calendar knows "
                f"{PACKAGE_YEARS[0]}–{PACKAGE_YEARS[1]}; enter {y}'s days off and 调休 "
                f"workdays in the calendar table); counted Monday–Friday" for y in years]

    def add(self, start: datetime, amount: float, unit: str) -> datetime:
        """start plus amount of unit (working_hours | working_days | hours | days)."""
        if unit not in UNITS:
            raise InvalidInput(f"未知的时间单位 {unit!r}，可选值：{', '.join(UNITS)}")
        if amount < 0:
            raise InvalidInput(f"时限不能为负数（{amount}）")
        if unit == "hours":
            return start + timedelta(hours=amount)
        if unit == "days":
            return start + timedelta(days=amount)
        minutes = amount * (60 if unit == "working_hours" else self.day_minutes)
        return self.add_minutes(start, minutes)

    def add_minutes(self, start: datetime, minutes: float) -> datetime:
        """The moment after `minutes` office minutes have passed from start."""
        left = timedelta(minutes=minutes)
        for a, b in self._periods(start):
            span = b - a
            if left <= span:
                return a + left
            left -= span
        raise InvalidInput(f"截止时间距起算时间超过 {MAX_SPAN_DAYS} 天")

    def minutes_between(self, a: datetime, b: datetime) -> float:
        """Office minutes from a to b (0 if b is not after a)."""
        total = timedelta()
        for lo, hi in self._periods(a):
            if lo >= b:
                break
            total += min(hi, b) - lo
        return total.total_seconds() / 60

    def elapsed(self, a: datetime, b: datetime, unit: str) -> float:
        """Time from a to b, in unit."""
        if unit in ("hours", "days"):
            secs = max((b - a).total_seconds(), 0.0)
            return secs / (3600 if unit == "hours" else 86400)
        minutes = self.minutes_between(a, b)
        return minutes / (60 if unit == "working_hours" else self.day_minutes)

    def time_left(self, at: datetime, deadline: datetime, unit: str) -> timedelta:
        """What a clock stopped at `at` had left until deadline (nothing if it had passed):
        office time for working units, plain time for natural ones (timedelta of minutes)."""
        if unit in NATURAL:
            return max(deadline - at, timedelta())
        return timedelta(minutes=self.minutes_between(at, deadline))

    def resume(self, paused_at: datetime, deadline: datetime, resumed_at: datetime,
               unit: str) -> datetime:
        """The deadline of a clock stopped at paused_at and started again at resumed_at: what
        was left when it stopped, counted from resumed_at (working units in office time); a
        deadline already passed when it stopped stays where it was."""
        left = self.time_left(paused_at, deadline, unit)
        if left <= timedelta():
            return deadline
        if unit in NATURAL:
            return resumed_at + left
        return self.add_minutes(resumed_at, left.total_seconds() / 60)

    def working_hours_until(self, now: datetime, deadline: datetime) -> float:
        """Office hours from now to deadline; negative (hours past it) once it has passed."""
        if deadline >= now:
            return self.minutes_between(now, deadline) / 60
        return -self.minutes_between(deadline, now) / 60

    def _periods(self, start: datetime) -> Iterable[tuple[datetime, datetime]]:
        """The office periods from start on (the first one cut at start), day by day."""
        day = start.date()
        for _ in range(MAX_SPAN_DAYS):
            if self.is_workday(day):
                for a, b in self.office_hours:
                    lo, hi = datetime.combine(day, a), datetime.combine(day, b)
                    if hi > start:
                        yield max(lo, start), hi
            day += timedelta(days=1)


def _minutes(a: time, b: time) -> float:
    return (datetime.combine(date.min, b) - datetime.combine(date.min, a)).total_seconds() / 60
