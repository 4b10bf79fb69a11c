"""Issue workflows the routes (and scripts) share: a status change, marking a duplicate, and a
photo added to a case — each checked for the caller's role and scope and written, with its
history and audit rows, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from geo.model.errors import Forbidden, InvalidInput
from geo.model.lifecycle import transition
from geo.model.records import Issue
from geo.model.users import Role, User, require
from geo.notify.events import emit
from geo.store import Store

PHOTO_STAGES = ("before", "after")
# the status changes that are notified: 派遣, and 退回 after a failed 核查 (返工)
TRANSITION_EVENTS = {"dispatched": "dispatched", "returned": "rework"}


def change_status(store: Store, issue_id: int, to: str, note: str, version: int,
                  user: User, now: datetime | None = None) -> Issue:
    """Move an issue along the lifecycle (Conflict for an illegal or stale change, Forbidden
    when the change is legal but not for the user's role); the issue as changed."""
    with store.transaction():
        issue = store.issue(issue_id, scope_unit=user.scope_unit)
        change = transition(issue.status, to, user.role, user.actor, note, now or datetime.now())
        changed = store.apply_transition(issue_id, change, version)
        if to in TRANSITION_EVENTS:  # the unit is told, in this transaction (geo.notify)
            emit(store, TRANSITION_EVENTS[to], changed, user.actor, now=change.at, note=note)
        return changed


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
        raise InvalidInput("stage must be before or after")
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
                               f"上传{'整改后' if stage == 'after' else '整改前'}照片 #{pid}")
    return PhotoAdded(pid, stage)
