"""bench.bench_build: it builds every layer of the page's tiles and prints a time for each, and
for the page's cold request of them through the app."""

from __future__ import annotations

import contextlib
import io

from bench import bench_build
from geo.maps.seeding import page_base_layers
from tests.conftest import ReducedCity


def test_it_times_every_layer_of_the_page(reduced_city: ReducedCity) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert bench_build.main(["--db", reduced_city.url, "--zoom", "13", "--passes", "1"]) == 0
    lines = out.getvalue().splitlines()
    times = {line.split()[0]: float(line.split()[1]) for line in lines[1:]}
    assert set(times) == {*page_base_layers(), "issues", "all", "request"}
    assert all(ms > 0 for ms in times.values())
    layers = [v for k, v in times.items() if k not in ("all", "request")]
    # the request row exists only if every answer was a 200 built for it (a cache miss):
    # bench_build exits otherwise. Its time against the layers' is the benchmark's to print,
    # not a test's to assert (under load either may be the larger)
    # ("all" is the sum of the layers' times; each is printed to 0.1 ms, so rounded by up
    # to 0.05 ms)
    assert abs(times["all"] - sum(layers)) <= 0.05 * (len(layers) + 1) + 1e-9


def test_filters_time_the_issue_tiles_under_each_filter_of_the_page(
        reduced_city: ReducedCity) -> None:
    """`--filters`: a row per filter of the map's panel (and a unit's own user), each built
    from the database's own commonest values, so that every filtered tile holds issues."""
    from datetime import datetime

    from geo.store import IssueQuery, open_store
    from tests.mvt_reference import decode_independently

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert bench_build.main(["--db", reduced_city.url, "--zoom", "12", "--passes", "1",
                                 "--filters"]) == 0
    rows = dict(line.strip().rsplit(None, 1) for line in out.getvalue().splitlines()[1:])
    assert set(rows) == {"none", "category", "status", "source", "unit", "unit's user",
                         "community", "a week", "30 days", "overdue"}
    assert all(float(ms) > 0 for ms in rows.values())
    store = open_store(reduced_city.url)
    try:
        now = datetime.now()
        for name, kw in bench_build.filters(store, now).items():
            if name in ("overdue",):  # whether any is overdue depends on the day
                continue
            counted = sum(f["properties"].get("count", 1)
                          for tile in bench_build.centre_tiles(store, 12)
                          for layer, fs in decode_independently(store.issue_tile(
                              IssueQuery(now=now, **kw), tile)).items()  # type: ignore[arg-type]
                          if layer != "issue_cells_edge" for f in fs)
            assert counted > 0, name
    finally:
        store.close()
