"""Issue workflows the routes (and scripts) share: a status change, marking a duplicate, an
edit, and a photo added to a case — each checked for the caller's role, scope and the issue's
claim (geo.ledger.claims.held_issue) and written, with its history and audit rows, in one
transaction."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from geo.ledger.casework import DEFAULT_RULES, CaseRules, clock_columns, relimit_columns
from geo.ledger.claims import RELEASED, held_issue
from geo.model.clients import client_key
from geo.model.errors import Conflict, Forbidden, InvalidInput
from geo.model.kinds import check_category, issue_categories, sources
from geo.model.lifecycle import FINAL, transition
from geo.model.records import Issue
from geo.model.users import Role, User, require
from geo.notify.events import emit
from geo.store import Store

# 整改前, 整改后, and the photo of a failed verification (核查 → 返工) by an inspector
PHOTO_STAGES = {"before": "整改前", "after": "整改后", "rework": "核查(返工)"}
# the status changes that are notified: 派遣, and 退回 after a failed 核查 (返工)
TRANSITION_EVENTS = {"dispatched": "dispatched", "returned": "rework"}


def change_status(store: Store, issue_id: int, to: str, note: str, version: int,
                  user: User, now: datetime | None = None, rules: CaseRules = DEFAULT_RULES,
                  photo_id: int | None = None) -> Issue:
    """Move an issue along the lifecycle (Conflict for an illegal or stale change, or while
    someone else holds the issue; Forbidden when the change is legal but not for the user's
    role), with the clock's columns (geo.ledger.casework: 派遣 starts it, 挂账 stops it, 返工
    needs a reason and the photo `photo_id`); the issue as changed. A closed or rejected
    issue's claim ends."""
    now = now or datetime.now()
    with store.transaction():
        issue = held_issue(store, issue_id, user, now)
        change = transition(issue.status, to, user.role, user.actor, note, now)
        extra = clock_columns(store, issue, change, rules, photo_id)
        if photo_id is not None and "rework_count" not in extra:
            raise InvalidInput("photo_id 仅用于核查不合格、退回返工（handled → returned）")
        if photo_id is not None:
            change = replace(change, note=f"返工 #{extra['rework_count']}：{change.note.strip()}"
                                          f"（核查照片 #{photo_id}）")
        if to in FINAL:
            extra = {**extra, **RELEASED}
        changed = store.apply_transition(issue_id, change, version, extra=extra)
        if to in TRANSITION_EVENTS:  # the unit is told, in this transaction (geo.notify)
            emit(store, TRANSITION_EVENTS[to], changed, user.actor, now=now, note=note)
        return changed


def merge_duplicate(store: Store, issue_id: int, into: int, note: str, version: int,
                    user: User, now: datetime | None = None) -> Issue:
    """Mark an issue a duplicate of another: it is rejected with a note naming the other, the
    other's history records the merge and names the duplicate's reporter (the other lists it
    among its linked reports); both histories are kept. The rejected issue."""
    require(user, "issues:write")
    now = now or datetime.now()
    with store.transaction():
        issue = held_issue(store, issue_id, user, now)
        target = store.issue(into)
        if target.id == issue.id:
            raise InvalidInput("问题不能合并到自身")
        text = f"合并到 #{target.id} (duplicate of #{target.id}) {note}".strip()
        change = transition(issue.status, "rejected", user.role, user.actor, text, now)
        merged = store.apply_transition(issue_id, change, version,
                                        extra={"duplicate_of": target.id, **RELEASED})
        source = sources().get(issue.source, issue.source)
        store.add_history_note(into, target.status, user.actor,
                               f"合并了重复问题 #{issue_id}（上报人：{issue.reporter or '未署名'}，"
                               f"来源：{source}） (merged duplicate #{issue_id})")
    return merged


def edit_issue(store: Store, issue_id: int, changes: dict[str, Any], version: int, user: User,
               now: datetime | None = None, note: str = "",
               rules: CaseRules = DEFAULT_RULES) -> Issue:
    """Edit an issue's description, address, category, urgency or deadline (Conflict when stale
    or held by someone else); a new category is noted in the history (with `note`); a new
    category or urgency of a dispatched case moves its deadline (relimit_columns). The
    edited issue."""
    require(user, "issues:write")
    if not changes:
        raise InvalidInput("没有要修改的内容")
    category = changes.get("category")
    if category is not None:
        check_category(category)
    now = now or datetime.now()
    with store.transaction():
        issue = held_issue(store, issue_id, user, now)
        changes = {**changes, **relimit_columns(store, issue, changes, rules)}
        edited = store.update_issue(issue_id, changes, version, user.actor)
        if category is not None and category != issue.category:
            labels = issue_categories()
            store.add_history_note(issue_id, issue.status, user.actor, (
                f"改类别：{labels[issue.category]['label']} → {labels[category]['label']} "
                f"({issue.category} → {category}) {note}").strip())
    return edited


@dataclass(frozen=True)
class PhotoAdded:
    """A stored photo: its id and stage; created False when it was stored before (a resend
    with the same client_id)."""

    id: int
    stage: str
    created: bool = True


def check_photo_stage(user: User, stage: str) -> None:
    """Whether the user may add a photo of this stage (a unit: after-photos only)."""
    require(user, "issues:handle")
    if stage not in PHOTO_STAGES:
        raise InvalidInput(f"照片阶段（stage）须为以下之一：{', '.join(PHOTO_STAGES)}")
    if user.role is Role.unit and stage != "after":
        raise Forbidden("责任单位只能上传整改后照片（stage=after）")


def resent_photo(store: Store, issue_id: int, user: User,
                 client_id: str | UUID | None) -> PhotoAdded | None:
    """The photo this user already sent with this client_id (created False), or None when
    there is none; Conflict when that photo belongs to another issue."""
    key = client_key(user.actor, client_id)
    found = store.photo_by_client_key(key) if key is not None else None
    if found is None:
        return None
    if found["issue_id"] != issue_id:
        raise Conflict(f"该 client_id 已用于问题 #{found['issue_id']} 的照片，"
                       f"不能再用于问题 #{issue_id}")
    return PhotoAdded(int(found["id"]), str(found["stage"]), created=False)


def add_photo(store: Store, issue_id: int, stage: str, filename: str, content_type: str,
              data: bytes, user: User, now: datetime | None = None,
              client_id: str | UUID | None = None) -> PhotoAdded:
    """Attach a re-encoded photo to an issue within the user's scope (a unit: after-photos of
    its own issues only), with a note in the issue's history; idempotent by the client's
    `client_id` (a resend gives the first photo, created False, and stores nothing)."""
    check_photo_stage(user, stage)
    key = client_key(user.actor, client_id)
    with store.transaction():
        if key is not None:
            store.lock(f"client:{key}")  # a resend racing the first waits for its commit
            if (done := resent_photo(store, issue_id, user, client_id)) is not None:
                return done
        issue = held_issue(store, issue_id, user, now or datetime.now())
        pid = store.add_photo(issue_id, stage, filename, content_type, data, user.actor,
                              client_key=key)
        store.add_history_note(issue_id, issue.status, user.actor,
                               f"上传{PHOTO_STAGES[stage]}照片 #{pid}")
    return PhotoAdded(pid, stage)
