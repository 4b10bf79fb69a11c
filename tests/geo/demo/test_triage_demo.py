"""The demo city has a triage desk: public and patrol reports waiting, one repeating an open
case beside it, a case the inspector holds, and reply templates that fill."""

from __future__ import annotations

from geo.ledger import claims, replies, triage
from geo.model.users import Role, User
from geo.store import IssueQuery, Store
from tests.conftest import DEMO_NOW

INSPECTOR = User("inspector", Role.inspector)


def test_the_demo_has_reports_waiting_a_claimed_case_and_templates(demo_store: Store) -> None:
    waiting, total = triage.queue(demo_store, INSPECTOR, limit=100)
    assert total == len(waiting) >= 4
    sources = {i.source for i in waiting}
    assert {"public_report", "grid_patrol"} <= sources
    calls = [i for i in waiting if i.description.startswith("市民来电反映此处问题仍未处理")]
    assert len(calls) == 1
    _, near = triage.nearby(demo_store, calls[0].id or 0, INSPECTOR)
    assert any(i.category == calls[0].category and d < 50 for i, d in near)
    assert sum(i.category == "other" for i in waiting) >= 2  # to re-categorise or reject
    held = demo_store.query_issues(IssueQuery(statuses=["dispatched"], sort="id",
                                              limit=None, now=DEMO_NOW))[0]
    holders = [claims.holder(i, DEMO_NOW) for i in held]
    assert [h for h, _ in holders if h] == ["inspector"]
    assert demo_store.reply_template_count() == len(replies.DEFAULT_TEMPLATES)
    some = held[0]
    for t in demo_store.reply_templates():
        assert replies.fill(t["text"], some)
