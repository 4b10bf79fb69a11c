"""The pages in English (issue 18): with Accept-Language: en, and with a user's own setting
chosen in the page header, every page shows no Chinese outside user data.

User data is what people entered or imported: the names, properties and issues of the demo
city, its units, users and reply templates (collected from the store), and elements marked
translate="no" (the language switch's "中文", an audit entry's raw change). Everything else —
labels, legends, buttons, placeholders, tooltips — is UI text and must be English."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from geo.demo.city import build_demo
from geo.i18n import CJK
from geo.model.kinds import Kind
from geo.store import IssueQuery, Store, open_store
from server.app import create_app
from server.routes.pages import vendor_installed
from server.settings import Settings
from tests.browser.conftest import login, new_context, serve_app
from tests.conftest import missing

pytestmark = pytest.mark.browser

# every visible text node (outside translate="no"), and the visible elements' placeholder,
# title, aria-label and alt texts, and the document's title
VISIBLE_TEXT = """() => {
    const out = [document.title];
    const shown = (e) => e && e.checkVisibility() && !e.closest('[translate="no"]');
    const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
        const host = n.parentElement;
        if (host && !['SCRIPT', 'STYLE'].includes(host.tagName) && shown(host)
                && n.textContent.trim()) { out.push(n.textContent.trim()); }
    }
    for (const e of document.querySelectorAll('[placeholder], [title], [aria-label], [alt]')) {
        if (!shown(e)) { continue; }
        for (const a of ['placeholder', 'title', 'aria-label', 'alt']) {
            if (e.getAttribute(a)) { out.push(e.getAttribute(a)); }
        }
    }
    for (const o of document.querySelectorAll('select option')) {
        if (shown(o.parentElement) && !o.closest('[translate="no"]')) { out.push(o.textContent); }
    }
    return out;
}"""


def user_data(store: Store) -> list[str]:
    """Every text of the store that people entered or imported, longest first."""
    found: set[str] = set()

    def add(value: Any) -> None:
        if isinstance(value, str) and CJK.search(value):
            found.add(value)

    for kind in Kind:
        for f in store.features(kind):
            add(f.name)
            for v in f.properties.values():
                add(v)
    for u in store.units():
        add(u.name)
        add(u.parent)
    for user in store.users():
        add(user.display_name)
    for rows in store.issue_record_batches(replace(IssueQuery(), limit=None)):
        for i in rows:
            for v in (i.description, i.address, i.reporter, i.unit, i.cadre, i.community,
                      i.external_id):
                add(v)
    for t in store.reply_templates():
        add(t["title"])
        add(t["text"])
    return sorted(found, key=len, reverse=True)


@pytest.fixture(scope="module")
def english_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """The demo city served on its own (tests here change users' settings): its URL and its
    user data."""
    db = Path(tmp_path_factory.mktemp("english")) / "demo.db"
    settings = Settings(database_url=f"sqlite:///{db}", basemap="none")
    if not vendor_installed(settings):
        missing("front-end assets not installed (run ./run.sh setup: npm ci in static/)")
    store = open_store(settings.database_url)
    build_demo(store)
    data = user_data(store)
    with serve_app(create_app(settings, store=store)) as url:
        yield url, data
    store.close()


def chinese_left(page: Any, data: list[str]) -> list[str]:
    """The page's visible texts that still hold Chinese once user data is taken out."""
    left = []
    for text in page.evaluate(VISIBLE_TEXT):
        rest = text
        for value in data:
            if value in rest:
                rest = rest.replace(value, "")
        if CJK.search(rest):
            left.append(text)
    return sorted(set(left))


def _map_ready(page: Any) -> None:
    page.wait_for_function("() => window.pageState && window.pageState.ready")
    page.wait_for_function("() => window.pageState.loading === 0")


def _walk(page: Any, base: str, data: list[str]) -> dict[str, list[str]]:
    """Visit each page as a user would, waiting for what it loads; the Chinese left on each."""
    found: dict[str, list[str]] = {}
    _map_ready(page)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator(".ccmap-locale")).to_be_visible()
    found["/"] = chinese_left(page, data)
    # every overlay on: its legend or panel (heat, hot spots, gaps, the thematic map …)
    boxes = page.locator(".leaflet-control-layers-overlays input[type=checkbox]")
    for k in range(boxes.count()):
        boxes.nth(k).check()
        page.wait_for_function("() => window.pageState.loading === 0")
    found["/ (all layers)"] = chinese_left(page, data)
    # a test point's popup
    page.get_by_role("checkbox", name="Issues", exact=True).uncheck()
    xy = page.evaluate("""() => {
        const st = window.pageState;
        const lyr = st.layers.test_point.getLayers()[0];
        st.map.setView(lyr.getLatLng(), 18, {animate: false});
        const p = st.map.latLngToContainerPoint(lyr.getLatLng());
        const box = st.map.getContainer().getBoundingClientRect();
        return [p.x + box.left, p.y + box.top];
    }""")
    page.wait_for_function("() => window.pageState.loading === 0")
    page.mouse.click(xy[0], xy[1])
    page.locator(".leaflet-popup-content .ccmap-popup-title").wait_for()  # details fetched
    found["/ (popup)"] = chinese_left(page, data)
    waits = {"/dashboard": "#ranking tbody tr", "/workload": "#workload tbody tr",
             "/admin": "#audit tbody tr", "/triage": "#triage-count:not(:empty)"}
    for path, ready in waits.items():
        page.goto(base + path)
        page.locator(ready).first.wait_for()
        expect(page.locator(".ccmap-locale")).to_be_visible()
        found[path] = chinese_left(page, data)
    # the inspector's offline app: its round, or the choice of one
    page.goto(base + "/field")
    page.locator("#field-round-name:not(:empty), #field-pick:not([hidden])").first.wait_for()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    found["/field"] = chinese_left(page, data)
    return {k: v for k, v in found.items() if v}


