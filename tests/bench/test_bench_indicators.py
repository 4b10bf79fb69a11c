"""bench/bench_indicators.py runs on each backend: every level answers, the SQL is timed and
the plan of the zone counts is printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.bench_indicators import default_period, main
from geo.store import Store
from tests.geo.analytics.test_indicators import build_october


def test_bench_times_every_level(store: Store, db_url: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    build_october(store)
    out = tmp_path / "bench.json"
    assert default_period(store) == "2026-09"  # the last full month before the newest report
    assert main(["--db", db_url, "--runs", "1", "--period", "2026-10", "--explain",
                 "--json", str(out)]) == 0
    rows = json.loads(out.read_text(encoding="utf-8"))
    printed = capsys.readouterr().out
    assert "period 2026-10" in printed
    assert [r["request"] for r in rows][:5] == [f"indicators {lv}" for lv in
                                                ("unit", "zone", "community", "category",
                                                 "city")]
    assert all(r["status"] == 200 for r in rows)
    assert {r["due"] for r in rows[:5]} == {972}
    assert all(r["sql_s"] is not None for r in rows[:5])
    assert any(word in printed for word in ("SCAN", "SEARCH", "Scan"))  # the plan
    with pytest.raises(SystemExit):
        main(["--db", db_url, "--levels", "galaxy"])
