"""Map snapshots: a standalone HTML file that works offline (Leaflet and the view's data
inlined; issues aggregated into grid cells so the file stays small), and PNG/PDF renderings of
it in headless Chromium. Without Chromium (or Playwright), PNG/PDF map snapshots are drawn by
matplotlib instead (geo.exports.static_render), with a logged warning naming what is missing."""

from __future__ import annotations

import atexit
import html
import importlib.util
import logging
import os
import queue
import re
import shutil
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import folium
import shapely
from shapely.geometry import shape

from geo.exports.static_render import IssueCells, StaticLayer, render_static
from geo.i18n import DEFAULT, translate, translator
from geo.layers.geojson import collection, feature_json
from geo.maps import folium_safe  # noqa: F401  (imported for its effect: no template injection)
from geo.maps.mapview import EXTRA_LABELS, LAYERS, STATIC, MetricScale, TemplateMacro
from geo.model.errors import InvalidInput, LimitExceeded
from geo.model.kinds import LABELS_ZH, Kind, issue_categories, reference_table
from geo.model.records import Feature
from geo.store import BBox, IssueQuery, Store
from geo.tiling.cells import factor_for_zoom, heatmap

log = logging.getLogger(__name__)

LAYER_STYLE = {
    Kind.subdistrict: {"color": "#444", "weight": 3, "dashArray": "8 6", "fill": False},
    Kind.community: {"color": "#6a3d9a", "weight": 2, "dashArray": "4 4", "fillOpacity": 0.03},
    Kind.zone: {"color": "#1f78b4", "weight": 2, "fillOpacity": 0.15},
    Kind.street: {"color": "#c0392b", "weight": 2.5, "opacity": 0.75},
    Kind.alley: {"color": "#ff7f00", "weight": 3, "dashArray": "2 4"},
    Kind.market: {"color": "#33a02c", "weight": 2, "fillOpacity": 0.4},
}
VIEWS = {"main": [Kind.subdistrict, Kind.community, Kind.zone, Kind.street, Kind.alley,
                  Kind.market, Kind.test_point],
         "zones": [Kind.subdistrict, Kind.zone, Kind.street, Kind.alley],
         "issues": [Kind.subdistrict, Kind.community, Kind.street]}
ATTRIBUTION = "© OpenStreetMap contributors"
GAP_LABELS = {"uncovered_area": "未覆盖区域", "overlap": "责任区重叠",
              "uncovered_line": "无人负责路段", "unassigned_point": "无责任单位点位",
              "forgotten_zone": "长期无活动责任区", "forgotten_point": "长期无活动点位"}
POINT_STYLE = {"radius": 5, "color": "#222", "fillColor": "#1f78b4", "fillOpacity": 0.9}
FALLBACK_ENV = "CCMAP_SNAPSHOT_FALLBACK"  # "0" turns the matplotlib fallback off


class ChromiumMissing(InvalidInput):
    """PNG/PDF rendering needs headless Chromium (driven by Playwright) and one is missing."""

    def __init__(self, message: str, package: str) -> None:
        super().__init__(message, package=package)
        self.package = package


@dataclass
class ViewContent:
    """What a snapshot of a view shows: the layers' features and the issue grid cells."""

    bounds: BBox
    layers: list[tuple[Kind, list[Feature]]]
    cells: list[list[float]]
    total: int
    counts: dict[str, int] = field(default_factory=dict)
    show_issues: bool = True
    omitted: list[str] = field(default_factory=list)  # page layers a snapshot cannot draw
    filters: str = ""  # the issue filter in words
    gaps: list[dict[str, Any]] = field(default_factory=list)  # coverage-gap features


ISSUE_LAYERS = ("issues", "heat")  # both drawn as issue cells
SNAPSHOT_CELL_ZOOM = 16  # issues are drawn as the heatmap cells of this zoom (base cells)
GAP_STYLE = {"uncovered_line": {"color": "#d00", "weight": 5, "opacity": 0.8, "dashArray": "6 6"},
             "overlap": {"color": "#7b1fa2", "weight": 2, "dashArray": "4 4",
                         "fillColor": "#7b1fa2", "fillOpacity": 0.45},
             "area": {"color": "#d00", "weight": 2, "dashArray": "8 4", "fillColor": "#f00",
                      "fillOpacity": 0.35},
             "point": {"radius": 6, "color": "#d00", "fillColor": "#ff0", "fillOpacity": 1}}


