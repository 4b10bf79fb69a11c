"""The big layers of the map come from vector tiles: streets drawn on canvases, popups fetched
by id, issues counted per cell at low zoom."""

from __future__ import annotations

import itertools
import math
import re
from typing import Any

import httpx
import pytest

from tests.browser.conftest import asks_tiles_of, login, new_context, screen_point
from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def _open(page: Any, url: str, username: str = "viewer") -> None:
    login(page, url, username)
    page.wait_for_function("() => window.pageState && window.pageState.ready")
    page.evaluate("window.pageState.ready")
    page.wait_for_function("() => window.pageState.loading === 0")


def _api(base: str) -> httpx.Client:
    token = httpx.post(base + "/api/auth/token",
                       data={"username": "viewer", "password": "ccmap-demo"}).json()
    return httpx.Client(base_url=base,
                        headers={"Authorization": f"Bearer {token['access_token']}"})


def _longest_segment_middle(coords: list[list[float]]) -> tuple[float, float]:
    a, b = max(itertools.pairwise(coords), key=lambda s: math.dist(s[0], s[1]))
    return (a[0] + b[0]) / 2, (a[1] + b[1]) / 2


def _watched(page: Any, live_server: str) -> tuple[list[str], list[str]]:
    """Open the map, recording the URLs it asks for and the script errors it raises."""
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _open(page, live_server)
    return urls, errors


def _show_a_street(page: Any, live_server: str, zoom: int,
                   named: bool) -> tuple[dict[str, Any], float, float]:
    """The street of most vertices (a named one if asked), the map at `zoom` on the middle
    of its longest segment (lat, lon) with the layers that draw above streets switched off."""
    with _api(live_server) as api:
        streets = api.get("/api/layers/street", params={"limit": 1000}).json()["features"]
    street = max((f for f in streets if f["geometry"]["type"] == "LineString"
                  and (f["properties"].get("name") or not named)),
                 key=lambda f: len(f["geometry"]["coordinates"]))
    lon, lat = _longest_segment_middle(street["geometry"]["coordinates"])
    for label in ("问题", "测评点位", "农贸市场", "背街小巷"):  # nothing above the street
        page.get_by_role("checkbox", name=label, exact=True).uncheck()
    page.evaluate("([lat, lon, z]) => { window.pageState.map.setView([lat, lon], z, "
                  "{animate: false}); }", [lat, lon, zoom])
    page.wait_for_function("() => window.pageState.loading === 0")
    return street, lat, lon


def _click_street(page: Any, street: dict[str, Any], lat: float, lon: float) -> None:
    """Click the street at (lat, lon): its popup, fetched by id, shows its name."""
    xy = screen_point(page, lat, lon)
    with page.expect_response(lambda r: f"/api/features/{street['id']}?" in r.url):
        page.mouse.click(xy[0], xy[1])
    popup = page.locator(".leaflet-popup-content .ccmap-popup-title")
    popup.wait_for(timeout=5000)
    assert popup.inner_text() == street["properties"]["name"]


def _street_view(page: Any, live_server: str) -> bytes:
    """The map on a named street of the demo at zoom 18, as a screenshot; then its street's
    popup opened by a click on it (hit-tested where the tiles were drawn)."""
    _open(page, live_server)
    street, lat, lon = _show_a_street(page, live_server, 18, named=True)
    shot = page.locator(".leaflet-container").screenshot()
    _click_street(page, street, lat, lon)
    return bytes(shot)


def test_tiles_are_drawn_by_workers_and_the_same_without(browser: Any,
                                                           live_server: str) -> None:
    """The tiles are fetched, decoded and drawn by tile workers, off the page's main thread
    (which stays free for the user while a pan's tiles come in); a browser that cannot run
    them (no OffscreenCanvas) gets the same map drawn by the page, and clicks that work."""
    import io

    from PIL import Image, ImageChops

    shots, workers = [], []
    for without in (False, True):
        context = new_context(browser, viewport={"width": 1400, "height": 900},
                              locale="zh-CN")
        if without:
            context.add_init_script("delete window.OffscreenCanvas;")
        page = context.new_page()
        try:
            shots.append(_street_view(page, live_server))
            workers.append(sorted(w.url.rsplit("/", 1)[-1] for w in page.workers))
        finally:
            context.close()
    assert workers[0] and set(workers[0]) == {"tile-worker.js"} and workers[1] == []
    a, b = (Image.open(io.BytesIO(s)).convert("RGB") for s in shots)
    assert a.size == b.size
    diff = ImageChops.difference(a, b)
    assert diff.getbbox() is None or max(diff.getextrema(), key=lambda e: e[1])[1] <= 8


