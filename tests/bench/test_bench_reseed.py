"""bench.bench_reseed: after one zone edit, the background reseeding pass builds the tiles
around it and no others, and seeding again finds them all cached (on a copy of the reduced
city's SQLite database: it edits a zone)."""

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
    first, background, again = result["first"], result["background"], result["after_edit"]
    assert first["built"] == first["tiles"] == again["tiles"] > 0
    # the edit changed some tiles at each zoom the page is seeded at, a small part of the
    # city's, and the pass rebuilt them: seeding again finds every tile cached
    assert background["built"] == background["tiles"] and background["cached"] == 0
    assert 5 <= background["built"] < first["tiles"] / 4
    assert (again["built"], again["cached"]) == (0, again["tiles"])
