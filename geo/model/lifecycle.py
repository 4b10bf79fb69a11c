"""The issue lifecycle of a digital city-management (数字城管) workflow, as one table.

上报 reported → 立案 accepted → 派遣 dispatched → 处置 handled → 核查 verified → 结案 closed;
退回 returned goes back to dispatch; 挂账 deferred keeps a problem on the books that cannot be
fixed now; 不予立案 rejected ends a report that is not a case. Closed and rejected are final
(a problem that comes back is a new, recurring issue).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from geo.model.errors import Conflict, Forbidden, InvalidInput
from geo.model.kinds import issue_categories, reference_table
from geo.model.users import Role

ADM, INS, UNT = Role.admin, Role.inspector, Role.unit

# (from, to) → roles allowed to make that move
TRANSITIONS: dict[tuple[str, str], frozenset[Role]] = {
    ("reported", "accepted"): frozenset({ADM, INS}),
    ("reported", "rejected"): frozenset({ADM, INS}),
    ("accepted", "dispatched"): frozenset({ADM, INS}),
    ("accepted", "deferred"): frozenset({ADM, INS}),
    ("accepted", "rejected"): frozenset({ADM, INS}),
    ("dispatched", "handled"): frozenset({ADM, INS, UNT}),  # the unit reports it has fixed it
    ("dispatched", "deferred"): frozenset({ADM, INS}),
    ("handled", "verified"): frozenset({ADM, INS}),  # an inspector checks on site
    ("handled", "returned"): frozenset({ADM, INS}),  # not fixed: back to dispatch
    ("verified", "closed"): frozenset({ADM, INS}),
    ("returned", "dispatched"): frozenset({ADM, INS}),
    ("deferred", "dispatched"): frozenset({ADM, INS}),
}
# statuses in which the problem is still waiting to be fixed (overdue counts these)
UNHANDLED = frozenset({"reported", "accepted", "dispatched", "returned"})
FINAL = frozenset({"closed", "rejected"})
# every status a case can still leave (Open311's "open", recurrence's and duplicates' candidates)
OPEN = frozenset({"reported", "accepted", "dispatched", "handled", "verified", "returned",
                  "deferred"})

# the states of a job (queued, running, done, failed: geo.jobs) in which it has a live process
ACTIVE_JOB_STATES = ("queued", "running")


def statuses() -> dict[str, str]:
    """Status code → Chinese label."""
    return {r["code"]: r["label"] for r in reference_table("issue_statuses")}


def allowed_next(status: str, role: Role) -> list[str]:
    """The statuses this role may move an issue in `status` to."""
    return [to for (frm, to), roles in TRANSITIONS.items() if frm == status and role in roles]


@dataclass(frozen=True)
class StatusChange:
    """One applied transition (留痕: who, when, from → to, note)."""

    from_status: str
    to_status: str
    actor: str
    at: datetime
    note: str


def transition(current: str, to: str, role: Role, actor: str, note: str,
               at: datetime) -> StatusChange:
    """Check a transition against the table: Conflict (HTTP 409) for an illegal change of
    state, Forbidden (HTTP 403) when the move is legal but not for this role."""
    labels = statuses()
    if to not in labels:
        raise InvalidInput(f"未知的状态 {to!r}，可选状态：{', '.join(labels)}")
    roles = TRANSITIONS.get((current, to))
    if roles is None:
        nexts = sorted({t for (f, t) in TRANSITIONS if f == current})
        if not nexts:
            raise Conflict(f"不允许从「{labels[current]}」变为「{labels[to]}」"
                           f"（{current} → {to}）：当前状态已终结，不能再变更")
        raise Conflict(f"不允许从「{labels[current]}」变为「{labels[to]}」（{current} → {to}）；"
                       f"当前状态只能变为：{', '.join(nexts)}")
    if role not in roles:
        raise Forbidden(f"角色 {role.value} 不能将问题从 {current} 改为 {to}"
                        f"（可执行的角色：{', '.join(sorted(r.value for r in roles))}）")
    return StatusChange(current, to, actor, at, note)


def deadline_for(category: str, reported_at: datetime) -> datetime:
    """reported_at plus the category's time limit (限期整改)."""
    cats = issue_categories()
    if category not in cats:
        raise InvalidInput(f"未知的问题类别 {category!r}")
    return reported_at + timedelta(hours=float(cats[category]["time_limit_hours"]))


def is_overdue(status: str, deadline: datetime | None, now: datetime,
               paused_at: datetime | None = None) -> bool:
    """Past the deadline and not yet handled, its clock running (a case whose clock is
    stopped, waiting on a 延期 decision, is not overdue while it waits)."""
    return (deadline is not None and status in UNHANDLED and deadline < now
            and paused_at is None)
