"""Inspection rounds (检查轮次): a sample split among teams, each visiting its stops in order.

The split and the order are one vehicle-routing problem solved with OR-Tools: every team starts at
the start point (and by default ends at its last stop), the cost is the distance walked or driven
on the street network, a team's working time (travel + `service_min` per stop) may not exceed
the time budget, and the longest team day is penalised so the workload comes out balanced.
Points that do not fit any team's budget are returned as `unscheduled`, never silently dropped.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from geo.layers.coords import convert_geometry
from geo.layers.geojson import collection, geometry_json
from geo.model.errors import InvalidInput
from geo.model.kinds import Kind
from geo.planner.network import LonLat, StreetNetwork, straight_distances
from geo.planner.sampling import draw_sample
from geo.store import Store

SPEED_M_PER_MIN = {"walk": 75.0, "drive": 250.0}  # 4.5 km/h on foot; 15 km/h in old-town traffic
MODE_LABELS = {"walk": "步行", "drive": "驾车"}
BALANCE_WEIGHT = 100  # cost of one more second on the longest team day, in metres


@dataclass
class RoundSpec:
    """How to turn a sample into rounds: teams, travel mode, budget, start."""

    teams: int = 1
    mode: str = "walk"
    budget_min: float = 240.0
    service_min: float = 15.0
    start: LonLat | None = None
    return_to_start: bool = False
    inspectors: list[str] = field(default_factory=list)
    time_limit_s: float = 2.0

    def validate(self) -> None:
        """Raise InvalidInput when a value is out of range."""
        if self.mode not in SPEED_M_PER_MIN:
            raise InvalidInput(f"mode 须为 {', '.join(SPEED_M_PER_MIN)} 之一")
        if not 1 <= self.teams <= 50:
            raise InvalidInput("检查组数 teams 须在 1 至 50 之间")
        if self.budget_min <= 0 or self.service_min < 0:
            raise InvalidInput("budget_min 须大于 0，service_min 不能小于 0")
        if self.start and not (-180 <= self.start[0] <= 180 and -90 <= self.start[1] <= 90):
            raise InvalidInput("起点 start 须为经纬度 lon,lat（单位：度）")


def solve_routes(cost: NDArray[np.float64], teams: int, speed_m_per_min: float,
                 service_min: float, budget_min: float, open_end: bool = True,
                 time_limit_s: float = 2.0) -> tuple[list[list[int]], list[int]]:
    """Stops (matrix indices ≥ 1) of each team in visiting order, and those left out.

    `cost` is metres between the start (index 0) and the stops (1..n).
    """
    n = len(cost)
    end = n if open_end else 0  # a free "anywhere" end node, reached at no cost
    size = n + 1 if open_end else n
    metres = np.zeros((size, size), dtype=np.int64)
    metres[:n, :n] = np.rint(cost)
    seconds = np.rint(metres * 60.0 / speed_m_per_min).astype(np.int64)
    seconds[1:n, :] += int(service_min * 60)
    if open_end:
        metres[n, :] = seconds[n, :] = 0
        seconds[1:n, n] = int(service_min * 60)
    manager = pywrapcp.RoutingIndexManager(size, teams, [0] * teams, [end] * teams)
    model = pywrapcp.RoutingModel(manager)

    def arc(table: NDArray[np.int64]) -> int:
        return int(model.RegisterTransitCallback(
            lambda i, j: int(table[manager.IndexToNode(i), manager.IndexToNode(j)])))

    model.SetArcCostEvaluatorOfAllVehicles(arc(metres))
    model.AddDimension(arc(seconds), 0, int(budget_min * 60), True, "time")
    model.GetDimensionOrDie("time").SetGlobalSpanCostCoefficient(BALANCE_WEIGHT)
    for node in range(1, n):
        model.AddDisjunction([manager.NodeToIndex(node)], 10**9)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH)
    params.time_limit.FromMilliseconds(int(time_limit_s * 1000))
    solution = model.SolveWithParameters(params)
    if solution is None:
        return [[] for _ in range(teams)], list(range(1, n))
    routes: list[list[int]] = []
    for v in range(teams):
        idx, stops = solution.Value(model.NextVar(model.Start(v))), []
        while not model.IsEnd(idx):
            stops.append(manager.IndexToNode(idx))
            idx = solution.Value(model.NextVar(idx))
        routes.append(stops)
    seen = {s for r in routes for s in r}
    return routes, [k for k in range(1, n) if k not in seen]


def default_start(store: Store, points: Sequence[LonLat]) -> LonLat:
    """Where rounds start by default: a point inside the sub-district, else the points' centre."""
    subs = store.features(Kind.subdistrict)
    if subs:
        p = shapely.point_on_surface(subs[0].geometry)
        return float(p.x), float(p.y)
    return float(np.mean([p[0] for p in points])), float(np.mean([p[1] for p in points]))


