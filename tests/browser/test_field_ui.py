"""The offline inspection app in a real browser: an inspector opens the round, loses the
network, files three reports with photos and two inspections, reloads the page offline (it
opens from the service worker, nothing is lost), gets the network back and syncs: exactly
three issues and two inspections reach the server, and syncing again (even resending every
item, as after a lost answer) adds nothing."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.browser.conftest import login, new_context
from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser
ROUND_NAME = "外业离线测试轮次"
PHOTO = (2400, 1200)  # a phone photo: downscaled on the device to the long edge 1600

# every queued item back to "waiting", as if its answers had been lost: the next sync
# sends the reports, photos and inspections again with the same client ids
RESEND = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open("ccmap-field", 1);
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const tx = open.result.transaction("queue", "readwrite");
    const store = tx.objectStore("queue");
    const all = store.getAll();
    all.onsuccess = () => all.result.forEach((item) => {
      item.state = "waiting";
      item.server_id = null;
      item.photos.forEach((p) => { p.sent = false; });
      store.put(item);
    });
    tx.oncomplete = () => { open.result.close(); resolve(all.result.length); };
  };
})"""
QUEUED = """() => new Promise((resolve) => {
  const open = indexedDB.open("ccmap-field", 1);
  open.onsuccess = () => {
    const all = open.result.transaction("queue").objectStore("queue").getAll();
    all.onsuccess = () => { open.result.close(); resolve(all.result.map((i) => ({
      kind: i.kind, server_id: i.server_id, photos: i.photos.length,
      accuracy: i.position && i.position.accuracy }))); };
  };
})"""
# the field map's tiles at its zoom are all in, and one of them holds a drawing (streets of the
# round's area): any pixel drawn
MAP_DRAWN = """() => {
  const drawn = (c) => {
    if (!c.width || !c.height) { return false; }
    const scratch = document.createElement("canvas");
    scratch.width = c.width;
    scratch.height = c.height;
    const ctx = scratch.getContext("2d");
    ctx.drawImage(c, 0, 0);
    const px = ctx.getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < px.length; i += 4) { if (px[i] > 0) { return true; } }
    return false;
  };
  const levels = [...document.querySelectorAll("#field-map .leaflet-tile-container")];
  if (!levels.length) { return false; }
  const top = levels.reduce((a, b) => (+b.style.zIndex > +a.style.zIndex ? b : a));
  const tiles = [...top.querySelectorAll("canvas.leaflet-tile")];
  return tiles.length > 0 && tiles.every((c) => c.classList.contains("leaflet-tile-loaded")) &&
    tiles.some(drawn);
}"""


def _api(base: str, user: str) -> httpx.Client:
    token = httpx.post(base + "/api/auth/token",
                       data={"username": user, "password": "ccmap-demo"}).json()
    return httpx.Client(base_url=base, timeout=60,
                        headers={"Authorization": f"Bearer {token['access_token']}"})


def _photo() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", PHOTO, (90, 140, 200)).save(buf, "PNG")
    return buf.getvalue()


def _counts(api: httpx.Client, round_id: int) -> tuple[int, int]:
    issues = api.get("/api/issues", params={"page_size": 1}).json()["total"]
    inspections = api.get("/api/inspections", params={"round": round_id, "limit": 1})
    return issues, int(inspections.headers["x-total-count"])


