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
    assert abs(times["all"] - sum(layers)) < 0.2
