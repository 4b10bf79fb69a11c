"""The planner over HTTP: rounds, the map layer, route sheets, inspections with photos, scores,
posts, and who may do what."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geo.demo.city import build_demo
from geo.i18n import CJK
from geo.store import Store
from tests.conftest import add_user, bearer, need_chromium, need_pdftotext, tiny_png

PNG = tiny_png()


@pytest.fixture
def demo(anon_client: TestClient, store: Store) -> TestClient:
    """The demo city, with a planner, an inspector and a viewer logged in by header."""
    build_demo(store, n_issues=300)
    for name, role in (("p1", "planner"), ("i1", "inspector"), ("v1", "viewer")):
        add_user(store, name, role)
    return anon_client


def _round(client: TestClient, **extra: Any) -> dict[str, Any]:
    r = client.post("/api/plan/rounds", json={"seed": 11, "teams": 2, "budget_min": 480,
                                              "inspectors": ["张三", "李四"], **extra},
                    headers=bearer(client, "p1"))
    assert r.status_code == 201, r.text
    return r.json()


def test_planner_creates_a_round_shown_on_the_map_and_as_a_route_sheet(demo: TestClient
                                                                      ) -> None:
    made = _round(demo)
    assert made["teams"] == 2 and made["stops"] + made["unscheduled"] > 20
    viewer = bearer(demo, "v1")
    assert [r["id"] for r in demo.get("/api/plan/rounds", headers=viewer).json()] == [made["id"]]
    layer = demo.get(f"/api/plan/rounds/{made['id']}/geojson", headers=viewer)
    assert layer.headers["content-type"].startswith("application/geo+json")
    roles = [f["properties"]["role"] for f in layer.json()["features"]]
    assert roles.count("stop") == made["stops"] and roles.count("route") == 2
    assert roles.count("start") == 1
    sheet = demo.get(f"/api/plan/rounds/{made['id']}/sheet?team=1", headers=viewer)
    assert sheet.status_code == 200
    team1 = made["plan"]["teams"][0]
    assert "张三" in sheet.text and all(s["name"] in sheet.text for s in team1["stops"])
    assert "合格" in sheet.text and "<svg" in sheet.text
    assert demo.get(f"/api/plan/rounds/{made['id']}/sheet?team=9",
                    headers=viewer).status_code == 400
    assert demo.get("/api/plan/rounds/999/geojson", headers=viewer).status_code == 404
    table = demo.get(f"/api/plan/rounds/{made['id']}/stops?format=csv", headers=viewer)
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [r["点位名称"] for r in rows] == [s["name"] for t in made["plan"]["teams"]
                                          for s in t["stops"]]
    sample = demo.get("/api/plan/sample?seed=3&format=xlsx", headers=viewer)
    assert sample.status_code == 200 and sample.content.startswith(b"PK")


def test_route_sheet_pdf_has_the_chinese_stop_names(demo: TestClient) -> None:
    need_chromium()
    need_pdftotext()
    made = _round(demo)
    r = demo.get(f"/api/plan/rounds/{made['id']}/sheet?team=2&format=pdf",
                 headers=bearer(demo, "v1"))
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-", "-"], input=r.content, capture_output=True,
                          check=True).stdout.decode()
    first = made["plan"]["teams"][1]["stops"][0]
    assert first["name"] in text.replace(" ", "") and "检查标准" in text


def _without_user_data(text: str, made: dict[str, Any]) -> str:
    """text (spaces and line breaks taken out, as pdftotext breaks lines anywhere) without
    the round's user data: stop names, communities, addresses and inspectors."""
    text = re.sub(r"\s+", "", text)
    data = {v for t in made["plan"]["teams"] for s in t["stops"]
            for v in (s["name"], s.get("community"), s.get("address"), t["inspector"]) if v}
    for value in sorted(data, key=len, reverse=True):
        text = text.replace(re.sub(r"\s+", "", value), "")
    return text


