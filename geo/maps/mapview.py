"""Folium builders: the map page shell. Layer data is fetched by the page, never embedded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import folium
from branca.element import MacroElement
from jinja2 import Template

from geo import STATIC_DIR
from geo.analytics.choropleth import METRICS
from geo.i18n import DEFAULT, html_lang, page_messages, translate
from geo.layers.osm import ALLEY_CLASSES, STREET_CLASSES
from geo.maps import folium_safe  # noqa: F401  (imported for its effect: no template injection)
from geo.maps.basemaps import OSM_ATTRIBUTION, Basemap
from geo.model.kinds import (
    LABELS_ZH,
    Kind,
    issue_categories,
    reference_table,
    test_point_categories,
)
from geo.store import BBox, Store

STATIC = STATIC_DIR
VENDOR_JS = [
    ("leaflet", "/vendor/leaflet/dist/leaflet.js"),
    ("markercluster", "/vendor/leaflet.markercluster/dist/leaflet.markercluster.js"),
    ("fullscreen", "/vendor/leaflet.fullscreen/dist/Control.FullScreen.umd.js"),
    ("draw", "/vendor/leaflet-draw/dist/leaflet.draw.js"),
    ("heat", "/vendor/leaflet.heat/dist/leaflet-heat.js"),
    ("pbf", "/vendor/pbf/dist/pbf.js"),  # reads the vector tiles (static/js/tiles.js)
    ("flatpickr", "/vendor/flatpickr/dist/flatpickr.min.js"),  # YYYY-MM-DD date fields
    ("flatpickr_zh", "/vendor/flatpickr/dist/l10n/zh.js"),
]
VENDOR_CSS = [
    ("leaflet_css", "/vendor/leaflet/dist/leaflet.css"),
    ("markercluster_css", "/vendor/leaflet.markercluster/dist/MarkerCluster.css"),
    ("markercluster_default_css", "/vendor/leaflet.markercluster/dist/MarkerCluster.Default.css"),
    ("fullscreen_css", "/vendor/leaflet.fullscreen/dist/Control.FullScreen.css"),
    ("draw_css", "/vendor/leaflet-draw/dist/leaflet.draw.css"),
    ("flatpickr_css", "/vendor/flatpickr/dist/flatpickr.min.css"),
    ("ccmap_css", "/static/css/map.css"),
]
# draw order (bottom to top) and whether a layer is on when the page opens
LAYERS: list[tuple[Kind | str, bool]] = [
    (Kind.subdistrict, True), (Kind.community, True), (Kind.zone, True),
    (Kind.compound, False), (Kind.street, True), (Kind.alley, True), (Kind.market, True),
    (Kind.storefront, False), ("choropleth", False), ("gaps", False), ("heat", False),
    ("hotspots", False), (Kind.test_point, True), ("issues", True),
]
CITY_WIDE = {"gaps", "choropleth"}
# a ledger of more issues than this shows street-level points from the issue tiles, not as
# clustered GeoJSON (at 20,000 issues a street-level view cost ~3 s of server CPU in 20 pages)
MAX_ISSUE_POINTS = 10_000


# a city with more test points than this draws them from the issue grid's vector tiles, below
# the issues; fewer are GeoJSON markers (a city's 2,170 SVG markers cost a pan 0.06-0.1 s of
# the browser's CPU, restyling and repainting them)
MAX_TEST_POINTS = 1_000


def counted_issues(store: Store) -> int:
    """The ledger's issues counted up to one past MAX_ISSUE_POINTS: all the page needs to
    choose clustered points or tile points (a city's 1M took PostgreSQL 32 ms to count)."""
    return store.issue_count(at_most=MAX_ISSUE_POINTS + 1)


def tiled_test_points(store: Store) -> bool:
    """Whether the page draws the test points from vector tiles (more than MAX_TEST_POINTS)."""
    return store.count_features(Kind.test_point) > MAX_TEST_POINTS


EXTRA_LABELS = {"issues": "问题", "gaps": "覆盖缺口", "heat": "问题热力", "hotspots": "热点分析",
                "choropleth": "专题图"}
DEFAULT_BOUNDS: BBox = (73.5, 18.0, 135.0, 53.5)  # mainland China, when the store is empty


@dataclass(frozen=True)
class MapPage:
    """What the main map page needs to know."""

    basemap: Basemap
    bounds: BBox | None
    title: str = "创城点位地图"
    assets_missing: bool = False
    user: str = ""
    is_admin: bool = False
    can_report: bool = False
    can_edit_zones: bool = False
    analyst: bool = True  # city-wide layers (gaps, choropleth) are hidden from unit users
    can_plan: bool = False
    can_inspect: bool = False
    user_name: str = ""
    communities: tuple[str, ...] = ()
    units: tuple[str, ...] = ()  # the issue filter's units (a unit user: its own only)
    # issues in the ledger, counted up to one past MAX_ISSUE_POINTS: street-level points from
    # tiles when more
    issue_total: int = 0
    test_points_tiled: bool = False  # tiled_test_points
    page_limit: int = 1000  # the rows a GeoJSON page of a layer asks for (the server's maximum)
    locale: str = DEFAULT  # the page's language (geo.i18n): labels here, t() in the scripts


class TemplateMacro(MacroElement):
    """A folium element drawn by one of static/templates' Jinja files."""

    def __init__(self, name: str, template: str) -> None:
        super().__init__()
        self._name = name
        self._template = Template((STATIC / "templates" / template).read_text("utf-8"))


class CcmapLayers(TemplateMacro):
    """Adds ccmap's page script, which loads every layer from the API, to a folium map, and
    the catalog its t() translates with (empty in Chinese)."""

    def __init__(self, config: dict[str, Any], catalog: dict[str, str]) -> None:
        super().__init__("CcmapLayers", "map_layers.j2")
        self.config = config
        self.catalog = catalog


class MetricScale(TemplateMacro):
    """Leaflet's scale bar in metres only (folium's `control_scale` adds miles and feet)."""

    def __init__(self) -> None:
        super().__init__("MetricScale", "scale.j2")


def page_config(page: MapPage) -> dict[str, Any]:
    """The JSON configuration handed to static/js/map.js (its labels in the page's locale)."""
    def _(text: str) -> str:
        return translate(text, page.locale)

    statuses = {r["code"]: {"label": _(r["label"]), "color": r["color"]}
                for r in reference_table("issue_statuses")}
    return {
        "coords": page.basemap.coords,
        "layers": [{"kind": str(k),
                    "label": _(LABELS_ZH[k] if isinstance(k, Kind) else EXTRA_LABELS[k]),
                    "visible": on} for k, on in LAYERS
                   if page.analyst or k not in CITY_WIDE],
        "statuses": statuses,
        "kinds": [k.value for k in Kind],
        "testPointCategories": {c: _(label) for c, label in test_point_categories().items()},
        "issueCategories": {c: _(r["label"]) for c, r in issue_categories().items()},
        # a street's or alley's category is its OSM highway value: shown as its class
        "roadClasses": {c: _(label) for c, label in {**STREET_CLASSES, **ALLEY_CLASSES}.items()},
        "sources": {r["code"]: _(r["label"]) for r in reference_table("issue_sources")},
        "choroplethMetrics": {k: _(v) for k, v in METRICS.items()},
        "communities": list(page.communities),
        "units": list(page.units),
        "issueTotal": page.issue_total,
        "maxIssuePoints": MAX_ISSUE_POINTS,
        "testPointsTiled": page.test_points_tiled,
        # the data's extent (west, south, east, north): a small layer answered whole for an
        # area holding it is not asked again as the user moves about
        "extent": list(page.bounds) if page.bounds else None,
        "pageLimit": page.page_limit,
        "title": _(page.title),
        "assetsMissing": page.assets_missing,
        "user": page.user,
        "isAdmin": page.is_admin,
        "canReport": page.can_report,
        "canEditZones": page.can_edit_zones,
        "canPlan": page.can_plan,
        "canInspect": page.can_inspect,
        "analyst": page.analyst,
        "userName": page.user_name,
    }


def build_map(page: MapPage) -> folium.Map:
    """The folium map shell: basemap, controls, local assets and the layer-loading script."""
    minx, miny, maxx, maxy = page.bounds or DEFAULT_BOUNDS
    # zoom 1, far from the fitted zoom: Leaflet jumps there at once instead of animating
    # (zoomAnimationThreshold), so the page's layers never load the starting zoom's tiles
    m = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=1, tiles=None,
                   # no fades: each tile's fade repaints every tile canvas of its grid 60 times a
                   # second for 200 ms (a GPU-less office PC composites for the whole load), and
                   # a closed popup would linger, invisible, for 200 ms
                   fade_animation=False)
    m.default_js = VENDOR_JS
    m.default_css = VENDOR_CSS
    for layer in page.basemap.layers:
        folium.TileLayer(tiles=layer.url, attr=layer.attribution, subdomains=layer.subdomains,
                         max_zoom=layer.max_zoom, name=translate("底图", page.locale),
                         control=False).add_to(m)
    m.fit_bounds([[miny, minx], [maxy, maxx]])  # Leaflet wants [lat, lon]
    MetricScale().add_to(m)
    config = page_config(page)
    config["attribution"] = OSM_ATTRIBUTION
    CcmapLayers(config, page_messages(page.locale)).add_to(m)
    return m


def render_map_page(page: MapPage) -> str:
    """The main map page as HTML."""
    html: str = build_map(page).get_root().render()
    # folium writes a bare <html>: the page's language, for the browser and screen readers
    return html.replace("<html>", f'<html lang="{html_lang(page.locale)}">', 1)
