"""The case clock (办理时限) and the rules a city-management centre grades units by: 派遣 starts
the clock, 挂账/缓办 and a pending 延期 stop it, 返工 sends the case back with a fresh (or the
same) limit, and three failed verifications flag it for 督办.

* 派遣 (the first move to `dispatched`): dispatched_at = now, deadline = now + the limit of the
  category and urgency (geo.calendar.office.time_limit) in the office's working time.
* The clock stops (paused_at = the moment) when the case is deferred (挂账/缓办) or a 延期
  application is pending, and runs again when neither holds: the deadline moves to what was
  left when it stopped, counted from the moment it runs again (office time for working units,
  plain time for natural ones; a deadline already passed stays).
* 返工 (核查 fails: handled → returned) needs a reason and a photo of the verification (stage
  `rework`); rework_count + 1; the deadline restarts from the return (CaseRules.rework_deadline
  "restart", the default) or is kept ("keep"); at CaseRules.escalate_reworks failures (3) the
  case gets the flag `escalated` (督办).
* 延期: a unit applies for its own dispatched case before its deadline, with a reason and a new
  deadline at most CaseRules.extension_max_days (30 natural days) after the current one, one
  pending application per case; the clock stops until an admin or inspector (not the
  applicant) approves (deadline = the one asked for, extension_count + 1) or rejects it (the
  clock runs on with what it had left).

Each workflow is one transaction with its history notes and audit rows; where a notification
would be sent: `start_clock` (dispatched), `rework_columns` (rework) and `decide_extension`
(extension_decided), called from geo.ledger.workflows.change_status and the routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from geo.calendar.limits import URGENCIES
from geo.calendar.office import office_calendar, time_limit
from geo.calendar.worktime import DEFAULT_OFFICE_HOURS, WorkCalendar
from geo.model.errors import Conflict, Forbidden, InvalidInput, LimitExceeded
from geo.model.lifecycle import FINAL, UNHANDLED, StatusChange, is_overdue, statuses
from geo.model.records import Issue
from geo.model.users import User, require
from geo.notify.events import emit
from geo.store import Store

ESCALATED = "escalated"  # 督办: the flag of a case that failed verification too often
REWORK_RULES = ("restart", "keep")
EXTENSIBLE = ("dispatched", "returned")  # the statuses whose clock a unit may ask to extend
MAX_PENDING = 1  # pending 延期 applications per case
CLOCK_LABELS = {"not_started": "未计时", "running": "计时中", "paused": "暂停",
                "waiting": "待核查", "stopped": "已结束"}


@dataclass(frozen=True)
class CaseRules:
    """The office's settings of the clock (server.settings: CCMAP_OFFICE_HOURS,
    CCMAP_REWORK_DEADLINE, CCMAP_EXTENSION_MAX_DAYS, CCMAP_ESCALATE_REWORKS)."""

    office_hours: str = DEFAULT_OFFICE_HOURS
    rework_deadline: str = "restart"  # restart: a fresh limit from the return | keep
    extension_max_days: float = 30.0  # a 延期 reaches at most this many days past the deadline
    escalate_reworks: int = 3  # failed verifications that make a case 督办

    def calendar(self, store: Store) -> WorkCalendar:
        """The office's working-time calendar in force."""
        return office_calendar(store, self.office_hours)


DEFAULT_RULES = CaseRules()


def clock_columns(store: Store, issue: Issue, change: StatusChange, rules: CaseRules,
                  photo_id: int | None = None) -> dict[str, Any]:
    """The clock's columns a checked status change sets (start, stop, run again, rework)."""
    to, at = change.to_status, change.at
    if to == "dispatched":
        if issue.dispatched_at is None:
            return start_clock(store, issue, at, rules)
        if issue.paused_at is not None and not _pending(store, issue):
            return {"paused_at": None, "deadline": _resumed(store, issue, at, rules)}
    elif to == "deferred":
        if issue.dispatched_at is not None and issue.paused_at is None:
            return {"paused_at": at}
    elif (issue.status, to) == ("handled", "returned"):
        return rework_columns(store, issue, change, rules, photo_id)
    return {}


def start_clock(store: Store, issue: Issue, at: datetime, rules: CaseRules) -> dict[str, Any]:
    """派遣: the clock starts now, the deadline is the limit of the category and urgency
    away in the office's working time."""
    limit = time_limit(store, issue.category, issue.urgency)
    return {"dispatched_at": at, "paused_at": None,
            "deadline": rules.calendar(store).add(at, limit.amount, limit.unit)}


