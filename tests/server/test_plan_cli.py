"""`ccmap plan …` end to end on the demo city: rounds, sheets, inspections, scores, posts."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from geo.demo.city import build_demo
from geo.model.kinds import Kind
from geo.store import open_store
from server.cli import main


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('plan') / 'demo.db'}"
    store = open_store(url)
    build_demo(store, n_issues=400)
    store.close()
    return url


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main([*argv, "--json"]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def test_rounds_sheet_inspect_scores(demo_db: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "stops.csv"
    made = _run(capsys, "plan", "rounds", "--seed", "9", "--teams", "2", "--inspector", "张三",
                "--budget-min", "300", "--out", str(out), "--db", demo_db)
    teams = made["plan"]["teams"]
    assert len(teams) == 2 and teams[0]["inspector"] == "张三"
    assert all(t["duration_min"] <= 300 for t in teams)
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["点位名称"] for r in rows] == [s["name"] for t in teams for s in t["stops"]]
    assert rows[0]["序号"] == "1" and rows[0]["检查人"] == "张三"
    listed = _run(capsys, "plan", "list", "--db", demo_db)["rounds"]
    assert made["id"] in [r["id"] for r in listed]

    sheet = tmp_path / "sheet.html"
    doc = _run(capsys, "plan", "sheet", str(made["id"]), "--out", str(sheet), "--team", "2",
               "--db", demo_db)
    assert doc["teams"] == 1
    text = sheet.read_text("utf-8")
    assert all(s["name"] in text for s in teams[1]["stops"])
    assert "第2组" in text and "第1组" not in text and "张三" not in text

    stop = teams[0]["stops"][0]
    store = open_store(demo_db)
    try:
        before = store.issue_count()
        category = store.feature(stop["id"]).category
    finally:
        store.close()
    from geo.planner.inspections import checklist

    items = checklist(category)
    rec = _run(capsys, "plan", "inspect", "--point", str(stop["id"]), "--inspector", "王五",
               "--round", str(made["id"]), "--fail", f"{items[0]['code']}:现场照片已拍",
               "--na", items[1]["code"], "--db", demo_db)
    assert rec["failed"] == 1 and rec["applicable"] == len(items) - 1
    assert len(rec["issue_ids"]) == 1
    store = open_store(demo_db)
    try:
        assert store.issue_count() == before + 1
        issue = store.issue(rec["issue_ids"][0])
        assert issue.category == items[0]["issue_category"] and "现场照片已拍" in issue.description
    finally:
        store.close()
    scores = _run(capsys, "plan", "scores", "--level", "point", "--db", demo_db)
    [row] = [r for r in scores["rows"] if r["feature_id"] == stop["id"]]
    assert row["score_rate"] == pytest.approx((len(items) - 2) / (len(items) - 1), abs=1e-4)
    # the failed point comes back in the next sample as a re-inspection (回头看)
    sample = _run(capsys, "plan", "sample", "--seed", "1", "--exclude-days", "7",
                  "--db", demo_db)
    assert [p["revisit"] for p in sample["points"] if p["id"] == stop["id"]] == [True]


def test_cli_errors_are_clear(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    store = open_store(demo_db)
    try:
        point = store.features(Kind.test_point)[0]
        street = store.features(Kind.street)[0]
    finally:
        store.close()
    assert main(["plan", "inspect", "--point", str(point.id), "--inspector", "王五",
                 "--fail", "no_such_item", "--db", demo_db]) == 2
    assert f"'no_such_item' 不在 {point.category} 的检查清单中，清单项目：" \
        in capsys.readouterr().err
    assert main(["plan", "inspect", "--point", str(street.id), "--inspector", "王五",
                 "--db", demo_db]) == 2
    assert f"要素 #{street.id} 是主次干道（street），不是测评点位" in capsys.readouterr().err
    assert main(["plan", "rounds", "--seed", "1", "--start", "abc", "--db", demo_db]) == 2
    assert "--start 参数格式应为 LON,LAT（经度,纬度），实际为 'abc'" in capsys.readouterr().err
    assert main(["plan", "sheet", "999", "--out", "x.html", "--db", demo_db]) == 2
    assert "检查轮次 999 不存在" in capsys.readouterr().err


def test_the_cli_speaks_english_with_lang_en(demo_db: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """--lang en: the round's labels in the printed lines, the route sheet and error
    messages in English; without it, Chinese as before."""
    assert main(["plan", "rounds", "--seed", "5", "--teams", "2", "--inspector", "张三",
                 "--lang", "en", "--db", demo_db]) == 0
    out = capsys.readouterr().out
    assert "mock assessment (seed 5) (Walking, " in out and "  Team 1 张三: " in out
    assert "第1组" not in out and "步行" not in out and "回头看" not in out
    round_id = out.split(":")[0].removeprefix("round ")
    sheet = tmp_path / "sheet.html"
    assert main(["plan", "sheet", round_id, "--out", str(sheet), "--lang", "en",
                 "--db", demo_db]) == 0
    page = sheet.read_text("utf-8")
    assert '<html lang="en">' in page and "Expected arrival" in page and "预计到达" not in page
    capsys.readouterr()
    point = _run(capsys, "plan", "sample", "--seed", "1", "--db", demo_db)["points"][0]["id"]
    argv = ["plan", "inspect", "--point", str(point), "--inspector", " ", "--db", demo_db]
    assert main(argv) == 2
    assert "检查人（inspector）不能为空" in capsys.readouterr().err
    assert main([*argv, "--lang", "en"]) == 2
    err = capsys.readouterr().err
    assert "inspector is required" in err and "检查人" not in err


def test_posts_mclp_and_lscp(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    mclp = _run(capsys, "plan", "posts", "--p", "3", "--distance", "500", "--db", demo_db)
    assert len(mclp["sites"]) == 3 and mclp["distance"] == "network"
    lscp = _run(capsys, "plan", "posts", "--model", "lscp", "--distance", "500",
                "--db", demo_db)
    reachable = [d for d in lscp["demand_points"] if not d["unreachable"]]
    assert all(d["covered"] for d in reachable)
    # covering everyone needs at least as many posts as the best 3 leave uncovered
    assert len(lscp["sites"]) >= 3 or mclp["coverage_rate"] == 1.0


def test_posts_from_a_candidate_file(demo_db: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    sites = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "志愿服务站甲"},
         "geometry": {"type": "Point", "coordinates": [121.470, 31.230]}},
        {"type": "Feature", "properties": {"name": "志愿服务站乙"},
         "geometry": {"type": "Point", "coordinates": [121.478, 31.224]}}]}
    path = tmp_path / "sites.geojson"
    path.write_text(json.dumps(sites, ensure_ascii=False), encoding="utf-8")
    doc = _run(capsys, "plan", "posts", "--p", "1", "--distance", "600", "--candidates",
               str(path), "--db", demo_db)
    assert [s["name"] for s in doc["sites"]] in (["志愿服务站甲"], ["志愿服务站乙"])
    sites["features"][1]["geometry"]["coordinates"] = [31.224, 121.478]  # lat/lon swapped
    path.write_text(json.dumps(sites, ensure_ascii=False), encoding="utf-8")
    assert main(["plan", "posts", "--p", "1", "--candidates", str(path), "--db", demo_db]) == 2
    assert "  第 2 行：" in capsys.readouterr().err
