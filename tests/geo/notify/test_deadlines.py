"""The deadline scan: due-soon (N working hours ahead) and overdue notices, once per case and
deadline, skipping paused and finished cases, in batches, and once even with two scans at
once."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from geo.calendar.worktime import WorkCalendar
from geo.notify.deadlines import due_soon_cutoff, scan_deadlines
from geo.store import Store
from tests.geo.notify.helpers import NOW, case, notices, people

HOUR = timedelta(hours=1)


def test_due_soon_and_overdue_are_notified_once_per_deadline(store: Store) -> None:
    people(store)
    soon = case(store, status="dispatched", deadline=NOW + HOUR)
    late = case(store, status="returned", deadline=NOW - HOUR)
    later = case(store, status="dispatched", deadline=NOW + timedelta(days=1))
    case(store, status="dispatched", deadline=NOW - HOUR, paused_at=NOW - 2 * HOUR)  # 延期 wait
    case(store, status="deferred", deadline=NOW - HOUR)  # 挂账/缓办
    case(store, status="handled", deadline=NOW - HOUR)  # the unit has done its part
    case(store, status="closed", deadline=NOW - HOUR)
    assert scan_deadlines(store, NOW) == {"overdue": 1, "due_soon": 1}
    assert notices(store, "u1") == [("overdue", late), ("due_soon", soon)]
    due = store.notifications("u2")[0]
    assert "将于 2026-11-24 11:00 到期" in due["message"] and "不足 2 个工作时" in due["message"]
    assert scan_deadlines(store, NOW) == {"overdue": 0, "due_soon": 0}  # never twice
    assert scan_deadlines(store, NOW + 2 * HOUR) == {"overdue": 1, "due_soon": 0}
    assert notices(store, "u1")[-1] == ("overdue", soon)
    # an extension moves the deadline: the new one has its own notices
    version = store.issue(late).version
    store.update_issue(late, {"deadline": NOW + 3 * HOUR}, version, "test")
    assert scan_deadlines(store, NOW + 2 * HOUR) == {"overdue": 0, "due_soon": 1}
    assert notices(store, "u1")[-1] == ("due_soon", late)
    assert later not in [i for _, i in notices(store, "u1")]


def test_due_soon_counts_working_hours_across_a_weekend(store: Store) -> None:
    people(store)
    friday = datetime(2026, 11, 27, 17, 0)  # half an hour before the office closes
    assert due_soon_cutoff(friday, WorkCalendar(), 2) == datetime(2026, 11, 30, 10, 0)
    inside = case(store, status="dispatched", deadline=datetime(2026, 11, 30, 9, 30))
    case(store, status="dispatched", deadline=datetime(2026, 11, 30, 10, 30))
    assert scan_deadlines(store, friday) == {"overdue": 0, "due_soon": 1}
    assert notices(store, "u1") == [("due_soon", inside)]
    assert scan_deadlines(store, friday, hours=4) == {"overdue": 0, "due_soon": 1}


def test_the_scan_works_in_batches(store: Store) -> None:
    people(store)
    ids = [case(store, status="dispatched", deadline=NOW - k * HOUR) for k in range(1, 8)]
    assert scan_deadlines(store, NOW, batch=3) == {"overdue": 7, "due_soon": 0}
    assert sorted(i for _, i in notices(store, "u2")) == ids


def test_two_scans_at_once_notify_each_case_once(store: Store) -> None:
    people(store)
    ids = [case(store, status="dispatched", deadline=NOW - k * HOUR) for k in range(1, 41)]
    results: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def scan() -> None:
        try:
            results.append(scan_deadlines(store, NOW, batch=7))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=scan) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sum(r["overdue"] for r in results) == 40
    assert sorted(i for _, i in notices(store, "u1")) == ids


def test_a_record_only_scan_tells_nobody_and_later_scans_skip_those_cases(store: Store) -> None:
    people(store)
    old = case(store, status="dispatched", deadline=NOW - timedelta(days=90))
    assert scan_deadlines(store, NOW, notify=False) == {"overdue": 1, "due_soon": 0}
    assert store.notification_count("u1") == 0 and store.delivery_count() == 0
    fresh = case(store, status="dispatched", deadline=NOW - HOUR)
    assert scan_deadlines(store, NOW) == {"overdue": 1, "due_soon": 0}
    assert notices(store, "u1") == [("overdue", fresh)] and old != fresh
