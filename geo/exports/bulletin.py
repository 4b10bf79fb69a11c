"""Weekly/monthly bulletins (周通报/工作简报): KPIs against the previous period, the evaluation
indicators (考评指标) of the city and of each unit with their change (环比), the issue map, the
community ranking, overdue issues by unit, recurring issues and the closed issues with their
before/after photos, as HTML or PDF (rendered by headless Chromium with the system's CJK font,
which the PDF embeds)."""

from __future__ import annotations

import base64
import io
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image

from geo.analytics.dashboard import dashboard
from geo.analytics.indicator_rules import IndicatorRules
from geo.analytics.indicators import indicators
from geo.analytics.scoring import parse_period, ranking
from geo.exports.pages import render_page
from geo.exports.snapshot import snapshot_static, write_page
from geo.i18n import DEFAULT, translate
from geo.model.errors import InvalidInput
from geo.model.kinds import issue_categories
from geo.model.records import Issue
from geo.store import IssueQuery, Store

MAX_ROWS = 60
KPI_LABELS = [("new", "新增问题"), ("closed", "结案"), ("overdue", "超期"), ("recurring", "回潮"),
              ("rectification_rate", "整改率"), ("on_time_closure_rate", "按期结案率")]


# the indicators as a bulletin prints them: (key, label, kind); rates in percent
INDICATOR_LINES = [("registered", "立案数", "件"), ("due", "应结案数", "件"),
                   ("closed", "结案数", "件"), ("closure_rate", "结案率", "%"),
                   ("closed_on_time", "按期结案数", "件"), ("on_time_rate", "按期结案率", "%"),
                   ("rework_rate", "返工率", "%"), ("extension_rate", "延期率", "%"),
                   ("overdue", "超期数", "件"), ("score", "综合指标值", "分")]


def indicator_value(value: Any, kind: str, locale: str = DEFAULT) -> str:
    """An indicator as printed: 93.72%, 911 件, 88.45 分; — when there is none."""
    if value is None:
        return "—"
    return translate(f"{value:.2f}%" if kind == "%" else f"{value:.2f} 分" if kind == "分"
                     else f"{value} 件", locale)


def indicator_change(value: Any, kind: str, locale: str = DEFAULT) -> str:
    """A change against the previous period as printed: 上升 1.20 个百分点, 减少 3 件, 持平."""
    if value is None:
        return "—"
    if not value:
        return translate("持平", locale)
    size = f"{abs(value):.2f}" if isinstance(value, float) else str(abs(value))
    if kind == "件":
        return translate(f"{'增加' if value > 0 else '减少'} {size} 件", locale)
    return translate(
        f"{'上升' if value > 0 else '下降'} {size} {'个百分点' if kind == '%' else '分'}", locale)


def _fmt(key: str, value: Any) -> str:
    return f"{value * 100:.1f}%" if key.endswith("rate") else str(value)