def test_an_english_user_gets_the_route_sheet_in_english(demo: TestClient) -> None:
    made = _round(demo)
    viewer = bearer(demo, "v1")
    url = f"/api/plan/rounds/{made['id']}/sheet?team=1"
    zh = demo.get(url, headers=viewer).text
    assert '<html lang="zh-CN">' in zh and "检查标准" in zh and "第1组" in zh
    assert "检查人签字" in zh and "模拟测评" in zh
    en = demo.get(url, headers={**viewer, "Accept-Language": "en"}).text
    assert '<html lang="en">' in en and "<th>Check</th>" in en and "Team 1" in en
    assert "mock assessment (seed 11)" in en and "Inspector&#39;s signature" in en
    left = _without_user_data(re.sub(r"<style>.*?</style>", "", en, flags=re.S), made)
    assert not CJK.search(left), CJK.findall(left)
    need_chromium()
    need_pdftotext()
    assert demo.put("/api/me/locale", json={"locale": "en"}, headers=viewer).status_code == 200
    pdf = demo.get(url + "&format=pdf", headers=viewer)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf.content, capture_output=True,
                          check=True).stdout.decode()
    assert "Expected arrival" in text and "Walking" in text
    left = _without_user_data(text, made)
    assert not CJK.search(left), CJK.findall(left)


def _results(demo: TestClient, stop: dict[str, Any], fail: str) -> dict[str, Any]:
    items = demo.get(f"/api/checklists/{stop['category']}", headers=bearer(demo, "v1")).json()
    return {i["code"]: {"result": "fail" if i["code"] == fail else "pass",
                        "note": "现场发现问题" if i["code"] == fail else ""} for i in items}


def test_inspector_records_an_inspection_failed_item_becomes_issue_with_photo(
        demo: TestClient, store: Store) -> None:
    made = _round(demo)
    stop = made["plan"]["teams"][0]["stops"][0]
    items = demo.get(f"/api/checklists/{stop['category']}", headers=bearer(demo, "v1")).json()
    fail = items[0]["code"]
    record = {"feature_id": stop["id"], "round_id": made["id"], "inspector": "王五",
              "results": _results(demo, stop, fail)}
    r = demo.post("/api/inspections", data={"record": json.dumps(record)},
                  files={f"photo_{fail}": ("p.png", io.BytesIO(PNG), "image/png")},
                  headers=bearer(demo, "i1"))
    assert r.status_code == 201, r.text
    doc = r.json()
    [issue_id] = doc["issue_ids"]
    issue = demo.get(f"/api/issues/{issue_id}", headers=bearer(demo, "i1")).json()
    assert issue["source"] == "unannounced_inspection" and issue["category"] == \
        items[0]["issue_category"]
    assert len(issue["photos"]) == 1 and issue["photos"][0]["stage"] == "before"
    layer = demo.get(f"/api/plan/rounds/{made['id']}/geojson", headers=bearer(demo, "v1"))
    done = [f["properties"] for f in layer.json()["features"]
            if f["properties"].get("inspected")]
    assert [p["id"] for p in done] == [stop["id"]]
    rates = demo.get("/api/plan/scores?level=point", headers=bearer(demo, "v1")).json()
    assert rates["rows"][0]["name"] == stop["name"]
    assert rates["rows"][0]["score_rate"] == pytest.approx((len(items) - 1) / len(items),
                                                           abs=1e-4)


@pytest.mark.parametrize(("change", "status"), [
    ({"results": {"nope": {"result": "pass"}}}, 400),
    ({"source": "hearsay"}, 400),
    ({"feature_id": 999_999}, 404),
    ({"round_id": 999_999}, 404),
])
def test_bad_inspections_are_refused_and_write_nothing(demo: TestClient, store: Store,
                                                       change: dict[str, Any],
                                                       status: int) -> None:
    made = _round(demo)
    stop = made["plan"]["teams"][0]["stops"][0]
    record = {"feature_id": stop["id"], "results": _results(demo, stop, "none"), **change}
    before = store.issue_count()
    r = demo.post("/api/inspections", json=record, headers=bearer(demo, "i1"))
    assert r.status_code == status, r.text
    assert store.inspections() == [] and store.issue_count() == before


