"""The map over a reduced benchmark city (bench.city at CITY_SCALE, imported with the CLI) on
both backends: layers drawn from vector tiles, popups fetched by id, issue cells at low zoom and
issue points at street level; over a GCJ-02 basemap, shifted GeoJSON that pages and says when it
shows only part of a layer."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any

import eviltransform
import pytest

from geo.maps import mapview
from geo.store import open_store
from geo.tiling.tiles import tile_of
from server.app import create_app
from server.routes.pages import vendor_installed
from server.settings import Settings
from tests.browser.conftest import asks_tiles_of, login, screen_point, serve_app
from tests.conftest import TEST_PASSWORD, ReducedCity, missing

pytestmark = pytest.mark.browser
TILED = ("street", "alley", "community", "subdistrict", "zone")  # for a viewer


def _serve(reduced_city: ReducedCity, **settings: Any) -> Iterator[str]:
    config = Settings(database_url=reduced_city.url, **settings)
    if not vendor_installed(config):
        missing("front-end assets not installed (run ./run.sh setup: npm ci in static/)")
    with serve_app(create_app(config)) as url:
        yield url


@pytest.fixture(scope="module")
def city_url(reduced_city: ReducedCity) -> Iterator[str]:
    """The reduced city served with no basemap (WGS84: the page uses vector tiles)."""
    yield from _serve(reduced_city, basemap="none")


@pytest.fixture(scope="module")
def gcj_url(reduced_city: ReducedCity) -> Iterator[str]:
    """The reduced city served under Gaode's GCJ-02 basemap, pages of at most 1,000 rows."""
    yield from _serve(reduced_city, basemap="amap", max_page=1000)


@pytest.fixture(scope="module")
def many_points_url(reduced_city: ReducedCity) -> Iterator[str]:
    """The reduced city served as a city with more test points than the page draws as
    markers (MAX_TEST_POINTS lowered below its count)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mapview, "MAX_TEST_POINTS", 5)
        yield from _serve(reduced_city, basemap="none")


def _open(page: Any, url: str, username: str = "cityviewer") -> None:
    login(page, url, username, TEST_PASSWORD)
    page.wait_for_function("() => window.pageState && window.pageState.ready")
    page.wait_for_function("() => window.pageState.loading === 0")


def _view(page: Any, lat: float, lon: float, zoom: int) -> None:
    page.evaluate("([lat, lon, z]) => { window.pageState.map.closePopup(); "
                  "window.pageState.map.setView([lat, lon], z, {animate: false}); }",
                  [lat, lon, zoom])
    page.wait_for_function(f"() => window.pageState.loading === 0 && "
                           f"window.pageState.map.getZoom() === {zoom}")


def _matched(page: Any, path: str) -> int:
    """numberMatched of the page's latest request to path, asked again with its session."""
    return int(page.evaluate("""async (path) => {
        const req = performance.getEntriesByType('resource').map(e => e.name)
            .filter(u => u.includes(path) && !u.includes('offset=')).pop();
        const r = await fetch(req, {credentials: 'same-origin'});
        return (await r.json()).numberMatched;
    }""", path))


def _counts(reduced_city: ReducedCity) -> tuple[dict[str, int], int]:
    store = open_store(reduced_city.url)
    try:
        return store.layer_counts(), store.issue_count()
    finally:
        store.close()


