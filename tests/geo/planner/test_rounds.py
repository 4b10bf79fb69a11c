"""Inspection rounds: route quality against an exact solver, balance, budgets, network paths."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations, pairwise

import networkx as nx
import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, milp
from shapely.geometry import LineString, Point

from geo.demo.city import build_demo
from geo.model.kinds import Kind
from geo.model.records import Feature
from geo.planner.network import StreetNetwork
from geo.planner.rounds import RoundSpec, plan_rounds, solve_routes
from geo.planner.sampling import draw_sample
from geo.store import Store, open_store


def exact_open_path(cost: NDArray[np.float64]) -> float:
    """Length of the shortest path from node 0 through every node (any end), by MILP.

    A dummy node closes the path into a tour; the tour must use the edge dummy–0. Subtours are
    cut (Dantzig–Fulkerson–Johnson) until the solution is one tour: an exact optimum.
    """
    n = len(cost) + 1
    full = np.zeros((n, n))
    full[: n - 1, : n - 1] = cost
    edges = list(combinations(range(n), 2))
    c = np.array([full[i, j] for i, j in edges])
    degree = np.zeros((n, len(edges)))
    for k, (i, j) in enumerate(edges):
        degree[i, k] = degree[j, k] = 1
    lower = np.zeros(len(edges))
    lower[edges.index((0, n - 1))] = 1
    cuts: list[LinearConstraint] = [LinearConstraint(degree, 2, 2)]
    while True:
        res = milp(c, integrality=np.ones(len(edges)), bounds=Bounds(lower, 1),
                   constraints=cuts)
        assert res.success
        graph = nx.Graph([edges[k] for k in np.flatnonzero(res.x > 0.5)])
        parts = list(nx.connected_components(graph))
        if len(parts) == 1:
            return float(res.fun)
        for part in parts:
            row = np.array([1.0 if i in part and j in part else 0.0 for i, j in edges])
            cuts.append(LinearConstraint(row, -np.inf, len(part) - 1))


def route_length(cost: NDArray[np.float64], route: list[int]) -> float:
    """Metres of an open route from node 0 along the given stops."""
    legs = [0, *route]
    return float(sum(cost[a, b] for a, b in pairwise(legs)))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}")
    build_demo(store)
    yield store
    store.close()


def test_route_of_30_points_is_within_10_percent_of_the_optimum(demo: Store) -> None:
    network = StreetNetwork.from_store(demo)
    assert network is not None
    points = demo.features(Kind.test_point)
    rng = np.random.default_rng(3)
    chosen = [points[k] for k in rng.choice(len(points), size=30, replace=False)]
    where = [(p.geometry.centroid.x, p.geometry.centroid.y) for p in chosen]
    nodes = [where[0], *where[1:]]
    cost = network.distances(nodes, nodes)
    routes, left = solve_routes(cost, teams=1, speed_m_per_min=75, service_min=0,
                                budget_min=10_000, time_limit_s=3)
    assert left == [] and sorted(routes[0]) == list(range(1, 30))
    optimum = exact_open_path(cost)
    assert route_length(cost, routes[0]) <= 1.10 * optimum
    # and the order is much better than visiting the points in the order they were drawn
    assert route_length(cost, list(range(1, 30))) > 1.5 * optimum


def test_rounds_split_the_sample_into_balanced_teams(demo: Store) -> None:
    sample = draw_sample(demo, seed=5)
    spec = RoundSpec(teams=3, budget_min=600, service_min=10, inspectors=["张三", "李四"])
    plan = plan_rounds(demo, sample["points"], spec)
    teams = plan["teams"]
    assert plan["distance"] == "network" and plan["unscheduled"] == []
    visited = [s["id"] for t in teams for s in t["stops"]]
    assert sorted(visited) == sorted(p["id"] for p in sample["points"])
    assert [t["inspector"] for t in teams] == ["张三", "李四", ""]
    days = [t["duration_min"] for t in teams]
    assert min(days) > 0
    # balanced: the longest day is shorter than one team doing it all, split in a naive way
    naive = plan_rounds(demo, sample["points"], RoundSpec(teams=1, budget_min=6000,
                                                          service_min=10))
    assert max(days) < 0.6 * naive["teams"][0]["duration_min"]
    for t in teams:
        assert [s["seq"] for s in t["stops"]] == list(range(1, len(t["stops"]) + 1))
        arrive = [s["arrive_min"] for s in t["stops"]]
        assert arrive == sorted(arrive)
        assert t["duration_min"] <= spec.budget_min
        assert len(t["path"]) >= len(t["stops"]) + 1


def test_a_tight_budget_leaves_points_unscheduled_not_lost(demo: Store) -> None:
    sample = draw_sample(demo, seed=5)
    plan = plan_rounds(demo, sample["points"], RoundSpec(teams=1, budget_min=60,
                                                         service_min=15))
    visited = [s["id"] for s in plan["teams"][0]["stops"]]
    assert 0 < len(visited) <= 4  # 60 minutes hold at most four 15-minute stops
    assert plan["teams"][0]["duration_min"] <= 60
    left = [p["id"] for p in plan["unscheduled"]]
    assert sorted(visited + left) == sorted(p["id"] for p in sample["points"])


def test_network_distance_follows_the_streets(store: Store) -> None:
    # an L-shaped street: from one end to the other is 2 km along it, 1.41 km straight
    store.add_features([Feature(Kind.street, LineString([(121.0, 31.0), (121.0, 31.009)]),
                                name="南北路"),
                        Feature(Kind.street, LineString([(121.0, 31.009), (121.0105, 31.009)]),
                                name="东西路")])
    network = StreetNetwork.from_store(store)
    assert network is not None
    d = network.distances([(121.0, 31.0)], [(121.0105, 31.009)])[0, 0]
    assert 1950 < d < 2050
    assert network.street_name((121.0052, 31.0091)) in ("东西路", "南北路")
    path = network.path((121.0, 31.0), (121.0105, 31.009))
    assert (121.0, 31.009) in [(round(x, 6), round(y, 6)) for x, y in path]


def test_route_sheet_escapes_names_and_lists_the_checklist(store: Store) -> None:
    from shapely.geometry import Point

    from geo.exports.route_sheet import render_sheet, sheet_context
    from geo.planner.inspections import checklist
    from geo.planner.rounds import create_round

    hostile = '<img src=x onerror="alert(1)">公厕'
    store.add_features([Feature(Kind.test_point, Point(121.0, 31.0), name=hostile,
                                category="public_toilet"),
                        Feature(Kind.street, LineString([(120.999, 31.0), (121.001, 31.0)]),
                                name="测试路")])
    row = create_round(store, 1, RoundSpec(teams=1, time_limit_s=0.2), actor="t",
                       quota={"public_toilet": 1})
    html = render_sheet(sheet_context(store, row["id"]))
    assert "<img src=x" not in html and "&lt;img src=x" in html
    assert all(item["label"] in html for item in checklist("public_toilet"))
    assert "测试路附近" in html  # the address falls back to the nearest street


def test_return_driving_and_no_streets(demo: Store, store: Store) -> None:
    sample = draw_sample(demo, seed=8)
    spec = RoundSpec(teams=1, budget_min=6000, service_min=0, time_limit_s=1)
    walk = plan_rounds(demo, sample["points"], spec)
    back = plan_rounds(demo, sample["points"], RoundSpec(**{**spec.__dict__,
                                                            "return_to_start": True}))
    team = back["teams"][0]
    # the way home is walked and drawn: the path ends where it began
    assert team["path"][-1] == team["path"][0]
    assert team["distance_m"] > walk["teams"][0]["distance_m"]
    drive = plan_rounds(demo, sample["points"], RoundSpec(**{**spec.__dict__, "mode": "drive"}))
    ratio = walk["teams"][0]["duration_min"] / drive["teams"][0]["duration_min"]
    assert ratio == pytest.approx(250 / 75, rel=0.15)  # same streets, faster travel
    # with no streets loaded, straight lines × 1.3 stand in and the plan says so
    store.add_features([Feature(Kind.test_point, Point(121.0 + k * 0.002, 31.0),
                                name=f"点{k}", category="bus_stop") for k in range(4)])
    stops = draw_sample(store, seed=1, quota={"bus_stop": 4})["points"]
    flat = plan_rounds(store, stops, RoundSpec(start=(121.0, 31.0), time_limit_s=0.5))
    assert flat["distance"] == "straight_line"
    # visiting four points 200 m apart along a line from its end: 600 m × 1.3
    assert flat["teams"][0]["distance_m"] == pytest.approx(3 * 0.002 * 95_000 * 1.3, rel=0.05)
