"""The demo map in a real browser: layers draw, popups open, nothing leaves the server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import XSS_NAME, asks_tiles_of, login
from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def _open(page: Any, url: str, username: str = "admin") -> None:
    login(page, url, username)
    page.wait_for_function("() => window.pageState && window.pageState.ready")
    page.evaluate("window.pageState.ready")
    page.wait_for_function("() => window.pageState.loading === 0")


def test_every_layer_draws_its_features(page: Any, live_server: str) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _open(page, live_server)
    counts = page.evaluate("window.pageState.counts")
    token = httpx.post(live_server + "/api/auth/token",
                       data={"username": "viewer", "password": "ccmap-demo"}).json()
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    api = {row["kind"]: row["count"]
           for row in httpx.get(live_server + "/api/layers", headers=auth).json()}
    for kind in ("subdistrict", "community", "zone", "street", "alley", "market", "test_point"):
        assert counts[kind] == api[kind] > 0, kind  # whole demo is in view
    assert counts["issues"] >= 5000
    drawn = page.evaluate("""() => {
        const out = {};
        for (const [kind, group] of Object.entries(window.pageState.layers)) {
            if (group.getLayers) {
                out[kind] = group.getLayers().filter(l => l._path || l._icon || l._latlng).length;
            }
        }
        return out;
    }""")
    assert drawn["test_point"] == counts["test_point"]
    # the big layers come from vector tiles: the features their tiles drew are the layer's
    tiled = page.evaluate("window.pageState.tileIds")
    assert {"street", "alley", "community", "subdistrict"} <= set(tiled) and "street" not in drawn
    streets = httpx.get(live_server + "/api/layers/street", headers=auth,
                        params={"limit": 10_000}).json()
    assert sorted(tiled["street"]) == sorted(f["id"] for f in streets["features"])
    assert page.locator(".leaflet-ccmap-tiles-pane canvas").count() > 0  # the tiled layers
    assert page.locator(".leaflet-ccmap-zone-pane path").count() == counts["zone"]  # editor
    assert page.locator(".marker-cluster").count() > 5  # issues are clustered
    assert page.locator("#ccmap-legend-issues").inner_text().count("结案") == 1
    assert "测评点位" in page.locator(".leaflet-control-layers").inner_text()
    assert page.locator(".leaflet-control-scale").count() == 1
    # in metres only, as a Chinese office reads a map (folium's own bar adds feet and miles)
    scale = page.locator(".leaflet-control-scale-line").all_inner_texts()
    assert len(scale) == 1 and scale[0].endswith(("m", "km")), scale
    assert page.locator(".leaflet-control-zoom-fullscreen, .fullscreen-icon").count() >= 1
    assert errors == []
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "main_map.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 50_000  # a drawn map, not a blank page


def _test_point(page: Any, where: dict[str, str]) -> dict[str, Any]:
    """The properties of the first test point matching `where`, as the API gives them."""
    props: dict[str, Any] = page.evaluate("""async (where) => {
        const r = await fetch('/api/layers/test_point?limit=1&properties=' +
                              encodeURIComponent(JSON.stringify(where)));
        return (await r.json()).features[0].properties;
    }""", where)
    return props


def _click_test_point(page: Any, name: str) -> str:
    """Hide the issues layer like a user would, zoom to a test point and click it."""
    page.get_by_role("checkbox", name="问题", exact=True).uncheck()
    point = _test_point(page, {"name": name})
    xy = page.evaluate("""(id) => {
        const st = window.pageState;
        const lyr = st.layers.test_point.getLayers().find(l => l.feature.properties.id === id);
        st.map.setView(lyr.getLatLng(), 18, {animate: false});
        const p = st.map.latLngToContainerPoint(lyr.getLatLng());
        const box = st.map.getContainer().getBoundingClientRect();
        return [p.x + box.left, p.y + box.top];
    }""", point["id"])
    page.wait_for_function("() => window.pageState.loading === 0")
    page.mouse.click(xy[0], xy[1])
    # the map holds a point's id and category; its popup shows the details fetched by id
    popup = page.locator(".leaflet-popup-content .ccmap-popup-title")
    popup.wait_for(timeout=5000)
    text: str = page.locator(".leaflet-popup-content").inner_text()
    return text


def test_clicking_a_test_point_opens_its_popup(page: Any, live_server: str) -> None:
    _open(page, live_server)
    point = _test_point(page, {"category": "farmers_market"})
    text = _click_test_point(page, point["name"])
    assert point["name"] in text and "农贸市场" in text and "责任人" in text
    assert point["responsible_person"] in text


def test_popups_show_labels_and_grouped_quantities_not_codes(page: Any,
                                                             live_server: str) -> None:
    """What a popup makes of a feature's properties (the page's own popup code, on the page's
    configuration): quantities with their digits grouped, codes as their labels, an id as is."""
    _open(page, live_server)
    rows = page.evaluate("""async () => {
        const { popupContent } = await import('/static/js/popups.js');
        const props = [
          ['community', {name: '金盛社区', population: 22236, area_m2: 2410070,
                         recurring_of: 12345}],
          ['zone', {name: '第1责任区', zone_type: 'grid', category: 'grid'}],
          ['street', {name: '横路', category: 'residential', oneway: 'yes'}]];
        return props.map(([kind, p]) => Object.fromEntries(
          [...popupContent(kind, p, window.pageState.config).querySelectorAll('tr')]
            .map(tr => [tr.cells[0].textContent, tr.cells[1].textContent])));
    }""")
    community, zone, street = rows
    assert community["人口"] == "22,236" and community["面积 (m²)"] == "2,410,070"
    assert community["回潮自"] == "12345"  # an issue's id, not a quantity
    assert zone == {"责任区类型": "网格"}  # its category is its type: said once
    assert street == {"类别": "街坊路", "单行道": "是"}


def test_hostile_names_are_shown_as_text_not_run(page: Any, live_server: str) -> None:
    _open(page, live_server)
    text = _click_test_point(page, XSS_NAME)
    assert XSS_NAME in text
    assert page.evaluate("window.__xss") is None
    assert page.locator(".leaflet-popup-content img").count() == 0


def test_no_request_leaves_the_server_with_basemap_none(page: Any, live_server: str) -> None:
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    _open(page, live_server)
    box = page.locator(".leaflet-container").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    with page.expect_response(lambda r: asks_tiles_of(r.url, "street")):
        page.mouse.wheel(0, -300)  # zooming fetches more data; still only from the server
    page.wait_for_function("() => window.pageState.loading === 0")
    outside = [u for u in urls if not u.startswith(live_server) and not u.startswith("data:")]
    assert urls and outside == []
    assert any(asks_tiles_of(u, "street") for u in urls)
    assert any(u.startswith(live_server + "/vendor/leaflet/") for u in urls)



def test_gap_layer_and_panel_zoom_to_each_gap(page: Any, live_server: str) -> None:
    _open(page, live_server, "planner")
    page.locator(".leaflet-control-layers label", has_text="覆盖缺口").locator("input").check()
    page.wait_for_function("() => window.pageState.loading === 0 && "
                           "window.pageState.counts.gaps > 0")
    items = page.locator(".ccmap-gap-item")
    assert items.count() >= 3
    assert "未覆盖区域" in items.first.inner_text()  # the largest gap comes first
    # the list covers none of the map's panels, tools and legends (a planner's draw tools and
    # 建议划分未覆盖区域 stay usable while the gaps are shown)
    covered = page.evaluate("""() => {
        const r = e => e.getBoundingClientRect();
        const panel = document.getElementById('ccmap-gap-panel'), list = r(panel);
        return [...document.querySelectorAll('.leaflet-control')]
            .filter(c => c !== panel && c.getClientRects().length)
            .map(c => [c.className, r(c)])
            .filter(([_, b]) => b.left < list.right && list.left < b.right
                                && b.top < list.bottom && list.top < b.bottom)
            .map(([name]) => name);
    }""")
    assert covered == []
    # the list goes with the gaps layer, not with another one switched off
    heat = page.locator(".leaflet-control-layers label", has_text="问题热力").locator("input")
    heat.check()
    page.wait_for_function("() => window.pageState.loading === 0")
    heat.uncheck()
    expect(page.locator("#ccmap-gap-panel")).to_be_visible()
    gaps = page.locator(".leaflet-control-layers label", has_text="覆盖缺口").locator("input")
    gaps.uncheck()
    expect(page.locator("#ccmap-gap-panel")).to_have_count(0)
    gaps.check()
    page.wait_for_function("() => window.pageState.loading === 0 && "
                           "window.pageState.counts.gaps > 0")
    expect(page.locator("#ccmap-gap-panel")).to_have_count(1)
    zoom = page.evaluate("window.pageState.map.getZoom()")
    items.first.click()
    page.wait_for_function("(zoom) => window.pageState.map.getZoom() > zoom", arg=zoom)
    expect(page.locator(".leaflet-popup-content")).to_contain_text("m²")
    kinds = page.evaluate("""() => [...new Set(window.pageState.layers.gaps.getLayers()
        .map(l => l.feature.properties.gap))]""")
    assert {"uncovered_area", "overlap", "uncovered_line", "forgotten_point"} <= set(kinds)
    page.screenshot(path=str(ARTIFACTS / "coverage_gaps.png"))


def test_heat_layer_draws_server_aggregated_cells(page: Any, live_server: str) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    _open(page, live_server, "viewer")
    page.locator(".leaflet-control-layers label", has_text="问题热力").locator("input").check()
    page.wait_for_function("() => window.pageState.loading === 0 && "
                           "window.pageState.counts.heat > 0")
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 1
    assert "问题热力" in page.inner_text("#ccmap-heat-legend")
    painted = page.evaluate("""() => {
        const c = document.querySelector('canvas.leaflet-heatmap-layer');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) { n++; } }
        return n / (c.width * c.height);
    }""")
    assert painted > 0.01  # the canvas really has colour on it
    assert any("/api/heatmap?" in u for u in requests)
    total = page.evaluate("window.pageState.counts.heat")
    page.select_option(".ccmap-filter select[name=category]", "street_vending")
    page.wait_for_function(f"() => window.pageState.loading === 0 && "
                           f"window.pageState.counts.heat < {total}")
    page.screenshot(path=str(ARTIFACTS / "heatmap.png"))


def test_hotspot_layer_shows_significant_cells(page: Any, live_server: str) -> None:
    _open(page, live_server, "inspector")
    page.locator(".leaflet-control-layers label", has_text="热点分析").locator("input").check()
    page.wait_for_function("() => window.pageState.loading === 0 && "
                           "window.pageState.counts.hotspots > 0", timeout=60_000)
    labels = page.evaluate("""() => window.pageState.layers.hotspots.getLayers()
        .map(l => l.feature.properties.label)""")
    assert any(label.startswith("热点") for label in labels)


def test_choropleth_by_metric_with_a_legend(page: Any, live_server: str) -> None:
    _open(page, live_server, "viewer")
    page.select_option(".ccmap-filter select[name=choropleth_metric]", "overdue")
    page.wait_for_function("() => window.pageState.loading === 0 && "
                           "window.pageState.counts.choropleth > 0")
    legend = page.inner_text("#ccmap-choropleth-legend")
    assert "超期问题数" in legend
    values = page.evaluate("""() => window.pageState.layers.choropleth.getLayers()
        .map(l => l.feature.properties.metric)""")
    assert set(values) == {"overdue"}
    page.select_option(".ccmap-filter select[name=choropleth_level]", "community")
    page.wait_for_function("() => window.pageState.loading === 0 && "
                           "window.pageState.counts.choropleth === 6")
    page.screenshot(path=str(ARTIFACTS / "choropleth.png"))


def test_week_slider_limits_issues_to_one_week(page: Any, live_server: str) -> None:
    _open(page, live_server, "viewer")
    everything = page.evaluate("window.pageState.counts.issues")
    page.evaluate("""() => {
        const s = document.querySelector('.ccmap-week-slider');
        s.value = '20';
        s.closest('form').dispatchEvent(new Event('change'));
    }""")
    page.wait_for_function(f"() => window.pageState.loading === 0 && "
                           f"window.pageState.counts.issues < {everything}")
    assert "起一周" in page.inner_text(".ccmap-week-label")
    dates = page.evaluate("""() => window.pageState.layers.issues.getLayers()
        .map(l => l.feature.properties.reported_at)""")
    days = {d[:10] for d in dates}
    assert 1 <= len(days) <= 7  # one week's issues only
    assert "&from=" in page.evaluate("window.pageState.issueFilter")
