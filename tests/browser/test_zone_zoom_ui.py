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