def relimit_columns(store: Store, issue: Issue, changes: dict[str, Any],
                    rules: CaseRules) -> dict[str, Any]:
    """A new urgency or category of a case whose clock has started: its deadline follows the
    new limit counted from 派遣, keeping the working time an extension or a stop added to the
    old one. Nothing when the deadline is set explicitly or the case is no longer worked on."""
    if ("deadline" in changes or issue.dispatched_at is None or issue.deadline is None
            or issue.status not in UNHANDLED):
        return {}
    category = changes.get("category", issue.category)
    urgency = changes.get("urgency", issue.urgency)
    if (category, urgency) == (issue.category, issue.urgency):
        return {}
    calendar = rules.calendar(store)
    old = time_limit(store, issue.category, issue.urgency)
    new = time_limit(store, category, urgency)
    added = calendar.working_hours_until(
        calendar.add(issue.dispatched_at, old.amount, old.unit), issue.deadline)
    deadline = calendar.add(issue.dispatched_at, new.amount, new.unit)
    if added > 0:
        deadline = calendar.add(deadline, added, "working_hours")
    return {"deadline": deadline}


def rework_columns(store: Store, issue: Issue, change: StatusChange, rules: CaseRules,
                   photo_id: int | None) -> dict[str, Any]:
    """返工: checks the reason and the verification photo; the count, the deadline by the
    rework rule, and 督办 at the escalation count."""
    assert issue.id is not None
    if not change.note.strip():
        raise InvalidInput("退回返工须写明原因（note）")
    _check_rework_photo(store, issue.id, photo_id)
    count = issue.rework_count + 1
    out: dict[str, Any] = {"rework_count": count}
    if rules.rework_deadline == "restart":
        limit = time_limit(store, issue.category, issue.urgency)
        out["deadline"] = rules.calendar(store).add(change.at, limit.amount, limit.unit)
        if issue.paused_at is not None:  # stopped (a 延期 pending): the fresh limit waits too
            out["paused_at"] = change.at
    if count >= rules.escalate_reworks and ESCALATED not in issue.flags:
        out["flags"] = [*issue.flags, ESCALATED]
    return out


def _check_rework_photo(store: Store, issue_id: int, photo_id: int | None) -> None:
    """InvalidInput unless photo_id is a rework photo of this issue taken since the case was
    last reported handled."""
    if photo_id is None:
        raise InvalidInput("退回返工须附核查照片：请先上传核查照片（stage=rework），"
                           "再以 photo_id 提交其编号")
    photo = next((p for p in store.photos(issue_id) if p["id"] == photo_id), None)
    if photo is None or photo["stage"] != "rework":
        raise InvalidInput(f"照片 #{photo_id} 不是问题 #{issue_id} 的核查照片（stage=rework）")
    handled = [h["at"] for h in store.issue_history(issue_id) if h["to_status"] == "handled"
               and h["from_status"] != "handled"]
    if handled and photo["at"] < handled[-1]:
        raise InvalidInput(f"照片 #{photo_id} 拍摄于案件最近一次处置完成之前，"
                           "请上传本次核查时拍摄的照片")


def _pending(store: Store, issue: Issue) -> bool:
    return store.extension_total(state="pending", issue_id=issue.id) > 0


def _resumed(store: Store, issue: Issue, at: datetime, rules: CaseRules) -> datetime | None:
    """The deadline of the stopped clock of issue, run again at `at`."""
    if issue.deadline is None:
        return None
    unit = time_limit(store, issue.category, issue.urgency).unit
    return rules.calendar(store).resume(issue.paused_at or at, issue.deadline, at, unit)


# --- 延期 ----------------------------------------------------------------------------------
def apply_extension(store: Store, issue_id: int, reason: str, requested: datetime,
                    user: User, rules: CaseRules = DEFAULT_RULES,
                    now: datetime | None = None) -> dict[str, Any]:
    """A unit's 延期 application for one of its cases: checked, stored pending, the clock
    stopped, a history note; the application. Forbidden for a role that may not apply,
    Conflict when the case is not running or overdue, LimitExceeded past the cap or over the
    pending applications allowed, InvalidInput for a missing reason or an earlier deadline."""
    require(user, "extensions:apply")
    reason, now = reason.strip(), now or datetime.now()
    if not reason:
        raise InvalidInput("申请延期须写明理由")
    with store.transaction():
        issue = store.issue(issue_id, scope_unit=user.scope_unit)
        if issue.status not in EXTENSIBLE or issue.dispatched_at is None \
                or issue.deadline is None:
            label = statuses().get(issue.status, issue.status)
            raise Conflict(f"问题 #{issue_id} 当前状态为{label}（{issue.status}），"
                           "只有已派遣、正在计时的案件可以申请延期")
        if _pending(store, issue):
            raise LimitExceeded(f"问题 #{issue_id} 已有待审批的延期申请"
                                f"（每案最多 {MAX_PENDING} 个）", limit=MAX_PENDING)
        if issue.paused_at is not None:
            raise Conflict(f"问题 #{issue_id} 已暂停计时，无需申请延期")
        if issue.deadline < now:
            raise Conflict(f"问题 #{issue_id} 已于 {issue.deadline:%Y-%m-%d %H:%M} 超期，"
                           "不能申请延期（须在期限前申请）")
        _check_requested(issue.deadline, requested, rules)
        ext_id = store.add_extension(issue_id, issue.unit, reason, requested, issue.deadline,
                                     user.actor, now)
        store.update_issue(issue_id, {"paused_at": now}, issue.version, user.actor)
        store.add_history_note(issue_id, issue.status, user.actor,
                               f"申请延期 #{ext_id} 至 {requested:%Y-%m-%d %H:%M}，计时暂停："
                               f"{reason}")
        return store.extension(ext_id)


