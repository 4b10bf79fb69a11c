"""Claims (认领): a user holds an issue before working on it, until a time; while the claim is
live nobody else may write to the issue. An expired claim counts as no claim."""

from __future__ import annotations

from datetime import datetime

from geo.model.errors import Conflict
from geo.model.records import Issue


def live_holder(issue: Issue, now: datetime) -> str | None:
    """Who holds a live claim on the issue at `now`, or None."""
    if issue.claimed_by and issue.claimed_until is not None and issue.claimed_until > now:
        return issue.claimed_by
    return None


def claimed_conflict(issue_id: int, holder: str | None, until: datetime | None) -> Conflict:
    """The refusal of a write to an issue someone else holds: who, until when."""
    when = f"{until:%Y-%m-%d %H:%M}" if until else "?"
    return Conflict(f"问题 #{issue_id} 已被 {holder} 认领，{when} 前他人不能修改；请待认领到期"
                    "或请认领人释放",
                    claimed_by=holder, claimed_until=until.isoformat() if until else None)


def check_claim(issue: Issue, username: str, now: datetime) -> None:
    """Conflict unless the issue is free at `now` or held by `username` itself."""
    holder = live_holder(issue, now)
    if holder is not None and holder != username:
        assert issue.id is not None
        raise claimed_conflict(issue.id, holder, issue.claimed_until)
