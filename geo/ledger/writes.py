"""The issue ledger's write path: validate, set deadlines, route, detect recurrence/duplicates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from geo.calendar.limits import check_urgency
from geo.ledger.recurrence import (
    DEFAULT_RULE,
    RecurrenceRule,
    find_duplicates,
    find_recurrences,
    near_bbox,
)
from geo.model.clients import client_key
from geo.model.errors import Conflict, InvalidInput
from geo.model.kinds import issue_categories, sources
from geo.model.lifecycle import deadline_for, statuses
from geo.model.records import Issue
from geo.store import Store
from geo.zones.rerouting import (
    apply_routes,
)

if TYPE_CHECKING:
    from geo.ledger.mapping import IssueImport


@dataclass
class Intake:
    """What creating issues did: the new ids, and the duplicate candidates offered per id."""

    ids: list[int] = field(default_factory=list)
    duplicates: dict[int, list[int]] = field(default_factory=dict)
    recurring: int = 0


def validate_issue(issue: Issue) -> None:
    """Raise InvalidInput when an issue's category, source, status or location is wrong."""
    if issue.category not in issue_categories():
        raise InvalidInput(f"未知的问题类别 {issue.category!r}，可选类别："
                           f"{', '.join(issue_categories())}")
    if issue.source not in sources():
        raise InvalidInput(f"未知的来源 {issue.source!r}，可选来源：{', '.join(sources())}")
    if issue.status not in statuses():
        raise InvalidInput(f"未知的状态 {issue.status!r}")
    check_urgency(issue.urgency)
    if not (-180 <= issue.lon <= 180 and -90 <= issue.lat <= 90):
        raise InvalidInput(f"位置（{issue.lon}，{issue.lat}）不是有效的经纬度")


def prepare(store: Store, issues: list[Issue], now: datetime,
            rule: RecurrenceRule = DEFAULT_RULE) -> dict[int, list[int]]:
    """Fill deadline, zone, unit, cadre, flags and recurring_of in place; return duplicates."""
    if not issues:
        return {}
    for i in issues:
        i.reported_at = i.reported_at or now
        i.deadline = i.deadline or deadline_for(i.category, i.reported_at)
    apply_routes(store, issues)
    box = near_bbox(issues, rule.radius_m)
    nearby = store.issues(bbox=box)
    closed = [i for i in nearby if i.status == "closed" and i.closed_at is not None]
    for k, old_id in find_recurrences(issues, closed, rule).items():
        issues[k].recurring_of = old_id
        if "recurring" not in issues[k].flags:
            issues[k].flags.append("recurring")
    return find_duplicates(issues, nearby, rule)


def create_issues(store: Store, issues: list[Issue], actor: str,
                  now: datetime | None = None) -> Intake:
    """Validate, prepare and store issues in one transaction."""
    now = now or datetime.now()
    for i in issues:
        validate_issue(i)
    external = [i.external_id for i in issues if i.external_id]
    taken = sorted(store.existing_external_ids(external)) if external else []
    if taken or len(set(external)) < len(external):
        # a client's id names one report: a second POST with it is refused, not stored twice
        raise Conflict(f"外部编号（external_id）已被使用：{', '.join(taken or external)}；"
                       "请查询已有问题，不要重复上报",
                       external_ids=taken or external)
    duplicates = prepare(store, issues, now)
    ids = store.add_issues(issues, actor=actor)
    return Intake(ids, {ids[k]: v for k, v in duplicates.items()},
                  sum(1 for i in issues if i.recurring_of))


def report_issue(store: Store, issue: Issue, actor: str, client_id: str | UUID | None = None,
                 now: datetime | None = None) -> tuple[Intake, bool]:
    """Store one reported issue (create_issues), idempotent by the client's `client_id`: a
    report this actor already sent with it creates nothing and gives the first issue's id.
    (what was done, whether the issue is new)."""
    key = client_key(actor, client_id)
    with store.transaction():
        if key is not None:
            store.lock(f"client:{key}")  # a resend racing the first waits for its commit
            found = store.issue_id_by_client_key(key)
            if found is not None:
                return Intake([found]), False
            issue.client_key = key
        return create_issues(store, [issue], actor=actor, now=now), True


def import_parsed(store: Store, parsed: IssueImport, actor: str,
                  dry_run: bool) -> dict[str, Any]:
    """Write parsed import rows (skipping stored external ids) unless dry_run; the report."""
    known = store.existing_external_ids([i.external_id for i in parsed.issues
                                         if i.external_id])
    fresh = [i for i in parsed.issues if not i.external_id or i.external_id not in known]
    parsed.skipped = len(parsed.issues) - len(fresh)
    imported = len(fresh) if dry_run else (
        len(create_issues(store, fresh, actor=actor).ids) if fresh else 0)
    report = parsed.report(imported)
    report["dry_run"] = dry_run
    return report
