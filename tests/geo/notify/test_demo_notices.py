"""The demo city's notices: its unit user has seen the deadline scan's (read), and the demo
casework's workflows told it of their 派遣, 返工 and 延期 decision (unread), the same on every
build."""

from __future__ import annotations

from geo.demo.city import DEMO_UNIT
from geo.store import Store
from tests.conftest import DEMO_NOW


def test_the_demo_unit_user_has_read_and_unread_notices(demo_store: Store) -> None:
    unread = demo_store.notifications("unit1", unread=True)
    # the approved 延期, the 返工 once, and three rounds of 返工 (re-dispatched twice) of 督办
    assert sorted(n["event"] for n in unread) == ["dispatched"] * 2 + [
        "extension_decided"] + ["rework"] * 4
    assert all(n["at"] == DEMO_NOW for n in unread)
    assert all(demo_store.issue(n["issue_id"]).unit == DEMO_UNIT for n in unread)
    seen = demo_store.notifications("unit1", unread=False, limit=1000)
    assert seen and {n["event"] for n in seen} <= {"overdue", "due_soon"}
    assert all(demo_store.issue(n["issue_id"]).unit == DEMO_UNIT for n in seen)
    assert demo_store.notification_count("admin") == 0  # per-case notices go to the unit
