"""The planner in a real browser: a planner plans a round on the map; an inspector on a phone
records a checklist and a failed item becomes an issue; posts are sited on the map."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import login, new_context
from tests.conftest import ARTIFACTS, tiny_png

pytestmark = pytest.mark.browser


def _api(base: str, user: str) -> httpx.Client:
    token = httpx.post(base + "/api/auth/token",
                       data={"username": user, "password": "ccmap-demo"}).json()
    return httpx.Client(base_url=base, timeout=60,
                        headers={"Authorization": f"Bearer {token['access_token']}"})


def _open_panel(page: Any) -> None:
    page.wait_for_function("() => window.pageState && window.pageState.loading === 0")
    page.click(".ccmap-plan-button")
    page.locator("#ccmap-plan").wait_for()


def test_planner_plans_a_round_and_sees_numbered_routes(page: Any, live_server: str) -> None:
    login(page, live_server, "planner")
    _open_panel(page)
    page.click("text=新建轮次")
    form = page.locator(".ccmap-plan-form").first
    form.locator("input[name=name]").fill("浏览器测试轮次")
    form.locator("input[name=seed]").fill("21")
    form.locator("input[name=teams]").fill("3")
    form.locator("input[name=inspectors]").fill("张三，李四，王五")
    form.locator(".ccmap-plan-pick").click()
    box = page.locator(".leaflet-container").bounding_box()
    x, y = box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.5
    clicked = page.evaluate("([x, y]) => { const m = window.pageState.map; "
                            "const r = m.getContainer().getBoundingClientRect(); "
                            "const ll = m.containerPointToLatLng([x - r.left, y - r.top]); "
                            "return [ll.lng, ll.lat]; }", [x, y])
    page.mouse.click(x, y)
    form.locator("button[type=submit]").click()
    page.wait_for_selector(".ccmap-plan-team", timeout=30_000)
    with _api(live_server, "planner") as api:
        newest = api.get("/api/plan/rounds").json()[0]
        plan = api.get(f"/api/plan/rounds/{newest['id']}").json()["plan"]
    assert newest["name"] == "浏览器测试轮次" and newest["teams"] == 3
    assert plan["start"] == pytest.approx(clicked, abs=1e-6)  # the start picked on the map
    markers = page.locator(".ccmap-stop")
    assert markers.count() == newest["stops"]
    # every team's stops are numbered 1..n in visiting order
    numbers = Counter(int(t) for t in page.locator(".ccmap-stop").all_inner_texts())
    expected = Counter(k for t in plan["teams"] for k in range(1, len(t["stops"]) + 1))
    assert numbers == expected
    assert page.locator("path.leaflet-interactive[stroke='#e65100']").count() == 1  # team 2
    assert page.locator(".ccmap-plan-team").nth(0).inner_text().count("张三") == 1
    href = page.locator(".ccmap-plan-links a").first.get_attribute("href")
    assert href == f"/api/plan/rounds/{newest['id']}/sheet?team=1&format=html"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "plan-round.png"))
    page.click(".ccmap-plan-clear")
    assert page.locator(".ccmap-stop").count() == 0


def test_inspector_records_a_checklist_on_a_phone(browser: Any, live_server: str,
                                                  tmp_path: Path) -> None:
    with _api(live_server, "planner") as api:
        made = api.post("/api/plan/rounds", json={"seed": 5, "teams": 1,
                                                  "budget_min": 600}).json()
    stop = made["plan"]["teams"][0]["stops"][0]
    context = new_context(browser, viewport={"width": 390, "height": 844}, locale="zh-CN",
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        login(page, live_server, "inspector")
        _open_panel(page)
        page.locator(".ccmap-plan-rounds").select_option(str(made["id"]))
        page.locator(f".ccmap-plan-stop[data-id='{stop['id']}']").click()
        form = page.locator(".ccmap-inspect")
        form.wait_for()
        panel = page.locator("#ccmap-plan").bounding_box()
        assert panel["width"] >= 380  # a bottom sheet across the phone's width
        first = form.locator(".ccmap-inspect-item").first
        first.locator(".ccmap-choice.fail").click()
        first.locator("input[type=text]").fill("现场发现 <b>问题</b>")
        photo = tmp_path / "photo.png"
        photo.write_bytes(tiny_png((64, 48)))
        first.locator("input[type=file]").set_input_files(str(photo))
        page.screenshot(path=str(ARTIFACTS / "plan-inspect-phone.png"))
        form.locator("button[type=submit]").click()
        page.wait_for_selector("#ccmap-toast:not([hidden])")
        assert "已生成问题" in page.inner_text("#ccmap-toast")
        assert page.evaluate("window.__xss") is None  # hostile stop names stay text
    finally:
        context.close()
    with _api(live_server, "inspector") as api:
        [record] = api.get("/api/inspections", params={"round": made["id"]}).json()
        [issue_id] = record["issue_ids"]
        issue = api.get(f"/api/issues/{issue_id}").json()
    assert record["feature_id"] == stop["id"] and record["failed"] == 1
    assert issue["source"] == "unannounced_inspection" and len(issue["photos"]) == 1
    assert "现场发现 <b>问题</b>" in issue["description"]


def test_posts_are_drawn_with_covered_and_uncovered_points(page: Any, live_server: str
                                                           ) -> None:
    login(page, live_server, "viewer")
    _open_panel(page)
    assert page.locator("text=新建轮次").count() == 0  # viewers don't plan
    page.click("text=站点选址（最大覆盖 / 最少站点）")
    form = page.locator(".ccmap-plan-form").last
    form.locator("input[name=p]").fill("4")
    form.locator("input[name=distance]").fill("400")
    form.locator("button[type=submit]").click()
    page.wait_for_selector(".ccmap-site", timeout=30_000)
    assert page.locator(".ccmap-site").count() == 4
    covered = page.locator("path.ccmap-covered").count()
    uncovered = page.locator("path.ccmap-uncovered").count()
    assert covered > 0 and uncovered > 0
    assert "个站点覆盖" in page.locator(".ccmap-plan-section").last.inner_text() or \
        "个站点覆盖" in page.inner_text("#ccmap-plan")