def test_city_layers_from_tiles_with_popups_cells_and_points(
        page: Any, city_url: str, reduced_city: ReducedCity) -> None:
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _open(page, city_url)
    counts, total = _counts(reduced_city)
    for kind in TILED:
        assert any(asks_tiles_of(u, kind) for u in urls), kind
        assert not any(f"/api/layers/{kind}" in u for u in urls), kind
    # the first view holds the whole city at a zoom that leaves nothing out: every feature
    assert page.evaluate("window.pageState.map.getZoom()") >= 14
    drawn = page.evaluate("window.pageState.counts")
    assert {k: drawn[k] for k in TILED} == {k: counts[k] for k in TILED}
    west, south, east, north = reduced_city.extent
    # city zoom: the issues are cells whose counts add up to every issue; a cell's popup
    _view(page, (south + north) / 2, (west + east) / 2, 12)
    page.wait_for_function(f"() => window.pageState.counts.issues === {total}")
    for label in ("测评点位", "农贸市场"):  # nothing above the cells
        page.get_by_role("checkbox", name=label, exact=True).uncheck()
    cell = page.evaluate("""async () => {
        const st = window.pageState, grid = st.issueCells;
        const box = st.map.getContainer().getBoundingClientRect();
        for (const f of await grid.ccmapFeatures()) {
            const [x, y] = f.parts[0][0];
            if (x > 20 && y > 20 && x < box.width - 300 && y < box.height - 200) {
                return [x + box.left, y + box.top, f.props.count];
            }
        }
    }""")
    page.mouse.click(cell[0], cell[1])
    title = page.locator(".leaflet-popup-content .ccmap-popup-title")
    title.wait_for(timeout=5000)
    assert title.inner_text() == f"{cell[2]} 件"
    # a street's popup, fetched by its id
    street = page.evaluate("""async () => {
        const r = await fetch('/api/layers/street?limit=1000', {credentials: 'same-origin'});
        return (await r.json()).features.filter(f => f.properties.name)
            .sort((a, b) => b.geometry.coordinates.length - a.geometry.coordinates.length)[0];
    }""")
    a, b = max(itertools.pairwise(street["geometry"]["coordinates"]),
               key=lambda s: math.dist(s[0], s[1]))
    lon, lat = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
    for label in ("问题", "背街小巷"):  # nothing above the street
        page.get_by_role("checkbox", name=label, exact=True).uncheck()
    _view(page, lat, lon, 18)
    x, y = screen_point(page, lat, lon)
    with page.expect_response(lambda r: f"/api/features/{street['id']}?" in r.url):
        page.mouse.click(x, y)
    title.wait_for(timeout=5000)
    assert title.inner_text() == street["properties"]["name"]
    # street level: the issues are single points again, every one matching the view
    page.get_by_role("checkbox", name="问题", exact=True).check()
    busiest = page.evaluate("""async () => {
        const r = await fetch('/api/heatmap?zoom=15', {credentials: 'same-origin'});
        return (await r.json()).cells.sort((a, b) => b[2] - a[2])[0];
    }""")
    _view(page, busiest[1], busiest[0], 16)
    assert not page.evaluate("window.pageState.map.hasLayer(window.pageState.issueCells)")
    points = page.evaluate("window.pageState.layers.issues.getLayers().length")
    assert points > 0
    assert page.evaluate("window.pageState.counts.issues") == \
        _matched(page, "/api/issues.geojson?") >= points
    # a ledger over the page's point limit: the points come from the issue tiles, each one
    # opening its issue's popup (fetched by id)
    page.evaluate("window.pageState.maxIssuePoints = 1000")
    page.evaluate("() => { window.pageState.refresh(); }")
    page.wait_for_function("() => window.pageState.loading === 0")
    assert page.evaluate("window.pageState.map.hasLayer(window.pageState.issueCells)")
    assert page.evaluate("window.pageState.layers.issues.getLayers().length") == 0
    point = page.evaluate("""async () => {
        const st = window.pageState, grid = st.issueCells;
        const box = st.map.getContainer().getBoundingClientRect();
        const found = [];
        for (const f of await grid.ccmapFeatures()) {
            if (f.layer === 'issues') {
                // how far from its centre a click opens it: as tiles.js hits() counts it
                const reach = f.style.radius + (f.style.stroke ? f.style.weight / 2 : 0);
                found.push([f.parts[0][0][0], f.parts[0][0][1], f.id, reach]);
            }
        }
        const mid = (p) => Math.hypot(p[0] - box.width / 2, p[1] - box.height / 2);
        const [x, y] = found.sort((a, b) => mid(a) - mid(b))[0];
        // every issue a click there may open (points overlap where issues cluster), with a
        // pixel for the click's rounding
        const under = found.filter(p => Math.hypot(p[0] - x, p[1] - y) <= p[3] + 1)
            .map(p => p[2]);
        return [x + box.left, y + box.top, under];
    }""")
    assert point[2]  # single points, not cells, at z16 in the busiest place
    under = {f"/api/issues/{i}" for i in point[2]}
    page.evaluate("() => { window.pageState.map.closePopup(); }")  # the street's, if still open
    with page.expect_response(lambda r: r.url.split("?")[0][len(city_url):] in under) as resp:
        page.mouse.click(point[0], point[1])
    title.wait_for(timeout=5000)
    issue_id = resp.value.url.split("?")[0].rsplit("/", 1)[1]
    assert title.inner_text().startswith(f"#{issue_id} ")
    assert errors == []