def _check_requested(deadline: datetime, requested: datetime, rules: CaseRules) -> None:
    if requested <= deadline:
        raise InvalidInput(f"新的期限 {requested:%Y-%m-%d %H:%M} 须晚于当前期限 "
                           f"{deadline:%Y-%m-%d %H:%M}")
    cap = deadline + timedelta(days=rules.extension_max_days)
    if requested > cap:
        raise LimitExceeded(f"延期最多超出当前期限 {rules.extension_max_days:g} 天，即至 "
                            f"{cap:%Y-%m-%d %H:%M}（CCMAP_EXTENSION_MAX_DAYS）",
                            limit=rules.extension_max_days)


def decide_extension(store: Store, extension_id: int, approve: bool, note: str, user: User,
                     rules: CaseRules = DEFAULT_RULES,
                     now: datetime | None = None) -> dict[str, Any]:
    """A supervisor approves (the deadline becomes the one asked for, extension_count + 1) or
    rejects (the clock runs on with what it had left) a pending application; the clock runs
    again unless the case is deferred (a case closed or rejected meanwhile keeps its
    deadline). Forbidden for a role that may not decide and for the
    applicant; Conflict when it is decided already. The application as decided."""
    require(user, "extensions:decide")
    now, note = now or datetime.now(), note.strip()
    with store.transaction():
        ext = store.extension(extension_id)
        if ext["state"] != "pending":
            raise Conflict(f"延期申请 #{extension_id} 已处理（{ext['state']}）")
        if ext["requested_by"] == user.actor:
            raise Forbidden("不能审批自己的延期申请")
        issue = store.issue(ext["issue_id"])
        changes: dict[str, Any] = {"paused_at": now if issue.status == "deferred" else None}
        if approve:
            changes["extension_count"] = issue.extension_count + 1
        if issue.status in FINAL:  # closed or rejected meanwhile: its deadline stays
            changes["deadline"] = issue.deadline
        elif approve:
            changes["deadline"] = ext["requested_deadline"]
        else:
            changes["deadline"] = _resumed(store, issue, now, rules)
        decided = store.decide_extension(extension_id, approve, note, user.actor, now,
                                         changes["deadline"])
        updated = store.update_issue(ext["issue_id"], changes, issue.version, user.actor)
        when = f"{changes['deadline']:%Y-%m-%d %H:%M}" if changes["deadline"] else "—"
        store.add_history_note(ext["issue_id"], issue.status, user.actor,
                               f"延期申请 #{extension_id} {'批准' if approve else '驳回'}，"
                               f"时限 {when}" + (f"：{note}" if note else ""))
        emit(store, "extension_decided", updated, user.actor, now=now,  # geo.notify
             applicant=ext["requested_by"], decision="approved" if approve else "rejected",
             new_deadline=changes["deadline"], note=note)
        return decided


# --- what the clock says ---------------------------------------------------------------------
def clock_state(issue: Issue) -> str:
    """not_started (not yet dispatched) | running | paused | waiting (handled, awaiting
    verification) | stopped (closed or rejected)."""
    if issue.status in FINAL:
        return "stopped"
    if issue.paused_at is not None:
        return "paused"
    if issue.dispatched_at is None:
        return "not_started"
    return "waiting" if issue.status in ("handled", "verified") else "running"


def case_clock(issue: Issue, calendar: WorkCalendar, now: datetime) -> dict[str, Any]:
    """The clock of a case as the issue detail shows it: state, overdue, working hours left
    (negative: past the deadline; while stopped, what it had left when it stopped)."""
    state = clock_state(issue)
    hours = None
    if issue.deadline is not None and state in ("running", "paused"):
        hours = round(calendar.working_hours_until(issue.paused_at or now, issue.deadline), 2)
    return {"clock": state, "clock_label": CLOCK_LABELS[state],
            "urgency_label": URGENCIES.get(issue.urgency, issue.urgency),
            "overdue": is_overdue(issue.status, issue.deadline, now, issue.paused_at),
            "due_in_working_hours": hours, "escalated": ESCALATED in issue.flags}


def due_cutoff(calendar: WorkCalendar, now: datetime, working_hours: float) -> datetime:
    """The moment `working_hours` office hours from now (the list's due_within filter)."""
    return calendar.add(now, working_hours, "working_hours")
