"""The evaluation indicators (考评指标): a published bulletin's arithmetic reproduced from cases
stored on each backend, every level against an independent count of the same cases, the
deferred rule, extension applications, the change against the previous period, the score's
weights and the rounding."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from shapely.geometry import box
from sqlalchemy import insert

from geo.analytics.indicator_rules import DEFAULT_WEIGHTS, IndicatorRules, check_weights
from geo.analytics.indicators import indicator_table, indicators, percent, score
from geo.model.errors import InvalidInput
from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.model.users import Unit
from geo.store import IssueQuery, Store, open_store
from geo.store.schema import extensions as extensions_t
from tests.conftest import CITY_NOW, ReducedCity

OCT, NOV, SEP = datetime(2026, 10, 1), datetime(2026, 11, 1), datetime(2026, 9, 1)
NOW = datetime(2026, 12, 1, 9, 0)  # October and September are over
UNITS = ["城管执法局", "市场监管局"]
COMMUNITIES = ["东关社区", "西关社区", "南关社区"]
CATEGORIES = ["illegal_ads", "street_vending", "clutter", "illegal_parking"]
CITY_DUE, CITY_CLOSED, CITY_ON_TIME = 972, 911, 737  # a published monthly bulletin's figures


@dataclass
class City:
    """The stored cases, their zone ids, and the extension rows written."""

    issues: list[Issue]
    zones: dict[int, str]
    extensions: list[dict[str, Any]]


def _case(k: int, zones: list[int], **fields: Any) -> Issue:
    return Issue(CATEGORIES[k % 4], 116.0 + k * 1e-5, 36.4, unit=UNITS[k % 2],
                 zone_id=zones[k % 3], community=COMMUNITIES[k % 3], **fields)


def build_october(store: Store) -> City:
    """972 cases due in October 2026 (deadline in October, or closed early in it): 911
    closed by the month's end, 737 of them on time; beside them cases that are not due in
    October (not yet due, due in September, rejected, never accepted, deferred), September's
    cases, and extension applications."""
    for u in UNITS:
        store.add_unit(Unit(u))
    ids = store.add_features([Feature(Kind.zone, box(116 + z, 36, 116.5 + z, 36.5),
                                      name=f"{z + 1}号责任区", properties={"unit": UNITS[z % 2]})
                              for z in range(3)])
    out: list[Issue] = []
    for k in range(CITY_DUE):
        deadline = OCT + timedelta(days=1 + k % 29, hours=3)
        if k < 20:  # closed early: the deadline is in November
            deadline = NOV + timedelta(days=4)
        reported = deadline - timedelta(days=1) if k >= 20 else OCT + timedelta(days=3)
        if k < CITY_ON_TIME:
            closed: datetime | None = min(deadline, NOV) - timedelta(hours=20)
        elif k < CITY_CLOSED:
            closed = deadline + timedelta(hours=5)
        elif k < CITY_CLOSED + 10:  # closed after the month: still open at its end
            closed = NOV + timedelta(days=9)
        else:
            closed = None
        out.append(_case(k, ids, status="closed" if closed else "dispatched", reported_at=reported,
                         deadline=deadline, closed_at=closed, rework_count=int(k % 50 == 0),
                         extension_count=int(k % 97 == 0)))
    for k in range(30):  # accepted in October, due in November
        out.append(_case(k, ids, status="dispatched", reported_at=OCT + timedelta(days=10),
                         deadline=NOV + timedelta(days=20)))
    for k, status in enumerate(["rejected"] * 5 + ["reported"] * 4 + ["deferred"] * 10):
        out.append(_case(k, ids, status=status, reported_at=OCT + timedelta(days=2),
                         deadline=OCT + timedelta(days=12)))
    for k in range(100):  # September: 90 closed on time, 10 open
        out.append(_case(k, ids, status="closed" if k < 90 else "dispatched",
                         reported_at=SEP + timedelta(days=4), deadline=SEP + timedelta(days=9),
                         closed_at=SEP + timedelta(days=8) if k < 90 else None))
    for k in range(15):  # due in September, closed late in October
        out.append(_case(k, ids, status="closed", reported_at=SEP + timedelta(days=15),
                         deadline=SEP + timedelta(days=19), closed_at=OCT + timedelta(days=2)))
    new_ids = store.add_issues(out)
    for i, issue_id in zip(out, new_ids, strict=True):
        i.id = issue_id
    extensions = [{"issue_id": new_ids[k], "unit": UNITS[k % 2], "reason": "材料未到",
                   "requested_deadline": NOV + timedelta(days=10), "requested_by": "u",
                   "requested_at": OCT + timedelta(days=5 + k),
                   "state": ["approved", "rejected", "pending"][k % 3]} for k in range(7)]
    extensions.append({**extensions[0], "requested_at": SEP + timedelta(days=3)})
    with store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(insert(extensions_t), extensions)
    return City(out, dict(zip(ids, [f"{z + 1}号责任区" for z in range(3)], strict=True)),
                extensions)


def expected(city: City, start: datetime, end: datetime, key: str | None,
             exclude_deferred: bool = True, unit: str | None = None) -> dict[Any, dict[str, int]]:
    """The definitions applied case by case in Python (the oracle of the SQL)."""
    out: dict[Any, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for i in city.issues:
        if i.status in ("reported", "rejected") or (unit and i.unit != unit):
            continue
        g = out[getattr(i, key) if key else None]
        g["registered"] += bool(i.reported_at and start <= i.reported_at < end)
        dl, closed_at = i.deadline, i.closed_at
        due = dl is not None and (start <= dl < end or (
            closed_at is not None and start <= closed_at < end and dl >= end))
        if not due:
            continue
        g["deferred"] += i.status == "deferred"
        if exclude_deferred and i.status == "deferred":
            continue
        closed = closed_at is not None and closed_at < end
        on_time = closed and closed_at is not None and dl is not None and closed_at <= dl
        g["due"] += 1
        g["closed"] += closed
        g["closed_on_time"] += on_time
        g["overdue"] += not on_time
        g["reworked"] += i.rework_count > 0
        g["extended"] += i.extension_count > 0
    for e in city.extensions:
        if start <= e["requested_at"] < end and (not unit or e["unit"] == unit):
            issue = next(i for i in city.issues if i.id == e["issue_id"])
            g = out[e["unit"] if key == "unit" else getattr(issue, key) if key else None]
            g["extension_requests"] += 1
            g[f"extension_{e['state']}"] += 1
    return {k: dict(v) for k, v in out.items()}


COUNTS = ("registered", "due", "closed", "closed_on_time", "overdue", "reworked", "extended",
          "deferred", "extension_requests", "extension_approved", "extension_rejected",
          "extension_pending")


def _counts(row: dict[str, Any]) -> dict[str, int]:
    return {k: row[k] for k in COUNTS if row[k]}


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: n for k, n in counts.items() if n}


def test_a_published_bulletins_arithmetic_from_stored_cases(store: Store) -> None:
    build_october(store)
    doc = indicators(store, "city", "2026-10", now=NOW, with_total=True)
    total = doc["total"]
    assert (total["due"], total["closed"], total["closed_on_time"]) == (972, 911, 737)
    assert total["closure_rate"] == 93.72 and total["on_time_rate"] == 75.82
    assert total["overdue"] == 972 - 737 and total["deferred"] == 10
    assert total["registered"] == 972 + 30 + 10  # the due cases, November's, the deferred
    assert total["rework_rate"] == 2.06  # 20 / 972 = 2.0576
    assert total["extension_rate"] == 1.13  # 11 / 972 = 1.1317
    exact = (Fraction(4, 10) * Fraction(737, 972) + Fraction(3, 10) * Fraction(911, 972)
             + Fraction(15, 100) * Fraction(952, 972) + Fraction(15, 100) * Fraction(961, 972))
    assert total["score"] == round(float(100 * exact), 2) == 87.97
    # September: 100 + 15 due, 90 closed (the 15 closed only in October)
    assert (total["previous"]["due"], total["previous"]["closed"]) == (115, 90)
    assert total["previous"]["closure_rate"] == 78.26
    assert total["change"]["closure_rate"] == pytest.approx(93.72 - 78.26)
    assert total["change"]["due"] == 972 - 115
    assert doc["previous_period"]["period"] == "2026-09"
    assert (total["extension_requests"], total["extension_approved"]) == (7, 3)


@pytest.mark.parametrize(("level", "column"), [("unit", "unit"), ("zone", "zone_id"),
                                                ("community", "community"),
                                                ("category", "category")])
def test_each_level_counts_as_the_definitions_say(store: Store, level: str,
                                                  column: str) -> None:
    city = build_october(store)
    doc = indicators(store, level, "2026-10", now=NOW)
    want = expected(city, OCT, NOV, column)
    before = expected(city, SEP, OCT, column)
    rows = doc["rows"]
    key = {"zone": "id", "category": "code"}.get(level, "name")
    got = {r[key]: _counts(r) for r in rows if _counts(r)}
    assert got == {k: d for k, v in want.items() if (d := _nonzero(v))}
    assert sum(r["due"] for r in rows) == CITY_DUE
    for r in rows:
        assert r["closure_rate"] == percent(r["closed"], r["due"])
        assert r["previous"]["due"] == before.get(r[key], {}).get("due", 0)
    ranked = [r["score"] for r in rows if r["rank"] is not None]
    assert ranked == sorted(ranked, reverse=True) and [r["rank"] for r in rows][:2] == [1, 2]
    if level == "zone":
        assert {r["name"] for r in rows} == set(city.zones.values())
    if level == "category":  # every category is listed, those without cases unscored
        assert len(rows) > len(CATEGORIES) and rows[-1]["score"] is None
        assert rows[-1]["rank"] is None and rows[-1]["due"] == 0


def test_deferred_cases_count_as_due_when_the_rule_says_so(store: Store) -> None:
    city = build_october(store)
    kept = indicators(store, "unit", "2026-10", now=NOW,
                      rules=IndicatorRules(exclude_deferred=False))
    want = expected(city, OCT, NOV, "unit", exclude_deferred=False)
    assert {r["name"]: r["due"] for r in kept["rows"]} == {u: want[u]["due"] for u in UNITS}
    assert sum(r["due"] for r in kept["rows"]) == CITY_DUE + 10
    assert sum(r["overdue"] for r in kept["rows"]) == CITY_DUE - CITY_ON_TIME + 10
    assert not kept["exclude_deferred"]


def test_a_unit_sees_its_own_cases(store: Store) -> None:
    city = build_october(store)
    mine = indicators(store, "unit", "2026-10", now=NOW, scope_unit=UNITS[1], with_total=True)
    assert [r["name"] for r in mine["rows"]] == [UNITS[1]]
    want = expected(city, OCT, NOV, None, unit=UNITS[1])[None]
    assert _counts(mine["rows"][0]) == _nonzero(want) == _counts(mine["total"])
    zones = indicators(store, "zone", "2026-10", now=NOW, scope_unit=UNITS[1])
    assert sum(r["due"] for r in zones["rows"]) == want["due"]


def test_a_running_period_counts_up_to_now(store: Store) -> None:
    city = build_october(store)
    mid = datetime(2026, 10, 16, 0, 0)
    doc = indicators(store, "city", "2026-10", now=mid, with_total=True)
    assert doc["as_of"] == mid.isoformat() and doc["to"] == NOV.isoformat()
    want = expected(city, OCT, mid, None)[None]
    assert _counts(doc["total"]) == _nonzero(want)
    assert indicators(store, "city", "2026-12", now=mid)["rows"][0]["due"] == 0


def test_ranking_by_indicators_is_selectable_and_the_table_has_chinese_headers(
        store: Store) -> None:
    from geo.analytics.scoring import ranking

    build_october(store)
    rows = ranking(store, "unit", "2026-10", now=NOW, basis="indicators")["rows"]
    assert [r["rank"] for r in rows] == [1, 2]
    assert rows[0]["score"] >= rows[1]["score"]
    issues = ranking(store, "unit", "2026-10", now=NOW)["rows"]
    assert {r["name"] for r in issues} >= set(UNITS) and "issues" in issues[0]
    with pytest.raises(InvalidInput, match="basis 须为 issues 或 indicators，不能为「mood」"):
        ranking(store, "unit", "2026-10", now=NOW, basis="mood")
    table = indicator_table(rows)
    assert table[0][:4] == ["排名", "名称", "立案数", "应结案数"] and len(table) == 3
    assert table[1][table[0].index("综合指标值")] == rows[0]["score"]


def test_rates_round_half_up_and_empty_denominators_are_none() -> None:
    assert percent(911, 972) == 93.72 and percent(737, 972) == 75.82
    assert percent(1, 8) == 12.5 and percent(1, 800) == 0.13  # 0.125 → 0.13, half up
    assert percent(0, 0) is None and percent(5, 5) == 100.0
    counts = {"due": 0, "closed": 0, "closed_on_time": 0, "reworked": 0, "extended": 0}
    assert score(counts, DEFAULT_WEIGHTS) is None
    full = {"due": 4, "closed": 4, "closed_on_time": 2, "reworked": 1, "extended": 0}
    # 40 % × 0.5 + 30 % × 1 + 15 % × 0.75 + 15 % × 1
    assert score(full, DEFAULT_WEIGHTS) == 76.25
    assert score(full, {"on_time_rate": 1}) == 50.0
    assert score(full, {"on_time_rate": 2, "closure_rate": 2}) == 75.0


def test_weights_are_checked() -> None:
    assert check_weights({"on_time_rate": 1}) == {"on_time_rate": 1.0}
    for bad, reason in [({"speed": 1}, "未知的指标权重 speed：可设的权重为 on_time_rate"),
                        ({"on_time_rate": -1},
                         "指标权重 on_time_rate 须为不小于 0 的数，不能为 -1"),
                        ({"on_time_rate": 0}, "指标权重之和为 0"),
                        ({"on_time_rate": "x"}, "须为不小于 0 的数，不能为 'x'"),
                        ({"on_time_rate": float("nan")}, "须为不小于 0 的数，不能为 nan")]:
        with pytest.raises(InvalidInput, match=reason):
            check_weights(bad)


def test_unknown_level_is_refused(store: Store) -> None:
    with pytest.raises(InvalidInput, match="level 须为 unit, zone, community, category, city 之一，"
                                           "不能为「galaxy」"):
        indicators(store, "galaxy", "2026-10", now=NOW)
    with pytest.raises(InvalidInput, match="不能按 description 统计指标"):
        store.indicator_counts("description", OCT, NOV)


def test_the_reduced_city_counts_as_the_definitions_say(reduced_city: ReducedCity) -> None:
    """The benchmark city as imported (deadlines from the categories' limits, every status):
    each level's counts of its last full month equal the case-by-case count."""
    store = open_store(reduced_city.url)
    try:
        cases = [i for batch in store.issue_record_batches(IssueQuery(limit=None))
                 for i in batch]
        city = City(cases, {}, [])
        start, end = datetime(2026, 5, 1), datetime(2026, 6, 1)
        for level, column in (("unit", "unit"), ("community", "community"),
                              ("category", "category"), ("zone", "zone_id")):
            rows = indicators(store, level, "2026-05", now=CITY_NOW)["rows"]
            key = {"zone": "id", "category": "code"}.get(level, "name")
            want = expected(city, start, end, column)
            got = {r[key]: _counts(r) for r in rows if _counts(r)}
            assert got == {k: d for k, v in want.items() if k is not None and (d := _nonzero(v))}
        total = indicators(store, "city", "2026-05", now=CITY_NOW)["rows"][0]
        assert _counts(total) == _nonzero(expected(city, start, end, None)[None])
        assert total["due"] > 100 and 0 < total["closed"] < total["due"]
    finally:
        store.close()
