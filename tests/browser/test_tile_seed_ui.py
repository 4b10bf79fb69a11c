"""`ccmap tiles seed` builds what the map page asks for: after seeding the reduced city, a new
server answers every tile of a viewer's and a planner's first view, and of their pans, from the
disk cache (X-Tile-Cache: hit-disk), on both backends."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server import cli
from server.app import create_app
from server.routes.pages import vendor_installed
from server.settings import Settings
from tests.browser.conftest import login, serve_app
from tests.conftest import TEST_PASSWORD, ReducedCity, missing

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def seeded_url(reduced_city: ReducedCity, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[str]:
    """The reduced city seeded with the defaults of `ccmap tiles seed`, then served."""
    root = tmp_path_factory.mktemp("seeded") / "tiles"
    with contextlib.redirect_stdout(io.StringIO()), pytest.MonkeyPatch.context() as mp:
        mp.setenv("CCMAP_TILE_CACHE_DIR", str(root))
        assert cli.main(["tiles", "seed", "--db", reduced_city.url]) == 0
    settings = Settings(database_url=reduced_city.url, basemap="none",
                        tile_cache_dir=str(root))
    if not vendor_installed(settings):
        missing("front-end assets not installed (run ./run.sh setup: npm ci in static/)")
    assert any(Path(root).rglob("*.tile"))
    with serve_app(create_app(settings)) as url:
        yield url


def _watch(page: Any) -> list[tuple[str, str]]:
    """(URL, X-Tile-Cache) of every vector tile the page is answered."""
    seen: list[tuple[str, str]] = []
    page.on("response", lambda r: seen.append((r.url, r.headers.get("x-tile-cache", "")))
            if "/api/tiles/" in r.url else None)
    return seen


def _settle(page: Any) -> None:
    page.wait_for_function("() => window.pageState.loading === 0")


def _open(page: Any, url: str, username: str) -> None:
    login(page, url, username, TEST_PASSWORD)
    page.wait_for_function("() => window.pageState && window.pageState.ready")
    _settle(page)


def _pan(page: Any, dx: int, dy: int) -> None:
    # (returning nothing: Playwright would serialise the map panBy returns, for half a minute)
    page.evaluate("([dx, dy]) => { window.pageState.map.panBy([dx, dy], {animate: false}); }",
                  [dx, dy])
    _settle(page)


@pytest.mark.parametrize("username", ["cityviewer", "cityplanner"])
def test_the_pages_first_view_and_pans_come_from_the_seeded_cache(
        page: Any, seeded_url: str, username: str) -> None:
    seen = _watch(page)
    _open(page, seeded_url, username)
    first = list(seen)
    assert first, "the page asked for no vector tiles"
    zoom = page.evaluate("window.pageState.map.getZoom()")
    for dx, dy in ((400, 0), (0, 300), (-800, -300)):
        _pan(page, dx, dy)
    # one zoom out (the zoom a smaller window opens at: seeded by default too)
    page.evaluate("() => { const m = window.pageState.map; "
                  "m.setZoom(m.getZoom() - 1, {animate: false}); }")
    _settle(page)
    assert page.evaluate("window.pageState.map.getZoom()") == zoom - 1
    # street level (map zoom 17, single issue points): seeded by default
    page.evaluate("() => { window.pageState.map.setZoom(17, {animate: false}); }")
    _settle(page)
    assert page.evaluate("window.pageState.map.getZoom()") == 17
    misses = [u for u, result in seen if result not in ("hit-disk", "hit-memory")]
    assert misses == [], misses
    assert any(result == "hit-disk" for _, result in first)
    if username == "cityplanner":  # the city opens at street level, where a planner's zones
        assert zoom >= 15          # are editable GeoJSON: tiles without them, seeded too
        assert not any("zone" in u.split("/api/tiles/")[1].split("/")[0] for u, _ in first)


def test_the_admin_page_says_how_far_the_background_seeding_has_got(
        page: Any, reduced_city: ReducedCity, tmp_path: Path) -> None:
    """A new server seeds the city by itself; the admin reads when it is done on /admin."""
    settings = Settings(database_url=reduced_city.url, basemap="none",
                        tile_cache_dir=str(tmp_path / "tiles"), tile_reseed_seconds=0.05)
    with serve_app(create_app(settings)) as url:
        def seeded() -> bool:
            status = page.request.get(url + "/api/health").json()["tile_reseed"]
            return bool(status["city_seeded"])

        login(page, url, "cityadmin", TEST_PASSWORD)
        deadline = time.monotonic() + 120
        while not seeded():  # the server's own background work, not the page's
            assert time.monotonic() < deadline, "the city was not seeded in 2 minutes"
            page.wait_for_timeout(100)
        page.goto(url + "/admin")
        status = page.locator("#tile-status")
        status.filter(has_text="全市瓦片已预生成").wait_for()
        assert "待重建 0 块" in status.inner_text()