def test_bad_photos_are_refused_before_anything_is_written(demo: TestClient, store: Store
                                                           ) -> None:
    made = _round(demo)
    stop = made["plan"]["teams"][0]["stops"][0]
    results = _results(demo, stop, "none")
    passed = next(iter(results))
    record = json.dumps({"feature_id": stop["id"], "results": results})
    before = store.issue_count()
    for files, status in (({f"photo_{passed}": ("a.png", PNG, "image/png")}, 400),
                          ({f"photo_{passed}": ("a.txt", b"hello", "text/plain")}, 422)):
        r = demo.post("/api/inspections", data={"record": record}, files=files,
                      headers=bearer(demo, "i1"))
        assert r.status_code == status, r.text
    assert store.inspections() == [] and store.issue_count() == before


def test_roles(demo: TestClient) -> None:
    made = _round(demo)
    stop = made["plan"]["teams"][0]["stops"][0]
    record = {"feature_id": stop["id"], "results": _results(demo, stop, "none")}
    assert demo.post("/api/plan/rounds", json={"seed": 1},
                     headers=bearer(demo, "i1")).status_code == 403
    assert demo.post("/api/inspections", json=record,
                     headers=bearer(demo, "p1")).status_code == 403
    assert demo.post("/api/inspections", json=record,
                     headers=bearer(demo, "v1")).status_code == 403
    assert demo.get("/api/plan/rounds").status_code == 401


def test_sample_excludes_and_posts_cover(demo: TestClient) -> None:
    viewer = bearer(demo, "v1")
    sample = demo.get("/api/plan/sample?seed=4&exclude_days=30", headers=viewer).json()
    assert sample["exclude_days"] == 30 and sample["size"] > 0
    mclp = demo.get("/api/plan/posts?model=mclp&p=3&distance=400", headers=viewer).json()
    assert len(mclp["sites"]) == 3 and mclp["distance"] == "network"
    covered = sum(1 for d in mclp["demand_points"] if d["covered"])
    assert mclp["coverage_rate"] == pytest.approx(covered / len(mclp["demand_points"]))
    more = demo.get("/api/plan/posts?model=mclp&p=6&distance=400", headers=viewer).json()
    assert more["coverage_rate"] >= mclp["coverage_rate"]
    lscp = demo.get("/api/plan/posts?model=lscp&distance=800", headers=viewer).json()
    reachable = [d for d in lscp["demand_points"] if not d.get("unreachable")]
    assert all(d["covered"] for d in reachable)
    assert demo.get("/api/plan/posts?model=mclp&distance=400",
                    headers=viewer).status_code == 400


def test_start_point_clicked_on_a_gaode_basemap_is_stored_in_wgs84(demo: TestClient) -> None:
    from geo.layers.coords import gcj02_to_wgs84, wgs84_to_gcj02

    lon, lat = (float(v) for v in wgs84_to_gcj02(121.4700, 31.2300))
    made = _round(demo, start=[lon, lat], coords="gcj02")
    expected = gcj02_to_wgs84(lon, lat)
    assert made["plan"]["start"] == pytest.approx([float(expected[0]), float(expected[1])],
                                                  abs=1e-7)
    assert made["plan"]["start"] == pytest.approx([121.47, 31.23], abs=2e-5)
    bad = demo.post("/api/plan/rounds", json={"seed": 1, "start": [1, 2], "coords": "utm"},
                    headers=bearer(demo, "p1"))
    assert bad.status_code == 400


def test_a_negative_seed_is_refused_with_a_reason(demo: TestClient) -> None:
    h = bearer(demo, "p1")
    r = demo.post("/api/plan/rounds", json={"seed": -1}, headers=h)
    assert r.status_code == 422 and "seed" in r.text
    assert demo.get("/api/plan/sample?seed=-3", headers=h).status_code == 422


def test_the_route_solver_searches_as_long_as_the_settings_say(
        store: Store, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """CCMAP_PLAN_SOLVER_SECONDS bounds the solver's search behind POST /api/plan/rounds."""
    import geo.planner.rounds as rounds
    from server.app import create_app

    build_demo(store, n_issues=300)
    add_user(store, "p1", "planner")
    limits: list[float] = []
    solve = rounds.solve_routes

    def recorded(*args: Any) -> Any:
        limits.append(args[-1])
        return solve(*args)

    monkeypatch.setattr(rounds, "solve_routes", recorded)
    fast = settings.model_copy(update={"plan_solver_seconds": 0.3})
    with TestClient(create_app(fast, store=store)) as client:
        assert _round(client)["teams"] == 2
    assert limits == [0.3]
