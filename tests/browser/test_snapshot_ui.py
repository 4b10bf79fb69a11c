"""A snapshot from the page shows what the user saw: the same layers, filters and extent.

The page's loaded features are compared with the features drawn in the exported HTML, which is
opened in the browser on its own (file://, no server) and read back from its Leaflet map."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import XSS_NAME, login

pytestmark = pytest.mark.browser

# the page loads a margin around the view; what the user sees is what meets the view itself
PAGE_FEATURES = """() => {
  const s = window.pageState, out = {}, view = s.map.getBounds();
  for (const l of s.config.layers) {
    const g = s.layers[l.kind];
    if (l.kind === "issues" || !s.map.hasLayer(g) || g.ccmapTiled) continue;
    out[l.kind] = g.getLayers()
      .filter(x => x.getBounds ? view.intersects(x.getBounds()) : view.contains(x.getLatLng()))
      .map(x => x.feature.properties.id).sort((a, b) => a - b);
  }
  return out;
}"""
# layers drawn from vector tiles: the ids in the tiles of the view ("drawn", tiles reach past
# the view) and those whose drawn parts meet the view with 8 pixels to spare ("inner")
PAGE_TILE_FEATURES = """async () => {
  const s = window.pageState, out = {}, m = s.map, size = m.getSize();
  const view = L.bounds([8, 8], [size.x - 8, size.y - 8]);
  for (const l of s.config.layers) {
    const layer = s.layers[l.kind], g = layer.ccmapGrid || layer;  // the shared grid
    if (!layer.ccmapTiled || !m.hasLayer(layer) || !m.hasLayer(g)) continue;
    const drawn = new Set(), inner = new Set();
    for (const f of await g.ccmapFeatures()) {
      if (f.layer !== l.kind) continue;
      drawn.add(f.id);
      const b = L.bounds(f.parts.flat());  // its drawn parts, in container pixels
      if (b.isValid() && view.intersects(b)) inner.add(f.id);
    }
    out[l.kind] = {drawn: [...drawn], inner: [...inner]};
  }
  return out;
}"""
PAGE_ISSUES = """() => {
  const s = window.pageState, view = s.map.getBounds();
  return s.layers.issues.getLayers().filter(x => view.contains(x.getLatLng())).length;
}"""

SNAPSHOT_FEATURES = """() => {
  const map = Object.values(window).find(v => v instanceof L.Map);
  const out = {}; let issues = 0;
  map.eachLayer(l => {
    const p = l.feature && l.feature.properties;
    if (p && p.kind) { (out[p.kind] = out[p.kind] || []).push(p.id); }
    const tip = l.getTooltip && l.getTooltip();
    const m = !l.feature && tip && /(\\d+) 个问题/.exec(String(tip.getContent()));
    if (m) { issues += parseInt(m[1], 10); }
  });
  for (const k in out) out[k] = [...new Set(out[k])].sort((a, b) => a - b);
  return {features: out, issues: issues,
          view: JSON.parse(document.getElementById("ccmap-snapshot-view").textContent)};
}"""


def _download(page: Any, link: str, to: Path) -> Path:
    """Click a download link on the page and keep the file at `to`."""
    with page.expect_download(timeout=60_000) as download:
        page.click(link)
    to.write_bytes(Path(download.value.path()).read_bytes())
    return to


def _filter_issues(page: Any, category: str) -> None:
    """Log-in done: zoom in and filter the issue layer to one category, as a user would."""
    page.wait_for_function("() => window.pageState && window.pageState.loading === 0 && "
                           "window.pageState.counts.issues > 0")
    page.evaluate("() => { window.pageState.map.setZoom(16, {animate: false}); }")
    page.locator(".ccmap-filter select[name=category]").select_option(category)
    page.wait_for_function("() => window.pageState.loading === 0")  # counts the due refresh


def _toggle(page: Any, label: str) -> None:
    page.locator(".leaflet-control-layers label", has_text=label).locator("input").click()


def test_html_snapshot_has_the_pages_layers_filters_and_extent(page: Any, live_server: str,
                                                               tmp_path: Path) -> None:
    login(page, live_server, "admin")
    _filter_issues(page, "illegal_ads")
    _toggle(page, "主次干道")   # off
    _toggle(page, "居民小区")   # on: loads at once
    page.wait_for_function("() => window.pageState.loading === 0")
    seen = page.evaluate(PAGE_FEATURES)
    tiled = page.evaluate(PAGE_TILE_FEATURES)
    issues_seen = page.evaluate(PAGE_ISSUES)
    cats = page.evaluate("""() => [...new Set(window.pageState.layers.issues.getLayers()
        .map(l => l.feature.properties.category))]""")
    assert "street" not in seen | tiled and "compound" in seen and cats == ["illegal_ads"]
    assert {"alley", "community", "subdistrict"} <= set(tiled)
    assert issues_seen > 0 and any(seen.values())
    snap = _download(page, ".ccmap-snapshots a[data-format=html]", tmp_path / "snapshot.html")

    offline = page.context.new_page()
    try:
        offline.goto(snap.as_uri())
        got = offline.evaluate(SNAPSHOT_FEATURES)
    finally:
        offline.close()
    drawn = {k: v for k, v in got["features"].items() if k not in tiled}
    assert drawn == {k: v for k, v in seen.items() if v}
    for kind, ids in tiled.items():  # what the tiles show in the view, give or take the edge
        assert set(ids["inner"]) <= set(got["features"].get(kind, [])) <= set(ids["drawn"]), kind
        assert ids["inner"], kind
    assert got["issues"] == issues_seen
    assert got["view"]["counts"]["issues"] == issues_seen
    assert "小广告" in got["view"]["filters"]
    assert "street" not in got["view"]["layers"] and "compound" in got["view"]["layers"]


def test_data_download_from_the_page_is_the_selection_on_screen(page: Any, live_server: str,
                                                                tmp_path: Path) -> None:
    import geopandas as gpd
    import pyogrio

    login(page, live_server, "admin")
    _filter_issues(page, "street_vending")
    seen = page.evaluate(PAGE_FEATURES)
    tiled = page.evaluate(PAGE_TILE_FEATURES)
    issue_ids = page.evaluate("""() => { const s = window.pageState, v = s.map.getBounds();
      return s.layers.issues.getLayers().filter(x => v.contains(x.getLatLng()))
        .map(x => x.feature.properties.id).sort((a, b) => a - b); }""")
    gpkg = _download(page, ".ccmap-data-link[data-format=gpkg]", tmp_path / "view.gpkg")
    layers = set(dict(pyogrio.list_layers(gpkg)))
    assert layers == {k for k, ids in seen.items() if ids} | set(tiled) | {"issues"}
    for kind in layers - {"issues"} - set(tiled):
        assert sorted(gpd.read_file(gpkg, layer=kind)["id"]) == seen[kind]
    for kind, ids in tiled.items():  # what the tiles show in the view, give or take the edge
        got = set(gpd.read_file(gpkg, layer=kind)["id"])
        assert ids["inner"] and set(ids["inner"]) <= got <= set(ids["drawn"]), kind
    issues = gpd.read_file(gpkg, layer="issues")
    assert sorted(issues["id"]) == issue_ids and set(issues["类别"]) == {"street_vending"}


def test_hostile_names_in_a_snapshot_stay_text(page: Any, live_server: str,
                                               tmp_path: Path) -> None:
    login(page, live_server, "admin")
    page.wait_for_function("() => window.pageState && window.pageState.loading === 0")
    snap = _download(page, ".ccmap-snapshots a[data-format=html]", tmp_path / "snapshot.html")
    offline = page.context.new_page()
    try:
        offline.goto(snap.as_uri())
        shown = offline.evaluate("""(name) => {
          const map = Object.values(window).find(v => v instanceof L.Map);
          let text = null;
          map.eachLayer(l => {
            if (l.feature && l.feature.properties.name === name) {
              l.fire("mouseover", { latlng: l.getLatLng ? l.getLatLng() : map.getCenter() }, true);
              const tip = document.querySelector(".leaflet-tooltip");
              if (tip) { text = tip.textContent; }
            }
          });
          return text;
        }""", XSS_NAME)
        # no <img> was made from the name, so no onerror handler can run later either
        assert offline.locator(".leaflet-tooltip img").count() == 0
        assert offline.evaluate("window.__xss") is None
    finally:
        offline.close()
    assert shown is not None and XSS_NAME in shown  # shown as text, markup and all