def test_a_move_asks_one_tile_a_place_for_the_layers_and_the_issues(
        page: Any, city_url: str, reduced_city: ReducedCity) -> None:
    """A move's tiles come as one request a place holding the tiled layers and the issues
    (a browser keeps 6 connections a host: half the requests of a grid each), each grid drawing
    its own; a new issue filter asks for the issues alone (the layers are drawn already)."""
    tiles: list[str] = []
    page.on("request", lambda r: tiles.append(r.url) if "/api/tiles/" in r.url else None)
    _open(page, city_url)
    counts, total = _counts(reduced_city)
    first = page.evaluate("window.pageState.map.getZoom()")  # the whole city, nothing left out
    # issues from tiles at every zoom, as over a city's ledger
    page.evaluate("() => { window.pageState.maxIssuePoints = 1000; "
                  "window.pageState.refresh(); }")
    page.wait_for_function("() => window.pageState.loading === 0")
    west, south, east, north = reduced_city.extent
    for zoom in (first - 1, first):  # a zoom out and back in: tiles not drawn at the time
        mark = len(tiles)
        _view(page, (south + north) / 2, (west + east) / 2, zoom)
        asked = tiles[mark:]
        assert asked and all(asks_tiles_of(u, "street") and asks_tiles_of(u, "issues")
                             for u in asked), asked
        # every place once, each grid drawing its own layers from it
        places = page.evaluate("window.pageState.baseTiles.ccmapCurrent().length")
        assert len(asked) == len(set(asked)) == places
        assert page.evaluate("window.pageState.issueCells.ccmapCurrent().length") == places
    # what both grids drew from the shared tiles: every issue, every feature of every layer
    page.wait_for_function(f"() => window.pageState.counts.issues === {total}")
    drawn = page.evaluate("window.pageState.counts")
    assert {k: drawn[k] for k in TILED} == {k: counts[k] for k in TILED}
    # a new issue filter: the issue tiles alone, with it
    vending = page.evaluate("""async () => (await (await fetch(
        '/api/issues?page_size=1&category=street_vending', {credentials: 'same-origin'}))
        .json()).total""")
    assert 0 < vending < total
    mark = len(tiles)
    page.select_option(".ccmap-filter select[name=category]", "street_vending")
    page.wait_for_function(f"() => window.pageState.loading === 0 && "
                           f"window.pageState.counts.issues === {vending}")
    asked = tiles[mark:]
    assert asked and all(asks_tiles_of(u, "issues") and not asks_tiles_of(u, "street")
                         and "category=street_vending" in u for u in asked), asked
    drawn = page.evaluate("window.pageState.counts")
    assert {k: drawn[k] for k in TILED} == {k: counts[k] for k in TILED}


def test_a_shared_tile_outlives_one_grid_cancelling_its_half(
        page: Any, city_url: str, reduced_city: ReducedCity) -> None:
    """The issue grid redrawn (a new filter, the slider) while a move's shared tiles are on
    the way stops only its own jobs: the layers' grid still gets every tile of the shared
    requests and draws every feature."""
    _open(page, city_url)
    counts, total = _counts(reduced_city)
    first = page.evaluate("window.pageState.map.getZoom()")
    page.evaluate("() => { window.pageState.maxIssuePoints = 1000; "
                  "window.pageState.refresh(); }")
    page.wait_for_function("() => window.pageState.loading === 0")
    west, south, east, north = reduced_city.extent
    for zoom in (first - 1, first):
        # the move's jobs are sent at the end of its task; the issue grid is redrawn once
        # they are, while their tiles are still on the way
        page.evaluate("""async ([lat, lon, z]) => {
            const st = window.pageState;
            st.map.setView([lat, lon], z, {animate: false});
            await Promise.resolve();
            st.issueCells.ccmapCancel();
            st.issueCells.redraw();
        }""", [(south + north) / 2, (west + east) / 2, zoom])
        page.wait_for_function(f"() => window.pageState.loading === 0 && "
                               f"window.pageState.map.getZoom() === {zoom}")
    page.wait_for_function(f"() => window.pageState.counts.issues === {total}")
    drawn = page.evaluate("window.pageState.counts")
    assert {k: drawn[k] for k in TILED} == {k: counts[k] for k in TILED}


