"""Issue workflows the routes (and scripts) share: a status change, marking a duplicate, and a
photo added to a case — each checked for the caller's role and scope and written, with its
history and audit rows, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from geo.ledger.casework import DEFAULT_RULES, CaseRules, clock_columns
from geo.model.errors import Forbidden, InvalidInput
from geo.model.lifecycle import transition
from geo.model.records import Issue
from geo.model.users import Role, User, require
from geo.store import Store

# 整改前, 整改后, and the photo of a failed verification (核查 → 返工) by an inspector
PHOTO_STAGES = {"before": "整改前", "after": "整改后", "rework": "核查(返工)"}


def change_status(store: Store, issue_id: int, to: str, note: str, version: int,
                  user: User, now: datetime | None = None, rules: CaseRules = DEFAULT_RULES,
                  photo_id: int | None = None) -> Issue:
    """Move an issue along the lifecycle (Conflict for an illegal or stale change, Forbidden
    when the change is legal but not for the user's role), with the clock's columns
    (geo.ledger.casework: 派遣 starts it, 挂账 stops it, 返工 needs a reason and the photo
    `photo_id`); the issue as changed."""
    with store.transaction():
        issue = store.issue(issue_id, scope_unit=user.scope_unit)
        change = transition(issue.status, to, user.role, user.actor, note, now or datetime.now())
        extra = clock_columns(store, issue, change, rules, photo_id)
        if photo_id is not None and "rework_count" not in extra:
            raise InvalidInput("photo_id goes with a failed verification (handled → returned) "
                               "only")
        if photo_id is not None:
            change = replace(change, note=f"返工 #{extra['rework_count']}：{change.note.strip()}"
                                          f"（核查照片 #{photo_id}）")
        return store.apply_transition(issue_id, change, version, extra=extra)


def merge_duplicate(store: Store, issue_id: int, into: int, note: str, version: int,
                    user: User, now: datetime | None = None) -> Issue:
    """Mark an issue a duplicate of another: it is rejected with a note naming the other, the
    other's history records the merge; both histories are kept. The rejected issue."""
    require(user, "issues:write")
    with store.transaction():
        issue = store.issue(issue_id)
        target = store.issue(into)
        if target.id == issue.id:
            raise InvalidInput("an issue cannot be merged into itself")
        text = f"合并到 #{target.id} (duplicate of #{target.id}) {note}".strip()
        change = transition(issue.status, "rejected", user.role, user.actor, text,
                            now or datetime.now())
        merged = store.apply_transition(issue_id, change, version,
                                        extra={"duplicate_of": target.id})
        store.add_history_note(into, target.status, user.actor,
                               f"合并了重复问题 #{issue_id} (merged duplicate #{issue_id})")
    return merged


@dataclass(frozen=True)
class PhotoAdded:
    """A stored photo: its id and stage."""

    id: int
    stage: str


def check_photo_stage(user: User, stage: str) -> None:
    """Whether the user may add a photo of this stage (a unit: after-photos only)."""
    require(user, "issues:handle")
    if stage not in PHOTO_STAGES:
        raise InvalidInput(f"stage must be one of {', '.join(PHOTO_STAGES)}")
    if user.role is Role.unit and stage != "after":
        raise Forbidden("a unit may upload after-photos (整改后照片) only")


def add_photo(store: Store, issue_id: int, stage: str, filename: str, content_type: str,
              data: bytes, user: User) -> PhotoAdded:
    """Attach a re-encoded photo to an issue within the user's scope (a unit: after-photos of
    its own issues only), with a note in the issue's history."""
    check_photo_stage(user, stage)
    with store.transaction():
        issue = store.issue(issue_id, scope_unit=user.scope_unit)
        pid = store.add_photo(issue_id, stage, filename, content_type, data, user.actor)
        store.add_history_note(issue_id, issue.status, user.actor,
                               f"上传{PHOTO_STAGES[stage]}照片 #{pid}")
    return PhotoAdded(pid, stage)