def test_the_tiles_of_a_pan_are_drawn_by_the_workers(page: Any, live_server: str) -> None:
    """The tiles are drawn in the tile workers, the first view's too (a job waits for its
    worker to start): none of them costs the page's main thread the decoding and drawing."""
    _open(page, live_server)
    drawn_by = "(g) => window.pageState[g].ccmapDrawnBy()"
    first = page.evaluate(f"({drawn_by})", "baseTiles")
    assert first["workers"] > 0 and first["page"] == 0, first
    assert page.evaluate(f"({drawn_by})", "issueCells")["page"] == 0
    centre = page.evaluate("() => window.pageState.map.getCenter()")
    for z, dx in ((12, 0), (12, 0.3), (13, 0.3)):  # the city's issue cells: tiles never seen
        page.evaluate("([z, dx, c]) => { window.pageState.map.setView([c.lat, c.lng + dx], z, "
                      "{animate: false}); }", [z, dx, centre])  # (not the map back: huge)
        page.wait_for_function("() => window.pageState.loading === 0")
        for grid in ("baseTiles", "issueCells"):
            by = page.evaluate(f"({drawn_by})", grid)
            assert by["workers"] > 0 and by["page"] == 0, (grid, by)


def test_streets_come_from_tiles_and_open_their_popup(page: Any, live_server: str) -> None:
    urls, errors = _watched(page, live_server)
    assert any(asks_tiles_of(u, "street") for u in urls)
    assert not any("/api/layers/street" in u for u in urls)  # no GeoJSON for the big layers
    street, lat, lon = _show_a_street(page, live_server, 18, named=True)
    _click_street(page, street, lat, lon)
    assert "主次干道" in page.locator(".leaflet-popup-content").inner_text()
    # no OSM code as its category: the class is said in Chinese (道路等级), the code once
    rows = dict(r.split("\t", 1) for r in
                page.locator(".leaflet-popup-content tr").all_inner_texts())
    assert not re.fullmatch(r"[a-z_]+", rows.get("类别", "")), rows
    assert rows.get("单行道") in ("是", "否", "是（逆向）") and "oneway" not in rows, rows
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "street_popup_from_tiles.png"))
    assert errors == []


def _red_pixels(page: Any, lat: float, lon: float) -> int:
    """Pixels drawn in the street colour (#c0392b) in a 9 x 9 box around a map position."""
    import io

    from PIL import Image

    x, y = screen_point(page, lat, lon)
    shot = page.screenshot(clip={"x": x - 4, "y": y - 4, "width": 9, "height": 9})
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    px = image.tobytes()
    return sum(1 for r, g, b in zip(px[0::3], px[1::3], px[2::3], strict=True)
               if r - g > 60 and r - b > 60)


def test_toggling_a_tiled_layer_changes_what_is_drawn(page: Any, live_server: str) -> None:
    urls, errors = _watched(page, live_server)
    street, lat, lon = _show_a_street(page, live_server, 17, named=False)
    assert street["id"] in page.evaluate("window.pageState.tileIds.street")
    assert _red_pixels(page, lat, lon) > 0  # the street, on the shared tiles' canvas
    # the street layer off: the tiles are asked again without it and the street is not drawn
    mark = len(urls)
    page.get_by_role("checkbox", name="主次干道", exact=True).uncheck()
    page.wait_for_function("() => window.pageState.loading === 0")
    asked = [u for u in urls[mark:] if "/api/tiles/" in u]
    assert asked and all(asks_tiles_of(u, "zone") and not asks_tiles_of(u, "street")
                         for u in asked)
    assert _red_pixels(page, lat, lon) == 0
    assert page.locator("#ccmap-legends [data-kind=street]").is_hidden()
    # and on again: drawn again
    mark = len(urls)
    page.get_by_role("checkbox", name="主次干道", exact=True).check()
    page.wait_for_function("() => window.pageState.loading === 0")
    assert any(asks_tiles_of(u, "street") for u in urls[mark:])
    assert _red_pixels(page, lat, lon) > 0
    assert page.locator("#ccmap-legends [data-kind=street]").is_visible()
    # every tiled layer off: no tiles at all, nothing drawn on the map's tile pane
    for label in ("主次干道", "责任区", "社区", "街道"):
        page.get_by_role("checkbox", name=label, exact=True).uncheck()
    page.wait_for_function("() => window.pageState.loading === 0")
    assert not page.evaluate("window.pageState.map.hasLayer(window.pageState.baseTiles)")
    assert page.locator(".leaflet-ccmap-tiles-pane canvas").count() == 0
    assert errors == []


