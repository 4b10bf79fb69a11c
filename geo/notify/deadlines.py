"""The deadline scan: notices for the cases due within N working hours (due_soon) and for the
overdue ones (超期), each once per issue and deadline.

The cut-off moment (now plus N working hours on the office's calendar) is computed here; the
store finds the open cases whose clock runs (status unhandled, not paused — a deferred case or
one waiting on an extension has paused_at set) with deadline < now (overdue) or now ≤ deadline
≤ cut-off (due_soon) and no notice yet for that deadline, a batch at a time, in SQL. Each
batch is one transaction: the notices are recorded insert-if-absent in issue_notices (issue,
event, deadline), and only the issues recorded by this transaction are notified, so two scans
at once (two server processes) notify each case once. A deadline moved by an extension is a
new deadline: its notices come again.
"""

from __future__ import annotations

from datetime import datetime

from geo.calendar.worktime import WorkCalendar
from geo.notify.events import SYSTEM_ACTOR, NoticeStore, emit_many

DUE_SOON_HOURS = 2.0  # working hours before the deadline (CCMAP_NOTIFY_DUE_SOON_HOURS)
SCAN_BATCH = 500  # issues per transaction


def due_soon_cutoff(now: datetime, calendar: WorkCalendar, hours: float) -> datetime:
    """The latest deadline that counts as due soon at now: now plus hours of working time."""
    return calendar.add(now, hours, "working_hours")


def scan_deadlines(store: NoticeStore, now: datetime | None = None,
                   calendar: WorkCalendar | None = None, hours: float = DUE_SOON_HOURS,
                   batch: int = SCAN_BATCH, notify: bool = True) -> dict[str, int]:
    """Notify overdue and due-soon cases that have not been notified for their deadline;
    how many of each were. notify=False records them as notified and tells nobody (once,
    when notifications are switched on over a ledger whose old cases are long overdue)."""
    now = now or datetime.now()
    cutoff = due_soon_cutoff(now, calendar or WorkCalendar(), hours)
    counts = {"overdue": 0, "due_soon": 0}
    for event in counts:  # overdue first: a case past its deadline is never "due soon"
        while True:
            with store.transaction():
                found = store.deadline_candidates(event, now, cutoff, batch)
                fresh = store.add_issue_notices(
                    event, [(i.id, i.deadline) for i in found
                            if i.id is not None and i.deadline is not None])
                details = {"hours": hours} if event == "due_soon" else {}
                if notify:
                    emit_many(store, event, [i for i in found if i.id in fresh], SYSTEM_ACTOR,
                              now=now, **details)
            counts[event] += len(fresh)
            if len(found) < batch:
                break
    return counts
