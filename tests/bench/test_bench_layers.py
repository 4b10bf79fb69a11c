"""bench.bench_layers: a planner's zones of a view as the page asks for them, every zone the
view matched in one answer (on a copy of the reduced city's SQLite database: it adds a user)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench import bench_layers
from tests.conftest import ReducedCity


def test_bench_times_whole_pages_of_the_views(reduced_city: ReducedCity, tmp_path: Path) -> None:
    if reduced_city.backend != "sqlite":
        pytest.skip("the benchmark runs on a copy of the SQLite city (it adds a user)")
    db = tmp_path / "city.db"
    shutil.copy(reduced_city.url.removeprefix("sqlite:///"), db)
    west, south, east, north = reduced_city.extent
    rows = bench_layers.run(f"sqlite:///{db}", zoom=15, repeats=2,
                            views=[((west + east) / 2, (south + north) / 2)])
    assert len(rows) == 1
    row = rows[0]
    assert row["features"] == row["matched"] > 0
    assert row["bytes"] > 0 and row["cold_s"] > 0 and row["median_s"] > 0