def test_issue_cells_at_low_zoom_add_up_to_the_filter_total(page: Any,
                                                            live_server: str) -> None:
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    _open(page, live_server)
    page.evaluate("() => { window.pageState.map.setZoom(12, {animate: false}); }")
    page.wait_for_function("() => window.pageState.loading === 0 && "
                           "window.pageState.map.getZoom() === 12")
    with _api(live_server) as api:
        total = api.get("/api/issues", params={"page_size": 1}).json()["total"]
        vending = api.get("/api/issues", params={"page_size": 1,
                                                 "category": "street_vending"}).json()["total"]
    assert 0 < vending < total
    page.wait_for_function(f"() => window.pageState.counts.issues === {total}")
    # map zoom 12 in 512-pixel tiles: the server's tiles of zoom 11, drawn at 12
    assert any(asks_tiles_of(u, "issues", z=11) and "size=512" in u for u in urls)
    # the clustered GeoJSON points are gone at this zoom: cells stand for them
    assert page.evaluate("window.pageState.layers.issues.getLayers().length") == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "issue_cells.png"))
    page.select_option(".ccmap-filter select[name=category]", "street_vending")
    page.wait_for_function(f"() => window.pageState.loading === 0 && "
                           f"window.pageState.counts.issues === {vending}")
    assert any("/api/tiles/issues/11/" in u and "category=street_vending" in u for u in urls)
    cell = page.evaluate("""async () => {
        const st = window.pageState, grid = st.issueCells;
        const box = st.map.getContainer().getBoundingClientRect();
        for (const f of await grid.ccmapFeatures()) {
            const [x, y] = f.parts[0][0];
            if (x > 0 && y > 0 && x < box.width && y < box.height) {
                return [x + box.left, y + box.top, f.props.count];
            }
        }
    }""")
    for label in ("测评点位", "农贸市场"):  # nothing above the cell
        page.get_by_role("checkbox", name=label, exact=True).uncheck()
    page.mouse.click(cell[0], cell[1])
    title = page.locator(".leaflet-popup-content .ccmap-popup-title")
    title.wait_for(timeout=5000)
    assert title.inner_text() == f"{cell[2]} 件"
    # back at street level the issues are single points again, with the filter
    page.evaluate("() => { window.pageState.map.closePopup(); "
                  "window.pageState.map.setZoom(15, {animate: false}); }")
    page.wait_for_function("() => window.pageState.loading === 0 && "
                           "window.pageState.map.getZoom() === 15")
    cats = page.evaluate("""() => [...new Set(window.pageState.layers.issues.getLayers()
        .map(l => l.feature.properties.category))]""")
    assert cats == ["street_vending"]
    assert not page.evaluate("window.pageState.map.hasLayer(window.pageState.issueCells)")


def _rgb(css: str) -> tuple[int, ...]:
    """(r, g, b) of a CSS colour as getComputedStyle gives it ("rgb(253, 141, 60)")."""
    return tuple(int(v) for v in re.findall(r"\d+", css)[:3])


