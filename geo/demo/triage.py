"""The demo city's triage desk: reports waiting in the queue (受理) — a 12345 call that repeats
an open case next to it, a patrol report beside another case, a report filed under the wrong
category and one that is no city-management problem — a case the inspector holds (认领), and
the default reply templates (回复模板)."""

from __future__ import annotations

from datetime import datetime, timedelta

from shapely.geometry import Point

from geo.layers.projection import MetricFrame
from geo.ledger.replies import seed_templates
from geo.ledger.writes import create_issues
from geo.model.records import Issue
from geo.model.users import Role, User
from geo.store import IssueQuery, Store

DEMO_HOLDER = User("inspector", Role.inspector)  # the demo's inspector account
CLAIM_HOURS = 8  # the demo's claim lasts a working day after it is built

# (source, reporter, category: None = the case's, description, metres east, north, hours ago)
REPORTS = [
    ("public_report", "12345热线", None, "市民来电反映此处问题仍未处理，希望尽快解决",
     12.0, 8.0, 2),
    ("grid_patrol", "网格员王芳", "littering", "巡查发现路边绿化带内有乱扔的垃圾袋",
     -40.0, 25.0, 5),
    ("public_report", "12345热线", "other", "一辆小汽车长期停在人行道上，影响行人通行",
     60.0, -30.0, 1),
    ("grid_patrol", "网格员李强", "other", "居民反映楼上住户家中漏水，属于邻里纠纷",
     -25.0, -50.0, 26),
]


def add_triage_demo(store: Store, now: datetime) -> int:
    """Add the waiting reports beside the oldest dispatched cases, claim one case, seed the
    reply templates; how many reports were added."""
    seed_templates(store, actor="demo")
    cases, _ = store.query_issues(IssueQuery(statuses=["dispatched"], sort="id",
                                             limit=len(REPORTS), now=now))
    if not cases:
        return 0
    new = []
    for k, (source, reporter, category, text, east, north, hours) in enumerate(REPORTS):
        case = cases[k % len(cases)]
        frame = MetricFrame.around(case.lon, case.lat)
        at = frame.to_metric(Point(case.lon, case.lat))
        spot = frame.to_wgs84(Point(at.x + east, at.y + north))
        new.append(Issue(category or case.category, spot.x, spot.y,
                         description=text, address=case.address, source=source,
                         reporter=reporter, reported_at=now - timedelta(hours=hours)))
    ids = create_issues(store, new, actor="demo", now=now).ids
    store.set_claim(cases[-1].id or 0, DEMO_HOLDER, now + timedelta(hours=CLAIM_HOURS), now)
    return len(ids)