def view_content(store: Store, view: str = "main", bbox: BBox | None = None,
                 issues: IssueQuery | None = None, layers: Sequence[str] | None = None,
                 locale: str = DEFAULT) -> ViewContent:
    """Read the view's layers (inside bbox, default: all data) and its issues per grid cell
    (the filter and the layers it leaves out in words of locale).

    `layers` are the layers visible on the page (kinds, "issues", "heat", ...); when given they
    replace the preset `view`, so the snapshot shows what the user saw.
    """
    if view not in VIEWS:
        raise InvalidInput(f"视图须为以下之一：{', '.join(VIEWS)}")
    bounds = bbox or store.extent()
    if bounds is None:
        raise InvalidInput("没有可绘制的内容：数据库为空")
    kinds, show_issues, omitted = list(VIEWS[view]), True, []
    if layers is not None:
        known = {str(k) for k, _ in LAYERS}
        unknown = sorted(set(layers) - known)
        if unknown:
            raise InvalidInput(f"未知图层 {unknown}，可选图层：{', '.join(sorted(known))}")
        kinds = [k for k, _ in LAYERS if isinstance(k, Kind) and k.value in layers]
        show_issues = any(x in layers for x in ISSUE_LAYERS)
        omitted = [translate(EXTRA_LABELS[x], locale) for x in layers if x in EXTRA_LABELS
                   and x not in (*ISSUE_LAYERS, "gaps")]
    found: list[tuple[Kind, list[Feature]]] = []
    counts: dict[str, int] = {}
    for kind in kinds:
        rows = store.features(kind, bbox=bounds)
        counts[kind.value] = len(rows)
        found.append((kind, rows))
    query = issues or IssueQuery()
    query.bbox = bbox  # without one, every issue (some lie just outside the layers' extent)
    cells = heatmap(store.issue_cells(query, factor=factor_for_zoom(SNAPSHOT_CELL_ZOOM)), 0,
                    SNAPSHOT_CELL_ZOOM)["cells"] if show_issues else []
    total = int(sum(c[2] for c in cells))
    if show_issues:
        counts["issues"] = total
    gaps = _gaps(store, bounds) if layers is not None and "gaps" in layers else []
    if layers is not None and "gaps" in layers:
        counts["gaps"] = len(gaps)
    return ViewContent(bounds, found, cells, total, counts, show_issues, omitted,
                       describe_filters(query, locale), gaps)


def _gaps(store: Store, bounds: BBox) -> list[dict[str, Any]]:
    """The coverage gaps (as on the map's gap layer) that meet the extent."""
    from geo.zones.gaps import analyse, gap_features, load_input

    box = shapely.box(*bounds)
    return [f for f in gap_features(analyse(load_input(store), with_geometry=True))
            if shape(f["geometry"]).intersects(box)]


def gap_style(gap: str) -> dict[str, Any]:
    """The drawing style of one kind of coverage gap (the map page's colours)."""
    if gap in GAP_STYLE:
        return GAP_STYLE[gap]
    return GAP_STYLE["area" if gap == "uncovered_area" else "point"]


def describe_filters(q: IssueQuery, locale: str = DEFAULT) -> str:
    """The issue filter in words of locale, as printed on a snapshot ("" when nothing is
    filtered)."""
    _ = translator(locale)
    cats = {c: _(r["label"]) for c, r in issue_categories().items()}
    states = {r["code"]: _(r["label"]) for r in reference_table("issue_statuses")}
    srcs = {r["code"]: _(r["label"]) for r in reference_table("issue_sources")}
    parts = []
    for label, values, names in (("类型", q.categories, cats), ("状态", q.statuses, states),
                                 ("来源", q.sources, srcs), ("单位", q.units, {}),
                                 ("社区", q.communities, {})):
        if values:  # units and communities are user data
            parts.append(_(label) + _("：") + _("、").join(names.get(v, v) for v in values))
    if q.zone_id is not None:
        parts.append(_("责任区 #{id}", id=q.zone_id))
    # `until` is exclusive: a period ending at midnight was last counted the day before
    since = f"{q.since:%Y-%m-%d}" if q.since else ""
    until = f"{q.until - timedelta(microseconds=1):%Y-%m-%d}" if q.until else ""
    if since and until:
        parts.append(_("时间：{since} 至 {until}", since=since, until=until))
    elif since or until:
        parts.append(_("时间：{since} 起", since=since) if since
                     else _("时间： 至 {until}", until=until))
    if q.overdue:
        parts.append(_("只看超期"))
    if q.recurring:
        parts.append(_("只看回潮"))
    return _("；").join(parts)


class _Header(TemplateMacro):
    """Title, date, north arrow, legend and attribution drawn over the snapshot (its words
    written `this._("中文")`, in locale)."""

    def __init__(self, info: dict[str, Any], locale: str = DEFAULT) -> None:
        super().__init__("SnapshotHeader", "snapshot.j2")
        self.info = info
        self._ = translator(locale)


