"""Names are data, never templates: folium's page model read each rendered part of a page as
a Jinja template again, so a name written `{{ … }}` or `{% … %}` (a community, a zone's unit, a
user's display name, a market in a snapshot) ran on the server (geo/maps/folium_safe.py)."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from shapely.geometry import Point

from geo.model.kinds import Kind
from geo.model.records import Feature
from geo.store import Store
from server.cli import main

# evaluated, it would print "ccmapinjected" and "xxx"
PAYLOAD = '{{ "ccmap" ~ "injected" }}{% for i in range(3) %}x{% endfor %}'


def _inlined(html: str, text: str) -> bool:
    """text as a page inlines it in JSON (quotes escaped, non-ASCII as \\uXXXX) or as is."""
    return text in html or json.dumps(text)[1:-1] in html


def test_the_map_page_shows_template_syntax_in_names_as_written(client: TestClient,
                                                                 store: Store) -> None:
    square = Point(121.47, 31.23).buffer(0.002)
    zone = Feature(Kind.zone, square, name="一号责任区", properties={"unit": PAYLOAD})
    store.add_features([Feature(Kind.community, square, name=PAYLOAD), zone])
    me = client.get("/api/me").json()["username"]
    assert client.patch(f"/api/users/{me}", json={"display_name": PAYLOAD}).status_code == 200
    html = client.get("/").text
    assert "ccmapinjected" not in html and "xxx" not in html
    assert html.count(json.dumps(PAYLOAD)[1:-1]) >= 2  # the community and the unit filters
    assert _inlined(html, PAYLOAD)


def test_a_map_snapshot_shows_template_syntax_in_names_as_written(store: Store, db_url: str,
                                                                  tmp_path: Path) -> None:
    store.add_features([Feature(Kind.market, Point(121.47, 31.23), name=PAYLOAD)])
    out = tmp_path / "map.html"
    assert main(["export", "map", "--out", str(out), "--db", db_url]) == 0
    html = out.read_text("utf-8")
    assert "ccmapinjected" not in html and "xxx" not in html
    assert _inlined(html, PAYLOAD)
