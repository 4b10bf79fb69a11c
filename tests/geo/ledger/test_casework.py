"""The case clock and its rules (geo.ledger.casework) on both backends: 派遣 starts it, 挂账
and a pending 延期 stop it, 返工 restarts or keeps it, 督办 after three failed verifications;
each workflow checks the caller and writes all of its rows or none."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from geo.ledger import workflows
from geo.ledger.casework import (
    DEFAULT_RULES,
    CaseRules,
    apply_extension,
    case_clock,
    decide_extension,
    due_cutoff,
)
from geo.ledger.writes import create_issues
from geo.model.errors import Conflict, Forbidden, InvalidInput, LimitExceeded, NotFound
from geo.model.lifecycle import is_overdue
from geo.model.records import Issue
from geo.model.users import Role, User
from geo.store import IssueQuery, Store

ADMIN = User("adm", Role.admin)
INSPECTOR = User("ins", Role.inspector)
UNIT = User("unit1", Role.unit, unit="区城管执法局")
OTHER_UNIT = User("unit2", Role.unit, unit="区绿化市容局")
VIEWER = User("boss", Role.viewer)
MON = datetime(2026, 11, 23, 9)  # a Monday: clutter's 1 working day ends Tuesday 09:00
TUE_9 = datetime(2026, 11, 24, 9)


def _case(store: Store, category: str = "clutter", unit: str = "区城管执法局",
          urgency: str = "normal", at: datetime = MON) -> int:
    """A case of `unit`, accepted and dispatched at `at`."""
    [issue_id] = create_issues(store, [Issue(category, 121.47, 31.23, urgency=urgency)],
                               actor="test").ids
    store.update_issue(issue_id, {"unit": unit}, 1, "test")
    for to in ("accepted", "dispatched"):
        workflows.change_status(store, issue_id, to, "", store.issue(issue_id).version,
                                INSPECTOR, now=at)
    return issue_id


def _move(store: Store, issue_id: int, to: str, user: User, at: datetime, note: str = "",
          rules: CaseRules = DEFAULT_RULES, photo_id: int | None = None) -> Issue:
    return workflows.change_status(store, issue_id, to, note, store.issue(issue_id).version,
                                   user, now=at, rules=rules, photo_id=photo_id)


def _state(store: Store, issue_id: int) -> tuple[Any, ...]:
    i = store.issue(issue_id)
    return ((i.status, i.version, i.deadline, i.paused_at, i.extension_count, i.rework_count,
             i.flags), store.extensions(), len(store.issue_history(issue_id)),
            len(store.audit_log(limit=None)))


def _break(store: Store, method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError(f"{method} failed")

    monkeypatch.setattr(store, method, broken)


def test_dispatch_starts_the_clock_in_working_time_by_category_and_urgency(
        store: Store) -> None:
    issue = store.issue(_case(store))
    assert (issue.dispatched_at, issue.deadline, issue.paused_at) == (MON, TUE_9, None)
    urgent = store.issue(_case(store, urgency="urgent"))  # 4 working hours
    assert urgent.deadline == datetime(2026, 11, 23, 14, 30)
    fire = store.issue(_case(store, "blocked_fire_lane", at=datetime(2026, 11, 23, 20)))
    assert fire.deadline == datetime(2026, 11, 24, 0)  # 4 natural hours, at night too
    # an office's own limit applies from the next dispatch on
    store.set_time_limits([{"category": "clutter", "urgency": "normal", "amount": 2,
                            "unit": "working_hours"}], "test")
    assert store.issue(_case(store)).deadline == datetime(2026, 11, 23, 11)


def test_deferral_stops_the_clock_and_dispatch_resumes_it_with_the_time_left(
        store: Store) -> None:
    issue_id = _case(store)
    deferred = _move(store, issue_id, "deferred", INSPECTOR, datetime(2026, 11, 23, 11))
    assert deferred.paused_at == datetime(2026, 11, 23, 11)
    assert not is_overdue(deferred.status, deferred.deadline, datetime(2026, 11, 26),
                          deferred.paused_at)
    resumed = _move(store, issue_id, "dispatched", INSPECTOR, datetime(2026, 11, 26, 9))
    # 5.5 office hours were left at Monday 11:00: from Thursday 09:00 they end at 16:00
    assert (resumed.paused_at, resumed.deadline) == (None, datetime(2026, 11, 26, 16))
    assert resumed.dispatched_at == MON
    fire = _case(store, "blocked_fire_lane", at=datetime(2026, 11, 23, 10))  # due 14:00
    _move(store, fire, "deferred", INSPECTOR, datetime(2026, 11, 23, 11))
    assert _move(store, fire, "dispatched", INSPECTOR,
                 datetime(2026, 11, 23, 20)).deadline == datetime(2026, 11, 23, 23)


def test_an_extension_stops_the_clock_until_approved_then_the_deadline_moves(
        store: Store) -> None:
    issue_id = _case(store)
    wanted = datetime(2026, 11, 25, 17, 30)
    ext = apply_extension(store, issue_id, "需要采购配件", wanted, UNIT,
                          now=datetime(2026, 11, 23, 10))
    assert (ext["state"], ext["old_deadline"], ext["unit"]) == ("pending", TUE_9, UNIT.unit)
    paused = store.issue(issue_id)
    assert paused.paused_at == datetime(2026, 11, 23, 10) and paused.deadline == TUE_9
    # waiting on the decision past the deadline is not overdue
    late = datetime(2026, 11, 24, 15)
    assert not is_overdue(paused.status, paused.deadline, late, paused.paused_at)
    assert store.query_issues(IssueQuery(overdue=True, now=late))[1] == 0
    assert case_clock(paused, DEFAULT_RULES.calendar(store), late)["clock"] == "paused"
    decided = decide_extension(store, ext["id"], True, "同意", INSPECTOR, now=late)
    assert (decided["state"], decided["new_deadline"], decided["decided_by"]) == (
        "approved", wanted, INSPECTOR.actor)
    issue = store.issue(issue_id)
    assert (issue.deadline, issue.paused_at, issue.extension_count) == (wanted, None, 1)
    notes = [h["note"] for h in store.issue_history(issue_id)]
    assert any("申请延期" in n for n in notes) and any("批准" in n for n in notes)
    audit = [(a["action"], a["object_type"]) for a in store.audit_log(object_type="extension")]
    assert audit == [("decide", "extension"), ("apply", "extension")]


def test_a_rejected_extension_lets_the_clock_run_on_with_what_it_had_left(
        store: Store) -> None:
    issue_id = _case(store)
    ext = apply_extension(store, issue_id, "人手不足", datetime(2026, 11, 26, 9), UNIT,
                          now=datetime(2026, 11, 23, 10))
    decide_extension(store, ext["id"], False, "理由不充分", ADMIN,
                     now=datetime(2026, 11, 23, 15))
    issue = store.issue(issue_id)
    # 6.5 office hours were left at Monday 10:00: from Monday 15:00 they end Tuesday 14:00
    assert (issue.deadline, issue.paused_at, issue.extension_count) == (
        datetime(2026, 11, 24, 14), None, 0)
    assert store.extension(ext["id"])["new_deadline"] == issue.deadline
    with pytest.raises(Conflict, match=f"延期申请 #{ext['id']} 已处理（rejected）"):
        decide_extension(store, ext["id"], True, "", ADMIN, now=datetime(2026, 11, 23, 16))


def test_extension_applications_are_checked_and_refusals_write_nothing(
        store: Store) -> None:
    issue_id = _case(store)
    at = datetime(2026, 11, 23, 10)
    before = _state(store, issue_id)
    refusals: list[tuple[type[Exception], str, dict[str, Any]]] = [
        (LimitExceeded, "延期最多超出当前期限 30 天", {"requested": TUE_9 + timedelta(days=31)}),
        (InvalidInput, "须晚于当前期限", {"requested": TUE_9}),
        (InvalidInput, "申请延期须写明理由", {"reason": "  "}),
        (Forbidden, "extensions:apply", {"user": VIEWER}),
        (Forbidden, "extensions:apply", {"user": INSPECTOR}),
        (NotFound, rf"问题 #{issue_id} 不存在", {"user": OTHER_UNIT}),  # another unit's case
        (Conflict, "超期，不能申请延期", {"now": TUE_9 + timedelta(minutes=1)}),
    ]
    for error, match, change in refusals:
        args = {"reason": "理由", "requested": TUE_9 + timedelta(days=2), "user": UNIT,
                "now": at, **change}
        with pytest.raises(error, match=match):
            apply_extension(store, issue_id, args["reason"], args["requested"], args["user"],
                            now=args["now"])
    assert _state(store, issue_id) == before
    apply_extension(store, issue_id, "理由", TUE_9 + timedelta(days=30), UNIT, now=at)
    with pytest.raises(LimitExceeded, match="已有待审批的延期申请"):  # one pending per case
        apply_extension(store, issue_id, "再申请", TUE_9 + timedelta(days=3), ADMIN, now=at)
    reported = create_issues(store, [Issue("clutter", 121.47, 31.23)], actor="t").ids[0]
    with pytest.raises(Conflict, match="（reported），只有已派遣"):  # its clock has not started
        apply_extension(store, reported, "理由", TUE_9, ADMIN, now=at)
    rules = CaseRules(extension_max_days=3)
    other = _case(store)
    with pytest.raises(LimitExceeded, match="超出当前期限 3 天"):
        apply_extension(store, other, "理由", TUE_9 + timedelta(days=4), UNIT, rules, now=at)


def test_only_a_supervisor_other_than_the_applicant_decides(store: Store) -> None:
    issue_id = _case(store)
    ext = apply_extension(store, issue_id, "理由", TUE_9 + timedelta(days=1), ADMIN,
                          now=datetime(2026, 11, 23, 10))
    before = _state(store, issue_id)
    for user, match in ((UNIT, "extensions:decide"), (VIEWER, "extensions:decide"),
                        (ADMIN, "自己")):
        with pytest.raises(Forbidden, match=match):
            decide_extension(store, ext["id"], True, "", user, now=datetime(2026, 11, 23, 11))
    assert _state(store, issue_id) == before
    with pytest.raises(NotFound):
        decide_extension(store, 999, True, "", INSPECTOR)


def test_an_extension_workflow_whose_second_write_fails_leaves_nothing(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    issue_id = _case(store)
    before = _state(store, issue_id)
    _break(store, "update_issue", monkeypatch)
    with pytest.raises(RuntimeError, match="update_issue failed"):
        apply_extension(store, issue_id, "理由", TUE_9 + timedelta(days=1), UNIT,
                        now=datetime(2026, 11, 23, 10))
    assert _state(store, issue_id) == before
    monkeypatch.undo()
    ext = apply_extension(store, issue_id, "理由", TUE_9 + timedelta(days=1), UNIT,
                          now=datetime(2026, 11, 23, 10))
    before = _state(store, issue_id)
    _break(store, "add_history_note", monkeypatch)
    with pytest.raises(RuntimeError, match="add_history_note failed"):
        decide_extension(store, ext["id"], True, "", INSPECTOR, now=datetime(2026, 11, 23, 11))
    assert _state(store, issue_id) == before
    assert store.extension(ext["id"])["state"] == "pending"


def _photo(store: Store, issue_id: int) -> int:
    return workflows.add_photo(store, issue_id, "rework", "check.png", "image/png", b"png",
                               INSPECTOR).id


def test_a_failed_verification_needs_a_reason_and_photo_and_restarts_the_clock(
        store: Store) -> None:
    issue_id = _case(store)
    _move(store, issue_id, "handled", UNIT, datetime(2026, 11, 23, 15))
    back = datetime(2026, 11, 24, 10)
    before = _state(store, issue_id)
    with pytest.raises(InvalidInput, match="退回返工须写明原因"):
        _move(store, issue_id, "returned", INSPECTOR, back, photo_id=_photo(store, issue_id))
    with pytest.raises(InvalidInput, match="退回返工须附核查照片"):
        _move(store, issue_id, "returned", INSPECTOR, back, note="没扫干净")
    after_photo = _state(store, issue_id)  # the photo and its note stay: evidence
    assert after_photo[0] == before[0] and after_photo[1] == before[1]
    other = workflows.add_photo(store, issue_id, "after", "a.png", "image/png", b"png", UNIT)
    with pytest.raises(InvalidInput, match=f"照片 #{other.id} 不是问题 #{issue_id} 的核查照片"):
        _move(store, issue_id, "returned", INSPECTOR, back, "没扫干净", photo_id=other.id)
    with pytest.raises(InvalidInput, match="photo_id 仅用于核查不合格"):
        _move(store, issue_id, "verified", INSPECTOR, back, photo_id=_photo(store, issue_id))
    returned = _move(store, issue_id, "returned", INSPECTOR, back, "没扫干净",
                     photo_id=_photo(store, issue_id))
    assert (returned.status, returned.rework_count) == ("returned", 1)
    assert returned.deadline == datetime(2026, 11, 25, 10)  # a fresh working day from return
    assert "返工 #1" in store.issue_history(issue_id)[-1]["note"]
    assert "escalated" not in returned.flags


def test_the_keep_rule_keeps_the_deadline_and_three_failures_make_it_escalated(
        store: Store) -> None:
    keep = CaseRules(rework_deadline="keep")
    issue_id = _case(store)
    for n in range(1, 5):
        if n > 1:
            _move(store, issue_id, "dispatched", INSPECTOR, datetime(2026, 11, 24, 8))
        _move(store, issue_id, "handled", UNIT, datetime(2026, 11, 24, 8))
        issue = _move(store, issue_id, "returned", INSPECTOR, datetime(2026, 11, 24, 8, 30),
                      f"第{n}次核查不合格", keep, photo_id=_photo(store, issue_id))
        assert issue.rework_count == n and issue.deadline == TUE_9
        assert issue.flags.count("escalated") == (1 if n >= 3 else 0)
    escalated, total = store.query_issues(IssueQuery(flags=["escalated"]))
    assert total == 1 and escalated[0].id == issue_id
    assert store.query_issues(IssueQuery(flags=["escalated", "recurring"]))[1] == 0


def test_a_photo_from_before_the_last_handling_does_not_count(store: Store) -> None:
    issue_id = _case(store)
    old = _photo(store, issue_id)  # uploaded now (the real clock)
    _move(store, issue_id, "handled", UNIT, datetime.now() + timedelta(hours=1))
    with pytest.raises(InvalidInput, match=f"照片 #{old} 拍摄于案件最近一次处置完成之前"):
        _move(store, issue_id, "returned", INSPECTOR, datetime.now() + timedelta(hours=2),
              "仍未整改", photo_id=old)


def test_due_within_and_overdue_follow_the_clock(store: Store) -> None:
    soon = _case(store, urgency="urgent")  # due Monday 14:30
    later = _case(store)  # due Tuesday 09:00
    paused = _case(store)
    apply_extension(store, paused, "理由", TUE_9 + timedelta(days=1), UNIT,
                    now=datetime(2026, 11, 23, 9, 30))
    now = datetime(2026, 11, 23, 11)
    calendar = DEFAULT_RULES.calendar(store)
    cutoff = due_cutoff(calendar, now, 3)  # 3 working hours: Monday 15:30
    assert cutoff == datetime(2026, 11, 23, 15, 30)
    found, total = store.query_issues(IssueQuery(due_before=cutoff, now=now))
    assert [i.id for i in found] == [soon] and total == 1
    assert {i.id for i in store.query_issues(IssueQuery(
        due_before=due_cutoff(calendar, now, 8), now=now))[0]} == {soon, later}
    evening = datetime(2026, 11, 23, 19)
    overdue = {i.id for i in store.query_issues(IssueQuery(overdue=True, now=evening))[0]}
    assert overdue == {soon}  # the paused one is not, though it was due earlier too
    clock = case_clock(store.issue(soon), calendar, evening)
    assert clock["overdue"] and clock["due_in_working_hours"] == -3.0
    assert case_clock(store.issue(later), calendar, now)["due_in_working_hours"] == 5.5




def test_issue_stats_do_not_count_a_stopped_clock_as_overdue(store: Store) -> None:
    """The dashboard's, ranking's and choropleths' overdue counts agree with the overdue filter:
    a case waiting on a 延期 decision is past its old deadline but not overdue."""
    running = _case(store)
    _case(store, unit="区绿化市容局")
    waiting = _case(store)
    apply_extension(store, waiting, "理由", TUE_9 + timedelta(days=2), UNIT,
                    now=datetime(2026, 11, 23, 9, 30))
    late = datetime(2026, 11, 25, 12)  # both clutter cases were due Tuesday 09:00
    assert store.issue(waiting).deadline < late
    [total] = store.issue_stats(IssueQuery(now=late))
    assert total["overdue"] == 2 and total["issues"] == 3
    by_unit = {r["unit"]: r["overdue"] for r in store.issue_stats(IssueQuery(now=late),
                                                                  by=("unit",))}
    assert by_unit == {"区城管执法局": 1, "区绿化市容局": 1}
    overdue = {i.id for i in store.query_issues(IssueQuery(overdue=True, now=late))[0]}
    assert running in overdue and waiting not in overdue


def test_a_new_urgency_moves_the_deadline_of_a_dispatched_case(store: Store) -> None:
    """紧急 after 派遣: the deadline follows the urgent limit counted from 派遣 (clutter: 4
    working hours, Monday 09:00 → 14:30); back to 一般, the normal limit again; an explicit
    deadline wins."""
    issue_id = _case(store)
    assert store.issue(issue_id).deadline == TUE_9
    edited = workflows.edit_issue(store, issue_id, {"urgency": "urgent"},
                                  store.issue(issue_id).version, INSPECTOR, now=MON)
    assert edited.deadline == datetime(2026, 11, 23, 14, 30)
    back = workflows.edit_issue(store, issue_id, {"urgency": "normal"}, edited.version,
                                INSPECTOR, now=MON)
    assert back.deadline == TUE_9
    fixed = datetime(2026, 11, 30, 17)
    assert workflows.edit_issue(store, issue_id, {"urgency": "urgent", "deadline": fixed},
                                back.version, INSPECTOR, now=MON).deadline == fixed