def test_every_page_is_english_for_accept_language_en(browser: Any,
                                                      english_site: tuple[str, list[str]]
                                                      ) -> None:
    base, data = english_site
    context = new_context(browser, viewport={"width": 1400, "height": 900}, locale="en-US")
    page = context.new_page()
    page.goto(base + "/login")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert chinese_left(page, data) == []
    page.fill("#username", "nobody")
    page.fill("#password", "wrong-password")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_be_visible()
    assert not CJK.search(page.locator("#login-error").inner_text())
    login(page, base)
    assert _walk(page, base, data) == {}
    context.close()


def test_a_users_setting_switches_the_pages_to_english(browser: Any,
                                                       english_site: tuple[str, list[str]]
                                                       ) -> None:
    base, data = english_site
    context = new_context(browser, viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = context.new_page()
    login(page, base, "planner")
    page.goto(base + "/dashboard")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    switch = page.locator("header.bar .ccmap-locale")
    with page.expect_navigation():
        switch.select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator("#ranking tbody tr").first.wait_for()
    assert chinese_left(page, data) == []
    page.goto(base + "/")
    _map_ready(page)
    assert chinese_left(page, data) == []
    # back to following the browser (Chinese here)
    with page.expect_navigation():
        page.locator(".ccmap-locale").select_option("")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    assert re.search(r"[\u4e00-\u9fff]", page.locator("#ccmap-title").inner_text())
    context.close()


def test_the_bell_shows_a_units_notices_in_english(browser: Any,
                                                   english_site: tuple[str, list[str]]
                                                   ) -> None:
    """The demo's notices were stored in Chinese when their events happened; an English
    reader's bell shows them in English (the dispatches, reworks, the decided extension and
    the deadline scan's), only the addresses, units and notes as they were written."""
    base, data = english_site
    context = new_context(browser, viewport={"width": 1400, "height": 900}, locale="en-US")
    page = context.new_page()
    login(page, base, "unit1")
    _map_ready(page)
    page.click(".ccmap-title .ccmap-bell-button")
    page.wait_for_function("() => document.querySelectorAll('.ccmap-bell-item').length >= 7")
    notes = page.evaluate("""() => fetch('/api/notifications?limit=20', {headers:
        {'Accept-Language': 'zh-CN'}}).then(r => r.json()).then(d => d.items.map(
        n => n.message.split('。说明：')[1]).filter(Boolean))""")
    texts = page.locator(".ccmap-bell-item .ccmap-bell-text").all_text_contents()
    assert sum(" was sent back for rework" in t for t in texts) >= 4
    assert sum("was approved; new deadline" in t for t in texts) >= 1
    assert chinese_left(page, sorted({*data, *notes}, key=len, reverse=True)) == []
    context.close()