class _IssueCells(TemplateMacro):
    """The issue cells as circles (with "N 个问题" tooltips) drawn by one script: a folium
    marker each would compile a Jinja template each (seconds for a city's thousand cells)."""

    def __init__(self, cells: list[list[float]], locale: str = DEFAULT) -> None:
        super().__init__("SnapshotIssueCells", "snapshot_cells.j2")
        self.cells = cells
        self._ = translator(locale)


def snapshot_html(store: Store, view: str = "main", bbox: BBox | None = None,
                  title: str = "创城点位地图", issues: IssueQuery | None = None,
                  layers: Sequence[str] | None = None, locale: str = DEFAULT) -> str:
    """A self-contained HTML map of the view (no request leaves the file), in locale."""
    _ = translator(locale)
    content = view_content(store, view, bbox, issues, layers, locale)
    minx, miny, maxx, maxy = content.bounds
    m = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], tiles=None, zoom_start=15)
    MetricScale().add_to(m)
    m.default_js = []
    m.default_css = []
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    for kind, rows in content.layers:
        if not rows:
            continue
        style = LAYER_STYLE.get(kind, {"color": "#222"})
        folium.GeoJson(collection(_labelled(feature_json(f)) for f in rows),
                       name=_(LABELS_ZH[kind]), style_function=lambda _f, s=style: s,
                       marker=folium.CircleMarker(radius=5, fill=True, fill_opacity=0.9,
                                                  color="#222", fill_color="#1f78b4"),
                       tooltip=folium.GeoJsonTooltip(fields=["label"], aliases=[_("名称")]),
                       ).add_to(m)
    if content.gaps:
        folium.GeoJson(collection(content.gaps), name=_("覆盖缺口（{n}）", n=len(content.gaps)),
                       style_function=lambda f: gap_style(f["properties"]["gap"]),
                       marker=folium.CircleMarker(radius=6, fill=True, fill_opacity=1,
                                                  color="#d00", fill_color="#ff0"),
                       ).add_to(m)
    if content.show_issues:
        issue_layer = folium.FeatureGroup(name=_("问题（{n}，按格汇总）", n=content.total))
        top = max((c[2] for c in content.cells), default=1)
        _IssueCells([[lat, lon, round(3 + 9 * (n / top) ** 0.5, 2), int(n)]
                     for lon, lat, n in content.cells], locale).add_to(issue_layer)
        issue_layer.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    statuses = [(_(r["label"]), r["color"]) for r in reference_table("issue_statuses")]
    _Header({"title": _(title), "date": _now(), "attribution": ATTRIBUTION,
             "counts": content.counts, "statuses": statuses, "issues": content.show_issues,
             "filters": content.filters, "omitted": content.omitted,
             "bbox": list(content.bounds),
             "layer_codes": [k.value for k, _rows in content.layers]
             + (["issues"] if content.show_issues else [])
             + (["gaps"] if content.gaps else []),
             "layers": [(_(LABELS_ZH[k]), LAYER_STYLE.get(k, {}).get("color", "#1f78b4"))
                        for k, _rows in content.layers]
             + ([(_("覆盖缺口"), "#d00")] if content.gaps else [])}, locale).add_to(m)
    page: str = m.get_root().render()
    return _inline_assets(page)


def _labelled(feature: dict[str, Any]) -> dict[str, Any]:
    """The feature with an HTML-escaped `label`: folium's tooltip inserts values as HTML."""
    feature["properties"]["label"] = html.escape(str(feature["properties"].get("name") or ""))
    return feature


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M")


def snapshot_static(store: Store, out: Path, view: str = "main", bbox: BBox | None = None,
                    title: str = "创城点位地图", issues: IssueQuery | None = None,
                    layers: Sequence[str] | None = None, locale: str = DEFAULT,
                    **options: Any) -> dict[str, Any]:
    """The snapshot drawn by matplotlib (.png or .pdf): same layers, styles, issue cells,
    title, date, legend and attribution as the HTML page, plus a scale bar and north arrow,
    in locale. options: width, height, scale (PNG); paper, landscape (PDF)."""
    _ = translator(locale)
    content = view_content(store, view, bbox, issues, layers, locale)
    drawn = [StaticLayer(_(LABELS_ZH[kind]) + _("（{n}）", n=len(rows)),
                         [f.geometry for f in rows], LAYER_STYLE.get(kind, POINT_STYLE))
             for kind, rows in content.layers if rows]
    by_gap: dict[str, list[Any]] = {}
    for g in content.gaps:
        by_gap.setdefault(g["properties"]["gap"], []).append(shape(g["geometry"]))
    drawn += [StaticLayer(_("覆盖缺口·{gap}（{n}）", gap=_(GAP_LABELS.get(gap, gap)),
                            n=len(geoms)), geoms, gap_style(gap))
              for gap, geoms in by_gap.items()]
    cells = (IssueCells(content.cells, content.total, _("问题（按格汇总，圆越大越多）"))
             if content.show_issues else None)
    title = _(title) + (_("（{text}）", text=content.filters) if content.filters else "")
    return render_static(drawn, out, content.bounds, issues=cells, title=title, date=_now(),
                         attribution=ATTRIBUTION, note=_("静态渲染（matplotlib）"),
                         locale=locale, **options)


