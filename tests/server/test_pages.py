"""The main map page: a Folium shell with local assets, data fetched from the API."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from shapely.geometry import Point

from geo.layers.coords import wgs84_to_gcj02
from geo.maps import mapview
from geo.maps.basemaps import resolve_basemap
from geo.model.errors import InvalidInput
from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.store import Store
from server.app import create_app
from server.routes.pages import vendor_installed
from server.settings import Settings
from tests.conftest import add_user, bearer

URL = re.compile(r"""(?:https?:)?//[^\s"'<>]+""")


def _external_urls(html: str) -> list[str]:
    return [u for u in URL.findall(html) if not u.startswith(("//127.0.0.1", "//localhost"))]


def test_page_is_a_folium_shell_without_embedded_data(client: TestClient, store: Store) -> None:
    store.add_features([Feature(Kind.test_point, Point(121.47, 31.23), name="秘密点位名称",
                                category="bus_stop")])
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "L.map(" in html
    # the page's module starts ccmap on folium's map, once that script has made it
    assert 'type="module">' in html and 'import { start } from "/static/js/map.js"' in html
    assert "秘密点位名称" not in html  # layer data is fetched by the page, not embedded
    assert "<title>创城点位地图</title>" in html
    assert '"coords": "wgs84"' in html
    assert "fitBounds" in html and "31.23" in html  # opens on the data's extent


def test_no_external_url_with_basemap_none(client: TestClient) -> None:
    html = client.get("/").text
    assert _external_urls(html) == []
    for src in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert src.startswith(("/vendor/", "/static/")), src


@pytest.mark.parametrize(("basemap", "expected"), [
    ("osm", "tile.openstreetmap.org"),
    ("amap", "autonavi.com"),
    ("https://tiles.intranet.gov.cn/{z}/{x}/{y}.png", "tiles.intranet.gov.cn"),
])
def test_basemap_setting_picks_the_tile_source(store: Store, basemap: str,
                                               expected: str) -> None:
    settings = Settings(database_url=store.url, basemap=basemap)
    add_user(store, "viewer1", "viewer")
    with TestClient(create_app(settings, store=store)) as c:
        html = c.get("/", headers=bearer(c, "viewer1")).text
    assert [u for u in _external_urls(html) if expected not in u] == []
    assert any(expected in u for u in _external_urls(html))


def test_tianditu_needs_a_key_and_bad_basemaps_are_refused() -> None:
    with pytest.raises(InvalidInput, match="CCMAP_TIANDITU_KEY"):
        resolve_basemap("tianditu")
    layers = resolve_basemap("tianditu", "abc123").layers
    assert len(layers) == 2 and all("tk=abc123" in t.url for t in layers)
    with pytest.raises(InvalidInput, match="未知底图"):
        resolve_basemap("https://example.org/tiles.png")  # no {z}/{x}/{y}
    with pytest.raises(InvalidInput):
        create_app(Settings(database_url="sqlite:///:memory:", basemap="google"))


def test_amap_basemap_shifts_data_to_gcj02(store: Store, client: TestClient) -> None:
    ids = store.add_features([Feature(Kind.test_point, Point(121.47, 31.23), name="点",
                                      category="bus_stop")])
    settings = Settings(database_url=store.url, basemap="amap")
    with TestClient(create_app(settings, store=store)) as c:
        assert '"coords": "gcj02"' in c.get("/", headers=dict(client.headers)).text
    doc = client.get(f"/api/features/{ids[0]}", params={"coords": "gcj02"}).json()
    gx, gy = wgs84_to_gcj02(121.47, 31.23)
    assert doc["geometry"]["coordinates"] == pytest.approx([float(gx), float(gy)])
    assert client.get("/api/layers/test_point", params={"coords": "mars"}).status_code == 400


def test_vendor_and_own_assets_are_served(client: TestClient, settings: Settings) -> None:
    r = client.get("/static/js/map.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert "textContent" in r.text  # popups are built as text, never as HTML
    assert client.get("/static/templates/map_layers.j2").status_code == 404
    assert client.get("/vendor/leaflet/package.json").status_code in (200, 404)
    assert client.get("/vendor/left-pad/index.js").status_code == 404  # whitelist only
    if vendor_installed(settings):
        r = client.get("/vendor/leaflet/dist/leaflet.js")
        assert r.status_code == 200 and "javascript" in r.headers["content-type"]


def test_every_page_has_a_tab_icon_without_a_login(anon_client: TestClient) -> None:
    tab = anon_client.get("/favicon.ico")  # asked for by the browser unprompted, even on /login
    assert tab.status_code == 200 and tab.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(tab.content)).size == (32, 32)


