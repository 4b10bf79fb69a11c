"""What a new user sees on the main map: a filter panel whose links and fields do not run into
each other, one legend per layer, dates as YYYY-MM-DD whatever the browser's language, zone /
community / unit filters, a loading badge, and a week slider that loads once per burst."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import asks_tiles_of, login, new_context
from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

IDLE = "() => window.pageState.loading === 0"
WAIT = 20_000  # ms an expect() waits for what follows a server's answer (a busy 2-core box)


def _ready(page: Any) -> None:
    page.wait_for_function("() => window.pageState && window.pageState.ready")
    page.evaluate("window.pageState.ready")
    page.wait_for_function(IDLE)


def _open(page: Any, url: str, username: str = "viewer") -> None:
    login(page, url, username)
    _ready(page)


def _api(base: str, username: str = "viewer") -> httpx.Client:
    token = httpx.post(base + "/api/auth/token",
                       data={"username": username, "password": "ccmap-demo"}).json()
    return httpx.Client(base_url=base,
                        headers={"Authorization": f"Bearer {token['access_token']}"})


def _total(api: httpx.Client, **params: Any) -> int:
    total: int = api.get("/api/issues", params={**params, "page_size": 1}).json()["total"]
    return total


def _wait_count(page: Any, n: int) -> None:
    page.wait_for_function(f"() => window.pageState.loading === 0 && "
                           f"window.pageState.counts.issues === {n}")


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


@pytest.mark.parametrize("size", [(1024, 768), (1280, 720), (1366, 768)])
def test_filter_panel_fields_and_links_do_not_overlap(browser: Any, live_server: str,
                                                      size: tuple[int, int]) -> None:
    """As the admin (the most links and controls), at common laptop sizes."""
    context = new_context(browser, viewport={"width": size[0], "height": size[1]},
                          locale="zh-CN")
    page = context.new_page()
    try:
        _open(page, live_server, "admin")
        boxes = page.evaluate("""() => {
            const panel = document.querySelector('.ccmap-filter');
            const items = [...panel.querySelectorAll('a, button, select, input, label')]
                .filter(e => e.type !== 'hidden' && e.getClientRects().length
                             && !e.closest('label') || e.tagName === 'LABEL');
            const r = e => { const b = e.getBoundingClientRect();
                              return {x: b.x, y: b.y, width: b.width, height: b.height}; };
            return {panel: r(panel), items: items.map(e => ({
                text: (e.textContent || e.name || e.placeholder || '').trim(), box: r(e)}))};
        }""")
        items = boxes["items"]
        assert len(items) > 20
        for a, b in itertools.combinations(items, 2):
            assert not _overlap(a["box"], b["box"]), (a, b)
        panel = boxes["panel"]
        for item in items:  # nothing sticks out of the panel's sides
            assert panel["x"] <= item["box"]["x"]
            assert item["box"]["x"] + item["box"]["width"] <= panel["x"] + panel["width"], item
        # links keep to one line: "周通报 PDF" is one row high, not a column of characters
        link = page.locator(".ccmap-report-link").bounding_box()
        assert link["height"] < 24 and link["width"] > 40
        # the controls under the panel stay on the screen (the panel scrolls instead)
        for selector in (".ccmap-report-button", ".ccmap-plan-button"):
            b = page.locator(selector).bounding_box()
            assert b["y"] + b["height"] <= size[1], selector
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"filter_panel_{size[0]}x{size[1]}.png"))
    finally:
        context.close()


SELECT_ARROW_PX = 20  # the room a select's drop-down arrow takes beside its text


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_title_bar_and_filter_fields_show_all_their_text(browser: Any, live_server: str,
                                                         locale: str) -> None:
    """As the admin (the longest title bar) in a 1024-pixel window: the title bar stays left
    of the layer list, and each filter field shows its whole placeholder or chosen option."""
    context = new_context(browser, viewport={"width": 1024, "height": 768}, locale=locale)
    page = context.new_page()
    try:
        _open(page, live_server, "admin")
        seen = page.evaluate("""(arrow) => {
            const box = e => e.getBoundingClientRect();
            const title = document.getElementById('ccmap-title');
            const list = document.querySelector('.leaflet-control-layers');
            const ctx = document.createElement('canvas').getContext('2d');
            const fields = [...document.querySelectorAll(
                '.ccmap-filter select, .ccmap-filter input[type=text]')]
                .filter(e => e.getClientRects().length).map(e => {
                    const s = getComputedStyle(e);
                    ctx.font = s.font;
                    const select = e.tagName === 'SELECT';
                    const text = select ? e.options[e.selectedIndex].text : e.placeholder;
                    const room = e.clientWidth - parseFloat(s.paddingLeft)
                        - parseFloat(s.paddingRight) - (select ? arrow : 0);
                    return {text: text, width: ctx.measureText(text).width, room: room};
                });
            const items = [...title.children].filter(e => e.getClientRects().length)
                .map(e => ({text: e.textContent, right: box(e).right}));
            return {titleRight: box(title).right, listLeft: box(list).left,
                    titleInside: box(title).right - 8, items: items, fields: fields};
        }""", SELECT_ARROW_PX)
        assert seen["titleRight"] <= seen["listLeft"]
        for item in seen["items"]:  # nothing runs out of the bar (its items wrap instead)
            assert item["right"] <= seen["titleInside"], item
        assert len(seen["fields"]) >= 8
        for field in seen["fields"]:
            assert field["width"] <= field["room"], field
    finally:
        context.close()


def test_each_layer_has_its_own_legend_shown_with_it(page: Any, live_server: str) -> None:
    _open(page, live_server)
    issues = page.locator("#ccmap-legend-issues")
    points = page.locator("#ccmap-legend-test_point")
    expect(issues).to_be_visible()
    expect(points).to_be_visible()
    assert "结案" in issues.inner_text() and "问题数" in issues.inner_text()
    assert "公厕" in points.inner_text() and "结案" not in points.inner_text()
    assert "公厕" not in issues.inner_text()
    street_row = page.locator("#ccmap-legend-styles [data-kind=street]")
    expect(street_row).to_have_text("主次干道")

    def legends_apart() -> None:
        shown = page.evaluate("""() => [...document.querySelectorAll(
            '#ccmap-legends > .ccmap-legend, .leaflet-control-layers')]
            .filter(e => !e.hidden && e.getClientRects().length)
            .map(e => { const b = e.getBoundingClientRect();
                        return {id: e.id || e.className, x: b.x, y: b.y, width: b.width,
                                height: b.height}; })""")
        for a, b in itertools.combinations(shown, 2):
            assert not _overlap(a, b), (a, b)

    legends_apart()
    page.get_by_role("checkbox", name="问题", exact=True).uncheck()
    expect(issues).to_be_hidden()
    expect(points).to_be_visible()
    page.get_by_role("checkbox", name="测评点位", exact=True).uncheck()
    expect(points).to_be_hidden()
    page.get_by_role("checkbox", name="主次干道", exact=True).uncheck()
    expect(street_row).to_be_hidden()
    expect(page.locator("#ccmap-legend-styles [data-kind=alley]")).to_be_visible()
    page.get_by_role("checkbox", name="问题", exact=True).check()
    expect(issues).to_be_visible()
    # the heat and choropleth legends join the same row, clear of the others
    page.get_by_role("checkbox", name="问题热力", exact=True).check()
    page.get_by_role("checkbox", name="专题图", exact=True).check()
    page.get_by_role("checkbox", name="热点分析", exact=True).check()
    page.wait_for_function(IDLE)
    for selector in ("#ccmap-heat-legend", "#ccmap-choropleth-legend", "#ccmap-legend-hotspots"):
        expect(page.locator(f"#ccmap-legends {selector}")).to_be_visible(timeout=WAIT)
    legends_apart()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "legends.png"))
    page.get_by_role("checkbox", name="问题热力", exact=True).uncheck()
    expect(page.locator("#ccmap-heat-legend")).to_have_count(0)
    page.get_by_role("checkbox", name="热点分析", exact=True).uncheck()
    expect(page.locator("#ccmap-legend-hotspots")).to_be_hidden()


def test_a_legend_folds_to_its_title_and_stays_folded(page: Any, live_server: str) -> None:
    """On a small screen the legends of several layers cover much of the map: a click on a
    legend's title folds it to that title (the map shows again under it), remembered after
    a reload; another click unfolds it."""
    page.set_viewport_size({"width": 1024, "height": 768})
    _open(page, live_server)
    issues = page.locator("#ccmap-legend-issues")
    title = issues.get_by_role("button", name="问题状态")
    expect(title).to_have_attribute("aria-expanded", "true")
    tall = issues.bounding_box()["height"]
    closed = issues.get_by_text("结案", exact=True)
    expect(closed).to_be_visible()
    title.click()
    expect(closed).to_be_hidden()
    expect(title).to_have_attribute("aria-expanded", "false")
    assert issues.bounding_box()["height"] < tall / 3
    expect(page.locator("#ccmap-legend-test_point").get_by_text("公厕")).to_be_visible()
    page.reload()
    _ready(page)
    expect(closed).to_be_hidden()
    title.click()
    expect(closed).to_be_visible()
    expect(title).to_have_attribute("aria-expanded", "true")


def test_a_popup_opened_under_the_legends_moves_clear_of_them(page: Any,
                                                              live_server: str) -> None:
    """A test point under the legends' box (as one in the map's bottom band is when the user
    pans it there): its popup and the point come up above the legends, readable, and a popup
    opened higher up leaves the map where it is."""
    _open(page, live_server)
    page.wait_for_function("() => window.pageState.layers.test_point.getLayers().length > 0")
    legends = page.locator("#ccmap-legends").bounding_box()
    assert legends is not None and legends["height"] > 100
    page.evaluate("""([x, y]) => {
        const st = window.pageState, map = st.map;
        const marker = st.layers.test_point.getLayers()[0];
        const box = map.getContainer().getBoundingClientRect();
        // pan so that the point sits at (x, y) of the page, under the legends
        const at = map.latLngToContainerPoint(marker.getLatLng());
        map.panBy([at.x - (x - box.left), at.y - (y - box.top)], {animate: false});
        marker.openPopup();
    }""", [legends["x"] + legends["width"] / 2, legends["y"] + legends["height"] - 20])
    popup = page.locator(".leaflet-popup")
    expect(popup.locator(".ccmap-popup-title")).to_be_visible(timeout=WAIT)
    # the popup ends above the legends, once Leaflet's pan has stopped
    page.wait_for_function("""([top]) => {
        const p = document.querySelector('.leaflet-popup');
        return p && p.getBoundingClientRect().bottom <= top && !window.pageState.map._panAnim
            ?._inProgress; }""", arg=[legends["y"]], timeout=WAIT)
    # what the user sees at the popup's title and at the point is the popup and the point
    seen = page.evaluate("""() => {
        const title = document.querySelector('.leaflet-popup .ccmap-popup-title');
        const t = title.getBoundingClientRect();
        const hit = document.elementFromPoint(t.x + t.width / 2, t.y + t.height / 2);
        const tip = document.querySelector('.leaflet-popup-tip').getBoundingClientRect();
        const under = document.elementFromPoint(tip.x + tip.width / 2, tip.bottom + 3);
        return {title: !!hit.closest('.leaflet-popup'),
                legend: !!(under && under.closest('#ccmap-legends'))};
    }""")
    assert seen == {"title": True, "legend": False}
    # a popup opened well above the legends does not move the map
    page.evaluate("() => window.pageState.map.closePopup()")
    expect(popup).to_have_count(0)
    centre = page.evaluate("""() => {
        const st = window.pageState, map = st.map;
        const marker = st.layers.test_point.getLayers()[0];
        map.setView(marker.getLatLng(), map.getZoom(), {animate: false});
        const before = map.getCenter();
        marker.openPopup();
        return [before.lat, before.lng];
    }""")
    expect(popup.locator(".ccmap-popup-title")).to_be_visible(timeout=WAIT)
    after = page.evaluate("() => { const c = window.pageState.map.getCenter(); "
                          "return [c.lat, c.lng]; }")
    assert after == centre


def _busiest_day(api: httpx.Client) -> tuple[str, int]:
    """A day with issues and how many were reported on it (from the API)."""
    newest = api.get("/api/issues", params={"page_size": 200, "sort": "-reported_at"}).json()
    days = sorted({i["reported_at"][:10] for i in newest["items"]})
    for day in reversed(days):
        after = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
        n = _total(api, **{"from": day, "to": after})
        if n:
            return day, n
    raise AssertionError("the demo has no dated issues")


def test_dates_are_yyyy_mm_dd_in_an_english_browser(browser: Any, live_server: str) -> None:
    context = new_context(browser, viewport={"width": 1366, "height": 768}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        _open(page, live_server)
        with _api(live_server) as api:
            day, n = _busiest_day(api)
        start = page.locator(".ccmap-filter input[name=from]")
        end = page.locator(".ccmap-filter input[name=to]")
        assert start.get_attribute("type") == "text"
        # an English browser gets the English page (issue 18), dates still YYYY-MM-DD
        assert start.get_attribute("placeholder") == "From YYYY-MM-DD"
        start.fill(day)
        end.fill(day)  # the end day counts: issues of that day are in
        end.press("Enter")
        start.click()  # (the change is committed when the field is left)
        _wait_count(page, n)
        assert start.input_value() == day and end.input_value() == day
        # a day picked in the calendar is written YYYY-MM-DD too
        end.click()
        calendar = page.locator(".flatpickr-calendar.open")
        expect(calendar).to_be_visible()
        assert "Mon" in calendar.inner_text()  # the calendar in the page's language
        picked = calendar.locator(".flatpickr-day:not(.prevMonthDay):not(.nextMonthDay)").nth(9)
        want = picked.evaluate("d => { const x = d.dateObj; return x.getFullYear() + '-' + "
                               "String(x.getMonth() + 1).padStart(2, '0') + '-' + "
                               "String(x.getDate()).padStart(2, '0'); }")
        picked.click()
        expect(end).to_have_value(want)
        page.wait_for_function(IDLE)
        assert f"to={(dt.date.fromisoformat(want) + dt.timedelta(days=1)).isoformat()}" in \
            page.evaluate("window.pageState.issueFilter")
        # a wrong date is said on the page, stays in its field and changes nothing
        before = page.evaluate("[window.pageState.issueFilter, window.pageState.counts.issues]")
        for wrong in ("2026-13-45", "01/05/2026", "2026-02-30"):
            start.fill(wrong)
            start.press("Tab")
            alert = page.get_by_role("alert")
            expect(alert).to_contain_text(wrong)
            expect(alert).to_contain_text("YYYY-MM-DD")
            page.wait_for_function(IDLE)
            assert start.input_value() == wrong
            assert start.get_attribute("aria-invalid") == "true"
            assert page.evaluate("[window.pageState.issueFilter, "
                                 "window.pageState.counts.issues]") == before
        page.keyboard.press("Escape")
        start.fill("")
        start.press("Tab")
        expect(page.get_by_role("alert")).to_be_hidden()
        assert errors == []
    finally:
        context.close()


def test_zone_community_and_unit_filters_change_the_issue_count(page: Any,
                                                                 live_server: str) -> None:
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    _open(page, live_server)
    everything = page.evaluate("window.pageState.counts.issues")
    with _api(live_server) as api:
        assert _total(api) == everything
        units = page.locator(".ccmap-filter select[name=unit] option").all_inner_texts()[1:]
        counts = {u: _total(api, unit=u) for u in units}
        unit = max(counts, key=lambda u: counts[u])
        assert 0 < counts[unit] < everything
        page.select_option(".ccmap-filter select[name=unit]", unit)
        _wait_count(page, counts[unit])
        # the heat layer counts the same issues
        page.get_by_role("checkbox", name="问题热力", exact=True).check()
        page.wait_for_function(f"() => window.pageState.loading === 0 && "
                               f"window.pageState.counts.heat === {counts[unit]}")
        page.get_by_role("checkbox", name="问题热力", exact=True).uncheck()
        page.select_option(".ccmap-filter select[name=unit]", "")
        _wait_count(page, everything)

        community = "豫园社区"
        page.select_option(".ccmap-filter select[name=community]", community)
        _wait_count(page, _total(api, community=community))

        # zones: the server offers ZONE_OPTIONS names at a time and says how many more match
        names = api.get("/api/layers/zone/names", params={"limit": 100}).json()
        assert names["numberMatched"] > 20  # the demo city has more zones than one page
        zone_field = page.locator(".ccmap-filter input[name=zone_name]")
        zone_field.click()
        hint = page.locator(".ccmap-zone-hint")
        expect(hint).to_have_text(f"另有 {names['numberMatched'] - 20} 个责任区匹配，请继续输入",
                                  timeout=WAIT)
        assert page.locator("#ccmap-zone-options option").count() == 20
        zone_field.press_sequentially("豫园")
        prefixed = [z for z in names["items"] if z["name"].startswith("豫园")]
        expect(page.locator("#ccmap-zone-options option")).to_have_count(len(prefixed),
                                                                          timeout=WAIT)
        expect(hint).to_be_hidden()
        zone = prefixed[0]
        in_zone = _total(api, community=community, zone=zone["id"])
        assert 0 < in_zone < _total(api, community=community)
        zone_field.fill(zone["name"])  # as picking it from the list does
        _wait_count(page, in_zone)
        assert f"zone={zone['id']}" in page.evaluate("window.pageState.issueFilter")
        # the issue cells of the tiles (zoomed out) count the same issues
        page.evaluate("() => { window.pageState.map.setZoom(12, {animate: false}); }")
        page.wait_for_function("() => window.pageState.map.getZoom() === 12")
        _wait_count(page, in_zone)
        cells = [u for u in urls if asks_tiles_of(u, "issues", z=11)]  # 512 pixels: at 12
        assert cells and all(parse_qs(urlparse(u).query)["zone"] == [str(zone["id"])]
                             for u in cells)
        # a name that is no zone is said, and changes nothing
        zone_field.fill("不存在的责任区")
        zone_field.press("Enter")
        zone_field.press("Tab")
        expect(hint).to_have_text("找不到责任区「不存在的责任区」，筛选未更新", timeout=WAIT)
        page.wait_for_function(IDLE)
        assert page.evaluate("window.pageState.counts.issues") == in_zone
        zone_field.fill("")
        zone_field.press("Tab")
        _wait_count(page, _total(api, community=community))


def test_a_unit_user_is_offered_only_its_unit_and_zones(page: Any, live_server: str) -> None:
    _open(page, live_server, "unit1")
    with _api(live_server, "unit1") as api:
        me = api.get("/api/me").json()
        zones = api.get("/api/layers/zone/names", params={"limit": 100}).json()
    options = page.locator(".ccmap-filter select[name=unit] option").all_inner_texts()
    assert options == ["全部责任单位", me["unit"]]
    assert zones["numberMatched"] > 0
    assert {z["unit"] for z in zones["items"]} == {me["unit"]}
    page.locator(".ccmap-filter input[name=zone_name]").click()
    expect(page.locator("#ccmap-zone-options option")).to_have_count(zones["numberMatched"],
                                                                      timeout=WAIT)


def test_loading_badge_shows_while_data_arrives(page: Any, live_server: str) -> None:
    _open(page, live_server)
    badge = page.locator("#ccmap-loading")
    expect(badge).to_be_hidden()
    held: list[Any] = []
    released = False

    def hold(route: Any) -> None:
        if released:
            route.continue_()
        else:
            held.append(route)

    page.route("**/api/issues.geojson*", hold)
    page.select_option(".ccmap-filter select[name=status]", "closed")
    expect(badge).to_be_visible()
    expect(badge).to_have_text("加载中…")
    assert page.evaluate("window.pageState.loading") > 0
    # it takes no click: what lies under its middle is what was there before
    under = page.evaluate("""() => {
        const b = document.getElementById('ccmap-loading').getBoundingClientRect();
        const e = document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2);
        return e.id !== 'ccmap-loading' && !e.closest('#ccmap-loading');
    }""")
    assert under
    released = True
    for route in held:
        route.continue_()
    page.wait_for_function(IDLE)
    expect(badge).to_be_hidden()
    assert page.evaluate("window.pageState.loading") == 0
    statuses = page.evaluate("""() => [...new Set(window.pageState.layers.issues.getLayers()
        .map(l => l.feature.properties.status))]""")
    assert statuses == ["closed"]


def test_a_burst_of_slider_moves_loads_only_the_last_week(page: Any, live_server: str) -> None:
    _open(page, live_server)
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url)
            if "/api/issues.geojson" in r.url or "/api/tiles/issues/" in r.url else None)
    # eight weeks back, one step at a time, as holding an arrow key on the slider does
    page.evaluate("""() => {
        const s = document.querySelector('.ccmap-week-slider');
        for (let w = 25; w >= 18; w--) {
            s.value = String(w);
            s.dispatchEvent(new Event('change', {bubbles: true}));
        }
    }""")
    page.wait_for_function(IDLE)
    weeks = {parse_qs(urlparse(u).query).get("from", [""])[0] for u in urls}
    label = page.inner_text(".ccmap-week-label")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} 起一周", label)
    assert weeks == {label.split()[0]}  # only the week shown was asked for
