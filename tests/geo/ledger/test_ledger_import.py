"""Streamed ledger import: chunk by chunk it writes what the one-transaction import wrote, a crash
(an exception, or kill -9 of `ccmap import issues`) leaves whole chunks and a rerun finishes the
file without duplicates, and progress advances per chunk (CLI bar, job progress)."""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from shapely.geometry import LineString, box
from sqlalchemy import Engine, create_engine, text

from geo.jobs.uploads import LedgerUpload, import_ledger
from geo.ledger.mapping import open_table, parse_issues, read_table_file
from geo.ledger.streamed_import import import_table
from geo.ledger.writes import import_parsed
from geo.model.kinds import Kind, issue_categories
from geo.model.records import Feature, Issue
from geo.store import Store, open_store
from geo.store.sql import engine_url
from server.cli import main
from tests.conftest import ROOT, _postgis_schema

LON0, LAT0 = 121.46, 31.22
CATS = list(issue_categories())[:6]


def _city(store: Store, now: datetime) -> None:
    """Overlapping zones, an uncovered strip, a staffed street, a community, and closed issues
    for recurrence (stored before any import)."""
    zones = [Feature(Kind.zone, box(LON0 + k * 0.004, LAT0, LON0 + k * 0.004 + 0.005,
                                    LAT0 + 0.01), f"责任区{k}", properties={"unit": f"单位{k % 2}"})
             for k in range(4)]
    street = Feature(Kind.street, LineString([(LON0, LAT0 + 0.005), (LON0 + 0.02, LAT0 + 0.005)]),
                     "福佑路", properties={"cadre": "王伟"})
    community = Feature(Kind.community, box(LON0, LAT0, LON0 + 0.008, LAT0 + 0.02), "豫园社区")
    store.add_features([*zones, street, community], actor="test")
    rng = np.random.default_rng(5)
    closed = [Issue(category=CATS[k % len(CATS)], lon=LON0 + float(rng.uniform(0, 0.02)),
                    lat=LAT0 + float(rng.uniform(0, 0.012)), status="closed",
                    reported_at=now - timedelta(days=60),
                    closed_at=now - timedelta(days=int(rng.integers(1, 40))))
              for k in range(300)]
    store.add_issues(closed, actor="test")


def _ledger(path: Path, rows: int, now: datetime, seed: int = 1, bad: bool = True) -> None:
    """A hotline export: some rows without external_id, some bad (coordinate, status, date,
    repeated id), an unmapped category name."""
    rng = np.random.default_rng(seed)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["编号", "问题类型", "经度", "纬度", "上报时间", "结案时间", "状态", "来源"])
        for k in range(rows):
            ext = "" if k % 17 == 5 else f"H{k:06d}"
            lon, lat = LON0 + rng.uniform(-0.002, 0.022), LAT0 + rng.uniform(-0.001, 0.013)
            reported = now - timedelta(minutes=int(rng.integers(0, 30 * 24 * 60)))
            status, closed = ("结案", (reported + timedelta(hours=5)).strftime(
                "%Y/%m/%d %H:%M")) if k % 4 == 0 else ("上报", "")
            cat = CATS[k % len(CATS)] if k % 50 != 7 else "路面坑洼"
            row = [ext, cat, f"{lon:.6f}", f"{lat:.6f}", reported.strftime("%Y/%m/%d %H:%M"),
                   closed, status, "12345热线"]
            if bad and k % 97 == 3:
                row[2] = "东经121"
            if bad and k % 101 == 9:
                row[6] = "不知道"
            if bad and k % 103 == 11:
                row[4] = "去年"
            if bad and k % 89 == 13 and k > 20:
                row[0] = "H000001"
            w.writerow(row)


ISSUE_COLUMNS = ("external_id", "category", "lon", "lat", "status", "reported_at", "deadline",
                 "closed_at", "source", "zone_id", "unit", "flags", "cadre", "community",
                 "recurring_of", "description", "address", "reporter", "version")


def _stored(store: Store) -> list[tuple[Any, ...]]:
    """Every issue's stored fields and its id, in id order."""
    return [(*[sorted(getattr(i, c)) if c == "flags" else getattr(i, c)
               for c in ISSUE_COLUMNS], i.id)
            for i in sorted(store.issues(), key=lambda i: i.id or 0)]


@contextlib.contextmanager
def _second_store(db_url: str, tmp_path: Path) -> Iterator[Store]:
    """Another empty store on the same backend."""
    with contextlib.ExitStack() as stack:
        url = (f"sqlite:///{tmp_path / 'other.db'}" if db_url.startswith("sqlite")
               else stack.enter_context(_postgis_schema()))
        s = open_store(url)
        try:
            yield s
        finally:
            s.close()