def _inline_assets(html: str) -> str:
    """Put Leaflet's CSS and JS into the page so the file works without a server."""
    modules = STATIC / "node_modules" / "leaflet" / "dist"
    if not (modules / "leaflet.js").exists():
        raise InvalidInput("缺少前端资源：请运行 ./run.sh setup（npm ci）")
    css = (modules / "leaflet.css").read_text("utf-8")
    js = (modules / "leaflet.js").read_text("utf-8")
    return html.replace("<head>", f"<head><style>{css}</style><script>{js}</script>", 1)


def external_urls(html: str) -> list[str]:
    """Resources (script/img src, stylesheet links, CSS url()) that would need the network;
    plain hyperlinks such as the attribution's do not load anything."""
    found = re.findall(r'src="((?:https?:)?//[^"]+)"', html)
    found += re.findall(r'<link[^>]*href="((?:https?:)?//[^"]+)"', html)
    found += re.findall(r'url\((?:["\']?)((?:https?:)?//[^)"\']+)', html)
    return found


def chromium_path() -> str:
    """Debian's Chromium (or CCMAP_CHROMIUM), or ChromiumMissing naming the package."""
    configured = os.environ.get("CCMAP_CHROMIUM")
    path = configured or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        where = f" at {path} (CCMAP_CHROMIUM)" if configured else ""
        raise ChromiumMissing(f"Chromium not found{where}: install Debian's `chromium` package "
                              "(apt-get install chromium) or set CCMAP_CHROMIUM; "
                              "HTML export works without it", package="chromium")
    return path


def check_renderer() -> str:
    """The Chromium path if PNG/PDF can be rendered in the browser; else ChromiumMissing
    naming what to install (Debian's chromium, or Playwright which drives it)."""
    path = chromium_path()
    if importlib.util.find_spec("playwright") is None:
        raise ChromiumMissing("Playwright not installed: pip install playwright (ccmap's dev "
                              "extras); it drives the system Chromium for PNG/PDF export",
                              package="playwright")
    return path