def plan_rounds(store: Store, stops: list[dict[str, Any]], spec: RoundSpec,
                network: StreetNetwork | None = None) -> dict[str, Any]:
    """Split sampled stops (dicts with id, name, category, lon, lat) into routed team rounds."""
    spec.validate()
    if not stops:
        raise InvalidInput("抽样结果为空：没有需要安排路线的点位")
    network = network if network is not None else StreetNetwork.from_store(store)
    where = [(float(s["lon"]), float(s["lat"])) for s in stops]
    start = spec.start or default_start(store, where)
    nodes = [start, *where]
    cost = (network.distances(nodes, nodes) if network else straight_distances(nodes, nodes))
    speed = SPEED_M_PER_MIN[spec.mode]
    routes, left = solve_routes(cost, spec.teams, speed, spec.service_min, spec.budget_min,
                                not spec.return_to_start, spec.time_limit_s)
    teams = []
    for t, route in enumerate(routes):
        legs = [0, *route, *([0] if spec.return_to_start and route else [])]
        minutes, metres, out = 0.0, 0.0, []
        for seq, (a, b) in enumerate(itertools.pairwise(legs), start=1):
            leg = float(cost[a, b])
            metres += leg
            minutes += leg / speed
            if b != 0:
                stop = dict(stops[b - 1])
                stop.update(seq=seq, leg_m=round(leg), arrive_min=round(minutes, 1),
                            address=stop.get("address") or _address(network, where[b - 1]))
                out.append(stop)
                minutes += spec.service_min
        path: list[LonLat] = []
        for a, b in itertools.pairwise(legs):
            path += network.path(nodes[a], nodes[b]) if network else [nodes[a], nodes[b]]
        teams.append({"team": t + 1, "name": f"第{t + 1}组",
                      "inspector": spec.inspectors[t] if t < len(spec.inspectors) else "",
                      "stops": out, "distance_m": round(metres), "duration_min": round(minutes, 1),
                      "path": [[round(x, 6), round(y, 6)] for x, y in path]})
    return {"mode": spec.mode, "mode_label": MODE_LABELS[spec.mode],
            "distance": "network" if network else "straight_line",
            "start": list(start), "budget_min": spec.budget_min, "service_min": spec.service_min,
            "return_to_start": spec.return_to_start, "teams": teams,
            "unscheduled": [stops[k - 1] for k in left],
            "planned_at": datetime.now().isoformat(timespec="seconds")}


def _address(network: StreetNetwork | None, point: LonLat) -> str:
    name = network.street_name(point) if network else ""
    return f"{name}附近" if name else ""


def create_round(store: Store, seed: int, spec: RoundSpec, actor: str, name: str = "",
                 quota: dict[str, int] | None = None, risk: bool = False,
                 exclude_days: int = 0) -> dict[str, Any]:
    """Draw a sample, route it into team rounds, store it; the stored round."""
    sample = draw_sample(store, seed, quota=quota, risk=risk, exclude_days=exclude_days)
    plan = plan_rounds(store, sample["points"], spec)
    plan["sample"] = {k: v for k, v in sample.items() if k != "points"}
    name = name.strip() or f"{datetime.now():%Y-%m-%d} 模拟测评（种子 {seed}）"
    rid = store.add_round(name, plan, actor)
    return store.round(rid)


def round_geojson(row: dict[str, Any], coords: str = "wgs84",
                  inspected: set[int] | None = None) -> dict[str, Any]:
    """A round as GeoJSON: one line per team, one point per stop (numbered), and the start."""
    plan, done = row["plan"], inspected or set()

    def geom(g: shapely.Geometry) -> dict[str, Any]:
        return geometry_json(convert_geometry(g, "wgs84", coords))

    features: list[dict[str, Any]] = [{
        "type": "Feature", "geometry": geom(shapely.Point(plan["start"])),
        "properties": {"role": "start", "name": "起点"}}]
    for t in plan["teams"]:
        if len(t["path"]) >= 2:
            features.append({"type": "Feature", "geometry": geom(shapely.LineString(t["path"])),
                             "properties": {"role": "route", "team": t["team"],
                                            "name": t["name"], "inspector": t["inspector"],
                                            "distance_m": t["distance_m"],
                                            "duration_min": t["duration_min"]}})
        for s in t["stops"]:
            features.append({"type": "Feature",
                             "geometry": geom(shapely.Point(s["lon"], s["lat"])),
                             "properties": {"role": "stop", "team": t["team"], "seq": s["seq"],
                                            "id": s["id"], "name": s["name"],
                                            "category": s["category"],
                                            "category_label": s["category_label"],
                                            "address": s.get("address", ""),
                                            "arrive_min": s["arrive_min"],
                                            "revisit": s.get("revisit", False),
                                            "inspected": s["id"] in done}})
    return collection(features)


STOP_HEADERS = [("team", "检查组"), ("inspector", "检查人"), ("seq", "序号"), ("id", "点位ID"),
                ("name", "点位名称"), ("category_label", "点位类型"), ("community", "社区"),
                ("address", "地址"), ("lon", "经度"), ("lat", "纬度"), ("leg_m", "路程(米)"),
                ("arrive_min", "预计到达(分钟)"), ("revisit", "回头看")]


def stop_rows(points: list[dict[str, Any]]) -> list[list[Any]]:
    """Sample points or round stops as rows under STOP_HEADERS (Chinese), header first."""
    rows: list[list[Any]] = [[label for _, label in STOP_HEADERS]]
    for p in points:
        rows.append([("是" if p.get(k) else "") if k == "revisit" else p.get(k, "")
                     for k, _ in STOP_HEADERS])
    return rows


def round_stops(row: dict[str, Any]) -> list[dict[str, Any]]:
    """Every stop of a round in team and visiting order, with its team and inspector."""
    return [{**s, "team": t["name"], "inspector": t["inspector"]}
            for t in row["plan"]["teams"] for s in t["stops"]]
