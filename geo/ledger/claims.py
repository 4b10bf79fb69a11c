"""Claiming an issue (认领) before working on it, and the check every write to an issue makes.

A dispatcher (admin, inspector) or a unit user (its own unit's issues) claims an open issue for
CCMAP_CLAIM_MINUTES (default 30); claiming again extends it; the holder (or an admin) releases
it. While a claim is live, status changes, triage actions, edits and photos by anyone else are
refused (Conflict, naming the holder and the time); an expired claim counts as none. A closed
or rejected issue cannot be claimed, and the claim ends when an issue is closed or rejected.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from geo.model.claims import check_claim, live_holder
from geo.model.errors import Conflict, InvalidInput
from geo.model.lifecycle import FINAL, statuses
from geo.model.records import Issue
from geo.model.users import Role, User, require
from geo.store import Store

# what a status change into a final status writes besides the status: the claim ends with it
RELEASED = {"claimed_by": None, "claimed_until": None}


def writable_issue(store: Store, issue_id: int, user: User, now: datetime) -> Issue:
    """The issue (NotFound outside the user's scope), if the user may write to it now: Conflict
    while someone else holds a live claim on it."""
    issue = store.issue(issue_id, scope_unit=user.scope_unit)
    check_claim(issue, user.username, now)
    return issue


def held_issue(store: Store, issue_id: int, user: User, now: datetime) -> Issue:
    """writable_issue inside the caller's transaction, holding the issue's claim lock to its
    end, so a claim taken meanwhile waits for the write (every issue write workflow calls
    this first)."""
    with store.transaction():
        store.lock(f"issue-claim:{issue_id}")
        return writable_issue(store, issue_id, user, now)


def claim(store: Store, issue_id: int, user: User, minutes: float,
          now: datetime | None = None) -> Issue:
    """Claim an open issue for `minutes` from now (again: extend it); Conflict when someone
    else holds it or it is closed/rejected. The issue with its claim."""
    require(user, "issues:handle")
    if minutes <= 0:
        raise InvalidInput("认领时长须为正的分钟数（CCMAP_CLAIM_MINUTES）")
    now = now or datetime.now()
    with store.transaction():
        issue = held_issue(store, issue_id, user, now)
        if issue.status in FINAL:
            raise Conflict(f"问题 #{issue_id} 已{statuses()[issue.status]}（{issue.status}），"
                           "不能认领")
        until = (now + timedelta(minutes=minutes)).replace(microsecond=0)
        return store.set_claim(issue_id, user, until, now)


def release(store: Store, issue_id: int, user: User, now: datetime | None = None) -> Issue:
    """Release the user's claim on an issue (an admin may release anyone's); Conflict when
    someone else holds it. Releasing a free issue changes nothing."""
    require(user, "issues:handle")
    now = now or datetime.now()
    with store.transaction():
        store.lock(f"issue-claim:{issue_id}")
        issue = store.issue(issue_id, scope_unit=user.scope_unit)
        if issue.claimed_by is None:
            return issue
        force = user.role is Role.admin
        if not force:
            check_claim(issue, user.username, now)
        return store.set_claim(issue_id, user, None, now, force=True)


def holder(issue: Issue, now: datetime | None = None) -> tuple[str | None, datetime | None]:
    """(who holds the issue, until when) while the claim is live, else (None, None)."""
    name = live_holder(issue, now or datetime.now())
    return (name, issue.claimed_until) if name else (None, None)
