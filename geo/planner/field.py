"""The inspector's round in the field (外业巡查): what the offline app keeps on the device.

An inspector's round is the newest round with a team whose inspector (检查人) is the
inspector's username or display name; a round and team may also be asked for by id. The
document holds the team's stops in visiting order (all of the round's teams when no team is
the inspector's), the checklist of each stop's category, which stops were already inspected,
the issue categories a report may take, and the bounding box whose vector tiles the app caches.
"""

from __future__ import annotations

from typing import Any

from geo.model.errors import NotFound
from geo.model.kinds import issue_categories
from geo.planner.inspections import checklists
from geo.store import Store

PAD_DEG = 0.003  # about 300 m around the stops: the streets leading to the first and last


def assigned_team(plan: dict[str, Any], names: set[str]) -> dict[str, Any] | None:
    """The first team of a round's plan whose inspector is one of `names`, or None."""
    for team in plan["teams"]:
        if (team.get("inspector") or "").strip() in names:
            return dict(team)
    return None


def field_round(store: Store, names: set[str], round_id: int | None = None,
                team: int | None = None) -> dict[str, Any]:
    """The round document of the field app for an inspector known by `names` (username,
    display name): the round `round_id` (team `team`, else the inspector's team, else every
    stop), or the newest round with a team of the inspector's; NotFound when there is none."""
    names = {n.strip() for n in names if n and n.strip()}
    if round_id is None:
        for row in store.rounds():  # newest first; a city plans some rounds a month
            if assigned_team(row["plan"], names) is not None:
                round_id = row["id"]
                break
        else:
            raise NotFound("没有分配给你的检查轮次：请选择一个轮次")
    row = store.round(round_id)
    teams = row["plan"]["teams"]
    if team is not None:
        chosen = next((dict(t) for t in teams if t["team"] == team), None)
        if chosen is None:
            raise NotFound(f"第 {round_id} 轮没有第 {team} 组")
    else:
        chosen = assigned_team(row["plan"], names)
    stops = chosen["stops"] if chosen else [s for t in teams for s in t["stops"]]
    done = {r["feature_id"]: r["id"] for r in store.inspections(round_id=round_id)}
    lists = checklists()
    xs = [float(s["lon"]) for s in stops]
    ys = [float(s["lat"]) for s in stops]
    bbox = [min(xs) - PAD_DEG, min(ys) - PAD_DEG, max(xs) + PAD_DEG, max(ys) + PAD_DEG] \
        if stops else None
    return {
        "round": {"id": row["id"], "name": row["name"]},
        "team": {"team": chosen["team"], "name": chosen["name"],
                 "inspector": chosen.get("inspector") or ""} if chosen else None,
        "stops": [{"id": s["id"], "seq": s.get("seq"), "name": s.get("name"),
                   "category": s.get("category"), "category_label": s.get("category_label"),
                   "address": s.get("address") or "", "lon": s["lon"], "lat": s["lat"],
                   "inspection_id": done.get(s["id"])} for s in stops],
        "path": chosen["path"] if chosen else [],
        "checklists": {c: lists.get(c, []) for c in sorted({s.get("category") or ""
                                                            for s in stops}) if c},
        "categories": report_categories(),
        "bbox": bbox,
    }


def report_categories() -> list[dict[str, str]]:
    """The categories a field report may take: code and label, in the catalogue's order."""
    return [{"code": code, "label": r.get("label", code)}
            for code, r in issue_categories().items()]
