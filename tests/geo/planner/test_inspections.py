"""Checklists and inspection records: failed items become routed issues, scores, 回头看."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from shapely.geometry import Point, box

from geo.analytics.scoring import ranking
from geo.model.errors import InvalidInput, NotFound
from geo.model.kinds import Kind, issue_categories
from geo.model.kinds import test_point_categories as point_categories
from geo.model.records import Feature
from geo.planner.inspections import checklist, checklists, record_inspection, scores
from geo.planner.sampling import draw_sample
from geo.store import Store


def test_every_test_point_category_has_a_checklist_with_known_issue_categories() -> None:
    lists = checklists()
    assert set(lists) == set(point_categories())
    known = issue_categories()
    for items in lists.values():
        assert len({i["code"] for i in items}) == len(items) >= 3
        assert all(i["issue_category"] in known for i in items)
    assert [i["label"] for i in checklist("farmers_market")][:4] == [
        "分区经营", "地面清洁", "活禽隔离", "公益广告"]


def _market_town(store: Store) -> tuple[int, int]:
    store.add_features([Feature(Kind.community, box(121.0, 31.0, 121.01, 31.01), name="甲社区"),
                        Feature(Kind.community, box(121.01, 31.0, 121.02, 31.01), name="乙社区")])
    store.add_features([Feature(Kind.zone, box(121.0, 31.0, 121.01, 31.01), name="一片区",
                                properties={"unit": "区市场监管局"})])
    a, b = store.add_features([
        Feature(Kind.test_point, Point(121.005, 31.005), name="东门菜场",
                category="farmers_market"),
        Feature(Kind.test_point, Point(121.015, 31.005), name="西门菜场",
                category="farmers_market")])
    return a, b


def _results(fail: tuple[str, ...] = (), na: tuple[str, ...] = ()) -> dict[str, dict[str, str]]:
    return {i["code"]: {"result": "fail" if i["code"] in fail else "na" if i["code"] in na
                        else "pass", "note": "活禽未隔离" if i["code"] in fail else ""}
            for i in checklist("farmers_market")}


def test_failed_items_become_routed_issues_linked_to_the_inspection(store: Store) -> None:
    a, _ = _market_town(store)
    rec = record_inspection(store, a, _results(fail=("poultry_isolated",), na=("no_pests",)),
                            inspector="督导组王五", actor="user:inspector")
    assert (rec["passed"], rec["failed"], rec["applicable"]) == (3, 1, 4)
    assert rec["score_rate"] == 0.75
    assert rec["community"] == "甲社区" and rec["unit"] == "区市场监管局"
    [issue_id] = rec["issue_ids"]
    issue = store.issue(issue_id)
    assert issue.category == "market_hygiene" and issue.source == "unannounced_inspection"
    assert issue.unit == "区市场监管局" and issue.deadline is not None
    assert "东门菜场" in issue.description and "活禽未隔离" in issue.description
    assert issue.external_id == f"inspection:{rec['id']}:poultry_isolated"
    stored = store.inspections(feature_id=a)[0]
    failed = [i for i in stored["items"] if i["result"] == "fail"]
    assert failed[0]["issue_id"] == issue_id


@pytest.mark.parametrize(("results", "message"), [
    ({"zoning": {"result": "pass"}},
     r"检查结果与类别「farmers_market」的检查标准不符：未知检查项 \[\]，"
     r"缺少检查项 \['floor_clean', 'no_pests', 'poultry_isolated', 'public_ads'\]"),
    ({**_results(), "flying": {"result": "pass"}}, r"未知检查项 \['flying'\]，缺少检查项 \[\]"),
    ({**_results(), "zoning": {"result": "maybe"}},
     r"检查项的 result 须为 pass、fail 或 na，收到的是 \{'zoning': 'maybe'\}"),
])
def test_bad_results_are_refused_and_nothing_is_written(store: Store, results: dict[str, dict[
        str, str]], message: str) -> None:
    a, _ = _market_town(store)
    with pytest.raises(InvalidInput, match=message):
        record_inspection(store, a, results, inspector="王五", actor="t")
    assert store.inspections() == [] and store.issue_count() == 0


def test_inspection_of_something_else_or_missing_is_refused(store: Store) -> None:
    _market_town(store)
    community = store.features(Kind.community)[0].id
    assert community is not None
    with pytest.raises(InvalidInput, match=f"要素 #{community} 是社区（community），不是测评点位"):
        record_inspection(store, community, {}, inspector="王五", actor="t")
    with pytest.raises(NotFound):
        record_inspection(store, 99_999, {}, inspector="王五", actor="t")


def test_scores_per_point_category_and_community_feed_the_ranking(store: Store) -> None:
    a, b = _market_town(store)
    now = datetime(2026, 11, 20, 10)
    record_inspection(store, a, _results(fail=("zoning", "floor_clean")), "王五", "t", at=now)
    record_inspection(store, b, _results(), "王五", "t", at=now)
    by_point = {r["name"]: r for r in scores(store, "point")}
    assert by_point["东门菜场"]["score_rate"] == 0.6 and by_point["西门菜场"]["score_rate"] == 1
    assert scores(store, "category")[0] | {"name": "农贸市场", "passed": 8, "applicable": 10} \
        == scores(store, "category")[0]
    by_community = {r["name"]: r["score_rate"] for r in scores(store, "community")}
    assert by_community == {"甲社区": 0.6, "乙社区": 1.0}
    rows = {r["name"]: r for r in ranking(store, "community", "2026-W47", now=now)["rows"]}
    assert rows["甲社区"]["assessment_score_rate"] == 0.6
    # 甲 has two open market-hygiene issues from the inspection; both score on the same formula
    assert rows["乙社区"]["score"] > rows["甲社区"]["score"]


def test_next_sample_excludes_recent_points_and_revisits_failed_ones(store: Store) -> None:
    store.add_features([Feature(Kind.test_point, Point(121.0 + k * 0.001, 31.0), name=f"站{k}",
                                category="bus_stop") for k in range(10)])
    points = store.features(Kind.test_point)
    ok = {i["code"]: {"result": "pass"} for i in checklist("bus_stop")}
    bad = {**ok, "no_ads": {"result": "fail", "note": "小广告"}}
    now = datetime.now()
    for p in points[:4]:
        assert p.id is not None
        record_inspection(store, p.id, ok, "王五", "t", at=now - timedelta(days=3))
    assert points[4].id is not None
    record_inspection(store, points[4].id, bad, "王五", "t", at=now - timedelta(days=3))
    sample = draw_sample(store, seed=1, quota={"bus_stop": 10}, exclude_days=7)
    ids = [p["id"] for p in sample["points"]]
    assert not {p.id for p in points[:4]} & set(ids)
    assert points[4].id in ids and sample["revisits"] == 1
    assert [p["revisit"] for p in sample["points"] if p["id"] == points[4].id] == [True]
    # the re-inspection comes on top of the quota: 5 fresh points are all that is left
    assert sample["size"] == 6 and sample["shortfall"] == {"bus_stop": 5}
    # after a passing re-inspection the point is no longer due
    record_inspection(store, points[4].id, ok, "王五", "t", at=now - timedelta(days=1))
    again = draw_sample(store, seed=1, quota={"bus_stop": 10}, exclude_days=7)
    assert points[4].id not in [p["id"] for p in again["points"]]


def test_risk_weight_grows_with_the_time_since_the_last_inspection(store: Store) -> None:
    store.add_features([Feature(Kind.test_point, Point(121.0 + k * 0.01, 31.0), name=f"站{k}",
                                category="bus_stop") for k in range(3)])
    a, b, _never = store.features(Kind.test_point)
    ok = {i["code"]: {"result": "pass"} for i in checklist("bus_stop")}
    now = datetime(2026, 11, 20, 10)
    assert a.id is not None and b.id is not None
    record_inspection(store, a.id, ok, "王五", "t", at=now - timedelta(days=1))
    record_inspection(store, b.id, ok, "王五", "t", at=now - timedelta(days=45))
    sample = draw_sample(store, seed=1, quota={"bus_stop": 3}, risk=True, now=now)
    weights = {p["name"]: p["risk_weight"] for p in sample["points"]}
    # × (1 + days/90): 1 day, 45 days, never inspected (counts as 90 days)
    assert weights == pytest.approx({"站0": 1 + 1 / 90, "站1": 1.5, "站2": 2.0})


def test_an_inspection_whose_photo_write_fails_leaves_nothing_written(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The inspection, its issues and their before-photos are one transaction (the routes and
    `ccmap plan inspect` run the same function)."""
    a, _ = _market_town(store)
    photos = {"poultry_isolated": ("poultry.png", b"\x89PNG-bytes", "image/png")}

    def broken(*_: object, **__: object) -> int:
        raise RuntimeError("photo table unavailable")

    monkeypatch.setattr(store, "add_photo", broken)
    with pytest.raises(RuntimeError, match="photo table unavailable"):
        record_inspection(store, a, _results(fail=("poultry_isolated",)), "王五", "t",
                          photos=photos)
    assert store.inspections() == [] and store.issue_count() == 0
    monkeypatch.undo()
    rec = record_inspection(store, a, _results(fail=("poultry_isolated",)), "王五", "t",
                            photos=photos)
    [issue_id] = rec["issue_ids"]
    assert rec["photos"] == ["poultry_isolated"]
    assert [p["stage"] for p in store.photos(issue_id)] == ["before"]


def test_photos_of_items_that_did_not_fail_are_refused(store: Store) -> None:
    a, _ = _market_town(store)
    with pytest.raises(InvalidInput,
                       match="只有不合格的检查项才能附照片，以下检查项不能附：zoning"):
        record_inspection(store, a, _results(fail=("poultry_isolated",)), "王五", "t",
                          photos={"zoning": ("z.png", b"x", "image/png")})
    assert store.inspections() == [] and store.issue_count() == 0