def test_inspector_works_offline_and_syncs_each_item_once(browser: Any,
                                                          live_server: str) -> None:
    from playwright.sync_api import expect

    with _api(live_server, "planner") as planner:
        made = planner.post("/api/plan/rounds", json={
            "seed": 7, "teams": 1, "budget_min": 600, "name": ROUND_NAME,
            "inspectors": ["inspector"]}).json()
    stops = made["plan"]["teams"][0]["stops"][:2]
    first = stops[0]
    context = new_context(browser, viewport={"width": 420, "height": 900}, locale="zh-CN",
                          geolocation={"latitude": first["lat"], "longitude": first["lon"],
                                       "accuracy": 12},
                          permissions=["geolocation"], service_workers="allow")
    page = context.new_page()
    api = _api(live_server, "inspector")
    try:
        login(page, live_server, "inspector")
        page.goto(live_server + "/field")
        expect(page.locator("#field-round-name")).to_have_text(ROUND_NAME)
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        expect(page.locator("#field-cache")).to_contain_text("MB", timeout=60_000)
        expect(page.locator("#field-cache-tiles")).to_be_enabled(timeout=60_000)
        assert "已缓存 0 个瓦片" not in page.inner_text("#field-cache")
        before = _counts(api, made["id"])

        context.set_offline(True)
        expect(page.locator("#field-net")).to_have_text("离线")
        queue = page.locator("#field-queue li")
        for k in range(3):
            page.click("#field-report")
            form = page.locator(".field-report-form")
            form.locator("select").select_option("illegal_ads")
            form.locator("textarea").fill(f"离线上报 {k + 1}")
            form.locator("input[type=file]").set_input_files(
                files=[{"name": f"p{k}.png", "mimeType": "image/png", "buffer": _photo()}])
            form.locator("button[type=submit]").click()
            expect(queue).to_have_count(k + 1)
        for n, stop in enumerate(stops):
            page.locator(f"li[data-stop='{stop['id']}'] .field-inspect").click()
            page.locator(".field-checklist button[type=submit]").click()
            expect(queue).to_have_count(4 + n)
        waiting = page.locator("#field-queue li[data-state=waiting]")
        expect(waiting).to_have_count(5)
        page.click("#field-sync")  # offline: nothing is sent, nothing is lost
        expect(page.locator("#field-message")).to_contain_text("离线")
        expect(waiting).to_have_count(5)

        # offline, the service worker's own requests fail too: what it answers comes from its
        # caches on the device
        [worker] = context.service_workers
        assert worker.evaluate("fetch('/api/health').then(() => 'online', () => 'offline')"
                               ) == "offline"
        reloaded = page.reload()  # the page, the round and the queue come from the device
        assert reloaded is not None and reloaded.from_service_worker and reloaded.ok
        expect(page.locator("#field-round-name")).to_have_text(ROUND_NAME)
        expect(waiting).to_have_count(5)
        page.wait_for_function(MAP_DRAWN)  # the map too, from the tiles kept on the device
        page.click("#field-map .leaflet-control-zoom-in")  # and a closer look at the area
        page.wait_for_function(MAP_DRAWN)
        expect(page.locator(f"li[data-stop='{first['id']}'] .field-stop-state")
               ).to_contain_text("等待同步")
        assert page.evaluate("() => fetch('/api/health').then(() => 'online', () => 'offline')"
                             ) == "offline"
        assert _counts(api, made["id"]) == before
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "field-offline.png"), full_page=True)

        context.set_offline(False)
        page.click("#field-sync")
        sent = page.locator("#field-queue li[data-state=sent]")
        expect(sent).to_have_count(5, timeout=60_000)
        after = _counts(api, made["id"])
        assert after == (before[0] + 3, before[1] + 2)
        queued = page.evaluate(QUEUED)
        reports = [q for q in queued if q["kind"] == "report"]
        assert len(reports) == 3 and all(q["accuracy"] == 12 for q in queued)
        for q in reports:
            issue = api.get(f"/api/issues/{q['server_id']}").json()
            assert issue["description"].startswith("离线上报")
            assert issue["lon"] == pytest.approx(first["lon"], abs=1e-6)
            assert issue["accuracy_m"] == 12  # the GPS accuracy travels with the report
            [photo] = issue["photos"]
            size = Image.open(io.BytesIO(api.get(photo["url"]).content)).size
            assert max(size) == 1600 and size[0] == 2 * size[1]  # downscaled on the device

        done = api.get("/api/inspections", params={"round": made["id"]}).json()
        assert [r["accuracy_m"] for r in done] == [12, 12]
        assert all(r["device_lat"] == pytest.approx(first["lat"], abs=1e-6) for r in done)
        page.click("#field-sync")  # again: nothing waits, nothing is sent
        expect(sent).to_have_count(5)
        assert page.evaluate(RESEND) == 5  # every answer "lost": all sent again
        page.reload()
        expect(sent).to_have_count(5, timeout=60_000)
        assert _counts(api, made["id"]) == after
        for q in page.evaluate(QUEUED):
            if q["kind"] == "report":
                assert len(api.get(f"/api/issues/{q['server_id']}").json()["photos"]) == 1
        page.screenshot(path=str(ARTIFACTS / "field-synced.png"), full_page=True)
        # the map's popup of a report made in the field says how exact its position was
        page.goto(live_server + f"/?issue={reports[0]['server_id']}")
        popup = page.locator(".leaflet-popup-content")
        expect(popup).to_contain_text("离线上报", timeout=30_000)
        expect(popup.locator("tr", has_text="定位精度")).to_contain_text("±12 米")
    finally:
        api.close()
        context.close()


