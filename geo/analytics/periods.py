"""Reporting periods (统计周期) of rankings, the dashboard, bulletins and the indicators.

A period is written as
* `2026-W47`: an ISO week (Monday 00:00 to the next Monday);
* `2026-11`: a calendar month;
* `2026-Q4`: a calendar quarter (Q1 = January–March);
* `2026-11-01..2026-11-15`: the days from one date to another, both included;
* `week`, `month`, `quarter`: the one that contains now (this week, month or quarter);
* nothing: this week.

Every period runs from `start` (included) to `end` (excluded), in local time. Its previous
period (环比) is the one before it of the same kind: the week, month or quarter before, or for
days the same number of days ending where it starts. A bad period is an InvalidPeriod (HTTP 422)
that says what was wrong and what a period looks like.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from geo.model.errors import InvalidPeriod
from geo.model.timestamps import MAX_YEAR, MIN_YEAR

KINDS = ("week", "month", "quarter", "days")
# how a period is written, in the message of every bad one (data/locales/en has it in English)
SYNTAX = ("2026-W47（周）、2026-11（月）、2026-Q4（季度）、"
          "2026-11-01..2026-11-15（日期段，含首尾），或 week、month、quarter（本周、本月、本季度）")


@dataclass(frozen=True)
class Period:
    """A reporting period [start, end) of one kind, with the label it is shown with."""

    start: datetime
    end: datetime
    label: str
    kind: str

    def previous(self) -> Period:
        """The period before this one, of the same kind (环比's base)."""
        if self.kind == "week":
            return week(self.start - timedelta(days=7))
        if self.kind == "month":
            return month(_month_before(self.start))
        if self.kind == "quarter":
            return quarter(_month_before(_month_before(_month_before(self.start))))
        length = self.end - self.start
        return days(self.start - length, self.start)

    def as_of(self, now: datetime) -> datetime:
        """Where the period's counts stop: its end, or now while it is still running (a
        period that has not begun is empty)."""
        return max(self.start, min(self.end, now))


def _month_before(d: datetime) -> datetime:
    return datetime(d.year - 1, 12, 1) if d.month == 1 else datetime(d.year, d.month - 1, 1)


def week(day: datetime) -> Period:
    """The ISO week containing day."""
    year, number, _ = day.isocalendar()
    start = datetime.fromisocalendar(year, number, 1)
    return Period(start, start + timedelta(days=7), f"{year}-W{number:02d}", "week")


def month(day: datetime) -> Period:
    """The calendar month containing day."""
    start = datetime(day.year, day.month, 1)
    end = datetime(day.year + day.month // 12, day.month % 12 + 1, 1)
    return Period(start, end, f"{day.year}-{day.month:02d}", "month")


def quarter(day: datetime) -> Period:
    """The calendar quarter containing day."""
    q = (day.month - 1) // 3 + 1
    start = datetime(day.year, 3 * q - 2, 1)
    end = datetime(day.year + 1, 1, 1) if q == 4 else datetime(day.year, 3 * q + 1, 1)
    return Period(start, end, f"{day.year}-Q{q}", "quarter")


def days(start: datetime, end: datetime) -> Period:
    """The days from start to end (excluded), labelled with the first and last day."""
    last = end - timedelta(days=1)
    return Period(start, end, f"{start:%Y-%m-%d}..{last:%Y-%m-%d}", "days")


def _day(text: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time())
    except ValueError:
        raise InvalidPeriod(f"没有这一天：{text}（统计周期写作 {SYNTAX}）") from None


def parse_period(text: str | None, now: datetime) -> Period:
    """The period written as text (see the module docstring); default this week."""
    text = (text or "week").strip()
    if text in ("week", "month", "quarter"):
        return {"week": week, "month": month, "quarter": quarter}[text](now)
    if any(not MIN_YEAR <= int(y) <= MAX_YEAR for y in re.findall(r"\b\d{4}\b", text)):
        raise InvalidPeriod(f"统计周期 {text} 不在 {MIN_YEAR}–{MAX_YEAR} 年之间")
    if m := re.fullmatch(r"(\d{4})-W(\d{1,2})", text):
        try:
            start = datetime.fromisocalendar(int(m[1]), int(m[2]), 1)
        except ValueError:
            raise InvalidPeriod(f"没有这一周：{text}（周次为 W01 至 W52 或 W53）") from None
        return Period(start, start + timedelta(days=7), text, "week")
    if m := re.fullmatch(r"(\d{4})-(\d{2})", text):
        if not 1 <= int(m[2]) <= 12:
            raise InvalidPeriod(f"没有这个月：{text}（月份为 01 至 12）")
        return month(datetime(int(m[1]), int(m[2]), 1))
    if m := re.fullmatch(r"(\d{4})-Q(\d)", text):
        if not 1 <= int(m[2]) <= 4:
            raise InvalidPeriod(f"没有这个季度：{text}（季度为 Q1 至 Q4）")
        return quarter(datetime(int(m[1]), 3 * int(m[2]) - 2, 1))
    if m := re.fullmatch(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})", text):
        start, last = _day(m[1]), _day(m[2])
        if last < start:
            raise InvalidPeriod(f"统计周期 {text} 的截止日期 {m[2]} 早于起始日期 {m[1]}")
        return Period(start, last + timedelta(days=1), text, "days")
    raise InvalidPeriod(f"看不懂统计周期「{text}」：统计周期写作 {SYNTAX}")