def _page_decoded(page: Any, url: str) -> tuple[bytes, list[dict[str, Any]]]:
    """A tile's bytes as the page fetches them, and its layers as the page's own decoder
    (static/js/mvt.js, which the tile workers draw from) reads them: each layer's flat arrays
    read back feature by feature."""
    got = page.evaluate("""async (url) => {
        const { featureOf, readTile } = await import("/static/js/mvt.js");
        const buf = await (await fetch(url, { credentials: "same-origin" })).arrayBuffer();
        const layers = readTile(buf).map((l) => ({ name: l.name, extent: l.extent,
            features: Array.from({ length: l.length }, (_, i) => featureOf(l, i)) }));
        return { bytes: Array.from(new Uint8Array(buf)), layers: layers };
    }""", url)
    return bytes(got["bytes"]), got["layers"]


def test_the_page_decodes_its_tiles_as_an_independent_decoder_does(
        page: Any, city_url: str, reduced_city: ReducedCity) -> None:
    """Every feature the map draws and hit-tests is read by the page's own MVT decoder: its
    id, type, properties and every point of every part are what the protobuf-spec decoder
    reads from the same bytes — lines, areas, points and issue cells, every property kept."""
    from tests.mvt_reference import decode_independently

    _open(page, city_url)
    west, south, east, north = reduced_city.extent
    lon, lat = (west + east) / 2, (south + north) / 2
    layers = "subdistrict,community,zone,street,alley,market,test_point,issues"
    seen = set()
    for z in (12, 13, 15):  # issue cells, then single issues at street level
        x, y = tile_of(lon, lat, z)
        data, ours = _page_decoded(page, f"{city_url}/api/tiles/{layers}/{z}/{x}/{y}.mvt"
                                         "?size=512")
        theirs = decode_independently(data)
        assert [layer["name"] for layer in ours] == list(theirs)
        for layer in ours:
            expected = [{"id": f["id"], "type": f["type"], "props": f["properties"],
                         # the page leaves a ring's closing point out (it closes the path)
                         "parts": [[c for xy in (part[:-1] if f["type"] == 3 else part)
                                    for c in xy] for part in f["parts"]]}
                        for f in theirs[layer["name"]]]
            assert [{k: f.get(k) for k in ("id", "type", "props", "parts")}
                    for f in layer["features"]] == expected, layer["name"]
            if layer["features"]:
                seen.add(layer["name"])
    assert {"street", "zone", "test_point", "issue_cells", "issues"} <= seen


def test_gcj02_basemap_keeps_shifted_geojson_that_pages_and_says_when_partial(
        page: Any, gcj_url: str, reduced_city: ReducedCity) -> None:
    # Gaode's tiles are not fetched in tests: only the local server answers
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(gcj_url)
               else route.abort())
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    _open(page, gcj_url)
    counts, total = _counts(reduced_city)
    assert not any("/api/tiles/" in u for u in urls)  # tiles are WGS84: not over GCJ-02
    streets = [u for u in urls if "/api/layers/street?" in u]
    assert streets and all("coords=gcj02" in u for u in streets)
    assert page.evaluate("window.pageState.counts.street") == counts["street"]
    # the issues come in pages as big as the server allows (CCMAP_MAX_PAGE 1,000), every one
    # of them followed
    issues = [u for u in urls if "/api/issues.geojson?" in u]
    assert all("coords=gcj02" in u and "limit=1000" in u for u in issues)
    assert any("offset=" in u for u in issues)
    matched = _matched(page, "/api/issues.geojson?")
    assert matched == total > 2000  # the whole city is in view
    assert page.evaluate("window.pageState.counts.issues") == matched
    notice = page.locator("#ccmap-partial")
    assert notice.count() == 0 or not notice.is_visible()
    # drawn where Gaode's tiles put the street: shifted from WGS84 as eviltransform does it
    fid, drawn = page.evaluate("""() => {
        const l = window.pageState.layers.street.getLayers()[0];
        const p = l.getLatLngs()[0];
        return [l.feature.id, [p.lat, p.lng]];
    }""")
    wgs = page.evaluate("""async (id) => {
        const r = await fetch('/api/features/' + id, {credentials: 'same-origin'});
        return (await r.json()).geometry.coordinates[0];
    }""", fid)
    want = eviltransform.wgs2gcj(wgs[1], wgs[0])
    assert math.dist(drawn, want) < 1e-6 and math.dist(drawn, (wgs[1], wgs[0])) > 1e-3
    # more matches than the page draws: it stops after two pages and says so
    page.evaluate("window.pageState.maxFeatures = 2000")
    page.evaluate("() => { window.pageState.refresh(); }")
    page.wait_for_function("() => window.pageState.loading === 0")
    assert page.evaluate("window.pageState.counts.issues") == 2000
    assert notice.is_visible()
    assert page.locator("#ccmap-partial-issues").inner_text() == \
        f"问题：仅显示 2,000 / {matched:,} 条，请放大地图或筛选"
    page.evaluate("window.pageState.maxFeatures = 20000")
    page.evaluate("() => { window.pageState.refresh(); }")
    page.wait_for_function("() => window.pageState.loading === 0")
    assert page.evaluate("window.pageState.counts.issues") == matched
    assert not notice.is_visible()