def _cell_classes_and_colours(page: Any, zoom: int) -> tuple[list[Any], set[int], int]:
    """At this zoom: the legend's cell classes [(low, high, rgb)], the classes the sampled
    cells' pixels fall in (each checked against its count) and how many cells were sampled."""
    import io

    from PIL import Image

    page.evaluate(f"() => {{ window.pageState.map.setZoom({zoom}, {{animate: false}}); }}")
    page.wait_for_function(f"() => window.pageState.loading === 0 && "
                           f"window.pageState.map.getZoom() === {zoom}")
    page.wait_for_function(f"() => document.querySelector('.ccmap-cell-classes')"
                           f".dataset.zoom === '{zoom}'")
    rows = page.locator(".ccmap-cell-classes .ccmap-legend-row")
    classes = []
    for k in range(rows.count()):
        colour = rows.nth(k).locator(".ccmap-dot").evaluate(
            "e => getComputedStyle(e).backgroundColor")
        low, _, high = rows.nth(k).inner_text().replace("+", "–").partition("–")
        classes.append((int(low), int(high) if high else math.inf, _rgb(colour)))
    cells = page.evaluate("""async () => {
        const st = window.pageState, box = st.map.getContainer().getBoundingClientRect();
        const all = (await st.issueCells.ccmapFeatures()).filter(f => f.layer === 'issue_cells')
            .map(f => [f.parts[0][0][0], f.parts[0][0][1], f.props.count, f.style.radius]);
        // away from the panels, and apart from every other cell
        return all.filter(([x, y, , r]) => x > 280 && y > 80 && x < box.width - 440 &&
                          y < box.height - 280 && all.filter(q => Math.hypot(q[0] - x,
                          q[1] - y) < r + q[3]).length === 1)
            .map(([x, y, n, r]) => [x + box.left, y + box.top, n, r]);
    }""")
    seen = set()
    for x, y, count, radius in cells:
        # off the count written in white at the centre, inside the white rim (on the
        # neighbouring tile, for a cell by a tile's edge)
        at = (round(x + 0.6 * radius), round(y + 0.6 * radius))
        shot = page.screenshot(clip={"x": at[0], "y": at[1], "width": 1, "height": 1})
        pixel = Image.open(io.BytesIO(shot)).convert("RGB").getpixel((0, 0))
        nearest = min(classes, key=lambda c: math.dist(c[2], pixel))
        assert nearest[0] <= count <= nearest[1], (zoom, count, pixel, classes)
        seen.add(classes.index(nearest))
    return classes, seen, len(cells)


def test_issue_cells_are_coloured_by_their_count_as_the_legend_says(page: Any,
                                                                    live_server: str) -> None:
    """Zoomed out, a busy cell stands out from a quiet one by its colour (at city size nearly
    every bubble reaches its size cap): each cell is drawn, whole (a circle crossing a tile's
    edge too), in the colour of the legend's class holding its count, and the view shows more
    than one class. The classes are of density: zoomed out one level, a cell covers 4 times
    the ground, and the legend's counts grow about 4 times with the same colours, so a whole
    city zoomed out is not one colour."""
    _open(page, live_server)
    for label in ("测评点位", "农贸市场"):  # nothing above the cells
        page.get_by_role("checkbox", name=label, exact=True).uncheck()
    near, seen, sampled = _cell_classes_and_colours(page, 13)
    assert len(near) >= 3, "the legend gives the cells' colours by count"
    assert sampled >= 5 and len(seen) >= 2, (sampled, seen)
    far, _, sampled = _cell_classes_and_colours(page, 12)
    assert sampled >= 1
    assert [c[2] for c in far] == [c[2] for c in near], "the same colours"
    assert far[0][0] == near[0][0] == 1, "a cell of one issue has a colour at every zoom"
    for (low_far, _, _), (low_near, _, _) in zip(far[1:], near[1:], strict=True):
        assert 3 * low_near <= low_far <= 5 * low_near, (far, near)


