"""The triage page (受理) in a real browser, worked from the keyboard: move with j/k, accept
with `a`, reject with `r` and a reason, mark a duplicate with `d` from the cases nearby —
waiting each time for what the user sees (the message, the list, the map)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from geo.accounts.logins import DEMO_PASSWORD, create_demo_users
from geo.ledger.writes import create_issues
from geo.model.records import Issue
from geo.store import Store
from tests.browser.conftest import login, new_server

pytestmark = pytest.mark.browser
XSS = '<img src=x onerror="window.__xss=1">墙面涂鸦'
DEG_M = 1 / 95_260  # degrees of longitude per metre here


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A server over a small city: three reports waiting (oldest first: a 12345 call, a patrol
    report, a call next to an accepted case) and that accepted case."""
    made: dict[str, Any] = {}

    def setup(store: Store) -> None:
        create_demo_users(store, "区市场监管局")
        now = datetime.now().replace(microsecond=0)

        def report(category: str, east_m: float, hours: float, source: str = "public_report",
                   status: str = "reported", text: str = "描述") -> Issue:
            return Issue(category, 121.47 + east_m * DEG_M, 31.23, status=status,
                         source=source, description=text, address="示范街道福佑路",
                         reporter="12345热线", reported_at=now - timedelta(hours=hours))

        made["ids"] = create_issues(store, [
            report("graffiti", 0, 5, text=XSS),
            report("clutter", 400, 4, source="grid_patrol", text="居民家中漏水"),
            report("clutter", 800, 3, text="楼道堆物又出现了"),
            report("clutter", 812, 30, status="accepted", text="楼道堆物"),
        ], actor="test", now=now).ids

    with new_server(tmp_path_factory.mktemp("triage"), setup) as url:
        yield {"url": url, "ids": made["ids"]}


def _api(base: str) -> httpx.Client:
    token = httpx.post(base + "/api/auth/token",
                       data={"username": "inspector", "password": DEMO_PASSWORD}).json()
    return httpx.Client(base_url=base,
                        headers={"Authorization": f"Bearer {token['access_token']}"})


def _issue(base: str, iid: int) -> dict[str, Any]:
    with _api(base) as api:
        body: dict[str, Any] = api.get(f"/api/issues/{iid}").json()
    return body


def _selected(page: Any) -> str:
    """The id of the selected row, which must also hold the keyboard focus."""
    return str(page.evaluate("""() => {
        const tr = document.querySelector('#triage-table tbody tr[aria-selected=true]');
        return tr && document.activeElement === tr ? tr.dataset.id : 'not focused';
    }"""))


def _says(page: Any, text: str) -> None:
    page.wait_for_function("(t) => document.getElementById('triage-message').textContent"
                           ".includes(t)", arg=text)


def test_triage_from_the_keyboard(page: Any, desk: dict[str, Any], tmp_path: Path) -> None:
    base, (first, second, third, kept) = desk["url"], desk["ids"]
    login(page, base, "inspector")
    page.goto(base + "/triage")
    rows = page.locator("#triage-table tbody tr")
    rows.nth(2).wait_for()
    assert rows.count() == 3 and "待受理 3 件" in page.inner_text("#triage-count")
    assert "快捷键" in page.inner_text("#triage-help")
    assert _selected(page) == str(first)  # the oldest report, focused
    assert XSS in page.inner_text("#triage-issue")  # shown as text, never run
    assert page.evaluate("window.__xss") is None
    page.keyboard.press("j")
    assert _selected(page) == str(second)
    page.keyboard.press("ArrowUp")
    assert _selected(page) == str(first)

    page.keyboard.press("a")  # 立案
    _says(page, f"#{first} 已立案")
    page.wait_for_function("() => document.querySelectorAll('#triage-table tbody tr')"
                           ".length === 2")
    assert _selected(page) == str(second)
    assert _issue(base, first)["status"] == "accepted"

    page.keyboard.press("r")  # 不予立案: the reason is asked for
    reason = page.locator("#triage-field")
    reason.wait_for()
    assert page.evaluate("document.activeElement.id") == "triage-field"
    page.keyboard.type("非城市管理问题，转物业处理")
    page.keyboard.press("Enter")
    _says(page, f"#{second} 不予立案")
    page.wait_for_function("() => document.querySelectorAll('#triage-table tbody tr')"
                           ".length === 1")
    rejected = _issue(base, second)
    assert rejected["status"] == "rejected"
    assert rejected["history"][-1]["note"] == "不予立案：非城市管理问题，转物业处理"

    # the last report has the accepted case 12 m away: on the list and the mini map
    assert _selected(page) == str(third)
    page.wait_for_function("(id) => document.getElementById('triage-nearby').textContent"
                           ".includes('#' + id)", arg=kept)
    assert page.locator("#triage-map .leaflet-interactive").count() >= 3  # circle, 2 markers
    # the whole search circle is in the mini map, not cut at its edges
    circle = page.locator("#triage-map path.leaflet-interactive").first.bounding_box()
    box = page.locator("#triage-map").bounding_box()
    assert box["x"] <= circle["x"] and circle["x"] + circle["width"] <= box["x"] + box["width"]
    assert box["y"] <= circle["y"] and circle["y"] + circle["height"] <= box["y"] + box["height"]
    assert circle["height"] >= box["height"] / 2  # and not a speck either
    page.screenshot(path=str(tmp_path / "triage.png"))
    page.keyboard.press("d")  # 重复: pick from the cases nearby
    page.locator("#triage-field").wait_for()
    page.keyboard.press("Enter")
    _says(page, f"#{third} 已合并到 #{kept}")
    page.wait_for_selector("#triage-empty:not([hidden])")
    merged = _issue(base, kept)
    assert [r["id"] for r in merged["linked_reports"]] == [third]