def _open_watching_test_points(page: Any, url: str, reduced_city: ReducedCity) -> list[str]:
    """Open the page, recording its requests for test points (growing as it goes on): one
    request, holding every test point of the city with what draws it only (a click fetches
    the rest)."""
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/layers/test_point" in r.url
            else None)
    _open(page, url)
    assert len(asked) == 1
    _all_test_points_drawn(page, reduced_city)
    held = page.evaluate("""() => [...new Set(window.pageState.layers.test_point.getLayers()
        .flatMap(l => Object.keys(l.feature.properties)))].sort()""")
    assert held == ["category", "id"]
    return asked


def _all_test_points_drawn(page: Any, reduced_city: ReducedCity) -> None:
    counts, _ = _counts(reduced_city)
    assert page.evaluate("window.pageState.counts.test_point") == counts["test_point"]


def _at(reduced_city: ReducedCity, fx: float, fy: float) -> tuple[float, float]:
    west, south, east, north = reduced_city.extent
    return south + fy * (north - south), west + fx * (east - west)


def test_small_layers_answered_for_the_whole_city_are_not_asked_again(
        page: Any, city_url: str, reduced_city: ReducedCity) -> None:
    """The first view holds the whole city, so its answer of test points holds them all:
    moving about, even past the city's edge, asks nothing more."""
    asked = _open_watching_test_points(page, city_url, reduced_city)
    west, south, east, north = reduced_city.extent
    inside = [(*_at(reduced_city, fx, fy), z)
              for fx, fy, z in ((0.5, 0.5, 16), (0.02, 0.03, 13), (0.97, 0.98, 14))]
    for lat, lon, zoom in [*inside, (north + 0.3, east + 0.3, 14), (south - 0.2, west - 0.2, 12)]:
        _view(page, lat, lon, zoom)
    assert len(asked) == 1
    _all_test_points_drawn(page, reduced_city)


def test_small_layers_load_once_as_the_user_moves_about(
        page: Any, gcj_url: str, reduced_city: ReducedCity) -> None:
    """Over a shifted (GCJ-02) basemap, whose view is not in the data's coordinates: a GeoJSON
    layer whose answer held all it matched is not asked again while the view stays inside the
    area answered; leaving it asks for that area and the new view at once, so coming back asks
    nothing either."""
    asked = _open_watching_test_points(page, gcj_url, reduced_city)
    west, south, east, north = reduced_city.extent
    for fx, fy, zoom in ((0.5, 0.5, 16), (0.7, 0.6, 17), (0.3, 0.4, 17)):
        _view(page, *_at(reduced_city, fx, fy), zoom)
    assert len(asked) == 1  # inside the area answered first: nothing asked
    away = (north + 0.3, east + 0.3)  # outside the area answered
    page.evaluate("() => { window.__kept = window.pageState.layers.test_point.getLayers()[0]; }")
    _view(page, *away, 14)
    assert len(asked) == 2
    # the points answered again are not made again: the markers drawn before stay
    assert page.evaluate("() => window.pageState.layers.test_point.hasLayer(window.__kept)")
    bbox = [float(v) for v in asked[-1].split("bbox=")[1].split("&")[0].split(",")]
    assert bbox[2] >= away[1] - 0.01 and bbox[3] >= away[0] - 0.01  # GCJ-02: ~0.005° shifted
    assert bbox[0] <= west + 0.01 and bbox[1] <= south + 0.01
    for fx, fy, zoom in ((0.5, 0.5, 16), (0.3, 0.4, 17)):
        _view(page, *_at(reduced_city, fx, fy), zoom)
    assert len(asked) == 2
    _all_test_points_drawn(page, reduced_city)


