"""The issue ledger in a real browser: report by clicking the map, act from the popup, filter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import login

pytestmark = pytest.mark.browser


def _api(base: str, user: str) -> httpx.Client:
    token = httpx.post(base + "/api/auth/token",
                       data={"username": user, "password": "ccmap-demo"}).json()
    return httpx.Client(base_url=base,
                        headers={"Authorization": f"Bearer {token['access_token']}"})


def _ready(page: Any) -> None:
    page.wait_for_function("() => window.pageState && window.pageState.loading === 0 && "
                           "window.pageState.counts.issues > 0")


def test_inspector_reports_an_issue_by_clicking_the_map(page: Any, live_server: str) -> None:
    login(page, live_server, "inspector")
    _ready(page)
    page.click(".ccmap-report-button")
    # low on the map, so the form's popup (which opens upward) needs no auto-pan of the map,
    # and where the map's picking layer is what the pointer is over, not a legend or control
    x, y = page.evaluate("""() => {
        const r = document.querySelector(".leaflet-container").getBoundingClientRect();
        const x = r.left + r.width / 2;
        for (let y = r.top + r.height * 0.75; y > r.top + r.height / 2; y -= 10) {
            const under = document.elementFromPoint(x, y);
            if (under && under.classList.contains("ccmap-capture")) { return [x, y]; }
        }
        return [x, null]; }""")
    assert y is not None, "the legends and controls cover the lower middle of the map"
    clicked = page.evaluate("([x, y]) => { const m = window.pageState.map; "
                            "const r = m.getContainer().getBoundingClientRect(); "
                            "const ll = m.containerPointToLatLng([x - r.left, y - r.top]); "
                            "return [ll.lng, ll.lat]; }", [x, y])
    page.mouse.click(x, y)
    form = page.locator(".ccmap-report")
    form.wait_for()
    page.wait_for_function("() => window.pageState.loading === 0")  # the map has settled
    form.locator("select[name=category]").select_option("illegal_ads")
    form.locator("select[name=source]").select_option("supervision")
    form.locator("textarea").fill("电线杆小广告 <img src=x onerror=window.__xss=1>")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#ccmap-toast:not([hidden])")
    assert "已上报" in page.inner_text("#ccmap-toast")
    with _api(live_server, "inspector") as api:
        newest = api.get("/api/issues", params={"sort": "-id", "page_size": 1}).json()
    issue = newest["items"][0]
    assert issue["category"] == "illegal_ads" and issue["source"] == "supervision"
    assert issue["description"].startswith("电线杆小广告")
    assert issue["lon"] == pytest.approx(clicked[0], abs=1e-6)
    assert issue["lat"] == pytest.approx(clicked[1], abs=1e-6)
    assert page.evaluate("window.__xss") is None


def test_popup_shows_history_and_applies_a_transition(page: Any, live_server: str) -> None:
    with _api(live_server, "inspector") as api:
        issue = api.post("/api/issues", json={"category": "clutter", "lon": 121.4702,
                                              "lat": 31.2298, "description": "楼道堆物"}).json()
    login(page, live_server, "inspector")
    _ready(page)
    page.locator(".leaflet-control-layers label", has_text="测评点位").locator("input").uncheck()
    xy = page.evaluate("""(id) => new Promise((resolve) => {
        const st = window.pageState;
        st.map.setView([31.2298, 121.4702], 19, {animate: false});
        const wait = () => {
            if (st.loading > 0) { setTimeout(wait, 50); return; }
            const lyr = st.layers.issues.getLayers().find(l => l.feature.properties.id === id);
            const p = st.map.latLngToContainerPoint(lyr.getLatLng());
            const r = st.map.getContainer().getBoundingClientRect();
            resolve([p.x + r.left, p.y + r.top]);
        };
        setTimeout(wait, 400);
    })""", issue["id"])
    page.mouse.click(xy[0], xy[1])
    popup = page.locator(".ccmap-issue")
    popup.locator(".ccmap-history li").first.wait_for()
    assert "楼道堆物" in popup.inner_text() and "上报" in popup.inner_text()
    first = popup.locator(".ccmap-history li").first.inner_text()
    assert first.endswith("→ 上报：创建"), first  # the note ccmap writes, in the page's language
    popup.locator("button[data-to=accepted]").click()
    popup.locator(".ccmap-note-form textarea").fill("现场核实，予以立案")
    popup.locator(".ccmap-note-form button[type=submit]").click()
    page.wait_for_function("() => document.getElementById('ccmap-toast').textContent"
                           ".includes('立案')")
    with _api(live_server, "inspector") as api:
        detail = api.get(f"/api/issues/{issue['id']}").json()
    assert detail["status"] == "accepted"
    assert detail["history"][-1]["note"] == "现场核实，予以立案"


def test_filters_reload_the_issue_layer(page: Any, live_server: str) -> None:
    login(page, live_server, "viewer")
    _ready(page)
    assert page.locator(".ccmap-report-button").count() == 0  # viewers cannot report
    before = page.evaluate("window.pageState.counts.issues")
    page.select_option(".ccmap-filter select[name=status]", "closed")
    page.wait_for_function(f"() => window.pageState.loading === 0 && "
                           f"window.pageState.counts.issues < {before}")
    statuses = page.evaluate("""() => [...new Set(window.pageState.layers.issues.getLayers()
        .map(l => l.feature.properties.status))]""")
    assert statuses == ["closed"]
    with _api(live_server, "viewer") as api:
        total = api.get("/api/issues", params={"status": "closed", "page_size": 1}).json()
    assert page.evaluate("window.pageState.counts.issues") == total["total"]


def test_ledger_upload_from_the_page_reports_rows(page: Any, live_server: str,
                                                  tmp_path: Any) -> None:
    ledger = tmp_path / "台账.csv"
    ledger.write_text("编号,问题类型,经度,纬度,上报时间\nUI-1,乱堆乱放,121.472,31.231,"
                      "2026/11/20 08:30\nUI-2,乱堆乱放,oops,31.231,2026/11/20 08:30\n",
                      encoding="utf-8")
    login(page, live_server, "inspector")
    _ready(page)
    page.set_input_files(".ccmap-import input[type=file]", str(ledger))
    page.wait_for_function("() => document.getElementById('ccmap-toast').textContent"
                           ".includes('导入 1 条')")
    assert "第3行" in page.inner_text("#ccmap-toast")
    with page.expect_download() as download:
        page.click(".ccmap-exports a[data-format=csv]")
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert text.startswith("编号,外部编号,问题类型") and "UI-1" in text


def test_community_filter_limits_the_issue_layer(page: Any, live_server: str) -> None:
    login(page, live_server, "viewer")
    _ready(page)
    page.select_option(".ccmap-filter select[name=community]", "豫园社区")
    page.wait_for_function("() => window.pageState.loading === 0 && "
                           "window.pageState.issueFilter.includes('community')")
    with _api(live_server, "viewer") as api:
        total = api.get("/api/issues", params={"community": "豫园社区", "page_size": 1}).json()
    assert page.evaluate("window.pageState.counts.issues") == total["total"] > 0


def test_ledger_import_shows_job_progress_and_completion(page: Any, live_server: str,
                                                         tmp_path: Any) -> None:
    """The import runs as a job: the page follows it to 导入完成 and lists the bad rows."""
    rows = [f"JOB-{i},乱堆乱放,121.47{i % 10},31.231,2026/11/20 08:30" for i in range(3000)]
    rows[10] = "JOB-10,乱堆乱放,121.471,31.231,不是日期"
    ledger = tmp_path / "大台账.csv"
    ledger.write_text("编号,问题类型,经度,纬度,上报时间\n" + "\n".join(rows) + "\n",
                      encoding="utf-8")
    login(page, live_server, "inspector")
    page.set_input_files(".ccmap-import input[type=file]", str(ledger))
    status = page.locator(".ccmap-import-status")
    status.filter(has_text="导入完成").wait_for(timeout=60_000)
    assert "导入 2,999 条" in status.inner_text() and "错误 1 行" in status.inner_text()
    assert page.locator(".ccmap-import-errors li").all_inner_texts() == [
        "第12行 上报时间：日期无法识别"]
    assert page.eval_on_selector(".ccmap-import-progress progress", "p => p.value") == 1


def test_failed_ledger_import_says_why_on_the_page(page: Any, live_server: str,
                                                   tmp_path: Any) -> None:
    ledger = tmp_path / "坏台账.xlsx"
    ledger.write_bytes(b"this is not a spreadsheet")
    login(page, live_server, "inspector")
    page.set_input_files(".ccmap-import input[type=file]", str(ledger))
    status = page.locator(".ccmap-import-status")
    status.filter(has_text="导入失败").wait_for(timeout=60_000)
    assert page.locator(".ccmap-import input[type=file]").is_enabled()
