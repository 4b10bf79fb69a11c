"""Weekly/monthly bulletins (周通报/工作简报): KPIs against the previous period, the issue map,
the community ranking, overdue issues by unit, recurring issues and the closed issues with their
before/after photos, as HTML or PDF (rendered by headless Chromium with the system's CJK font,
which the PDF embeds)."""

from __future__ import annotations

import base64
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from geo.analytics.dashboard import dashboard
from geo.analytics.scoring import parse_period, ranking
from geo.exports.snapshot import export_map, write_page
from geo.maps.mapview import STATIC
from geo.model.errors import InvalidInput
from geo.model.kinds import issue_categories
from geo.model.records import Issue
from geo.store import IssueQuery, Store

MAX_ROWS = 60
KPI_LABELS = [("new", "新增问题"), ("closed", "结案"), ("overdue", "超期"), ("recurring", "回潮"),
              ("rectification_rate", "整改率"), ("on_time_closure_rate", "按期结案率")]


def _fmt(key: str, value: Any) -> str:
    return f"{value * 100:.1f}%" if key.endswith("rate") else str(value)


def bulletin_context(store: Store, period: str, now: datetime | None = None,
                     with_map: bool = True) -> dict[str, Any]:
    """Everything the bulletin template shows."""
    now = now or datetime.now()
    start, end, label = parse_period(period, now)
    dash = dashboard(store, label, now)
    cats = issue_categories()

    def first(order: str, **filters: Any) -> list[Issue]:  # MAX_ROWS issues, chosen in SQL
        return store.issue_list(IssueQuery(since=start, until=end, limit=None, **filters),
                                order=[order], limit=MAX_ROWS)

    def row(i: Any) -> dict[str, Any]:
        return {"id": i.id, "unit": i.unit, "address": i.address, "recurring_of": i.recurring_of,
                "category_label": cats.get(i.category, {}).get("label", i.category),
                "deadline": f"{i.deadline:%m-%d %H:%M}" if i.deadline else "",
                "reported_at": f"{i.reported_at:%m-%d %H:%M}" if i.reported_at else "",
                "closed_at": f"{i.closed_at:%m-%d %H:%M}" if i.closed_at else ""}

    overdue = first("unit", overdue=True, now=min(end, now))  # by unit ("" first), then id
    closed = []
    for i in first("reported_at", statuses=["closed"]):
        r = row(i)
        r["photos"] = []
        for p in store.photos(i.id or 0):
            meta, data = store.photo(p["id"])
            r["photos"].append({"stage": meta["stage"], "content_type": meta["content_type"],
                                "data": base64.b64encode(data).decode()})
        closed.append(r)
    map_png = gaps_png = ""
    if with_map:
        map_png = _map_png(store, view="issues", issues=IssueQuery(since=start, until=end))
        gaps_png = _map_png(store, layers=["subdistrict", "community", "zone", "gaps"])
    rank = ranking(store, "community", label, now)
    return {
        "title": f"创城工作周通报（{label}）" if "W" in label else f"创城工作简报（{label}）",
        "period": label, "start": f"{start:%Y-%m-%d}",
        "end": f"{end - timedelta(days=1):%Y-%m-%d}",
        "issued": f"{now:%Y年%m月%d日}",
        "kpi_rows": [(lab, (_fmt(k, dash["kpis"][k]), _fmt(k, dash["previous"][k])))
                     for k, lab in KPI_LABELS],
        "ranking": rank["rows"], "formula": rank["formula"],
        "overdue": [row(i) for i in overdue],
        "recurring": [row(i) for i in first("reported_at", recurring=True)],
        "closed": closed, "map_png": map_png, "gaps_png": gaps_png,
    }


def _map_png(store: Store, **view: Any) -> str:
    """A map snapshot as base64 PNG for the bulletin ("" when it cannot be drawn)."""
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "map.png"
        try:
            export_map(store, png, width=1400, height=900, **view)
        except InvalidInput:
            return ""
        return base64.b64encode(png.read_bytes()).decode()


def render_bulletin(context: dict[str, Any]) -> str:
    """The bulletin as HTML."""
    env = Environment(loader=FileSystemLoader(STATIC / "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    return env.get_template("bulletin.html.j2").render(**context)


def write_bulletin(store: Store, period: str, out: Path) -> dict[str, Any]:
    """Write the bulletin to out (.html or .pdf)."""
    suffix = out.suffix.lower()
    if suffix not in (".html", ".pdf"):
        raise InvalidInput("the bulletin is written as .pdf or .html")
    context = bulletin_context(store, period)
    options = {"paper": "A4", "landscape": False} if suffix == ".pdf" else {}
    write_page(render_bulletin(context), out, **options)
    return {"out": str(out), "period": context["period"], "bytes": out.stat().st_size,
            "overdue": len(context["overdue"]), "map": bool(context["map_png"]),
            "gaps_map": bool(context["gaps_png"])}
