"""The office's calendar and time limits in the store, on both backends: entries written all or
none (overlaps refused with the reason), a CSV year, the calendar every process builds from
them, and the limits an office sets over the defaults."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from geo.calendar.limits import TimeLimit
from geo.calendar.office import (
    add_calendar_days,
    limits_table,
    office_calendar,
    read_days_csv,
    set_time_limits,
    time_limit,
)
from geo.model.errors import ImportRejected, InvalidInput, NotFound
from geo.store import Store, open_store

# an example 2027 schedule, as an office would enter it once the State Council publishes it
# (these dates are made up for the test, not the official schedule)
YEAR_2027 = """start_date,end_date,kind,note
2027-01-01,2027-01-03,off,元旦
2027-02-06,2027-02-13,休,春节
2027-02-14,,班,春节调休上班
2027-10-01,2027-10-07,off,国庆
"""


def _state(store: Store) -> tuple[Any, ...]:
    return (store.calendar_days(), store.calendar_stamp(), len(store.audit_log()))


def test_entries_are_added_listed_and_deleted_with_audit_rows(store: Store) -> None:
    ids = add_calendar_days(store, [{"start_date": "2026-11-24", "kind": "off",
                                     "note": "区运动会"}], "user:admin")
    [row] = store.calendar_days()
    assert row["id"] == ids[0] and row["start_date"] == row["end_date"] == date(2026, 11, 24)
    assert row["created_by"] == "user:admin" and row["note"] == "区运动会"
    assert store.calendar_days(since=date(2026, 11, 25)) == []
    assert store.calendar_day_count(until=date(2026, 11, 24)) == 1
    store.delete_calendar_day(ids[0], "user:admin")
    assert store.calendar_days() == []
    actions = [(a["action"], a["object_type"]) for a in store.audit_log()]
    assert ("create", "calendar_day") in actions and ("delete", "calendar_day") in actions
    with pytest.raises(NotFound):
        store.delete_calendar_day(ids[0], "user:admin")


def test_overlapping_entries_are_refused_whole_with_the_reason(store: Store) -> None:
    [stored] = add_calendar_days(store, [{"start_date": date(2027, 1, 1),
                                          "end_date": date(2027, 1, 3), "kind": "off"}],
                                 "user:admin")
    before = _state(store)
    with pytest.raises(ImportRejected, match="日期重叠") as refused:
        add_calendar_days(store, [
            {"start_date": "2027-02-01", "kind": "off"},  # fine on its own
            {"start_date": "2027-01-03", "end_date": "2027-01-04", "kind": "work"},  # stored
            {"start_date": "2027-03-01", "end_date": "2027-03-02", "kind": "off"},
            {"start_date": "2027-03-02", "kind": "work"},  # overlaps the one before it
            {"start_date": "2027-04-05", "end_date": "2027-04-01", "kind": "off"},  # reversed
            {"start_date": "2027-05-01", "kind": "holiday"},  # unknown kind
        ], "user:admin")
    assert [p.row for p in refused.value.problems] == [2, 3, 4, 5, 6]
    assert refused.value.problems[0].reason == (
        f"日期重叠：2027-01-03 至 2027-01-04 与已有条目 #{stored}（2027-01-01 至 2027-01-03）")
    assert refused.value.problems[1].reason == (
        "日期重叠：2027-03-01 至 2027-03-02 与本次第 4 条（2027-03-02 至 2027-03-02）")
    assert refused.value.message.startswith(
        "5 条日历条目有误，未写入任何条目：第 2 条：日期重叠：2027-01-03 至 2027-01-04 与已有条目")
    assert _state(store) == before  # nothing written, not even the good first entry


def test_a_year_from_csv_is_known_to_the_calendar_of_every_process(store: Store) -> None:
    start = datetime(2026, 12, 31, 16)
    other = open_store(store.url)  # another worker's store on the same database
    try:
        before = office_calendar(other)
        assert before.add(start, 2, "working_days") == datetime(2027, 1, 4, 16)
        assert before.warnings(start, datetime(2027, 1, 4)) != []
        ids = add_calendar_days(store, read_days_csv(YEAR_2027.encode("utf-8-sig")),
                                "cli:clerk")
        assert len(ids) == 4
        after = office_calendar(other)
        assert after is not before
        assert after.add(start, 2, "working_days") == datetime(2027, 1, 5, 16)
        assert after.warnings(start, datetime(2027, 1, 5)) == []
        assert after.is_workday(date(2027, 2, 14)) and not after.is_workday(date(2027, 2, 8))
        assert office_calendar(other) is after  # cached while nobody writes
        assert office_calendar(other, "09:00-12:00") is not after  # other office hours
    finally:
        other.close()


def test_a_csv_without_the_columns_or_with_bad_text_is_refused() -> None:
    with pytest.raises(InvalidInput, match="start_date"):
        read_days_csv(b"day,what\n2027-01-01,off\n")
    with pytest.raises(InvalidInput, match="UTF-8"):
        read_days_csv("开始日期,类型\n2027-01-01,休\n".encode("gbk"))
    rows = read_days_csv("开始日期,结束日期,类型,说明\n2027-01-01,2027-01-03,休,元旦\n\n"
                         .encode())
    assert rows == [{"start_date": "2027-01-01", "end_date": "2027-01-03", "kind": "休",
                     "note": "元旦"}]


def test_an_office_sets_its_own_limits_and_goes_back_to_the_defaults(store: Store) -> None:
    assert time_limit(store, "clutter") == TimeLimit(1.0, "working_days")
    assert time_limit(store, "clutter", "urgent") == TimeLimit(4.0, "working_hours")
    set_time_limits(store, [{"category": "clutter", "urgency": "urgent", "amount": 2,
                             "unit": "working_hours"}], "user:admin")
    assert time_limit(store, "clutter", "urgent") == TimeLimit(2.0, "working_hours")
    row = next(r for r in limits_table(store)
               if (r["category"], r["urgency"]) == ("clutter", "urgent"))
    assert row["office"] and row["label"] == "2 工作时" and row["default"]["amount"] == 4
    assert len(limits_table(store)) == 2 * len({r["category"] for r in limits_table(store)})
    before = (store.time_limits(), len(store.audit_log()))
    for bad in ([{"category": "clutter", "urgency": "normal", "amount": 1, "unit": "weeks"}],
                [{"category": "clutter", "urgency": "normal", "amount": 2, "unit": "hours"},
                 {"category": "clutter", "urgency": "normal", "amount": 3, "unit": "hours"}],
                [{"category": "graffiti", "urgency": "normal", "amount": 2, "unit": "hours"},
                 {"category": "ufo", "urgency": "normal", "amount": 2, "unit": "hours"}]):
        with pytest.raises(InvalidInput):
            set_time_limits(store, bad, "user:admin")
    assert (store.time_limits(), len(store.audit_log())) == before  # all or none
    set_time_limits(store, [{"category": "clutter", "urgency": "urgent", "amount": None}],
                    "user:admin")
    assert store.time_limits() == []
    assert time_limit(store, "clutter", "urgent") == TimeLimit(4.0, "working_hours")
    changes = store.audit_log(object_type="time_limits")[0]["diff"]["changes"]
    assert changes == [{"category": "clutter", "urgency": "urgent",
                        "from": [2.0, "working_hours"], "to": None}]
