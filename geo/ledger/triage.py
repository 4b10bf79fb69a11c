"""The triage queue (受理): new reports (status `reported`) wait, oldest first, for a
dispatcher (admin, inspector) to accept (立案, with an urgency and maybe another category),
reject with a reason (不予立案), mark as a duplicate of an open case nearby (merged, its
reporter linked to the kept case) or re-categorise. Each action is one workflow of
geo.ledger.workflows (change_status, merge_duplicate, edit_issue) or a few of them in one
transaction: role, scope and claim checked, history and audit written, or nothing at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from geo.ledger import workflows
from geo.ledger.claims import held_issue
from geo.ledger.recurrence import near_bbox
from geo.model.errors import Conflict, InvalidInput
from geo.model.kinds import check_category, sources
from geo.model.lifecycle import FINAL, OPEN, deadline_for, statuses
from geo.model.records import Issue
from geo.model.users import User, require
from geo.store import IssueQuery, Store

QUEUE_STATUS = "reported"
URGENCIES = {"normal": "一般", "urgent": "紧急"}
NEARBY_M = 200.0  # the radius of the open cases shown beside a report (duplicate candidates)
NEARBY_MAX = 50


def queue(store: Store, user: User, source: Sequence[str] = (), category: Sequence[str] = (),
          limit: int = 50, offset: int = 0) -> tuple[list[Issue], int]:
    """A page of the reports waiting for triage in the user's scope, oldest first, and how
    many wait in all (optionally of some sources and categories)."""
    require(user, "issues:write")
    for code in source:
        if code not in sources():
            raise InvalidInput(f"未知的来源 {code!r}，可选来源：{', '.join(sources())}")
    for code in category:
        check_category(code)
    query = IssueQuery(statuses=[QUEUE_STATUS], sources=list(source),
                       categories=list(category), scope_unit=user.scope_unit,
                       sort="reported_at", offset=offset, limit=limit)
    return store.query_issues(query)


def nearby(store: Store, issue_id: int, user: User, radius_m: float = NEARBY_M,
           limit: int = NEARBY_MAX) -> tuple[Issue, list[tuple[Issue, float]]]:
    """The issue and the open issues within radius_m of it (itself and its own duplicates
    aside), nearest first with their distances in metres."""
    require(user, "issues:write")
    if not 0 < radius_m <= 2000:
        raise InvalidInput("半径须大于 0 米且不超过 2000 米")
    issue = store.issue(issue_id, scope_unit=user.scope_unit)
    found = store.issues_near(issue.lon, issue.lat, radius_m, near_bbox([issue], radius_m),
                              sorted(OPEN), limit, exclude=issue_id,
                              scope_unit=user.scope_unit)
    return issue, found


def _waiting(store: Store, issue_id: int, user: User, now: datetime) -> Issue:
    """The issue, if it waits in the triage queue and the user may act on it now (a role that
    may not triage is refused before the issue is looked up)."""
    require(user, "issues:write")
    issue = held_issue(store, issue_id, user, now)
    if issue.status != QUEUE_STATUS:
        raise Conflict(f"问题 #{issue_id} 不在受理队列中（当前状态 {issue.status}）")
    return issue


def recategorise(store: Store, issue_id: int, category: str, version: int, user: User,
                 note: str = "", now: datetime | None = None) -> Issue:
    """Give an open issue another category (InvalidInput for an unknown one), noted in its
    history; one not yet accepted gets the new category's deadline from its report time."""
    now = now or datetime.now()
    with store.transaction():
        issue = held_issue(store, issue_id, user, now)
        if issue.status in FINAL:
            raise Conflict(f"问题 #{issue_id} 已结束（{issue.status}），不能改类别")
        if category == issue.category:
            raise InvalidInput(f"问题 #{issue_id} 的类别已是 {category!r}")
        return workflows.edit_issue(store, issue_id, _category(issue, category), version, user,
                                    now, note)


def _category(issue: Issue, category: str) -> dict[str, Any]:
    """The changes of a new category (InvalidInput for an unknown one): a report not yet
    accepted gets the category's deadline from its report time too."""
    check_category(category)
    changes: dict[str, Any] = {"category": category}
    if issue.status == QUEUE_STATUS and issue.reported_at is not None:
        changes["deadline"] = deadline_for(category, issue.reported_at)
    return changes


def accept(store: Store, issue_id: int, version: int, user: User, urgency: str | None = None,
           category: str | None = None, note: str = "", now: datetime | None = None) -> Issue:
    """立案: accept a waiting report, with an urgency (normal, urgent) and a new category if
    given; the accepted issue."""
    now = now or datetime.now()
    if urgency is not None and urgency not in URGENCIES:
        raise InvalidInput(f"紧急程度 {urgency!r} 无效，须为以下之一：{', '.join(URGENCIES)}")
    with store.transaction():
        issue = _waiting(store, issue_id, user, now)
        changes = _category(issue, category) if category not in (None, issue.category) else {}
        if urgency is not None and urgency != issue.urgency:
            changes["urgency"] = urgency
        if changes:
            issue = workflows.edit_issue(store, issue_id, changes, version, user, now)
            version = issue.version
        text = f"立案（{URGENCIES[issue.urgency]}）{note}".strip()
        return workflows.change_status(store, issue_id, "accepted", text, version, user, now)


def reject(store: Store, issue_id: int, reason: str, version: int, user: User,
           now: datetime | None = None) -> Issue:
    """不予立案: reject a waiting report; the reason is required and kept in its history."""
    now = now or datetime.now()
    if not reason.strip():
        raise InvalidInput("不予立案须填写理由")
    with store.transaction():
        _waiting(store, issue_id, user, now)
        return workflows.change_status(store, issue_id, "rejected",
                                       f"不予立案：{reason.strip()}", version, user, now)


def mark_duplicate(store: Store, issue_id: int, into: int, version: int, user: User,
                   note: str = "", now: datetime | None = None) -> Issue:
    """A waiting report repeats the open case `into`: it is merged (rejected as its
    duplicate), and the kept case's history names its reporter. The merged report."""
    now = now or datetime.now()
    with store.transaction():
        _waiting(store, issue_id, user, now)
        target = store.issue(into, scope_unit=user.scope_unit)
        if target.status not in OPEN:
            raise Conflict(f"问题 #{into} 已{statuses().get(target.status, target.status)}"
                           f"（{target.status}），不能作为重复合并的目标（须合并到未办结的问题）")
        return workflows.merge_duplicate(store, issue_id, into, note, version, user, now)
