"""The case clock on the map page: a unit applies for a 延期 from the issue popup, an inspector
approves it there, and the deadline moves."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from geo.demo.city import DEMO_UNIT
from tests.browser.conftest import login, new_context

pytestmark = pytest.mark.browser


def _api(base: str, user: str) -> httpx.Client:
    token = httpx.post(base + "/api/auth/token",
                       data={"username": user, "password": "ccmap-demo"}).json()
    return httpx.Client(base_url=base,
                        headers={"Authorization": f"Bearer {token['access_token']}"})


def _dispatched_case(base: str) -> dict[str, Any]:
    """A new case of the demo unit (reported where one of its cases lies), dispatched now."""
    with _api(base, "inspector") as api:
        near = api.get("/api/issues", params={"unit": DEMO_UNIT, "page_size": 1}).json()
        spot = near["items"][0]
        issue = api.post("/api/issues", json={"category": "clutter", "lon": spot["lon"],
                                              "lat": spot["lat"], "description": "店外堆物"}
                         ).json()
        assert issue["unit"] == DEMO_UNIT
        for to in ("accepted", "dispatched"):
            issue = api.post(f"/api/issues/{issue['id']}/transitions",
                             json={"to": to, "version": issue["version"]}).json()
    return issue


def _open_popup(page: Any, base: str, issue_id: int) -> Any:
    page.goto(f"{base}/?issue={issue_id}")
    popup = page.locator(".ccmap-issue")
    popup.locator(".ccmap-casework").wait_for()
    # the whole popup comes into view below the title bar once its details arrive (the map
    # pans; a tall one scrolls)
    page.wait_for_function("""() => {
        const r = document.querySelector('.leaflet-popup').getBoundingClientRect();
        const bar = document.querySelector('.ccmap-title').getBoundingClientRect();
        return r.top >= bar.bottom && r.bottom <= window.innerHeight; }""")
    assert popup.locator(".ccmap-extension-form").is_hidden()  # until 申请延期 is clicked
    return popup


def test_a_unit_applies_for_an_extension_and_an_inspector_approves_it(
        browser: Any, live_server: str) -> None:
    issue = _dispatched_case(live_server)
    wanted = datetime.fromisoformat(issue["deadline"]) + timedelta(days=2)
    unit = new_context(browser, viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = unit.new_page()
    login(page, live_server, "unit1")
    popup = _open_popup(page, live_server, issue["id"])
    assert "计时中" in popup.locator(".ccmap-clock").inner_text()
    assert "剩余" in popup.locator(".ccmap-clock").inner_text()
    assert popup.locator("button[data-decide]").count() == 0  # a unit does not decide
    popup.locator(".ccmap-apply-extension").click()
    form = popup.locator(".ccmap-extension-form")
    form.locator("textarea[name=reason]").fill("需要采购配件 <b>x</b>")
    form.locator("input[name=requested_deadline]").fill(wanted.strftime("%Y-%m-%dT%H:%M"))
    form.locator("button[type=submit]").click()
    page.wait_for_function("() => document.getElementById('ccmap-toast').textContent"
                           ".includes('已申请延期')")
    unit.close()

    inspector = new_context(browser, viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = inspector.new_page()
    login(page, live_server, "inspector")
    popup = _open_popup(page, live_server, issue["id"])
    assert "暂停" in popup.locator(".ccmap-clock").inner_text()
    pending = popup.locator(".ccmap-extension.ext-pending")
    assert "需要采购配件 <b>x</b>" in pending.inner_text()  # shown as text, not markup
    page.once("dialog", lambda d: d.accept("同意延期"))
    pending.locator("button[data-decide=approve]").click()
    page.wait_for_function("() => document.getElementById('ccmap-toast').textContent"
                           ".includes('已批准')")
    popup = _open_popup(page, live_server, issue["id"])
    assert "计时中" in popup.locator(".ccmap-clock").inner_text()
    assert "延期 1 次" in popup.locator(".ccmap-clock").inner_text()
    assert "已批准" in popup.locator(".ccmap-extension").inner_text()
    inspector.close()
    with _api(live_server, "inspector") as api:
        done = api.get(f"/api/issues/{issue['id']}").json()
    assert done["deadline"] == wanted.strftime("%Y-%m-%dT%H:%M:00")
    assert done["extension_count"] == 1 and done["paused_at"] is None


def test_the_demo_shows_an_escalated_case_with_its_badge(page: Any, live_server: str) -> None:
    with _api(live_server, "viewer") as api:
        [case] = api.get("/api/issues", params={"flag": "escalated"}).json()["items"]
    login(page, live_server, "viewer")
    popup = _open_popup(page, live_server, case["id"])
    clock = popup.locator(".ccmap-clock").inner_text()
    assert "督办" in clock and "返工 3 次" in clock
    assert popup.locator(".ccmap-apply-extension").count() == 0  # a viewer applies for nothing