def _test_points_in_view(page: Any) -> list[dict[str, Any]]:
    """The test points of the issue grid's tiles in view: id, category, colour, where (page
    pixels and latlng)."""
    found: list[dict[str, Any]] = page.evaluate("""async () => {
        const st = window.pageState, box = st.map.getContainer().getBoundingClientRect();
        const seen = {};
        for (const f of await st.issueCells.ccmapFeatures()) {
            const [x, y] = f.parts[0][0];
            if (f.layer === 'test_point' && x > 30 && y > 30 && x < box.width - 320 &&
                y < box.height - 260) {
                const at = st.map.containerPointToLatLng([x, y]);
                seen[f.id] = {id: f.id, category: f.props.category, fill: f.style.fillColor,
                              x: x + box.left, y: y + box.top, latlng: [at.lat, at.lng]};
            }
        }
        return Object.values(seen);
    }""")
    return found


def test_a_city_of_many_test_points_draws_them_from_the_issue_tiles(
        page: Any, many_points_url: str, reduced_city: ReducedCity) -> None:
    """Over MAX_TEST_POINTS the test points are not GeoJSON markers: they come in the issue
    grid's tiles (the same request as the other layers' tiles), every one counted, drawn in
    its category's colour below the issues; a click on one opens its popup, fetched by id;
    with the issues off they stay, and with them off the issue cells stay."""
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _open(page, many_points_url)
    assert not any("/api/layers/test_point" in u for u in urls)
    tiles = [u for u in urls if "/api/tiles/" in u]
    assert tiles and all(asks_tiles_of(u, "test_point") and asks_tiles_of(u, "street")
                         for u in tiles)  # one request a tile for both grids
    _all_test_points_drawn(page, reduced_city)
    colours = page.evaluate("window.pageState.tpColors")
    west, south, east, north = reduced_city.extent
    _view(page, (south + north) / 2, (west + east) / 2, 13)
    page.wait_for_function("() => window.pageState.counts.issues > 0")
    points = _test_points_in_view(page)
    assert points and all(p["fill"] == colours[p["category"]] for p in points)
    # below the issues: the cells are the grid's last layers, drawn over the test points
    order = page.evaluate("""async () => [...new Set((await window.pageState.issueCells
        .ccmapFeatures()).map(f => f.layer))]""")
    assert order.index("test_point") < order.index("issue_cells")
    page.get_by_role("checkbox", name="问题", exact=True).uncheck()
    page.wait_for_function("() => window.pageState.loading === 0")
    assert _test_points_in_view(page)  # the test points stay without the issues
    first = _test_points_in_view(page)[0]
    _view(page, *first["latlng"], 18)  # close in: no other point over it
    point = next(p for p in _test_points_in_view(page) if p["id"] == first["id"])
    page.mouse.click(point["x"], point["y"])
    title = page.locator(".leaflet-popup-content .ccmap-popup-title")
    expect_name = page.evaluate("""async (id) => (await (await fetch('/api/features/' + id,
        {credentials: 'same-origin'})).json()).properties.name""", point["id"])
    title.filter(has_text=expect_name).wait_for()
    # the test points off, the issues on: the cells come back without the test points
    page.evaluate("() => window.pageState.map.closePopup()")
    page.get_by_role("checkbox", name="测评点位", exact=True).uncheck()
    page.get_by_role("checkbox", name="问题", exact=True).check()
    page.wait_for_function("() => window.pageState.loading === 0 && "
                           "window.pageState.counts.issues > 0")
    assert _test_points_in_view(page) == []
    assert not any("/api/layers/test_point" in u for u in urls)
    assert errors == []