def bulletin_context(store: Store, period: str, now: datetime | None = None,
                     with_map: bool = True, rules: IndicatorRules | None = None,
                     locale: str = DEFAULT) -> dict[str, Any]:
    """Everything the bulletin template shows (the indicators by the given rules), its
    labels in locale."""
    now = now or datetime.now()
    start, end, label = parse_period(period, now)
    dash = dashboard(store, label, now)
    cats = {c: translate(r["label"], locale) for c, r in issue_categories().items()}

    def first(*order: str, **filters: Any) -> list[Issue]:  # MAX_ROWS issues, chosen in SQL
        return store.issue_list(IssueQuery(since=start, until=end, limit=None, **filters),
                                order=order, limit=MAX_ROWS)

    def row(i: Any) -> dict[str, Any]:
        return {"id": i.id, "unit": i.unit, "address": i.address, "recurring_of": i.recurring_of,
                "category_label": cats.get(i.category, i.category),
                "deadline": f"{i.deadline:%m-%d %H:%M}" if i.deadline else "",
                "reported_at": f"{i.reported_at:%m-%d %H:%M}" if i.reported_at else "",
                "closed_at": f"{i.closed_at:%m-%d %H:%M}" if i.closed_at else ""}

    overdue = first("unit", overdue=True, now=min(end, now))  # by unit ("" first), then id
    closed = []
    # 整改前后: the closed issues with photos first (a city closes thousands a week)
    for i in first("photos", "reported_at", statuses=["closed"]):
        r = row(i)
        r["photos"] = []
        for p in store.photos(i.id or 0):
            meta, data = store.photo(p["id"])
            r["photos"].append({"stage": meta["stage"], "content_type": meta["content_type"],
                                "data": base64.b64encode(data).decode()})
        closed.append(r)
    map_png = gaps_png = ""
    if with_map:
        map_png = _map_png(store, locale, view="issues",
                           issues=IssueQuery(since=start, until=end))
        gaps_png = _map_png(store, locale, layers=["subdistrict", "community", "zone", "gaps"])
    rank = ranking(store, "community", label, now)
    ind = indicators(store, "unit", label, now, rules=rules, with_total=True)
    return {
        "title": translate(f"创城工作周通报（{label}）" if "W" in label
                           else f"创城工作简报（{label}）", locale),
        "period": label, "start": f"{start:%Y-%m-%d}",
        "end": f"{end - timedelta(days=1):%Y-%m-%d}",
        "issued": f"{now:%Y年%m月%d日}" if locale == DEFAULT else f"{now:%Y-%m-%d}",
        "locale": locale,
        "kpi_rows": [(translate(lab, locale),
                      (_fmt(k, dash["kpis"][k]), _fmt(k, dash["previous"][k])))
                     for k, lab in KPI_LABELS],
        "ranking": rank["rows"], "formula": rank["formula"],
        "indicators": ind, "indicator_lines": [
            (translate(name, locale), indicator_value(ind["total"][k], kind, locale),
             indicator_value(ind["total"]["previous"][k], kind, locale),
             indicator_change(ind["total"]["change"][k], kind, locale))
            for k, name, kind in INDICATOR_LINES],
        "overdue": [row(i) for i in overdue],
        "recurring": [row(i) for i in first("reported_at", recurring=True)],
        "closed": closed, "map_png": map_png, "gaps_png": gaps_png,
    }


def _map_png(store: Store, locale: str, **view: Any) -> str:
    """A print map in locale as base64 PNG for the bulletin ("" when it cannot be drawn):
    drawn by matplotlib, with its title, legend, scale bar and north arrow and without the
    web page's controls. Rendering the snapshot page in Chromium took 14-19 s a map for a
    city (4,950 zones as GeoJSON), matplotlib 3-7 s."""
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "map.png"
        try:
            snapshot_static(store, png, width=1400, height=900, locale=locale, **view)
        except InvalidInput:
            return ""
        # 256 colours: a map of flat fills and lines looks the same at a quarter of the bytes
        # (a city's issue map 2.1 -> 0.5 MB), which the HTML and the PDF carry
        small = io.BytesIO()
        Image.open(png).convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE).save(
            small, "PNG", optimize=True)
        return base64.b64encode(small.getvalue()).decode()


def render_bulletin(context: dict[str, Any]) -> str:
    """The bulletin as HTML, in the context's locale."""
    return render_page("bulletin.html.j2", context, context.get("locale", DEFAULT))


def write_bulletin(store: Store, period: str, out: Path,
                   rules: IndicatorRules | None = None,
                   locale: str = DEFAULT) -> dict[str, Any]:
    """Write the bulletin to out (.html or .pdf) in locale."""
    suffix = out.suffix.lower()
    if suffix not in (".html", ".pdf"):
        raise InvalidInput("周通报只能输出为 .pdf 或 .html 文件")
    context = bulletin_context(store, period, rules=rules, locale=locale)
    options = {"paper": "A4", "landscape": False} if suffix == ".pdf" else {}
    write_page(render_bulletin(context), out, **options)
    return {"out": str(out), "period": context["period"], "bytes": out.stat().st_size,
            "overdue": len(context["overdue"]), "map": bool(context["map_png"]),
            "gaps_map": bool(context["gaps_png"])}
