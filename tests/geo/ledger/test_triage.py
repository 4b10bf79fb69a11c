"""The triage queue (受理) of geo.ledger.triage on both backends: the queue oldest first in the
caller's scope, the open cases nearby, and each action (立案, 不予立案, 重复, 改类别) written
whole — status, history, audit — or not at all."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pyproj
import pytest

from geo.ledger import triage, workflows
from geo.ledger.writes import create_issues
from geo.model.errors import Conflict, Forbidden, InvalidInput, NotFound
from geo.model.lifecycle import deadline_for
from geo.model.records import Issue
from geo.model.users import Role, User
from geo.store import Store

NOW = datetime(2026, 11, 24, 9, 0)
INSPECTOR = User("ins", Role.inspector)
ADMIN = User("boss", Role.admin)
UNIT = User("unit1", Role.unit, unit="区城管执法局")
GEOD = pyproj.Geod(ellps="WGS84")
X, Y = 121.47, 31.23
M_LON, M_LAT = 1 / (111_320 * 0.8554), 1 / 110_574  # degrees per metre here (cos 31.23°)


def _report(store: Store, category: str = "graffiti", dx: float = 0.0, dy: float = 0.0,
            hours: float = 1, source: str = "public_report", reporter: str = "12345热线",
            status: str = "reported") -> int:
    issue = Issue(category, X + dx * M_LON, Y + dy * M_LAT, source=source, reporter=reporter,
                  status=status, reported_at=NOW - timedelta(hours=hours), address="示范街道")
    return create_issues(store, [issue], actor="test", now=NOW).ids[0]


def _state(store: Store, *ids: int) -> tuple[Any, ...]:
    return ([(i.status, i.category, i.urgency, i.version, i.deadline, i.duplicate_of,
              i.claimed_by) for i in map(store.issue, ids)],
            [len(store.issue_history(i)) for i in ids], store.audit_count())


def _break(store: Store, method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError(f"{method} failed")

    monkeypatch.setattr(store, method, broken)


def test_the_queue_holds_reports_oldest_first_by_source_and_category(store: Store) -> None:
    old = _report(store, hours=30, source="grid_patrol", reporter="网格员")
    new = _report(store, "clutter", dx=500, hours=2)
    mid = _report(store, dx=900, hours=10)
    _report(store, dx=1500, hours=40, status="accepted")  # not waiting any more
    rows, total = triage.queue(store, INSPECTOR)
    assert [i.id for i in rows] == [old, mid, new] and total == 3
    rows, total = triage.queue(store, INSPECTOR, source=["public_report"], limit=1)
    assert [i.id for i in rows] == [mid] and total == 2
    rows, total = triage.queue(store, INSPECTOR, source=["public_report"], limit=1, offset=1)
    assert [i.id for i in rows] == [new]
    assert [i.id for i in triage.queue(store, ADMIN, category=["clutter"])[0]] == [new]
    with pytest.raises(InvalidInput, match="未知的来源 'tv'"):
        triage.queue(store, INSPECTOR, source=["tv"])
    with pytest.raises(InvalidInput, match="未知的问题类别 'nope'"):
        triage.queue(store, INSPECTOR, category=["nope"])
    with pytest.raises(Forbidden):
        triage.queue(store, UNIT)


def test_nearby_lists_open_cases_in_the_radius_nearest_first(store: Store) -> None:
    report = _report(store)
    near = _report(store, "clutter", dx=60, status="dispatched")
    nearest = _report(store, dx=-20, dy=15, status="accepted")
    _report(store, dx=10, status="closed")  # closed: not a case to merge into
    _report(store, dx=260, status="dispatched")  # beyond 200 m
    issue, found = triage.nearby(store, report, INSPECTOR)
    assert issue.id == report
    assert [i.id for i, _ in found] == [nearest, near]
    for i, d in found:  # the distance is the ground distance
        assert abs(d - GEOD.inv(X, Y, i.lon, i.lat)[2]) < 0.05
    assert [i.id for i, _ in triage.nearby(store, report, INSPECTOR, radius_m=22)[1]] == []
    assert len(triage.nearby(store, report, INSPECTOR, radius_m=300)[1]) == 3
    with pytest.raises(InvalidInput, match="半径须大于 0 米且不超过 2000 米"):
        triage.nearby(store, report, INSPECTOR, radius_m=0)


def test_accept_with_urgency_and_a_new_category(store: Store) -> None:
    rid = _report(store, "graffiti", hours=3)
    audits = store.audit_count()
    accepted = triage.accept(store, rid, 1, INSPECTOR, urgency="urgent",
                             category="street_vending", note="现场核实", now=NOW)
    assert (accepted.status, accepted.category, accepted.urgency) == (
        "accepted", "street_vending", "urgent")
    # a report not yet accepted takes the new category's time limit from its report time
    assert accepted.deadline == deadline_for("street_vending", NOW - timedelta(hours=3))
    notes = [h["note"] for h in store.issue_history(rid)]
    assert notes[-2].startswith("改类别：乱贴乱画 → 占道经营")
    assert notes[-1] == "立案（紧急）现场核实"
    assert store.issue_history(rid)[-1]["to_status"] == "accepted"
    assert store.audit_count() > audits
    plain = triage.accept(store, _report(store, dx=400), 1, ADMIN, now=NOW)
    assert (plain.status, plain.urgency) == ("accepted", "normal")


def test_only_a_waiting_report_is_accepted_and_bad_input_writes_nothing(store: Store) -> None:
    rid = _report(store)
    before = _state(store, rid)
    with pytest.raises(InvalidInput, match="紧急程度 'asap' 无效"):
        triage.accept(store, rid, 1, INSPECTOR, urgency="asap", now=NOW)
    with pytest.raises(InvalidInput, match="未知的问题类别 'nope'"):
        triage.accept(store, rid, 1, INSPECTOR, category="nope", now=NOW)
    with pytest.raises(Conflict, match=r"已被他人修改（当前版本 1，提交的版本 7）"):
        triage.accept(store, rid, 7, INSPECTOR, category="clutter", now=NOW)
    with pytest.raises(Forbidden):
        triage.accept(store, rid, 1, UNIT, now=NOW)
    assert _state(store, rid) == before
    triage.accept(store, rid, 1, INSPECTOR, now=NOW)
    with pytest.raises(Conflict, match="不在受理队列"):
        triage.accept(store, rid, 2, INSPECTOR, now=NOW)
    with pytest.raises(NotFound):
        triage.accept(store, 999_999, 1, INSPECTOR, now=NOW)


def test_an_accept_whose_last_write_fails_leaves_the_report_waiting(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    rid = _report(store)
    before = _state(store, rid)
    _break(store, "apply_transition", monkeypatch)
    with pytest.raises(RuntimeError, match="apply_transition failed"):
        triage.accept(store, rid, 1, INSPECTOR, urgency="urgent", category="clutter", now=NOW)
    assert _state(store, rid) == before  # category, urgency, history and audit as they were


def test_reject_needs_a_reason_and_keeps_it(store: Store) -> None:
    rid = _report(store)
    before = _state(store, rid)
    for reason in ("", "   "):
        with pytest.raises(InvalidInput, match="不予立案须填写理由"):
            triage.reject(store, rid, reason, 1, INSPECTOR, now=NOW)
    assert _state(store, rid) == before
    rejected = triage.reject(store, rid, " 非城市管理问题 ", 1, INSPECTOR, now=NOW)
    assert rejected.status == "rejected"
    assert store.issue_history(rid)[-1]["note"] == "不予立案：非城市管理问题"


def test_a_duplicate_is_merged_and_its_reporter_linked_to_the_kept_case(store: Store) -> None:
    kept = _report(store, status="dispatched", reporter="网格员王芳", source="grid_patrol")
    dup = _report(store, dx=15, reporter="12345热线：张先生")
    merged = triage.mark_duplicate(store, dup, kept, 1, INSPECTOR, note="同一处", now=NOW)
    assert (merged.status, merged.duplicate_of) == ("rejected", kept)
    note = store.issue_history(kept)[-1]["note"]
    assert f"合并了重复问题 #{dup}" in note and "上报人：12345热线：张先生" in note
    assert "群众举报" in note
    assert [i.id for i in store.duplicates_of(kept)] == [dup]
    assert store.issue(kept).status == "dispatched"  # the kept case goes on as it was


def test_a_duplicate_of_a_closed_case_or_of_itself_is_refused(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    closed = _report(store, status="closed")
    dup = _report(store, dx=10)
    before = _state(store, closed, dup)
    with pytest.raises(Conflict, match=f"问题 #{closed} 已结案（closed），不能作为重复合并的目标"):
        triage.mark_duplicate(store, dup, closed, 1, INSPECTOR, now=NOW)
    with pytest.raises(InvalidInput, match="问题不能合并到自身"):
        triage.mark_duplicate(store, dup, dup, 1, INSPECTOR, now=NOW)
    with pytest.raises(NotFound):
        triage.mark_duplicate(store, dup, 999_999, 1, INSPECTOR, now=NOW)
    assert _state(store, closed, dup) == before
    kept = _report(store, dx=-10, status="accepted")
    before = _state(store, kept, dup)
    _break(store, "add_history_note", monkeypatch)  # the merge's last write
    with pytest.raises(RuntimeError):
        triage.mark_duplicate(store, dup, kept, 1, INSPECTOR, now=NOW)
    assert _state(store, kept, dup) == before


def test_recategorise_notes_the_change_and_refuses_unknown_or_final(store: Store) -> None:
    rid = _report(store, "graffiti")
    before = _state(store, rid)
    with pytest.raises(InvalidInput, match="未知的问题类别 'graffitti'"):
        triage.recategorise(store, rid, "graffitti", 1, INSPECTOR, now=NOW)
    with pytest.raises(InvalidInput, match=f"问题 #{rid} 的类别已是 'graffiti'"):
        triage.recategorise(store, rid, "graffiti", 1, INSPECTOR, now=NOW)
    assert _state(store, rid) == before
    moved = triage.recategorise(store, rid, "illegal_ads", 1, INSPECTOR, note="误报类别",
                                now=NOW)
    assert (moved.category, moved.status) == ("illegal_ads", "reported")  # still waiting
    assert store.issue_history(rid)[-1]["note"] == (
        "改类别：乱贴乱画 → 小广告/牛皮癣 (graffiti → illegal_ads) 误报类别")
    done = _report(store, dx=300, status="closed")
    with pytest.raises(Conflict, match="不能改类别"):
        triage.recategorise(store, done, "clutter", 1, INSPECTOR, now=NOW)


def test_edit_issue_is_the_one_edit_path(store: Store) -> None:
    rid = _report(store)
    with pytest.raises(InvalidInput, match="没有要修改的内容"):
        workflows.edit_issue(store, rid, {}, 1, INSPECTOR)
    edited = workflows.edit_issue(store, rid, {"description": "更新"}, 1, INSPECTOR)
    assert (edited.description, edited.version) == ("更新", 2)
