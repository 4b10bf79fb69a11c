"""Printable route sheets (路线单): per team, the ordered stops, a route sketch and checklists."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from geo.exports.pages import render_page
from geo.exports.snapshot import write_page
from geo.i18n import DEFAULT, translate
from geo.model.errors import InvalidInput
from geo.planner.inspections import checklists, last_inspections, revisit_due
from geo.store import Store

SVG_W, SVG_H = 760, 300


def sheet_context(store: Store, round_id: int, team: int | None = None,
                  locale: str = DEFAULT) -> dict[str, Any]:
    """What the route sheet template shows for one round (one team or all), its labels in
    locale (names, addresses and inspectors are user data)."""
    row = store.round(round_id)
    plan = row["plan"]
    teams = [t for t in plan["teams"] if team is None or t["team"] == team]
    if not teams:
        raise InvalidInput(f"检查轮次 #{round_id} 没有第 {team} 组")
    lists = checklists()
    due = revisit_due(last_inspections(store))
    out = []
    for t in teams:
        stops = []
        for s in t["stops"]:
            failed = [translate(i["label"], locale) for i in due[s["id"]]["items"]
                      if i["result"] == "fail"] if s["id"] in due else []
            items = [{**i, "label": translate(i["label"], locale)}
                     for i in lists.get(s.get("category") or "", [])]
            stops.append({**s, "category_label": translate(s.get("category_label") or "", locale),
                          "checklist": items, "previous_failed": failed})
        out.append({**t, "name": translate(t["name"], locale), "stops": stops,
                    "svg": _sketch(plan["start"], t)})
    return {"title": translate(row["name"], locale), "teams": out, "locale": locale,
            "mode_label": translate(plan["mode_label"], locale),
            "service_min": plan["service_min"], "printed": f"{datetime.now():%Y-%m-%d %H:%M}"}


def _sketch(start: list[float], team: dict[str, Any]) -> dict[str, Any]:
    """The team's path and stops scaled into an SVG box (north up, equal axes)."""
    pts = [tuple(p) for p in team["path"]] or [tuple(start)]
    xs = [p[0] for p in pts] + [start[0]]
    ys = [p[1] for p in pts] + [start[1]]
    minx, maxx, miny, maxy = min(xs), max(xs), min(ys), max(ys)
    span = max(maxx - minx, (maxy - miny) * SVG_W / SVG_H, 1e-6)
    k, pad = (SVG_W - 40) / span, 20

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return round(pad + (lon - minx) * k, 1), round(SVG_H - pad - (lat - miny) * k, 1)

    return {"width": SVG_W, "height": SVG_H, "start": xy(*start),
            "path": " ".join(f"{x},{y}" for x, y in (xy(*p) for p in pts)),
            "stops": [{"seq": s["seq"], "revisit": s.get("revisit", False),
                       **dict(zip(("x", "y"), xy(s["lon"], s["lat"]), strict=True))}
                      for s in team["stops"]]}


def render_sheet(context: dict[str, Any]) -> str:
    """The route sheet as HTML, in the context's locale."""
    return render_page("route_sheet.html.j2", context, context.get("locale", DEFAULT))


def write_sheet(store: Store, round_id: int, out: Path, team: int | None = None,
                locale: str = DEFAULT) -> dict[str, Any]:
    """Write a round's route sheet to out (.html or .pdf, A4 portrait) in locale."""
    if out.suffix.lower() not in (".html", ".pdf"):
        raise InvalidInput("路线单只能输出为 .html 或 .pdf 文件")
    context = sheet_context(store, round_id, team, locale)
    options = {"paper": "A4", "landscape": False} if out.suffix.lower() == ".pdf" else {}
    write_page(render_sheet(context), out, **options)
    return {"out": str(out), "bytes": out.stat().st_size, "teams": len(context["teams"]),
            "stops": sum(len(t["stops"]) for t in context["teams"])}
