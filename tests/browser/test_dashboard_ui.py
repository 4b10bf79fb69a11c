"""The dashboard in a real browser: figures agree with the API; links filter the map."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import login
from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def test_dashboard_shows_the_api_figures_and_links_to_the_map(page: Any,
                                                              live_server: str) -> None:
    login(page, live_server, "viewer")
    page.click("a[href='/dashboard']")
    page.wait_for_selector(".kpi[data-kpi=new] .kpi-value")
    page.wait_for_selector("#ranking tbody tr")
    token = httpx.post(live_server + "/api/auth/token",
                       data={"username": "viewer", "password": "ccmap-demo"}).json()
    api = httpx.get(live_server + "/api/dashboard",
                    headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert page.inner_text(".kpi[data-kpi=new] .kpi-value") == str(api["kpis"]["new"])
    assert page.inner_text(".kpi[data-kpi=overdue] .kpi-value") == str(api["kpis"]["overdue"])
    assert page.locator(".trend-col").count() == 12
    # which colour is which, and the scale: the busiest week's count, the tallest bar
    legend = page.inner_text(".trend-legend")
    assert "新增" in legend and "结案" in legend
    busiest = max(max(w["new"], w["closed"]) for w in api["trend"])
    assert f"最高一周 {busiest:,} 件" in page.inner_text("#trend-max")
    tallest = max(float(h.removesuffix("px")) for h in page.eval_on_selector_all(
        ".trend-bar", "bars => bars.map(b => b.style.height)"))
    assert tallest == 120
    assert page.locator("#ranking tbody tr").count() == 6
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    page.select_option("#ranking-level", "zone")
    page.wait_for_function("() => document.querySelectorAll('#ranking tbody tr').length > 6")
    assert "level=zone" in page.get_attribute("#ranking-csv", "href")
    if api["top_categories"]:
        first = api["top_categories"][0]
        page.locator("#top-categories a").first.click()
        page.wait_for_function("() => window.pageState && "
                               "window.pageState.loading === 0 && "
                               "window.pageState.counts.issues > 0")
        cats = page.evaluate("""() => [...new Set(window.pageState.layers.issues.getLayers()
            .map(l => l.feature.properties.category))]""")
        assert cats == [first["code"]]


def test_a_period_the_server_cannot_read_is_explained_and_the_figures_stay(
        page: Any, live_server: str) -> None:
    login(page, live_server, "viewer")
    page.goto(live_server + "/dashboard")
    page.wait_for_selector(".kpi[data-kpi=new] .kpi-value")
    shown = page.inner_text("#kpis")
    page.fill("#period", "2026-W99")
    page.click("#period-go")
    status = page.locator("#dash-status.error")
    status.wait_for()
    assert "没有这一周：2026-W99" in status.inner_text()  # the server's reason, in Chinese
    assert page.inner_text("#kpis") == shown  # the last period's figures, not a blank page
    page.fill("#period", "2026-11")
    page.click("#period-go")
    page.wait_for_function("() => document.getElementById('dash-title').textContent"
                           ".includes('2026-11')")
    assert page.locator("#dash-status").is_hidden()


def test_snapshot_and_bulletin_download_from_the_page(page: Any, live_server: str) -> None:
    login(page, live_server, "viewer")
    page.wait_for_function("() => window.pageState && window.pageState.loading === 0")
    with page.expect_download(timeout=60_000) as download:
        page.click(".ccmap-snapshots a[data-format=png]")
    data = Path(download.value.path()).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
    page.select_option(".ccmap-paper", "paper=A3&landscape=false")
    with page.expect_download(timeout=60_000) as download:
        page.click(".ccmap-snapshots a[data-format=pdf]")
    assert "paper=A3&landscape=false" in download.value.url
    pdf = Path(download.value.path()).read_bytes()
    assert pdf[:4] == b"%PDF"
    # A3 portrait: 297 × 420 mm = 842 × 1191 pt
    box = re.search(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf)
    assert box and abs(float(box[1]) - 842) < 3 and abs(float(box[2]) - 1191) < 3
    page.once("dialog", lambda d: d.accept("2026-11"))
    with page.expect_download(timeout=60_000) as download:
        page.click(".ccmap-report-link")
    assert Path(download.value.path()).read_bytes()[:4] == b"%PDF"


def test_dashboard_shows_the_indicators_per_unit_with_the_change(page: Any,
                                                                 live_server: str) -> None:
    login(page, live_server, "viewer")
    page.goto(live_server + "/dashboard")
    page.wait_for_selector("#indicators tbody tr[data-name]")
    token = httpx.post(live_server + "/api/auth/token",
                       data={"username": "viewer", "password": "ccmap-demo"}).json()
    h = {"Authorization": f"Bearer {token['access_token']}"}
    doc = httpx.get(live_server + "/api/indicators/report", params={"level": "unit"},
                    headers=h).json()
    names = page.eval_on_selector_all("#indicators tbody tr",
                                      "rows => rows.map(r => r.dataset.name)")
    assert names == [r["name"] for r in doc["rows"]] and len(names) > 1
    first = doc["rows"][0]
    cell = "#indicators tbody tr:first-child td[data-key={}]"
    assert page.inner_text(cell.format("due")) == f"{first['due']:,}"
    rate = first["on_time_rate"]
    assert page.inner_text(cell.format("on_time_rate")) == (
        "—" if rate is None else f"{rate:.2f}%")
    change = first["change"]["score"]
    shown = page.inner_text(cell.format("score-change"))
    assert shown == "—" if change is None else shown[1:] == f"{abs(change):.2f}"
    summary = page.inner_text("#indicator-summary")
    assert f"应结案 {doc['total']['due']:,} 件" in summary
    assert f"上期 {doc['previous_period']['period']}" in summary
    assert "综合指标值 = 40%×按期结案率" in page.inner_text("#indicator-formula")
    page.select_option("#indicator-level", "category")
    page.wait_for_function("() => document.querySelector('#indicators-csv').href"
                           ".includes('level=category')")
    page.wait_for_function("n => document.querySelectorAll('#indicators tbody tr').length > n",
                           arg=len(names))
    page.fill("#period", "2026-Q9")
    page.click("#period-go")
    page.wait_for_selector("#indicator-summary.error")
    assert "没有这个季度" in page.inner_text("#indicator-summary")
    page.fill("#period", doc["previous_period"]["period"])
    page.click("#period-go")
    page.wait_for_function("p => document.querySelector('#indicator-summary').textContent"
                           ".includes('（' + p + '，')", arg=doc["previous_period"]["period"])
    page.select_option("#ranking-basis", "indicators")
    page.wait_for_function("() => [...document.querySelectorAll('#ranking th')]"
                           ".some(th => th.textContent === '综合指标值')")
    assert "basis=indicators" in page.get_attribute("#ranking-csv", "href")
    page.screenshot(path=str(ARTIFACTS / "dashboard-indicators.png"), full_page=True)
