"""The demo city's cases in the clock's states, made through the real workflows (so each has
its history and audit rows): the newest dispatched cases of the demo unit get their clock
started an hour before `now`, then one waits on a 延期 (pending), one got it (approved), one is
挂账 (deferred: its clock stopped), one was sent back once (返工) and one three times (督办)."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

from PIL import Image

from geo.ledger import workflows
from geo.ledger.casework import DEFAULT_RULES, apply_extension, decide_extension, start_clock
from geo.model.errors import NotFound
from geo.model.users import User
from geo.store import IssueQuery, Store

CASES = ("pending_extension", "approved_extension", "deferred", "rework", "escalated")


def _photo() -> bytes:
    """A small grey JPEG standing for a verification photo."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (128, 128, 128)).save(out, "JPEG")
    return out.getvalue()


def _user(store: Store, username: str) -> User:
    user = store.user(username)
    if user is None:
        raise NotFound(f"缺少演示用户 {username!r}")
    return user


def build_demo_casework(store: Store, unit: str, now: datetime) -> dict[str, int]:
    """Put the newest dispatched cases of `unit` into CASES (as many as there are, in that
    order); {case name: issue id}."""
    now = min(now, datetime.now())  # photos are stamped with the real clock: stay behind it
    rows, _ = store.query_issues(IssueQuery(units=[unit], statuses=["dispatched"],
                                            sort="-reported_at", limit=len(CASES)))
    inspector, unit_user = _user(store, "inspector"), _user(store, "unit1")
    made: dict[str, int] = {}
    for name, issue in zip(CASES, rows, strict=False):
        issue_id = issue.id
        assert issue_id is not None
        # its 派遣 an hour ago (or when reported, if later): the clock as the transition
        # would have started it
        at = max(issue.reported_at or now, now - timedelta(hours=1))
        clock = start_clock(store, issue, at, DEFAULT_RULES)
        issue = store.update_issue(issue_id, clock, issue.version, "demo")
        made[name] = issue_id
        if name in ("pending_extension", "approved_extension"):
            assert issue.deadline is not None
            ext = apply_extension(store, issue_id, "演示：材料采购需要时间，申请延期",
                                  issue.deadline + timedelta(days=2), unit_user, now=now)
            if name == "approved_extension":
                decide_extension(store, ext["id"], True, "演示：同意延期", inspector, now=now)
        elif name == "deferred":
            workflows.change_status(store, issue_id, "deferred", "演示：需协调产权单位，挂账",
                                    issue.version, inspector, now=now)
        else:
            for _ in range(1 if name == "rework" else DEFAULT_RULES.escalate_reworks):
                _fail_verification(store, issue_id, inspector, unit_user, now)
    return made


def _fail_verification(store: Store, issue_id: int, inspector: User, unit_user: User,
                       now: datetime) -> None:
    """The unit reports the case handled, the inspector finds it is not and sends it back with
    a photo (返工), then dispatches it again unless it is the last round."""
    issue = store.issue(issue_id)
    if issue.status == "returned":
        issue = workflows.change_status(store, issue_id, "dispatched", "演示：重新派遣",
                                        issue.version, inspector, now=now)
    issue = workflows.change_status(store, issue_id, "handled", "演示：已整改",
                                    issue.version, unit_user, now=now)
    photo = workflows.add_photo(store, issue_id, "rework", "核查照片.jpg", "image/jpeg",
                                _photo(), inspector)
    workflows.change_status(store, issue_id, "returned", "演示：现场核查仍未整改到位",
                            issue.version, inspector, now=now, photo_id=photo.id)
