"""A planner's zone editor at city scale: below the editing zoom the zones are tiles with a
hint, from it on only the zones of the view are loaded (and editable), more as the map moves;
an edit reloads the zones and the gaps of the view."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login
from tests.browser.test_zones_ui import _add_vertex

pytestmark = pytest.mark.browser


def _settled(page: Any) -> None:
    page.wait_for_function("() => window.pageState && window.pageState.loading === 0")


def _view(page: Any, lat: float, lon: float, zoom: int) -> None:
    # the braces: setView returns the map, which Playwright would copy back whole (every
    # layer and feature on it: over a minute for a city's zones)
    page.evaluate("([lat, lon, z]) => { window.pageState.map.setView([lat, lon], z, "
                  "{animate: false}); }", [lat, lon, zoom])
    page.wait_for_function("(z) => window.pageState.map.getZoom() === z", arg=zoom)
    _settled(page)


def _api(base: str) -> tuple[httpx.Client, list[dict[str, Any]]]:
    token = httpx.post(base + "/api/auth/token",
                       data={"username": "planner", "password": "ccmap-demo"}).json()
    client = httpx.Client(base_url=base,
                          headers={"Authorization": f"Bearer {token['access_token']}"})
    return client, client.get("/api/layers/zone", params={"limit": 1000}).json()["features"]


def _editable(page: Any) -> list[int]:
    ids: list[int] = page.evaluate("() => window.pageState.layers.zone.getLayers()"
                                   ".map(l => l.feature.properties.id)")
    return sorted(ids)


def _in_view(client: httpx.Client, page: Any) -> list[int]:
    """The ids of the zones in the area the page asks for (its view, padded by a quarter)."""
    bbox = page.evaluate("""() => { const b = window.pageState.map.getBounds().pad(0.25);
        return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].join(","); }""")
    doc = client.get("/api/layers/zone", params={"bbox": bbox, "limit": 1000}).json()
    return sorted(f["properties"]["id"] for f in doc["features"])


def test_zones_are_tiles_below_the_editing_zoom_and_the_views_zones_above(
        page: Any, live_server: str) -> None:
    client, zones = _api(live_server)
    login(page, live_server, "planner")
    _settled(page)
    edit_zoom = page.evaluate("window.pageState.zoneEditZoom")
    hint = page.locator("#ccmap-zone-edit-hint")

    # zoomed out: every zone drawn from tiles, none editable, and the hint says what to do
    _view(page, 31.2304, 121.4737, edit_zoom - 2)
    assert _editable(page) == []
    # (in the shared grid's tiles, with the other tiled layers)
    assert "zone" in page.evaluate("""() => { const st = window.pageState;
        return st.baseTiles.ccmapKindsAt(st.map.getZoom()); }""")
    assert sorted(page.evaluate("window.pageState.tileIds.zone")) == sorted(
        z["properties"]["id"] for z in zones)
    assert hint.is_visible() and hint.inner_text() == f"放大到第 {edit_zoom} 级以编辑责任区"
    assert page.locator(".leaflet-ccmap-tiles-pane canvas").count() > 0
    # nothing to edit or delete here: leaflet-draw's buttons are greyed out and say why
    edit = page.locator(".leaflet-draw-edit-edit")
    remove = page.locator(".leaflet-draw-edit-remove")
    expect(edit).to_have_class(re.compile(r"\bleaflet-disabled\b"))
    expect(edit).to_have_attribute("title", "此处没有可编辑的责任区")
    expect(remove).to_have_class(re.compile(r"\bleaflet-disabled\b"))
    expect(remove).to_have_attribute("title", "此处没有可删除的责任区")

    # zoomed in on one corner: only the zones of the view, as editable polygons
    _view(page, 31.2205, 121.4625, edit_zoom + 2)
    corner = _editable(page)
    assert corner and corner == _in_view(client, page) and len(corner) < len(zones)
    assert "zone" not in page.evaluate("""() => { const st = window.pageState;
        return st.baseTiles.ccmapKindsAt(st.map.getZoom()); }""")
    assert not hint.is_visible()
    assert page.locator(".leaflet-ccmap-zone-pane path").count() == len(corner)
    # the view's zones can be edited and deleted: the buttons are on (checked once the
    # whole view's zones were added, not at each of them)
    expect(edit).not_to_have_class(re.compile(r"\bleaflet-disabled\b"))
    expect(edit).to_have_attribute("title", "编辑责任区边界")
    expect(remove).not_to_have_class(re.compile(r"\bleaflet-disabled\b"))
    expect(remove).to_have_attribute("title", "删除责任区")

    # moved to the other corner: that corner's zones come in
    _view(page, 31.2400, 121.4850, edit_zoom + 2)
    other = _editable(page)
    assert other == _in_view(client, page) and set(other) - set(corner)


def test_an_edit_reloads_the_zones_and_the_gaps_of_the_view(page: Any,
                                                            live_server: str) -> None:
    client, zones = _api(live_server)
    login(page, live_server, "planner")
    _settled(page)
    edit_zoom = page.evaluate("window.pageState.zoneEditZoom")
    _view(page, 31.2304, 121.4737, edit_zoom - 1)  # tiles
    page.click(".leaflet-draw-draw-polygon")
    # the gaps layer on
    page.get_by_role("checkbox", name="覆盖缺口", exact=True).check()
    _settled(page)
    box = page.locator(".leaflet-container").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for n, (x, y) in enumerate([(cx - 40, cy - 30), (cx + 40, cy - 30), (cx + 40, cy + 30),
                                (cx - 40, cy + 30)]):
        _add_vertex(page, x, y, n)
    page.locator(".leaflet-editing-icon").first.click()
    form = page.locator(".ccmap-zone-form")
    form.locator("input[name=name]").fill("缩小时绘制责任区")
    with page.expect_request(lambda r: "/api/coverage.geojson?bbox=" in r.url):
        form.locator("button[type=submit]").click()  # the gaps of the view, not the city's
    page.wait_for_function("() => document.getElementById('ccmap-toast').textContent"
                           ".includes('缩小时绘制责任区')")
    _settled(page)
    [mine] = [z for z in client.get("/api/layers/zone", params={"limit": 1000}).json()[
        "features"] if z["properties"]["name"] == "缩小时绘制责任区"]
    new_id = mine["properties"]["id"]
    # the zone tiles were drawn again (their ETag changed): the new zone is on them
    assert new_id in page.evaluate("window.pageState.tileIds.zone")
    assert _editable(page) == []
    assert client.delete(f"/api/zones/{new_id}").status_code == 200
    assert len(client.get("/api/layers/zone", params={"limit": 1000}).json()["features"]) == len(
        zones)


# every URL the page fetches, in order (the page's own requests, not its tile workers')
_RECORD_FETCHES = """
(() => {
  const fetchOf = window.fetch;
  window.__asked = [];
  window.fetch = function (input, init) {
    window.__asked.push(String(input && input.url ? input.url : input));
    return fetchOf.call(this, input, init);
  };
})();
"""


def _planner_at_zone_tiles(page: Any, live_server: str) -> tuple[httpx.Client, int]:
    """A planner's map, its fetches recorded, zoomed out to the zone tiles (no editable zone
    loaded): the API client and the editing zoom."""
    client, _ = _api(live_server)
    page.add_init_script(_RECORD_FETCHES)
    login(page, live_server, "planner")
    _settled(page)
    edit_zoom = page.evaluate("window.pageState.zoneEditZoom")
    _view(page, 31.2304, 121.4737, edit_zoom - 1)
    return client, edit_zoom


def test_a_move_asks_for_the_views_zones_at_once_and_the_last_of_quick_moves_wins(
        page: Any, live_server: str) -> None:
    client, edit_zoom = _planner_at_zone_tiles(page, live_server)

    # a move: the zones of its view are asked for as the move ends (in the same task), not
    # after a pause, so they come in beside the move's tiles
    asked = page.evaluate("""([lat, lon, z]) => {
        window.__asked = [];
        window.pageState.map.setView([lat, lon], z, {animate: false});
        return window.__asked.slice(); }""", [31.2205, 121.4625, edit_zoom + 2])
    assert any(url.startswith("/api/layers/zone?bbox=") for url in asked), asked
    _settled(page)
    first = _editable(page)
    assert first and first == _in_view(client, page)

    # two moves at once, each out of the area loaded before: the second waits for a pause,
    # and its view's zones are the ones drawn (the first move's answer never replaces them)
    page.evaluate("""([a, b, z]) => {
        const map = window.pageState.map;
        map.setView(a, z, {animate: false});
        map.setView(b, z, {animate: false}); }""",
                  [[31.2400, 121.4850], [31.2300, 121.4740], edit_zoom + 2])
    assert page.evaluate("window.pageState.loading") > 0  # the second move's load is due
    _settled(page)
    last = _editable(page)
    assert last and last == _in_view(client, page) and last != first


def _drawn(page: Any) -> dict[int, int]:
    """The editable zones on the map: zone id -> the Leaflet id of the polygon drawn for it."""
    pairs = page.evaluate("() => window.pageState.layers.zone.getLayers()"
                          ".map(l => [l.feature.properties.id, L.stamp(l)])")
    return {int(zone): int(drawn) for zone, drawn in pairs}


def test_a_move_keeps_the_zones_drawn_that_the_new_view_still_holds(
        page: Any, live_server: str) -> None:
    client, edit_zoom = _planner_at_zone_tiles(page, live_server)
    _view(page, 31.2304, 121.4737, edit_zoom + 1)
    before = _drawn(page)
    # by 0.6 of the view's width: out of the area loaded (the view and a quarter around it)
    page.evaluate("""() => { const map = window.pageState.map;
        window.__asked = [];
        map.panBy([Math.round(map.getSize().x * 0.6), 0], {animate: false}); }""")
    _settled(page)
    assert any(url.startswith("/api/layers/zone?bbox=") for url in page.evaluate(
        "window.__asked"))  # the zones of the new view were asked for
    after = _drawn(page)
    assert sorted(after) == _in_view(client, page)
    kept = set(before) & set(after)
    assert kept  # zones in both views: the same polygons, not made again
    assert {zone: after[zone] for zone in kept} == {zone: before[zone] for zone in kept}
    assert page.locator(".leaflet-ccmap-zone-pane path").count() == len(after)


def test_a_zone_whose_edit_is_refused_is_drawn_again_as_saved(
        page: Any, live_server: str) -> None:
    client, edit_zoom = _planner_at_zone_tiles(page, live_server)
    _view(page, 31.2304, 121.4737, edit_zoom + 1)
    ring_of = """(id) => { const layer = window.pageState.layers.zone.getLayers()
        .find(l => l.feature.properties.id === id);
        return layer.getLatLngs()[0].map(p => [p.lat, p.lng]); }"""
    zone = page.evaluate("() => window.pageState.layers.zone.getLayers()"
                         ".find(l => l.feature.geometry.type === 'Polygon').feature.properties.id")
    drawn, saved = _drawn(page)[zone], page.evaluate(ring_of, zone)
    # the planner's edit as leaflet-draw hands it over on 保存: two vertices swapped, so the
    # outline crosses itself and the server refuses it
    page.evaluate("""(id) => { const st = window.pageState;
        const layer = st.layers.zone.getLayers().find(l => l.feature.properties.id === id);
        const ring = layer.getLatLngs()[0].slice();
        [ring[0], ring[1]] = [ring[1], ring[0]];
        layer.setLatLngs([ring]);
        st.map.fire(L.Draw.Event.EDITED, {layers: L.layerGroup([layer])}); }""", zone)
    page.wait_for_function("() => document.getElementById('ccmap-toast').textContent"
                           ".includes('保存失败')")
    _settled(page)
    # the zone is drawn again as the server holds it, not as the refused edit left it
    assert _drawn(page)[zone] != drawn
    assert page.evaluate(ring_of, zone) == saved
    ring = client.get(f"/api/features/{zone}").json()["geometry"]["coordinates"][0]
    assert [[round(lat, 6), round(lng, 6)] for lng, lat in ring[:len(saved)]] == [
        [round(lat, 6), round(lng, 6)] for lat, lng in saved]  # (unchanged there too)