def test_escape_cancels_a_form_and_c_recategorises(page: Any, desk: dict[str, Any]) -> None:
    base = desk["url"]
    with _api(base) as api:
        new = api.post("/api/issues", json={
            "category": "graffiti", "lon": 121.49, "lat": 31.23, "source": "public_report",
            "description": "路牌被涂写"}).json()["id"]
    login(page, base, "inspector")
    page.goto(base + "/triage")
    page.locator(f"#triage-table tbody tr[data-id='{new}']").wait_for()
    for _ in range(page.locator("#triage-table tbody tr").count()):
        if _selected(page) == str(new):
            break
        page.keyboard.press("ArrowDown")
    assert _selected(page) == str(new)
    page.keyboard.press("r")
    page.locator("#triage-field").wait_for()
    page.keyboard.press("Enter")  # no reason typed: the form is not sent
    page.keyboard.press("Escape")
    page.wait_for_selector("#triage-field", state="detached")
    assert _selected(page) == str(new)  # the focus is back on the report
    assert _issue(base, new)["status"] == "reported"
    page.keyboard.press("c")  # 改类别
    page.locator("#triage-field").wait_for()
    page.select_option("#triage-field", "illegal_ads")
    page.locator("#triage-field").press("Enter")
    _says(page, f"#{new} 已改为「小广告/牛皮癣」")
    row = page.locator(f"#triage-table tbody tr[data-id='{new}']")
    assert "小广告/牛皮癣" in row.inner_text()  # still waiting, under its new category
    assert _issue(base, new)["category"] == "illegal_ads"


def test_the_queue_fits_its_list_at_1024_pixels_in_english(browser: Any,
                                                         desk: dict[str, Any]) -> None:
    """On a 1024-pixel screen in English the queue's columns, the claim included, fit the
    list (no sideways scrolling); a long description is cut with an ellipsis instead."""
    from tests.browser.conftest import new_context

    with _api(desk["url"]) as api:
        r = api.post("/api/issues", json={
            "category": "clutter", "lon": 121.47, "lat": 31.2312, "source": "public_report",
            "address": "示范街道福佑路一百二十三号院内东侧楼道",
            "description": "楼道内长期堆放杂物、废旧家具和纸箱，占用消防通道，"
                           "居民多次反映仍未清理"})
        assert r.status_code == 201, r.text
    context = new_context(browser, viewport={"width": 1024, "height": 768}, locale="en-US")
    page = context.new_page()
    try:
        login(page, desk["url"], "inspector", DEMO_PASSWORD)
        page.goto(desk["url"] + "/triage")
        page.wait_for_function("(id) => document.querySelector("
                               "`#triage-table tbody tr[data-id='${id}']`)", arg=r.json()["id"])
        box = page.locator(".triage-list")
        assert box.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), "scrolls sideways"
        claim = page.locator("#triage-table thead th").last.bounding_box()
        shown = box.bounding_box()
        assert claim["x"] + claim["width"] <= shown["x"] + shown["width"] + 1
        cut = page.locator(f"#triage-table tbody tr[data-id='{r.json()['id']}'] td.desc")
        assert cut.evaluate("e => e.scrollWidth > e.clientWidth")  # cut, with an ellipsis
    finally:
        context.close()