def test_issue_points_from_tiles_are_drawn_in_their_status_colour(page: Any,
                                                                  live_server: str) -> None:
    """Street-level issue points of the issue tiles (each stamped from its style's symbol) sit
    where their issue is, in its status colour, and a click opens the issue of that point (the
    tiles carry its status and its id as the feature id only)."""
    import io

    from PIL import Image

    _open(page, live_server)
    for label in ("测评点位", "农贸市场"):  # nothing above the issues
        page.get_by_role("checkbox", name=label, exact=True).uncheck()
    busiest = page.evaluate("""async () => {
        const r = await fetch('/api/heatmap?zoom=15', {credentials: 'same-origin'});
        return (await r.json()).cells.sort((a, b) => b[2] - a[2])[0];
    }""")
    page.evaluate("window.pageState.maxIssuePoints = 10")  # points from the tiles
    page.evaluate("([lat, lon]) => { window.pageState.map.setView([lat, lon], 17, "
                  "{animate: false}); }", [busiest[1], busiest[0]])
    page.wait_for_function("() => window.pageState.loading === 0 && "
                           "window.pageState.map.getZoom() === 17")
    points = page.evaluate("""async () => {
        const st = window.pageState, box = st.map.getContainer().getBoundingClientRect();
        const pts = (await st.issueCells.ccmapFeatures()).filter(f => f.layer === 'issues')
            .map(f => [f.parts[0][0][0], f.parts[0][0][1], f.props.status, f.id]);
        // alone (no other point within 16 pixels), away from the panels
        return pts.filter(([x, y]) => x > 260 && y > 60 && x < box.width - 420 &&
                          y < box.height - 260 && pts.filter(q => Math.hypot(q[0] - x,
                          q[1] - y) < 16).length === 1)
            .map(([x, y, s, id]) => [x + box.left, y + box.top, st.config.statuses[s].color,
                                     id]);
    }""")
    assert points, "no lone issue point in view"
    for x, y, colour, _ in points[:5]:
        shot = page.screenshot(clip={"x": round(x) - 1, "y": round(y) - 1, "width": 3,
                                     "height": 3})
        r, g, b = Image.open(io.BytesIO(shot)).convert("RGB").getpixel((1, 1))
        want = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
        assert max(abs(v - w) for v, w in zip((r, g, b), want, strict=True)) < 40, \
            (x, y, colour, (r, g, b))
    x, y, _, issue = points[0]
    page.mouse.click(x, y)
    title = page.locator(".leaflet-popup-content .ccmap-popup-title")
    title.wait_for(timeout=5000)
    page.wait_for_function("(id) => document.querySelector('.leaflet-popup-content "
                           ".ccmap-popup-title').textContent.startsWith('#' + id + ' ')", arg=issue)


def test_an_issue_cells_count_is_written_over_its_circle(page: Any, live_server: str) -> None:
    """Zoomed out, each cell's circle carries its count (in the style's label colour) when the
    number fits the circle; the tile workers' drawing (tilework.js) run on a canvas of the page."""
    _open(page, live_server)
    cells = page.evaluate("""async () => {
        const { handle } = await import("/static/js/tilework.js");
        const st = window.pageState, c = st.map.getCenter(), z = 12, n = 2 ** z;
        const x = Math.floor((c.lng + 180) / 360 * n), lat = c.lat * Math.PI / 180;
        const y = Math.floor((1 - Math.log(Math.tan(lat) + 1 / Math.cos(lat)) / Math.PI) / 2 * n);
        await handle({ type: "init", grid: "labels", statuses: st.config.statuses });
        const canvas = document.createElement("canvas");
        canvas.width = canvas.height = 512;
        await handle({ type: "draw", grid: "labels", key: "k", z: z, px: 512, ratio: 1,
                       url: `${location.origin}/api/tiles/issues/${z}/${x}/${y}.mvt?size=512`,
                       canvas: canvas });
        const [tile] = (await handle({ type: "features", grid: "labels", keys: ["k"] })).result;
        const layer = tile.layers.find((l) => l.name === "issue_cells");
        const scale = 512 / layer.extent, ctx = canvas.getContext("2d");
        return layer.features.map((f) => {
            const cx = Math.round(f.parts[0][0] * scale), cy = Math.round(f.parts[0][1] * scale);
            const hex = (f.style.label || "#fff").slice(1);
            const full = hex.length === 3 ? [...hex].map((h) => h + h).join("") : hex;
            const want = [0, 2, 4].map((i) => parseInt(full.slice(i, i + 2), 16));
            const d = ctx.getImageData(cx - 6, cy - 6, 13, 13).data;
            let inLabel = 0;
            for (let i = 0; i < d.length; i += 4) {
                if ([0, 1, 2].every((k) => Math.abs(d[i + k] - want[k]) < 40)) { inLabel += 1; }
            }
            return { count: f.props.count, label: f.style.label,
                     inside: cx > 20 && cy > 20 && cx < 492 && cy < 492,
                     fits: String(f.props.count).length * 7 <= 2 * f.style.radius,
                     inLabel: inLabel };
        });
    }""")
    shown = [c for c in cells if c["inside"] and c["fits"]]
    # light circles (few issues) get a dark count, dark ones a white count
    assert {c["label"] for c in cells} >= {"#333"}, cells
    assert shown, cells  # the demo city's cells at this zoom have counts that fit
    assert all(c["inLabel"] >= 3 for c in shown), shown