def test_chunked_import_equals_the_one_transaction_import(store: Store, db_url: str,
                                                          tmp_path: Path) -> None:
    now = datetime(2026, 6, 1, 12, 0)
    path = tmp_path / "hotline.csv"
    _ledger(path, 1500, now)
    with _second_store(db_url, tmp_path) as old:
        _city(old, now)
        parsed = parse_issues(read_table_file(path, path.name))
        before = import_parsed(old, parsed, "test", dry_run=False)
        expected = _stored(old)
        _city(store, now)
        after = import_table(store, open_table(path, path.name, chunk_rows=137), "test")
        got = _stored(store)
    assert after == before
    assert before["errors"] > 10 and before["unmapped_categories"] == {"路面坑洼": 30}
    assert got == expected
    flags = [set(r[ISSUE_COLUMNS.index("flags")]) for r in got]
    assert any("recurring" in f for f in flags) and any("overlap" in f for f in flags)
    assert any("uncovered" in f for f in flags)


def test_an_exception_in_a_chunk_leaves_whole_chunks_and_a_rerun_finishes(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime(2026, 6, 1, 12, 0)
    _city(store, now)
    path = tmp_path / "hotline.csv"
    _ledger(path, 1000, now, bad=False)
    stored = store.issue_count()
    write = store.write_issue_columns
    calls = []

    def failing(rows: Any, actor: str) -> list[int]:
        calls.append(len(rows))
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return write(rows, actor)

    monkeypatch.setattr(store, "write_issue_columns", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        import_table(store, open_table(path, path.name, chunk_rows=100), "test")
    assert store.issue_count() - stored == calls[0] + calls[1]  # chunks 1 and 2, whole
    monkeypatch.undo()
    report = import_table(store, open_table(path, path.name, chunk_rows=100), "test")
    with_id = [i.external_id for i in store.issues() if i.external_id]
    assert len(with_id) == len(set(with_id)) == 1000 - len(range(5, 1000, 17))
    assert report["skipped"] == len([1 for k in range(200) if k % 17 != 5])
    # rows without an external_id cannot be recognised: the rerun wrote those of chunks 1-2 again
    assert store.issue_count() - stored == 1000 + len(range(5, 200, 17))


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM issues")).scalar() or 0)


def test_kill_9_of_the_cli_import_leaves_whole_chunks_and_a_rerun_finishes(
        db_url: str, tmp_path: Path) -> None:
    now = datetime(2026, 6, 1, 12, 0)
    path = tmp_path / "hotline.csv"
    rows, chunk = 4_000, 100  # 40 chunks: the kill lands after the first, long before the last
    _ledger(path, rows, now, bad=False)
    with path.open("r+", encoding="utf-8") as fh:  # every row with an id: all recognisable
        lines = fh.read().splitlines()
        lines[1:] = [f"X{k:06d}" + line[line.index(","):] for k, line in enumerate(lines[1:])]
        fh.seek(0)
        fh.write("\n".join(lines) + "\n")
        fh.truncate()
    s = open_store(db_url)
    _city(s, now)
    base = s.issue_count()
    s.close()
    engine = create_engine(engine_url(db_url))
    env = {**os.environ, "CCMAP_IMPORT_CHUNK_ROWS": str(chunk)}
    args = [sys.executable, "-m", "server.cli", "import", "issues", str(path), "--db", db_url]
    child = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        while _count(engine) == base:  # the first chunk is committed
            assert child.poll() is None, "the import ended before writing anything"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    written = _count(engine) - base
    engine.dispose()
    assert child.returncode == -signal.SIGKILL
    assert 0 < written < rows and written % chunk == 0  # whole chunks only
    subprocess.run([*args, "--json"], cwd=ROOT, env=env, check=True, capture_output=True)
    s = open_store(db_url)
    try:
        ids = [i.external_id for i in s.issues() if i.external_id]
        assert s.issue_count() - base == rows and len(ids) == len(set(ids)) == rows
    finally:
        s.close()


def test_progress_advances_chunk_by_chunk(store: Store, db_url: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime(2026, 6, 1, 12, 0)
    _city(store, now)
    path = tmp_path / "hotline.csv"
    _ledger(path, 950, now)
    seen: list[tuple[int, int | None]] = []

    def progress(done: int, total: int | None = None) -> None:
        seen.append((done, total))

    up = LedgerUpload(path, "hotline.csv", chunk_rows=200)
    report = import_ledger(store, up, "test", progress)  # the HTTP job's work
    assert [d for d, _ in seen] == [0, 200, 400, 600, 800, 950]
    assert {t for _, t in seen} == {950}
    assert report["imported"] > 800
    # the CLI's bar, forced on although stderr is not a terminal here
    path2 = tmp_path / "more.csv"
    _ledger(path2, 300, now, seed=2)
    monkeypatch.setenv("CCMAP_IMPORT_CHUNK_ROWS", "100")
    assert main(["import", "issues", str(path2), "--db", db_url, "--progress"]) == 0
    err = capsys.readouterr().err
    assert "importing issues" in err and "300/300" in err


def test_demo_build_reports_each_step_as_it_starts(tmp_path: Path) -> None:
    from geo.demo.city import DEMO_STEPS, build_demo, build_demo_plan

    store = open_store(f"sqlite:///{tmp_path / 'demo.db'}")
    steps: list[tuple[str, int]] = []
    try:  # each step is named before its work: the issues are written after "writing issues"
        build_demo(store, step=lambda name: steps.append((name, store.issue_count())))
        build_demo_plan(store, step=lambda name: steps.append((name, store.issue_count())))
    finally:
        store.close()
    assert [name for name, _ in steps] == list(DEMO_STEPS)
    counts = dict(steps)
    assert counts["writing issues"] == 0 and counts["units and users"] > 5000


def _has_statistics(store: Store, db_url: str) -> bool:
    """Whether the planner has statistics of the issues table (SQLite: sqlite_stat1; PostgreSQL:
    reltuples, -1 until the table is first analysed)."""
    engine: Engine = store.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        if db_url.startswith("sqlite"):
            if not conn.execute(text("SELECT 1 FROM sqlite_master "
                                     "WHERE name = 'sqlite_stat1'")).first():
                return False
            return bool(conn.execute(text("SELECT count(*) FROM sqlite_stat1 "
                                          "WHERE tbl = 'issues'")).scalar())
        return float(conn.execute(text("SELECT reltuples FROM pg_class "
                                       "WHERE oid = 'issues'::regclass")).scalar() or 0) > 0


def test_a_bulk_import_leaves_the_planner_statistics_fresh(
        store: Store, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Right after a big import the city's tiles and lists are planned from real statistics
    (without them a city-wide issue tile on PostGIS took 8.7 s instead of 0.35 s)."""
    import geo.store

    monkeypatch.setattr(geo.store, "BULK_ROWS", 150)
    # only the import may analyse: on PostGIS the statistics read are those of the partitioned
    # issues table itself (migration 0013), which autovacuum never analyses
    path = tmp_path / "ledger.csv"
    _ledger(path, 100, datetime(2026, 11, 1), bad=False)
    import_table(store, open_table(path, path.name, chunk_rows=100), "test")
    assert not _has_statistics(store, db_url)  # 100 rows: below the threshold
    _ledger(path, 300, datetime(2026, 11, 1), seed=2, bad=False)
    import_table(store, open_table(path, path.name, chunk_rows=100), "test")
    assert _has_statistics(store, db_url)


def test_row_reasons_and_the_format_hint_read_in_chinese_and_english(tmp_path: Path) -> None:
    """Each refused row says why in Chinese; the catalog has its English (issue 18)."""
    import pandas as pd

    from geo.i18n import translate
    from geo.model.errors import InvalidInput

    frame = pd.DataFrame({
        "编号": ["R1", "R2", "R3", "R4", "R1"], "问题类型": ["乱堆乱放"] * 5,
        "经度": ["121.47", "东经121", "190", "121.47", "121.47"],
        "纬度": ["31.23"] * 5, "上报时间": ["2026/11/20 08:30", "", "", "去年", ""],
        "状态": ["上报", "", "", "", "飞走了"]})
    reasons = [(p.row, p.column, p.reason) for p in parse_issues(frame).errors]
    assert reasons == [
        (3, "经度", "坐标缺失或不是数字"),
        (4, "经度", "坐标超出范围（经度 -180 至 180，纬度 -90 至 90）"),
        (5, "上报时间", "日期无法识别"),
        (6, "状态", "状态无法识别（请使用本系统的状态代码、中文名称或 Open、Closed、Pending 等）")]
    frame.loc[4, "状态"] = "上报"
    [(row, column, reason)] = [(p.row, p.column, p.reason) for p in parse_issues(frame).errors
                               if p.column == "编号"]
    assert (row, column, reason) == (6, "编号", "外部编号（external_id）在本文件中重复")
    assert [translate(r, "en") for _, _, r in reasons] + [translate(reason, "en")] == [
        "missing or non-numeric coordinate",
        "coordinate out of range (lon -180..180, lat -90..90)", "unparsable date",
        "unknown status (use our codes, Chinese labels or Open/Closed/Pending...)",
        "external_id repeated in this file"]
    (tmp_path / "台账.txt").write_text("编号\n")
    with pytest.raises(InvalidInput) as refused:
        read_table_file(tmp_path / "台账.txt", "台账.txt")
    assert refused.value.message == "不支持的文件类型 '.txt'，请使用 .csv 或 .xlsx"
    assert translate(refused.value.message, "en") == (
        "unsupported file type '.txt'; use .csv or .xlsx")
