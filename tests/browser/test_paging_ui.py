"""The map follows the pages of a GeoJSON layer, and says so when it shows only part of it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import login
from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def _open(page: Any, url: str) -> None:
    login(page, url)
    page.wait_for_function("() => window.pageState && window.pageState.ready")
    page.evaluate("window.pageState.ready")
    page.wait_for_function("() => window.pageState.loading === 0")


def _matched(page: Any) -> int:
    """numberMatched of the issues in the view, asked of the API with the page's session."""
    return int(page.evaluate("""async () => {
        const req = performance.getEntriesByType('resource').map(e => e.name)
            .filter(u => u.includes('/api/issues.geojson?bbox=')).pop();
        const r = await fetch(req, {credentials: 'same-origin'});
        return (await r.json()).numberMatched;
    }"""))


def test_issue_layer_follows_every_page_then_says_when_it_stops(page: Any,
                                                                live_server: str) -> None:
    _open(page, live_server)
    matched = _matched(page)
    assert matched > 1000  # more than one page of the default CCMAP_PAGE_SIZE
    assert page.evaluate("window.pageState.counts.issues") == matched
    notice = page.locator("#ccmap-partial")
    assert notice.count() == 0 or not notice.is_visible()
    page.evaluate("window.pageState.maxFeatures = 1500")
    page.evaluate("window.pageState.refresh()")
    page.wait_for_function("() => window.pageState.loading === 0")
    shown = page.evaluate("window.pageState.counts.issues")
    assert 1500 <= shown < matched
    text = notice.inner_text()
    assert notice.is_visible() and "仅显示" in text and "请放大地图或筛选" in text
    assert f"{shown:,} / {matched:,} 条" in text
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "partial_layer_notice.png"))
    page.evaluate("window.pageState.maxFeatures = 20000")
    page.evaluate("window.pageState.refresh()")
    page.wait_for_function("() => window.pageState.loading === 0")
    assert page.evaluate("window.pageState.counts.issues") == matched
    assert not notice.is_visible()


def test_fetch_collection_reports_loaded_and_matched(page: Any, live_server: str) -> None:
    _open(page, live_server)
    doc = page.evaluate("""async () => {
        const core = await import('/static/js/core.js');  // the page's own module
        const d = await core.fetchCollection('/api/layers/test_point?limit=7', 10);
        return {loaded: d.loaded, matched: d.matched, ids: d.features.map(f => f.id)};
    }""")
    assert doc["loaded"] == 14 and len(set(doc["ids"])) == 14  # two pages of 7, then stops
    assert doc["matched"] > 14
    whole = page.evaluate("""async () => {
        const core = await import('/static/js/core.js');  // the page's own module
        const d = await core.fetchCollection('/api/layers/test_point?limit=7');
        return [d.loaded, d.matched, new Set(d.features.map(f => f.id)).size];
    }""")
    assert whole[0] == whole[1] == whole[2] == doc["matched"]
