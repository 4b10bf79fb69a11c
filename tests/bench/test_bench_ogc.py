"""bench.bench_ogc: ogr2ogr copies every issue of a served city through /ogc exactly once
(on a copy of the reduced city's SQLite database: the benchmark adds a user)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench import bench_ogc
from tests.conftest import ReducedCity, missing


def test_bench_copies_every_issue_once(reduced_city: ReducedCity, tmp_path: Path) -> None:
    if reduced_city.backend != "sqlite":
        pytest.skip("the benchmark runs on a copy of the SQLite city (it adds a user)")
    if shutil.which("ogr2ogr") is None:
        missing("ogr2ogr not installed (apt-get install gdal-bin)")
    db = tmp_path / "city.db"
    shutil.copy(reduced_city.url.removeprefix("sqlite:///"), db)
    figures = bench_ogc.run(f"sqlite:///{db}", "issues", 4000)
    assert figures["matched"] == figures["copied"] == figures["distinct_ids"] > 8000
    assert figures["pages"] >= 3 and figures["copy_s"] > 0
