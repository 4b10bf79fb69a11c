"""A live ccmap server over the demo city, and headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from shapely.geometry import Point

from geo.accounts.logins import DEMO_PASSWORD
from geo.demo.city import build_demo
from geo.model.kinds import Kind
from geo.model.records import Feature
from geo.store import Store, open_store
from server.app import create_app
from server.routes.pages import vendor_installed
from server.settings import Settings
from tests.conftest import missing

XSS_NAME = '<img src=x onerror="window.__xss=1">恶意名称'
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


# The map page puts nothing of its own on `window`; it announces its state (the Leaflet map,
# state.loading, state.counts …) in a "ccmap:state" DOM event (static/js/map.js). Installed in
# every context before the page's scripts, this keeps it where the tests read it:
# `window.pageState` (a name of the test harness, never of the page).
STATE_HOOK = """document.addEventListener("ccmap:state", (e) => {
    window.pageState = e.detail;
});"""


def new_context(browser: Any, **options: Any) -> Any:
    """A browser context whose pages keep the map's announced state for the tests."""
    context = browser.new_context(**options)
    context.add_init_script(STATE_HOOK)
    return context


def _chromium() -> str | None:
    path = os.environ.get("CCMAP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return path if Path(path).exists() else None


@contextlib.contextmanager
def new_server(folder: Path, setup: Callable[[Store], Any]) -> Iterator[str]:
    """Serve a new SQLite database in `folder` (basemap none) once `setup(store)` has filled
    it, on a free local port; yield its base URL."""
    settings = Settings(database_url=f"sqlite:///{folder}/city.db", basemap="none")
    if not vendor_installed(settings):
        missing("front-end assets not installed (run ./run.sh setup: npm ci in static/)")
    store = open_store(settings.database_url)
    try:
        setup(store)
        with serve_app(create_app(settings, store=store)) as url:
            yield url
    finally:
        store.close()


def _demo(store: Store) -> None:
    build_demo(store)
    store.add_features([Feature(Kind.test_point, Point(121.4735, 31.2305), name=XSS_NAME,
                                category="public_toilet")])


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Serve the demo city (plus one hostile name) on a free local port; yield its base URL."""
    with new_server(tmp_path_factory.mktemp("live"), _demo) as url:
        yield url


@contextlib.contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Serve an app with uvicorn in a thread on a free local port; yield its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 15
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium (Playwright cannot download its own browser here)."""
    path = _chromium()
    if path is None:
        missing("Chromium not found (apt-get install chromium, or set CCMAP_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def login(page: Any, base_url: str, username: str = "admin",
          password: str = DEMO_PASSWORD) -> None:
    """Log in through the login form, as a person would."""
    page.goto(base_url + "/")
    page.wait_for_url("**/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(base_url + "/")


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page at a desktop size."""
    context = new_context(browser, viewport={"width": 1400, "height": 900}, locale="zh-CN")
    pg = context.new_page()
    yield pg
    context.close()


def asks_tiles_of(url: str, kind: str, z: int | None = None) -> bool:
    """Whether a request URL is a vector tile holding layer `kind` (of zoom z, if given): the
    page asks for one tile per z/x/y holding its tiled layers, those of the shared grid and
    the issues' alike when they come in one move (/api/tiles/street,issues/z/x/y.mvt)."""
    import re

    m = re.search(r"/api/tiles/([a-z_,]+)/(\d+)/\d+/\d+\.mvt", url)
    return bool(m) and kind in m.group(1).split(",") and z in (None, int(m.group(2)))


def screen_point(page: Any, lat: float, lon: float) -> tuple[float, float]:
    """Page coordinates (for mouse clicks and screenshots) of a map position."""
    x, y = page.evaluate("""([lat, lon]) => {
        const map = window.pageState.map;
        const p = map.latLngToContainerPoint([lat, lon]);
        const box = map.getContainer().getBoundingClientRect();
        return [p.x + box.left, p.y + box.top];
    }""", [lat, lon])
    return x, y
