"""Reporting periods: weeks, months, quarters, days and the current one; the previous period;
what a bad period is told."""

from __future__ import annotations

from datetime import datetime

import pytest

from geo.analytics.periods import parse_period
from geo.i18n import CJK, translate
from geo.model.errors import InvalidInput, InvalidPeriod

NOW = datetime(2026, 11, 24, 9, 0)  # a Tuesday of ISO week 48, in Q4


@pytest.mark.parametrize(("text", "start", "end", "label", "previous"), [
    ("2026-W40", datetime(2026, 9, 28), datetime(2026, 10, 5), "2026-W40", "2026-W39"),
    ("2026-W1", datetime(2025, 12, 29), datetime(2026, 1, 5), "2026-W1", "2025-W52"),
    ("2026-10", datetime(2026, 10, 1), datetime(2026, 11, 1), "2026-10", "2026-09"),
    ("2026-01", datetime(2026, 1, 1), datetime(2026, 2, 1), "2026-01", "2025-12"),
    ("2026-Q3", datetime(2026, 7, 1), datetime(2026, 10, 1), "2026-Q3", "2026-Q2"),
    ("2026-Q1", datetime(2026, 1, 1), datetime(2026, 4, 1), "2026-Q1", "2025-Q4"),
    ("2026-Q4", datetime(2026, 10, 1), datetime(2027, 1, 1), "2026-Q4", "2026-Q3"),
    ("2026-10-01..2026-10-31", datetime(2026, 10, 1), datetime(2026, 11, 1),
     "2026-10-01..2026-10-31", "2026-08-31..2026-09-30"),
    ("2026-10-05..2026-10-05", datetime(2026, 10, 5), datetime(2026, 10, 6),
     "2026-10-05..2026-10-05", "2026-10-04..2026-10-04"),
    (None, datetime(2026, 11, 23), datetime(2026, 11, 30), "2026-W48", "2026-W47"),
    ("week", datetime(2026, 11, 23), datetime(2026, 11, 30), "2026-W48", "2026-W47"),
    ("month", datetime(2026, 11, 1), datetime(2026, 12, 1), "2026-11", "2026-10"),
    ("quarter", datetime(2026, 10, 1), datetime(2027, 1, 1), "2026-Q4", "2026-Q3"),
])
def test_periods_and_their_previous(text: str | None, start: datetime, end: datetime,
                                    label: str, previous: str) -> None:
    p = parse_period(text, NOW)
    assert (p.start, p.end, p.label) == (start, end, label)
    assert p.previous().label == previous and p.previous().end == p.start


def test_a_running_period_is_counted_up_to_now() -> None:
    p = parse_period("2026-11", NOW)
    assert p.as_of(NOW) == NOW
    assert p.as_of(datetime(2027, 3, 1)) == p.end
    assert p.as_of(datetime(2026, 1, 1)) == p.start  # not begun: empty


@pytest.mark.parametrize(("text", "reason", "english"), [
    ("2026-13", "没有这个月：2026-13（月份为 01 至 12）", "no such month: 2026-13"),
    ("2026-Q5", "没有这个季度：2026-Q5", "no such quarter: 2026-Q5"),
    ("2026-W54", "没有这一周：2026-W54", "no such ISO week: 2026-W54"),
    ("2026-02-30..2026-03-01", "没有这一天：2026-02-30", "no such day: 2026-02-30"),
    ("2026-10-31..2026-10-01", "截止日期 2026-10-01 早于起始日期 2026-10-31",
     "ends (2026-10-01) before it starts (2026-10-31)"),
    ("last week", "看不懂统计周期「last week」：统计周期写作 2026-W47（周）",
     "period must look like 2026-W47 (week), 2026-11 (month)"),
    ("3000-01", "统计周期 3000-01 不在 1900–2200 年之间", "outside the years 1900..2200"),
])
def test_bad_periods_say_why_in_chinese_and_in_english(text: str, reason: str,
                                                       english: str) -> None:
    with pytest.raises(InvalidPeriod) as raised:
        parse_period(text, NOW)
    assert reason in raised.value.message
    in_english = translate(raised.value.message, "en")
    assert english in in_english and not CJK.search(in_english), in_english
    assert issubclass(InvalidPeriod, InvalidInput)
