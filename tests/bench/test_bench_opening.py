"""bench.bench_opening: a server started on a city with an empty tile cache builds the views
the page opens on by itself, and the benchmark says when."""

from __future__ import annotations

import contextlib
import io

from bench import bench_opening
from geo.maps.seeding import opening_plans, page_plans
from geo.store import open_store
from tests.conftest import ReducedCity


def test_the_server_warms_the_opening_views_and_says_when(reduced_city: ReducedCity) -> None:
    store = open_store(reduced_city.url)
    try:
        opening = sum(len(list(plan.tiles())) for plan in opening_plans(store))
        city = sum(len(list(plan.tiles())) for plan in page_plans(store))
    finally:
        store.close()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert bench_opening.main(["--db", reduced_city.url, "--seconds", "1"]) == 0
    words = out.getvalue().split()
    # "opening views warm S s after the server answered: N tiles built in P passes"
    seconds, built, passes = float(words[3]), int(words[9]), int(words[-2])
    assert built == opening > 0 and passes >= 1 and 0 < seconds < 600
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert bench_opening.main(["--db", reduced_city.url, "--seconds", "1", "--city"]) == 0
    lines = out.getvalue().splitlines()
    # "whole city warm S s after the server answered: N tiles built in P passes"
    words = lines[1].split()
    assert lines[1].startswith("whole city warm") and len(lines) == 2
    city_seconds, built = float(words[3]), int(words[9])
    # (the reduced city opens at the zooms it is seeded to: every tile is an opening one)
    assert built == city >= opening and city_seconds >= float(lines[0].split()[3])
