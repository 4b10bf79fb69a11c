"""Every page works under the Content-Security-Policy, and /docs needs no other host."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login

pytestmark = pytest.mark.browser

# runs before the page's own scripts in every document (injected by the browser, not the page)
LISTEN = """document.addEventListener("securitypolicyviolation", (e) => {
  (window.__csp = window.__csp || []).push(
    e.violatedDirective + " blocked " + e.blockedURI + " at " + e.sourceFile + ":" + e.lineNumber);
});"""


class Watch:
    """CSP violations, CSP console messages and script errors seen by one page."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[str] = []
        self.errors: list[str] = []
        page.add_init_script(LISTEN)
        page.on("console", lambda m: self.console.append(m.text)
                if "Content Security Policy" in m.text else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def problems(self) -> list[str]:
        """Everything that went wrong so far on the current document and before."""
        seen: list[str] = self.page.evaluate("window.__csp || []")
        return seen + self.console + self.errors


@pytest.fixture
def watched(page: Any) -> Iterator[Watch]:
    """The page, watched for CSP violations and script errors."""
    yield Watch(page)


def _map_ready(page: Any) -> None:
    page.wait_for_function("() => window.pageState && "
                           "window.pageState.loading === 0 && window.pageState.counts.zone > 0")


def _planner(base: str) -> dict[str, str]:
    token = httpx.post(base + "/api/auth/token",
                       data={"username": "planner", "password": "ccmap-demo"}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def test_pages_load_and_work_without_csp_violations(watched: Watch, live_server: str) -> None:
    page = watched.page
    ring = [[121.4700, 31.2300], [121.4710, 31.2300], [121.4710, 31.2308], [121.4700, 31.2300]]
    zone = httpx.post(live_server + "/api/zones", headers=_planner(live_server), json={
        "geometry": {"type": "Polygon", "coordinates": [ring]}, "name": "CSP测试责任区",
        "zone_type": "storefront_duty", "unit": "区商务委"})
    assert zone.status_code == 201, zone.text
    page.goto(live_server + "/login")
    expect(page.locator("#login-submit")).to_be_visible()
    login(page, live_server, "admin")
    _map_ready(page)  # folium's inline scripts ran: they carry the nonce
    assert watched.problems() == []

    page.click(".ccmap-plan-button")  # the planner panel
    expect(page.locator("#ccmap-plan")).to_be_visible()
    page.evaluate("""(id) => {  // a zone popup with the editing buttons and its history
        const lyr = window.pageState.layers.zone.getLayers()
            .find(l => l.feature.properties.id === id);
        lyr.openPopup(lyr.getBounds().getCenter());
    }""", zone.json()["id"])
    expect(page.locator(".leaflet-popup .ccmap-split")).to_be_visible()
    expect(page.locator(".leaflet-popup .ccmap-history li").first).to_be_visible()  # fetched
    page.click(".leaflet-draw-draw-polygon")  # zone drawing tools
    expect(page.locator(".leaflet-draw-tooltip").first).to_be_attached()
    assert watched.problems() == []

    for path, ready in (("/dashboard", "#ranking tbody tr"), ("/workload", "#workload tbody tr"),
                        ("/admin", "#users tbody tr"), ("/admin", "#audit tbody tr")):
        page.goto(live_server + path)
        expect(page.locator(ready).first).to_be_attached()
        assert watched.problems() == [], path

    made = httpx.post(live_server + "/api/plan/rounds", timeout=120, headers=_planner(live_server),
                      json={"seed": 5, "teams": 2, "budget_min": 240})
    assert made.status_code == 201, made.text
    page.goto(live_server + f"/api/plan/rounds/{made.json()['id']}/sheet?team=1&format=html")
    expect(page.locator("table tbody tr").first).to_be_visible()
    assert watched.problems() == []

    # the policy is enforced and the watch sees it: a script injected without the nonce
    page.evaluate("""() => { const s = document.createElement("script");
        s.textContent = "window.__ran = 1"; document.body.appendChild(s); }""")
    page.wait_for_function("() => (window.__csp || []).length > 0")
    assert page.evaluate("window.__ran") is None
    assert watched.problems()[0].startswith("script-src")


def test_swagger_ui_renders_from_the_server_alone(browser: Any, live_server: str) -> None:
    context = browser.new_context()
    outside: list[str] = []

    def only_the_server(route: Any) -> None:
        if route.request.url.startswith(live_server + "/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_server)
    try:
        watched = Watch(context.new_page())
        watched.page.goto(live_server + "/docs")
        operations = watched.page.locator(".opblock")
        # Swagger UI draws the operations after the tag headings: on a loaded 2-core machine
        # the whole document (the API's 200-odd operations) took more than the default 5 s
        expect(operations.first).to_be_visible(timeout=30_000)
        assert operations.count() > 20
        expect(watched.page.locator(".opblock-summary-path", has_text="/api/zones").first
               ).to_be_visible()
        assert outside == []
        assert watched.problems() == []
    finally:
        context.close()
