"""Static map rendering with matplotlib: the fallback for PNG/PDF snapshots when headless
Chromium is not available. It draws what the snapshot page shows (polygons filled lightly and
outlined, streets and alleys, points, issues aggregated into grid cells), with a Chinese title,
the date, a legend, a scale bar, a north arrow and the data attribution."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.path import Path as MplPath
from pyproj import Geod
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry, BaseMultipartGeometry

from geo.i18n import DEFAULT, translator
from geo.model.errors import InvalidInput
from geo.store import BBox

log = logging.getLogger(__name__)

PAPER_MM = {"A4": (210.0, 297.0), "A3": (297.0, 420.0)}  # portrait width, height
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK TC", "Noto Sans CJK HK",
             "Noto Sans CJK KR", "Noto Serif CJK SC", "Noto Serif CJK JP", "Noto Serif CJK TC",
             "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
             "Droid Sans Fallback", "SimHei", "Microsoft YaHei", "PingFang SC")
PT_PER_PX = 0.72  # one CSS pixel of the Leaflet styles, in points (1 px at 100 dpi)
BACKGROUND = "#f4f3ef"
ISSUE_COLOR = "#e6194b"


@dataclass
class StaticLayer:
    """One layer to draw: a label for the legend, WGS84 geometries and a Leaflet-like style
    (color, weight, opacity, fill, fillColor, fillOpacity, dashArray); points are drawn as
    circles of `radius` px filled with fillColor."""

    label: str
    geometries: list[BaseGeometry]
    style: dict[str, Any] = field(default_factory=dict)


@dataclass
class IssueCells:
    """Issues aggregated into grid cells: [lon, lat, count] per cell, and the total."""

    cells: list[list[float]]
    total: int
    label: str = "问题（按格汇总，圆越大越多）"


def cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs, or None."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in names:
            return name
    return next((n for n in sorted(names) if "CJK" in n or "Han Sans" in n), None)


def page_size(width: int = 1600, height: int = 1100, scale: float = 1.0, paper: str = "A4",
              landscape: bool = True, pdf: bool = False) -> tuple[float, float, float]:
    """Figure (width, height) in inches and dpi: pixels for PNG, the paper for PDF."""
    if pdf:
        if paper not in PAPER_MM:
            raise InvalidInput(f"纸张须为以下之一：{', '.join(PAPER_MM)}")
        w, h = PAPER_MM[paper]
        if landscape:
            w, h = h, w
        return w / 25.4, h / 25.4, 150.0
    if width < 100 or height < 100 or not 0.1 <= scale <= 8:
        raise InvalidInput("PNG 尺寸至少为 100×100 像素，缩放倍数须在 0.1 到 8 之间")
    dpi = 100.0 * scale
    return width / 100.0, height / 100.0, dpi


def render_static(layers: Sequence[StaticLayer], out: Path, bbox: BBox, *,
                  issues: IssueCells | None = None, title: str = "创城点位地图",
                  date: str = "", attribution: str = "", note: str = "",
                  width: int = 1600, height: int = 1100, scale: float = 1.0,
                  paper: str = "A4", landscape: bool = True,
                  locale: str = DEFAULT) -> dict[str, Any]:
    """Draw the layers (bottom to top) and the issue cells inside bbox to out (.png or .pdf);
    the legend's own words in locale (the labels come as they are given).

    PNG: width × height pixels times scale (like Chromium's viewport and device scale factor).
    PDF: A4 or A3, landscape or portrait, fonts embedded (Type 42) so the text is extractable.
    Returns what was used: {"font": family or None, "warnings": [...]}.
    """
    suffix = out.suffix.lower()
    if suffix not in (".png", ".pdf"):
        raise InvalidInput("静态渲染只能输出 .png 或 .pdf 文件")
    minx, miny, maxx, maxy = bbox
    if not (maxx >= minx and maxy >= miny):
        raise InvalidInput("bbox 须依次为最小经度、最小纬度、最大经度、最大纬度")
    w_in, h_in, dpi = page_size(width, height, scale, paper, landscape, pdf=suffix == ".pdf")
    problems: list[str] = []
    font = cjk_font()
    if font is None:
        msg = ("no CJK font found (install Debian's fonts-noto-cjk): the Chinese text of the "
               "static map is drawn without glyphs")
        log.warning(msg)
        problems.append(msg)
    families = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    out.parent.mkdir(parents=True, exist_ok=True)
    # TrueType/OpenType embedding (Type 42): the PDF's Chinese text stays extractable
    with matplotlib.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42, "font.family": families,
                                "axes.unicode_minus": False}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
        fig = _draw(layers, bbox, issues, (title, date, attribution, note), w_in, h_in, dpi,
                    translator(locale))
        meta = ({"Title": title, "Creator": "ccmap (matplotlib)"} if suffix == ".pdf"
                else {"Title": title, "Software": "ccmap (matplotlib)"})
        fig.savefig(out, dpi=dpi, format=suffix[1:], metadata=meta, facecolor="white")
    return {"font": font, "warnings": problems}


def _draw(layers: Sequence[StaticLayer], bbox: BBox, issues: IssueCells | None,
          texts: tuple[str, str, str, str], w_in: float, h_in: float, dpi: float,
          _: Callable[..., str]) -> Figure:
    title, date, attribution, note = texts
    fig = Figure(figsize=(w_in, h_in), dpi=dpi)
    base = min(w_in, h_in)  # font sizes follow the page's short side
    fs = max(7.0, base * 1.05)
    header, footer = min(0.09, 0.75 / h_in), min(0.05, 0.4 / h_in)
    margin_x = 0.25 / w_in
    ax = fig.add_axes((margin_x, footer, 1 - 2 * margin_x, 1 - header - footer))
    ax.set_facecolor(BACKGROUND)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#888")
        spine.set_linewidth(0.6)

    # equirectangular at the centre latitude: a metre is as long east-west as north-south;
    # the bbox grows to fill the map frame (like Leaflet's fitBounds)
    box_w, box_h = (1 - 2 * margin_x) * w_in, (1 - header - footer) * h_in
    minx, miny, maxx, maxy = _fit(_padded(bbox), box_w / box_h)
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_aspect(_aspect((miny + maxy) / 2), adjustable="box")

    handles: list[Any] = []
    for z, layer in enumerate(layers):
        handle = _draw_layer(ax, layer, 2 + z)
        if handle is not None:
            handles.append(handle)
    if issues is not None and issues.cells:
        cells = np.asarray(issues.cells, dtype=float)
        top = max(float(cells[:, 2].max()), 1.0)
        radius_px = 3 + 9 * np.sqrt(cells[:, 2] / top)
        ax.scatter(cells[:, 0], cells[:, 1], s=(2 * radius_px * PT_PER_PX) ** 2,
                   c=ISSUE_COLOR, alpha=0.55, linewidths=0, zorder=50)
    if issues is not None:
        handles.append(Line2D([], [], linestyle="none", marker="o", markersize=7,
                              markerfacecolor=ISSUE_COLOR, markeredgewidth=0, alpha=0.7,
                              label=issues.label + _("：") + str(issues.total)))
    if handles:
        legend = ax.legend(handles=handles, title=_("图例"), loc="lower right", fontsize=fs * 0.8,
                           title_fontsize=fs * 0.9, framealpha=0.94, edgecolor="#bbb",
                           fancybox=True)
        legend.set_zorder(100)
    _scale_bar(ax, fs)
    _north_arrow(ax, fs)

    top_y = 1 - header / 2
    fig.text(margin_x, top_y, title, fontsize=fs * 1.6, fontweight="bold", va="center")
    if date:
        fig.text(1 - margin_x, top_y, date, fontsize=fs, color="#555", va="center", ha="right")
    foot = "　".join(t for t in (attribution, note) if t)
    if foot:
        fig.text(1 - margin_x, footer / 2, foot, fontsize=fs * 0.75, color="#555",
                 va="center", ha="right")
    return fig


def _padded(bbox: BBox) -> BBox:
    """The bbox with a small margin, never empty (a single point gets about 200 m)."""
    minx, miny, maxx, maxy = bbox
    dx = max(maxx - minx, 0.002)
    dy = max(maxy - miny, 0.002)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    return (cx - dx * 0.53, cy - dy * 0.53, cx + dx * 0.53, cy + dy * 0.53)


def _aspect(lat: float) -> float:
    """Data aspect (degrees of latitude per degree of longitude on screen) at the latitude."""
    return 1 / max(math.cos(math.radians(lat)), 0.01)


def _fit(bbox: BBox, frame_ratio: float) -> BBox:
    """Grow bbox around its centre so its shape (in local metres) is frame_ratio (w / h)."""
    minx, miny, maxx, maxy = bbox
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    a = _aspect(cy)
    dx, dy = maxx - minx, maxy - miny
    if dx / (a * dy) < frame_ratio:
        dx = frame_ratio * a * dy
    else:
        dy = dx / (a * frame_ratio)
    return (cx - dx / 2, cy - dy / 2, cx + dx / 2, cy + dy / 2)


def _dashes(style: dict[str, Any], weight: float) -> Any:
    dash = str(style.get("dashArray") or "").replace(",", " ").split()
    if not dash:
        return "solid"
    return (0, tuple(float(d) / max(weight, 0.5) for d in dash))


def _draw_layer(ax: Any, layer: StaticLayer, z: int) -> Any:
    """Draw one layer; return its legend handle (None when it has nothing to draw)."""
    style = layer.style
    color = style.get("color", "#3388ff")
    weight = float(style.get("weight", 3))
    opacity = float(style.get("opacity", 1.0))
    fill = bool(style.get("fill", True))
    fill_color = style.get("fillColor", color)
    fill_opacity = float(style.get("fillOpacity", 0.2))
    lw = weight * PT_PER_PX
    dashes = _dashes(style, weight)
    polys: list[Polygon] = []
    lines: list[LineString] = []
    points: list[Point] = []
    for geom in layer.geometries:
        _split(geom, polys, lines, points)
    if not (polys or lines or points):
        return None
    handle: Any = None
    if polys:
        paths = [_polygon_path(p) for p in polys]
        face = matplotlib.colors.to_rgba(fill_color, fill_opacity if fill else 0.0)
        edge = matplotlib.colors.to_rgba(color, opacity)
        ax.add_collection(PathCollection(paths, facecolors=[face], edgecolors=[edge],
                                         linewidths=lw, linestyles=[dashes], zorder=z))
        handle = Patch(facecolor=face, edgecolor=edge, linewidth=lw, linestyle=dashes,
                       label=layer.label)
    if lines:
        segs = [np.asarray(line.coords)[:, :2] for line in lines]
        ax.add_collection(LineCollection(segs, colors=[color], alpha=opacity, linewidths=lw,
                                         linestyles=[dashes], capstyle="round", zorder=z))
        handle = handle or Line2D([], [], color=color, alpha=opacity, linewidth=lw,
                                  linestyle=dashes, label=layer.label)
    if points:
        xy = np.array([(p.x, p.y) for p in points])
        radius = float(style.get("radius", 5))
        ax.scatter(xy[:, 0], xy[:, 1], s=(2 * radius * PT_PER_PX) ** 2, c=[fill_color],
                   alpha=float(style.get("fillOpacity", 0.9)), edgecolors=[color],
                   linewidths=PT_PER_PX, zorder=60 + z)
        handle = handle or Line2D([], [], linestyle="none", marker="o", markersize=radius,
                                  markerfacecolor=fill_color, markeredgecolor=color,
                                  label=layer.label)
    return handle


def _split(geom: BaseGeometry, polys: list[Polygon], lines: list[LineString],
           points: list[Point]) -> None:
    if geom is None or geom.is_empty:
        return
    if isinstance(geom, Polygon):
        polys.append(geom)
    elif isinstance(geom, LineString):
        lines.append(geom)
    elif isinstance(geom, Point):
        points.append(geom)
    elif isinstance(geom, BaseMultipartGeometry):  # Multi*, GeometryCollection
        for part in geom.geoms:
            _split(part, polys, lines, points)


def _polygon_path(poly: Polygon) -> MplPath:
    """A compound path of the exterior and its holes (holes stay unfilled)."""
    verts: list[Any] = []
    codes: list[np.uint8] = []
    for ring in [poly.exterior, *poly.interiors]:
        xy = np.asarray(ring.coords)[:, :2]
        if len(xy) < 3:
            continue
        verts.extend(xy)
        codes.extend([MplPath.MOVETO] + [MplPath.LINETO] * (len(xy) - 2) + [MplPath.CLOSEPOLY])
    return MplPath(np.asarray(verts), codes)


def _nice_length(metres: float) -> float:
    """The largest 1, 2 or 5 × 10^k metres not above the given length."""
    if metres <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(metres))
    return float(max(m for m in (1, 2, 5, 10) if m * exp <= metres) * exp)


def metres_per_degree_lon(lat: float) -> float:
    """Length of one degree of longitude (WGS84 ellipsoid) at the latitude, in metres."""
    _, _, dist = Geod(ellps="WGS84").inv(0.0, lat, 1.0, lat)
    return float(dist)


def _scale_bar(ax: Any, fs: float) -> None:
    """An alternating black/white bar of a round length in the lower left, labelled in m/km."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    lat = (y0 + y1) / 2
    m_per_deg = metres_per_degree_lon(lat)
    length = _nice_length((x1 - x0) * m_per_deg / 5)
    deg = length / m_per_deg
    bx, by = x0 + (x1 - x0) * 0.03, y0 + (y1 - y0) * 0.04
    h = (y1 - y0) * 0.008
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.add_patch(Rectangle((bx - (x1 - x0) * 0.012, by - h * 1.5), deg + (x1 - x0) * 0.035,
                           h * 7.5, facecolor="white", alpha=0.85, edgecolor="none",
                           zorder=90))
    for i in range(4):
        ax.add_patch(Rectangle((bx + deg * i / 4, by), deg / 4, h,
                               facecolor="#222" if i % 2 == 0 else "white",
                               edgecolor="#222", linewidth=0.6, zorder=91))
    ax.text(bx, by + h * 1.6, "0", fontsize=fs * 0.75, ha="center", va="bottom", zorder=92)
    ax.text(bx + deg, by + h * 1.6, label, fontsize=fs * 0.75, ha="center", va="bottom",
            zorder=92)


def _north_arrow(ax: Any, fs: float) -> None:
    """▲ N in the upper right corner (north is up: the map is not rotated)."""
    ax.annotate("N", xy=(0.965, 0.965), xytext=(0.965, 0.87), xycoords="axes fraction",
                textcoords="axes fraction", ha="center", va="center", fontsize=fs * 1.1,
                fontweight="bold", zorder=95,
                bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "alpha": 0.9,
                      "edgecolor": "#bbb"},
                arrowprops={"arrowstyle": "-|>,head_width=0.5,head_length=0.9",
                            "color": "#222", "linewidth": 2})
