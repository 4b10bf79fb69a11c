"""The working-time clock (geo.calendar.worktime) on its own: the contract's examples, an
office's own days, a year the holiday package does not know, and a stopped clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from geo.calendar.limits import URGENCIES, check_limit, default_limit
from geo.calendar.worktime import (
    PACKAGE_YEARS,
    LocalDays,
    WorkCalendar,
    check_local_days,
    parse_office_hours,
    to_beijing,
)
from geo.model.errors import InvalidInput
from geo.model.kinds import issue_categories

CAL = WorkCalendar()


def test_the_contract_examples_cross_national_day_and_a_saturday_made_workday() -> None:
    # 2 working days from Wednesday 30 September: 1-8 October are off, Friday 9 is 7th
    assert CAL.add(datetime(2026, 9, 30, 16), 2, "working_days") == datetime(2026, 10, 9, 16)
    # Saturday 10 October 2026 is a 调休 workday: 4 working hours from Friday 15:00
    assert CAL.add(datetime(2026, 10, 9, 15), 4, "working_hours") == datetime(2026, 10, 10, 10)
    # natural units run through nights and holidays
    assert CAL.add(datetime(2026, 9, 30, 16), 2, "days") == datetime(2026, 10, 2, 16)
    assert CAL.add(datetime(2026, 9, 30, 16), 4, "hours") == datetime(2026, 9, 30, 20)


def test_an_offset_is_converted_to_beijing_time_and_a_naive_time_is_beijing_time() -> None:
    assert to_beijing(datetime(2026, 10, 9, 7, tzinfo=UTC)) == datetime(2026, 10, 9, 15)
    plus8 = timezone(timedelta(hours=8))
    assert to_beijing(datetime(2026, 10, 9, 15, tzinfo=plus8)) == datetime(2026, 10, 9, 15)
    assert to_beijing(datetime(2026, 10, 9, 15)) == datetime(2026, 10, 9, 15)


def test_a_local_day_off_moves_the_deadline_and_a_local_workday_too() -> None:
    start = datetime(2026, 11, 23, 9)  # a Monday
    assert CAL.add(start, 1, "working_days") == datetime(2026, 11, 24, 9)
    off = WorkCalendar(local=[LocalDays(date(2026, 11, 24), date(2026, 11, 24), "off")])
    assert off.add(start, 1, "working_days") == datetime(2026, 11, 25, 9)
    friday = datetime(2026, 11, 27, 17)
    work = WorkCalendar(local=[LocalDays(date(2026, 11, 28), date(2026, 11, 28), "work")])
    assert CAL.add(friday, 1, "working_hours") == datetime(2026, 11, 30, 9)
    assert work.add(friday, 1, "working_hours") == datetime(2026, 11, 28, 9)


def test_a_year_the_package_does_not_know_warns_until_it_is_entered() -> None:
    assert PACKAGE_YEARS == (2004, 2026)
    start = datetime(2026, 12, 31, 16)
    deadline = CAL.add(start, 2, "working_days")
    assert deadline.year == 2027
    [warning] = CAL.warnings(start, deadline)
    assert "2027" in warning and "Monday–Friday" in warning
    # an office enters the 2027 New Year (the package would count 1 January 2027 a workday)
    known = WorkCalendar(local=[LocalDays(date(2027, 1, 1), date(2027, 1, 3), "off", "元旦")])
    assert known.warnings(start, known.add(start, 2, "working_days")) == []
    assert known.add(start, 2, "working_days") == datetime(2027, 1, 5, 16)
    assert deadline == datetime(2027, 1, 4, 16)


def test_a_stopped_clock_resumes_with_what_it_had_left() -> None:
    deadline = datetime(2026, 11, 24, 9)  # 1 working day from Monday 09:00
    paused = datetime(2026, 11, 23, 11)  # 5.5 office hours left
    assert CAL.time_left(paused, deadline, "working_days") == timedelta(hours=5.5)
    assert CAL.resume(paused, deadline, datetime(2026, 11, 26, 9), "working_days") \
        == datetime(2026, 11, 26, 16)
    # natural units: plain time, nights included
    assert CAL.resume(datetime(2026, 11, 23, 10), datetime(2026, 11, 23, 13),
                      datetime(2026, 11, 23, 20), "hours") == datetime(2026, 11, 23, 23)
    # a deadline already passed when the clock stopped stays where it was
    assert CAL.resume(datetime(2026, 11, 25), deadline, datetime(2026, 11, 30), "working_days") \
        == deadline
    assert CAL.working_hours_until(datetime(2026, 11, 23, 11), deadline) == 5.5
    assert CAL.working_hours_until(datetime(2026, 11, 24, 10), deadline) == -1.0


def test_office_hours_and_local_days_are_checked() -> None:
    assert parse_office_hours("09:00-12:00,14:00-18:00")[1][1].hour == 18
    for bad in ("9-12", "12:00-09:00", "08:30-12:00,11:00-17:30", ""):
        with pytest.raises(InvalidInput):
            parse_office_hours(bad)
    with pytest.raises(InvalidInput, match="日历条目日期重叠"):
        check_local_days([LocalDays(date(2027, 1, 1), date(2027, 1, 3), "off"),
                          LocalDays(date(2027, 1, 3), date(2027, 1, 4), "work")])
    short = WorkCalendar(parse_office_hours("09:00-12:00"))
    assert short.add(datetime(2026, 11, 23, 9), 1, "working_days") == datetime(2026, 11, 23, 12)


def _span(limit_amount: float, unit: str) -> timedelta:
    start = datetime(2026, 11, 23, 8, 30)  # a Monday morning
    return CAL.add(start, limit_amount, unit) - start


def test_every_category_has_a_limit_and_urgent_is_shorter() -> None:
    for code in issue_categories():
        normal, urgent = (default_limit(code, u) for u in URGENCIES)
        assert _span(urgent.amount, urgent.unit) < _span(normal.amount, normal.unit), code
    assert default_limit("street_vending").label == "2 工作时"
    assert default_limit("blocked_fire_lane", "urgent").as_dict() == {
        "amount": 1.0, "unit": "hours", "label": "1 小时"}
    with pytest.raises(InvalidInput, match="未知的紧急程度 'very'"):
        default_limit("clutter", "very")
    for args in (("ufo", "normal", 1, "hours"), ("clutter", "normal", 0, "hours"),
                 ("clutter", "normal", 1, "weeks"), ("clutter", "normal", 400, "days")):
        with pytest.raises(InvalidInput):
            check_limit(*args)
