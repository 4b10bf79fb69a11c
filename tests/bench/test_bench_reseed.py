"""bench.bench_reseed: after one zone edit, seeding builds only the tiles around it (on a copy
of the reduced city's SQLite database: it edits a zone)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench import bench_reseed
from tests.conftest import ReducedCity


def test_a_zone_edit_rebuilds_only_the_tiles_around_it(reduced_city: ReducedCity,
                                                       tmp_path: Path) -> None:
    if reduced_city.backend != "sqlite":
        pytest.skip("the benchmark runs on a copy of the SQLite city (it edits a zone)")
    db = tmp_path / "city.db"
    shutil.copy(reduced_city.url.removeprefix("sqlite:///"), db)
    result = bench_reseed.run(f"sqlite:///{db}", min_zoom=12, max_zoom=16)
    first, again = result["first"], result["after_edit"]
    assert first["built"] == first["tiles"] == again["tiles"] > 0
    assert again["built"] + again["cached"] == again["tiles"]
    # the edit changed some tiles at each of the five zooms, a small part of the city's
    assert 5 <= again["built"] < first["tiles"] / 4
