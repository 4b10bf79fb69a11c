"""Security headers with a per-response CSP nonce, local Swagger UI, api_key kept out of logs."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from uvicorn.logging import AccessFormatter

from geo.maps.basemaps import resolve_basemap, tile_origins
from geo.maps.mapview import VENDOR_JS
from geo.store import Store
from server.app import create_app
from server.security import RedactSecrets, content_security_policy, redact
from server.settings import Settings
from tests.conftest import ROOT, add_user, bearer


def csp(response: httpx.Response) -> dict[str, list[str]]:
    """The response's Content-Security-Policy as {directive: [sources]}."""
    policy = response.headers["content-security-policy"]
    return {name: values for name, *values in (d.split() for d in policy.split(";"))}


def nonce_of(response: httpx.Response) -> str:
    """The nonce the response's CSP allows scripts by."""
    [nonce] = [s[len("'nonce-"):-1] for s in csp(response)["script-src"]
               if s.startswith("'nonce-")]
    return nonce


def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    for path in ("/api/health", "/login", "/", "/api/layers/zone", "/static/js/map.js",
                 "/no/such/page", "/openapi.json", "/docs"):
        r = client.get(path)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin", path
        policy = csp(r)
        assert policy["default-src"] == ["'self'"], path
        assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
        assert policy["base-uri"] == ["'self'"] and policy["form-action"] == ["'self'"]
        assert policy["connect-src"] == ["'self'"]
        assert "'unsafe-inline'" not in policy["script-src"]
        assert "'unsafe-eval'" not in policy["script-src"]
    assert nonce_of(client.get("/login")) != nonce_of(client.get("/login"))


def test_map_page_scripts_carry_this_responses_nonce(client: TestClient, store: Store) -> None:
    add_user(store, "viewer1", "viewer")
    client.headers.update(bearer(client, "viewer1"))
    r = client.get("/")
    assert r.status_code == 200
    tags = re.findall(r"<script\b[^>]*>", r.text)
    inline = re.findall(r"<script\b[^>]*>\s*[^<\s]", r.text)
    # folium's L_NO_TOUCH block, the map block, the config and the module that starts the page
    assert len(inline) >= 4
    assert all(f'nonce="{nonce_of(r)}"' in tag for tag in tags), tags
    assert not re.search(r"\son[a-z]+\s*=", r.text) and "javascript:" not in r.text


MAP_TEMPLATE = ROOT / "static" / "templates" / "map_layers.j2"


def test_a_hostile_title_gets_no_nonce(db_url: str, store: Store) -> None:
    """The nonce goes on ccmap's own script tags only: text in the page cannot open one."""
    hostile = '</title></script><script>window.__pwned=1</script>'
    settings = Settings(database_url=db_url, basemap="none", title=hostile)
    add_user(store, "viewer1", "viewer")
    with TestClient(create_app(settings, store=store)) as c:
        c.headers.update(bearer(c, "viewer1"))
        page = c.get("/").text
    assert "<script>window.__pwned" not in page and "__pwned=1</script>" not in page
    # every vendor script + ccmap's own (the page template's config, its i18n catalog when the
    # page is not Chinese, and the module script importing static/js/map.js) + folium's 2
    own = len(re.findall(r"<script\b", MAP_TEMPLATE.read_text("utf-8")))
    assert own == 3
    catalog = int('id="ccmap-i18n"' in page)
    assert len(re.findall(r"<script\b", page)) == len(VENDOR_JS) + own - 1 + catalog + 2


@pytest.mark.parametrize(("basemap", "key", "expected"), [
    ("osm", "", ["https://tile.openstreetmap.org"]),
    ("tianditu", "K", [f"https://t{i}.tianditu.gov.cn" for i in range(8)]),
    ("amap", "", [f"https://webrd0{i}.is.autonavi.com" for i in range(1, 5)]),
    ("none", "", []),
    ("/tiles/{z}/{x}/{y}.png", "", []),
    ("http://tiles.intra:8080/{z}/{x}/{y}.png", "", ["http://tiles.intra:8080"]),
    ("https://{s}.tile.example.org/{z}/{x}/{y}.png", "",
     [f"https://{s}.tile.example.org" for s in "abc"]),
    ("https://m{r}.tiles.example.org/{z}/{x}/{y}.png", "", ["https://*.tiles.example.org"]),
])
def test_images_are_allowed_from_the_basemaps_tile_hosts(basemap: str, key: str,
                                                         expected: list[str]) -> None:
    assert tile_origins(resolve_basemap(basemap, key)) == expected
    policy = content_security_policy(Settings(basemap=basemap, tianditu_key=key), "n")
    [img] = [d for d in policy.split("; ") if d.startswith("img-src ")]
    assert img.split()[1:] == ["'self'", "data:", "blob:", *expected]


def test_the_app_sends_the_configured_basemaps_hosts(db_url: str, store: Store) -> None:
    settings = Settings(database_url=db_url, basemap="amap")
    with TestClient(create_app(settings, store=store)) as c:
        img = csp(c.get("/login"))["img-src"]
    assert "https://webrd03.is.autonavi.com" in img and "https://tile.openstreetmap.org" not in img


def test_docs_use_local_swagger_assets_only(anon_client: TestClient) -> None:
    r = anon_client.get("/docs")
    assert r.status_code == 200 and "SwaggerUIBundle" in r.text
    assert not re.search(r"(https?:)?//[a-z0-9]", r.text.replace("'/openapi.json'", ""))
    assets = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert len(assets) == 3  # bundle js, css, favicon
    for url in assets:
        assert url.startswith("/vendor/swagger-ui-dist/")
        assert anon_client.get(url).status_code == 200, url
    assert all(f'nonce="{nonce_of(r)}"' in tag for tag in re.findall(r"<script\b[^>]*>", r.text))
    assert '"validatorUrl": null' in r.text
    assert anon_client.get("/redoc").status_code == 404  # ReDoc would load from a CDN
    assert anon_client.get("/openapi.json").json()["paths"]


def test_redact_hides_secret_parameters() -> None:
    line = "/open311/v2/requests.json?api_key=s3cr3t&status=open&new_password=pw&TOKEN=t"
    assert redact(line) == ("/open311/v2/requests.json?api_key=***&status=open"
                            "&new_password=***&TOKEN=***")
    assert redact("/api/issues?monkey=1&key_area=2") == "/api/issues?monkey=1&key_area=2"


def test_the_filter_redacts_a_uvicorn_access_record() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/open311/v2/services.json?api_key=s3cr3t&x=1", "1.1", 200),
        None)
    assert RedactSecrets().filter(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s',
                           use_colors=False).format(record)
    assert line == ('127.0.0.1:5000 - "GET /open311/v2/services.json?api_key=***&x=1 HTTP/1.1" '
                    '200 OK')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_ccmap_serve_never_logs_the_api_key(db_url: str) -> None:
    port = _free_port()
    env = {**os.environ, "CCMAP_BASEMAP": "none"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--db", db_url, "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/api/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        r = httpx.get(base + "/open311/v2/services.json",
                      params={"api_key": "s3cr3t-open311-key", "jurisdiction_id": "x"})
        assert r.status_code == 401  # the key is wrong, but the request is logged all the same
        httpx.post(base + "/open311/v2/requests.json?api_key=s3cr3t-open311-key",
                   data={"api_key": "s3cr3t-open311-key", "service_code": "graffiti"})
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=30)
    assert "GET /open311/v2/services.json?api_key=***&jurisdiction_id=x" in output, output
    assert "POST /open311/v2/requests.json?api_key=***" in output, output
    assert "s3cr3t" not in output
