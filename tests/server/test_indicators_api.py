"""GET /api/indicators and /api/indicators/report: the contract scripts rely on, the published
bulletin's numbers from stored cases, a unit's scope, the settings (缓办, weights), CSV, bad
periods (422 with the reason), the ranking by indicators and the bulletin's section."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from geo.exports.bulletin import bulletin_context, render_bulletin
from geo.model.errors import CcmapError
from geo.store import Store
from server.app import create_app
from server.schemas.indicators import IndicatorReport, IndicatorRow
from server.settings import load_settings
from tests.conftest import add_user, bearer
from tests.geo.analytics.test_indicators import NOW, UNITS, build_october

CONTRACT = {"name", "due", "closed", "closed_on_time", "closure_rate", "on_time_rate",
            "rework_rate", "extension_rate", "overdue", "score", "registered"}


def test_the_contract_and_the_bulletins_numbers(client: TestClient, store: Store) -> None:
    build_october(store)
    r = client.get("/api/indicators", params={"level": "city", "period": "2026-10"})
    assert r.status_code == 200, r.text
    (city,) = r.json()
    assert set(city) >= CONTRACT
    assert (city["due"], city["closed"], city["closure_rate"]) == (972, 911, 93.72)
    assert (city["closed_on_time"], city["on_time_rate"]) == (737, 75.82)
    assert city["overdue"] == 235 and city["score"] == 87.97
    rows = client.get("/api/indicators", params={"level": "unit", "period": "2026-10"}).json()
    TypeAdapter(list[IndicatorRow]).validate_python(rows)
    assert {row["name"] for row in rows} == set(UNITS) and [x["rank"] for x in rows] == [1, 2]
    assert rows[0]["score"] >= rows[1]["score"]
    assert sum(row["due"] for row in rows) == 972 and all(set(x) >= CONTRACT for x in rows)
    for level in ("zone", "community", "category"):
        got = client.get("/api/indicators", params={"level": level, "period": "2026-10"})
        assert got.status_code == 200 and sum(x["closed"] for x in got.json()) == 911
    report = client.get("/api/indicators/report", params={"period": "2026-10"}).json()
    IndicatorReport.model_validate(report)
    assert report["total"]["on_time_rate"] == 75.82
    assert report["previous_period"] == {"period": "2026-09", "from": "2026-09-01T00:00:00",
                                         "to": "2026-10-01T00:00:00"}
    assert report["exclude_deferred"] and "40%×按期结案率" in report["formula"]
    assert report["total"]["change"]["closure_rate"] == pytest.approx(93.72 - 78.26)


def test_csv_has_chinese_headers_and_the_same_numbers(client: TestClient, store: Store) -> None:
    build_october(store)
    r = client.get("/api/indicators", params={"level": "unit", "period": "2026-10",
                                              "format": "csv"})
    assert r.status_code == 200 and "indicators-unit-2026-10.csv" in r.headers[
        "content-disposition"]
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    head = table[0]
    assert head[:4] == ["排名", "名称", "立案数", "应结案数"] and "按期结案率环比(百分点)" in head
    assert sum(int(row[head.index("应结案数")]) for row in table[1:]) == 972
    xlsx = client.get("/api/indicators", params={"period": "2026-10", "format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_bad_periods_and_levels_are_422_with_the_reason(client: TestClient) -> None:
    for period, reason in [("2026-13", "没有这个月"), ("last week", "统计周期写作"),
                           ("2026-02-30..2026-03-01", "没有这一天")]:
        r = client.get("/api/indicators", params={"period": period})
        assert r.status_code == 422 and reason in r.json()["detail"], r.text
    english = client.get("/api/indicators", params={"period": "2026-13"},
                         headers={"Accept-Language": "en"}).json()["detail"]
    assert english == "no such month: 2026-13 (months run from 01 to 12)"
    assert client.get("/api/indicators", params={"level": "galaxy"}).status_code == 422
    # the period means the same on every route that takes one
    assert client.get("/api/ranking", params={"period": "2026-13"}).status_code == 422
    assert client.get("/api/dashboard", params={"period": "2026-Q5"}).status_code == 422
    assert client.get("/api/dashboard", params={"period": "2026-Q3"}).status_code == 200


def test_a_unit_user_sees_its_own_row(client: TestClient, store: Store) -> None:
    build_october(store)
    add_user(store, "unit-user", "unit", unit=UNITS[0])
    h = bearer(client, "unit-user")
    rows = client.get("/api/indicators", params={"period": "2026-10"}, headers=h).json()
    everyone = client.get("/api/indicators", params={"period": "2026-10"}).json()
    assert [r["name"] for r in rows] == [UNITS[0]]
    mine = next(r for r in everyone if r["name"] == UNITS[0])
    assert {k: rows[0][k] for k in CONTRACT} == {k: mine[k] for k in CONTRACT}
    city = client.get("/api/indicators", params={"level": "city", "period": "2026-10"},
                      headers=h).json()
    assert city[0]["due"] == mine["due"] < 972


def test_settings_choose_deferred_and_weights(db_url: str, store: Store,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    build_october(store)
    add_user(store, "boss", "viewer")
    monkeypatch.setenv("CCMAP_INDICATORS_EXCLUDE_DEFERRED", "false")
    monkeypatch.setenv("CCMAP_INDICATOR_WEIGHTS", '{"on_time_rate": 1}')
    settings = load_settings(database_url=db_url, basemap="none")
    with TestClient(create_app(settings, store=store)) as c:
        c.headers.update(bearer(c, "boss"))
        (city,) = c.get("/api/indicators", params={"level": "city", "period": "2026-10"}).json()
        assert city["due"] == 982 and city["deferred"] == 10
        assert city["score"] == city["on_time_rate"] == 75.05  # 737 / 982
        report = c.get("/api/indicators/report", params={"period": "2026-10"}).json()
        assert report["formula"] == "综合指标值 = 100%×按期结案率"
        assert not report["exclude_deferred"]
    monkeypatch.setenv("CCMAP_INDICATOR_WEIGHTS", '{"speed": 1}')
    with pytest.raises(CcmapError, match=r"CCMAP_INDICATOR_WEIGHTS.*未知的指标权重 speed"):
        load_settings(database_url=db_url)


def test_ranking_by_indicators(client: TestClient, store: Store) -> None:
    build_october(store)
    rows = client.get("/api/ranking", params={"level": "unit", "period": "2026-10",
                                              "basis": "indicators"}).json()
    want = client.get("/api/indicators", params={"level": "unit", "period": "2026-10"}).json()
    assert [(r["rank"], r["name"], r["score"]) for r in rows] == [
        (r["rank"], r["name"], r["score"]) for r in want]
    by_issues = client.get("/api/ranking", params={"level": "unit", "period": "2026-10"}).json()
    assert "rectification_rate" in by_issues[0] and "on_time_rate" in rows[0]
    r = client.get("/api/ranking", params={"level": "category", "period": "2026-10",
                                           "basis": "indicators", "format": "csv"})
    assert r.status_code == 200 and r.content.decode("utf-8-sig").startswith("排名,名称,立案数")
    assert client.get("/api/ranking", params={"basis": "mood"}).status_code == 422


def test_the_bulletin_prints_the_indicators_with_their_change(store: Store) -> None:
    build_october(store)
    ctx = bulletin_context(store, "2026-10", now=NOW, with_map=False)
    html = render_bulletin(ctx)
    section = html[html.index("二、考评指标"):html.index("四、社区排名")]
    assert "应结案 972 件，结案 911 件，结案率 93.72%" in section
    assert "按期结案 737 件，按期结案率 75.82%" in section
    assert "上期（2026-09）" in section and "环比" in section
    assert "<td>结案率</td><td>93.72%</td><td>78.26%</td><td>上升 15.46 个百分点</td>" in section
    assert "<td>应结案数</td><td>972 件</td><td>115 件</td><td>增加 857 件</td>" in section
    assert all(u in section for u in UNITS) and "各责任单位考评指标" in section