def fallback_enabled(fallback: bool | None = None) -> bool:
    """Whether a map snapshot may fall back to matplotlib (the argument, else the
    CCMAP_SNAPSHOT_FALLBACK environment variable, default on)."""
    if fallback is not None:
        return fallback
    return os.environ.get(FALLBACK_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def check_pixels(width: int, height: int, scale: float, max_pixels: int) -> None:
    """LimitExceeded (before anything is rendered) when a PNG of width × height at this
    device scale has more than max_pixels pixels."""
    pixels = width * height * scale * scale
    if pixels > max_pixels:
        raise LimitExceeded(f"PNG 尺寸 {width}×{height}、缩放 {scale:g} 倍时共 {pixels:,.0f} "
                            f"像素，超过上限 {max_pixels:,}（CCMAP_MAX_EXPORT_PIXELS）："
                            "请减小尺寸或缩放倍数", limit=max_pixels)


def render(html_file: Path, out: Path, width: int = 1600, height: int = 1100,
           scale: float = 1.0, paper: str = "A4", landscape: bool = True) -> None:
    """Render the HTML snapshot to PNG (size, scale) or PDF (A4/A3, orientation)."""
    _RENDERER.render(html_file, out, width, height, scale, paper, landscape)


class _Renderer:
    """One headless Chromium per process, launched at the first render and kept for the next
    ones (a launch takes seconds, a page a fraction of one). Playwright's sync API refuses to
    run where an asyncio loop is running (a server) and its objects belong to the thread that
    made them: the browser lives in one thread of its own, which renders one page at a time."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], Future[Any]]]
        self._jobs = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._playwright: Any = None
        self._browser: Any = None
        self._path = ""

    def render(self, html_file: Path, out: Path, width: int, height: int, scale: float,
               paper: str, landscape: bool) -> None:
        """Render in the browser's thread (the browser started or restarted as needed)."""
        self._call(self._render, html_file, out, width, height, scale, paper, landscape)

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(*args) run in the browser's thread (a daemon: it never holds up the exit)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="ccmap-chromium",
                                                daemon=True)
                self._thread.start()
        done: Future[Any] = Future()
        self._jobs.put((fn, args, done))
        return done.result()

    def _serve(self) -> None:
        while True:
            fn, args, done = self._jobs.get()
            try:
                done.set_result(fn(*args))
            except BaseException as exc:  # handed to the caller, whatever it is
                done.set_exception(exc)

    def _render(self, html_file: Path, out: Path, width: int, height: int, scale: float,
                paper: str, landscape: bool) -> None:
        path = check_renderer()
        if self._browser is None or not self._browser.is_connected() or path != self._path:
            self._stop()
            from playwright.sync_api import sync_playwright

            self._playwright = sync_playwright().start()
            args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run"]
            self._browser = self._playwright.chromium.launch(executable_path=path,
                                                             headless=True, args=args)
            self._path = path
        context = self._browser.new_context(viewport={"width": width, "height": height},
                                            device_scale_factor=scale)
        try:
            page = context.new_page()
            page.goto(html_file.resolve().as_uri())
            # the page is self-contained (no tiles, no requests): once loaded, its fonts
            # ready and two animation frames later, Leaflet has drawn everything
            page.evaluate("async () => { await document.fonts.ready; await new Promise("
                          "r => requestAnimationFrame(() => requestAnimationFrame(r))); }")
            if out.suffix.lower() == ".png":
                page.screenshot(path=str(out))
            else:
                page.pdf(path=str(out), format=paper, landscape=landscape,
                         print_background=True)
        finally:
            context.close()

    def _stop(self) -> None:
        """Close the browser and Playwright (in the browser's thread), if started."""
        for close in (self._browser and self._browser.close,
                      self._playwright and self._playwright.stop):
            try:
                if close:
                    close()
            except Exception:  # a browser that crashed or went away: nothing left to close
                log.debug("closing the snapshot browser", exc_info=True)
        self._browser = self._playwright = None

    def close(self) -> None:
        """Close the browser (at exit)."""
        if self._thread is not None:
            self._call(self._stop)


_RENDERER = _Renderer()
atexit.register(_RENDERER.close)


def export_map(store: Store, out: Path, view: str = "main", bbox: BBox | None = None,
               issues: IssueQuery | None = None, fallback: bool | None = None,
               layers: Sequence[str] | None = None, locale: str = DEFAULT,
               **options: Any) -> dict[str, Any]:
    """Write a snapshot to out: .html (offline), .png or .pdf, in locale.

    PNG/PDF are rendered by headless Chromium; when Chromium or Playwright is missing they are
    drawn by matplotlib instead (a warning is logged and returned), unless fallback is False
    (or CCMAP_SNAPSHOT_FALLBACK=0), which raises ChromiumMissing naming the package.
    The result says which renderer was used: "html", "chromium" or "matplotlib"."""
    suffix = out.suffix.lower()
    if suffix not in (".html", ".png", ".pdf"):
        raise InvalidInput("快照格式须为 .html、.png 或 .pdf")
    extra: dict[str, Any] = {"renderer": "html"}
    if suffix == ".html":
        write_page(snapshot_html(store, view, bbox, issues=issues, layers=layers,
                                 locale=locale), out, **options)
    else:
        try:
            check_renderer()
        except ChromiumMissing as exc:
            if not fallback_enabled(fallback):
                raise
            warning = f"{exc.message}; drawing {out.name} with matplotlib instead"
            log.warning(warning)
            info = snapshot_static(store, out, view, bbox, issues=issues, layers=layers,
                                   locale=locale, **options)
            extra = {"renderer": "matplotlib", "missing": exc.package,
                     "warnings": [warning, *info["warnings"]]}
        else:
            write_page(snapshot_html(store, view, bbox, issues=issues, layers=layers,
                                     locale=locale), out, **options)
            extra = {"renderer": "chromium"}
    return {"out": str(out), "bytes": out.stat().st_size, "view": view, **extra}


def write_page(html: str, out: Path, **options: Any) -> None:
    """Write an HTML page to out as it is (.html) or rendered by Chromium (.png, .pdf)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".html":
        out.write_text(html, encoding="utf-8")
        return
    tmp = out.with_suffix(".page.html")
    tmp.write_text(html, encoding="utf-8")
    try:
        render(tmp, out, **options)
    finally:
        tmp.unlink(missing_ok=True)
