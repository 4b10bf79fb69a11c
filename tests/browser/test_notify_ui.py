"""The notification bell and the admin's webhooks and delivery log, in Chromium over the demo
city (its unit user unit1 has seven unread notices from the demo's casework: two dispatches, an
approved extension and four reworks)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import login
from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def _count(page: Any) -> str:
    return str(page.eval_on_selector(".ccmap-title .ccmap-bell-count",
                                     "e => e.hidden ? '' : e.textContent"))


def test_the_bell_shows_the_unread_notices_and_marks_them_read(page: Any,
                                                                live_server: str) -> None:
    login(page, live_server, "unit1")
    page.wait_for_selector(".ccmap-title .ccmap-bell-count:not([hidden])")
    # other browser tests on the shared demo server may have added notices for unit1 (a
    # decided extension, say): the bell must show what the API says is unread for the user
    unread = page.evaluate("() => fetch('/api/notifications?unread=true&limit=1')"
                           ".then(r => r.json()).then(d => d.unread)")
    assert unread >= 7  # the demo's own: 2 dispatched, 4 rework, 1 extension decision
    assert _count(page) == str(unread)
    # the title bar keeps one order however long each part takes to load: bell, then language
    page.wait_for_selector(".ccmap-title .ccmap-locale")
    assert page.evaluate("() => [...document.querySelectorAll('.ccmap-title .ccmap-bell, "
                         ".ccmap-title .ccmap-locale')].map(e => e.className)") == [
        "ccmap-bell", "ccmap-locale"]
    page.click(".ccmap-title .ccmap-bell-button")
    page.wait_for_function("(n) => document.querySelectorAll('.ccmap-bell-item.unread')"
                           ".length === Math.min(n, 20)", arg=unread)
    texts = page.locator(".ccmap-bell-item.unread .ccmap-bell-text").all_text_contents()
    assert sum("已派遣至区市场监管局" in t for t in texts) >= 2
    assert sum("退回返工" in t for t in texts) >= 4
    assert sum("延期申请已批准" in t for t in texts) >= 1
    assert page.locator(".ccmap-bell-item:not(.unread)").count() > 0  # the scan's, seen
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "notify-bell.png"))
    page.locator(".ccmap-bell-item.unread").first.click()
    page.wait_for_function("(n) => document.querySelector('.ccmap-title .ccmap-bell-count')"
                           ".textContent === String(n)", arg=unread - 1)
    page.click(".ccmap-bell-readall")
    page.wait_for_selector(".ccmap-title .ccmap-bell-count[hidden]", state="attached")
    assert page.locator(".ccmap-bell-item.unread").count() == 0
    page.goto(live_server + "/dashboard")  # the pages' header has the bell too
    page.wait_for_selector("header.bar .ccmap-bell-button")
    assert page.eval_on_selector("header.bar .ccmap-bell-count", "e => e.hidden")


def test_an_admin_adds_and_removes_a_webhook_and_reads_the_delivery_log(
        page: Any, live_server: str) -> None:
    login(page, live_server, "admin")
    page.goto(live_server + "/admin")
    page.wait_for_selector("#webhook-events input[value=overdue]")
    page.fill("#webhook-form input[name=url]", "https://hotline.example/ccmap?x=<b>1</b>")
    page.uncheck("#webhook-events input[value=due_soon]")
    page.click("#webhook-form button[type=submit]")
    page.wait_for_function("() => document.getElementById('webhook-secret')"
                           ".textContent.includes('密钥')")
    row = page.locator("#webhooks tbody tr").last
    assert "https://hotline.example/ccmap?x=<b>1</b>" in row.inner_text()  # shown as text
    assert "即将到期" not in row.inner_text() and "超期" in row.inner_text()
    assert page.locator("#webhooks tbody b").count() == 0
    assert page.is_checked("#webhook-events input[value=due_soon]")  # the form is reset
    page.locator("#webhooks-section").screenshot(path=str(ARTIFACTS / "notify-admin.png"))
    page.select_option("#delivery-state", "failed")
    page.wait_for_selector("#deliveries")
    row.locator("button").click()
    page.wait_for_function("() => document.querySelectorAll('#webhooks tbody tr').length === 0")