def test_pages_send_anonymous_users_to_the_login_form(anon_client: TestClient) -> None:
    r = anon_client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    login = anon_client.get("/login")
    assert login.status_code == 200 and 'id="login-form"' in login.text
    assert anon_client.get("/admin", follow_redirects=False).status_code == 303


def _config(html: str) -> dict[str, Any]:
    """The page's configuration for static/js/map.js (its JSON script element)."""
    found = re.search(r'<script[^>]*id="ccmap-config"[^>]*>(.*?)</script>', html, re.S)
    assert found, "no ccmap-config"
    config: dict[str, Any] = json.loads(found.group(1))
    return config


def test_the_page_knows_whether_issues_are_too_many_for_points(
        client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Street-level issues are clustered points while the ledger holds at most maxIssuePoints
    issues, tile points beyond: the page gets the count up to one past that, enough to choose."""
    store.add_issues([Issue("illegal_ads", 121.47 + i * 1e-3, 31.23) for i in range(5)])
    config = _config(client.get("/").text)
    assert config["issueTotal"] == 5 and config["maxIssuePoints"] >= 5  # clustered points
    monkeypatch.setattr(mapview, "MAX_ISSUE_POINTS", 3)
    config = _config(client.get("/").text)
    assert config["maxIssuePoints"] == 3 and config["issueTotal"] == 4  # tile points


def test_the_page_draws_a_city_of_many_test_points_from_tiles(
        client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Test points are GeoJSON markers up to MAX_TEST_POINTS, tiles beyond (testPointsTiled)."""
    store.add_features([Feature(Kind.test_point, Point(121.47 + i * 1e-3, 31.23),
                                category="farmers_market") for i in range(3)])
    assert _config(client.get("/").text)["testPointsTiled"] is False
    monkeypatch.setattr(mapview, "MAX_TEST_POINTS", 3)
    assert _config(client.get("/").text)["testPointsTiled"] is False  # at most: markers
    monkeypatch.setattr(mapview, "MAX_TEST_POINTS", 2)
    assert _config(client.get("/").text)["testPointsTiled"] is True


def test_unit_users_get_no_city_wide_layers(anon_client: TestClient, store: Store) -> None:
    add_user(store, "u1", "unit", unit="区教育局")
    add_user(store, "v1", "viewer")
    unit_page = anon_client.get("/", headers=bearer(anon_client, "u1")).text
    viewer_page = anon_client.get("/", headers=bearer(anon_client, "v1")).text
    assert '"kind": "gaps"' not in unit_page and '"kind": "choropleth"' not in unit_page
    assert '"kind": "gaps"' in viewer_page and '"kind": "choropleth"' in viewer_page
    # the title bar names the unit whose issues and zones its user is shown
    assert json.dumps("u1（包保单位：区教育局）")[1:-1] in unit_page
    english = anon_client.get("/", headers={**bearer(anon_client, "u1"),
                                            "Accept-Language": "en"}).text
    assert json.dumps("u1 (Sponsor unit: 区教育局)")[1:-1] in english


def test_a_new_servers_first_page_finds_its_routes_made(
        settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """FastAPI makes a router's request handling (a pydantic model a parameter) the first time
    a request is matched against it: the server does it at start-up, so that a new server's
    first page (and the API calls it makes) do not wait for it."""
    import pydantic

    made: list[object] = []
    adapter_init = pydantic.TypeAdapter.__init__

    def counted(self: object, *args: object, **kwargs: object) -> None:
        made.append(args[0] if args else None)
        adapter_init(self, *args, **kwargs)  # type: ignore[arg-type]

    add_user(store, "firstpage", "viewer")
    settings = settings.model_copy(update={"warm_routes": True})  # the default
    with TestClient(create_app(settings, store=store)) as client:
        monkeypatch.setattr(pydantic.TypeAdapter, "__init__", counted)
        client.headers.update(bearer(client, "firstpage"))
        assert client.get("/").status_code == 200
        assert client.get("/api/me").status_code == 200
        assert client.get("/api/layers/test_point", params={"limit": 10}).status_code == 200
    assert made == []