def test_a_failure_is_retried_and_a_conflict_is_shown_not_resent(browser: Any,
                                                                   live_server: str) -> None:
    """The server's answers are stubbed for POST /api/inspections: first 503 (failed: sent
    again at the next sync), then 409 (the point left the round: a conflict, shown with the
    reason and not sent again by 同步); 重试 after the real server is back stores it once."""
    from playwright.sync_api import expect

    with _api(live_server, "planner") as planner:
        made = planner.post("/api/plan/rounds", json={
            "seed": 8, "teams": 1, "budget_min": 600, "name": "外业冲突测试轮次",
            "inspectors": ["inspector"]}).json()
    stop = made["plan"]["teams"][0]["stops"][0]
    context = new_context(browser, viewport={"width": 420, "height": 900}, locale="zh-CN",
                          geolocation={"latitude": stop["lat"], "longitude": stop["lon"]},
                          permissions=["geolocation"], service_workers="allow")
    page = context.new_page()
    answers = [(503, "数据库维护中"), (409, f"测评点位 #{stop['id']} 已不在本轮检查中")]
    calls: list[int] = []

    def stub(route: Any) -> None:
        if route.request.method != "POST" or not answers:
            route.continue_()
            return
        status, detail = answers.pop(0)
        calls.append(status)
        route.fulfill(status=status, json={"detail": detail})

    api = _api(live_server, "inspector")
    try:
        login(page, live_server, "inspector")
        page.route("**/api/inspections", stub)
        page.goto(live_server + "/field")
        expect(page.locator("#field-round-name")).to_have_text("外业冲突测试轮次")
        page.locator(f"li[data-stop='{stop['id']}'] .field-inspect").click()
        page.locator(".field-checklist button[type=submit]").click()  # online: sent at once
        row = page.locator("#field-queue li").first
        expect(row).to_have_attribute("data-state", "failed")
        expect(row).to_contain_text("数据库维护中")
        expect(page.locator("#field-sync")).to_be_enabled()
        page.click("#field-sync")  # a failed item is sent again
        expect(row).to_have_attribute("data-state", "conflict")
        expect(row).to_contain_text("已不在本轮检查中")
        expect(row.locator(".field-state")).to_have_text("冲突")
        page.click("#field-sync")  # a conflict waits for the inspector
        expect(page.locator("#field-sync")).to_be_enabled()  # the sync is over
        expect(page.locator("#field-counts")).to_contain_text("冲突 1")
        assert calls == [503, 409]
        before = int(api.get("/api/inspections", params={"round": made["id"], "limit": 1}
                             ).headers["x-total-count"])
        assert before == 0
        row.locator(".field-retry").click()
        expect(row).to_have_attribute("data-state", "sent")
        [record] = api.get("/api/inspections", params={"round": made["id"]}).json()
        assert record["feature_id"] == stop["id"] and record["client_id"]
    finally:
        api.close()
        context.close()


@pytest.fixture(scope="module")
def no_rounds(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server of a new city: an inspector, no inspection round yet."""
    from tests.browser.conftest import new_server
    from tests.conftest import add_user

    with new_server(tmp_path_factory.mktemp("new"),
                    lambda store: add_user(store, "newinspector", "inspector")) as url:
        yield url


def test_without_any_round_the_app_says_so_and_still_takes_reports(browser: Any,
                                                                   no_rounds: str) -> None:
    """A new city has no round: the app says so (and keeps saying it after its first sync),
    shows no empty picker or blank map, and 上报问题 still opens the report form."""
    from tests.conftest import TEST_PASSWORD

    context = new_context(browser, viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    try:
        login(page, no_rounds, "newinspector", TEST_PASSWORD)
        page.goto(no_rounds + "/field")
        page.wait_for_function("() => document.getElementById('field').dataset.ready === '1'")
        note = page.locator("#field-message")
        assert note.is_visible() and "暂无检查轮次" in note.inner_text()
        assert page.locator("#field-round-name").inner_text() == "暂无检查轮次"
        assert page.locator("#field-pick").is_hidden()
        assert page.locator("#field-map").is_hidden()
        page.get_by_role("button", name="同步").click()  # a sync clears only its own messages
        page.wait_for_function("() => !document.getElementById('field-sync').disabled")
        assert note.is_visible() and "暂无检查轮次" in note.inner_text()
        page.get_by_role("button", name="上报问题").click()
        page.locator("#field-form").wait_for()
        assert page.locator("#field-form select, #field-form textarea").count() > 0
    finally:
        context.close()
