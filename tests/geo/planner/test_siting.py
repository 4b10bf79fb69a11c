"""Post siting (MCLP / LSCP): optimality by construction and brute force, store glue by geodesy."""

from __future__ import annotations

import itertools
import math
from datetime import datetime

import numpy as np
import pyproj
import pytest
from shapely.geometry import Point, box

from geo.model.errors import InvalidInput
from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.planner.siting import plan_posts, solve_sites
from geo.store import open_store

GEOD = pyproj.Geod(ellps="WGS84")
FAR = 10_000.0


def _geo_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


def _cover_matrix(sets: list[set[int]], n_demand: int) -> np.ndarray:
    """Cost matrix where candidate j is 100 m from the demand in sets[j], FAR from the rest."""
    cost = np.full((n_demand, len(sets)), FAR)
    for j, s in enumerate(sets):
        for i in s:
            cost[i, j] = 100.0
    return cost


# --- MCLP ------------------------------------------------------------------------------------

def test_mclp_picks_the_known_optimum_for_p1_and_p2() -> None:
    # demand weights: 0..2 heavy cluster, 3..5 light cluster, 6 isolated
    weights = np.array([5, 5, 5, 1, 1, 1, 4], dtype=float)
    # cand 0 covers the heavy cluster (15); cand 1 covers light + isolated (7);
    # cand 2 covers one heavy + isolated (9); cand 3 covers the light cluster (3)
    cost = _cover_matrix([{0, 1, 2}, {3, 4, 5, 6}, {2, 6}, {3, 4, 5}], 7)
    one = solve_sites(cost, 200.0, "mclp", p=1, weights=weights)
    assert one["chosen"] == [0]
    assert one["covered"] == [0, 1, 2] and one["uncovered"] == [3, 4, 5, 6]
    assert one["coverage_rate"] == pytest.approx(15 / 22)
    two = solve_sites(cost, 200.0, "mclp", p=2, weights=weights)
    assert two["chosen"] == [0, 1]  # 0+2 gives 19 and 0+3 gives 18, 0+1 gives all 22
    assert two["covered"] == list(range(7)) and two["uncovered"] == []
    assert two["coverage_rate"] == pytest.approx(1.0)
    assert two["model"] == "mclp" and two["p"] == 2 and two["service_m"] == 200.0


def test_mclp_respects_the_service_radius_exactly() -> None:
    cost = np.array([[499.0, 800.0], [501.0, 200.0], [500.0, 900.0]])
    out = solve_sites(cost, 500.0, "mclp", p=1)
    assert out["chosen"] == [0] and out["covered"] == [0, 2]  # 500 m counts, 501 m does not
    assert out["coverage_rate"] == pytest.approx(2 / 3)


def test_mclp_matches_brute_force_on_random_matrices() -> None:
    rng = np.random.default_rng(11)
    for _ in range(5):
        cost = rng.uniform(0, 1000, size=(12, 6))
        w = rng.integers(1, 10, size=12).astype(float)
        for p in (1, 2, 3):
            out = solve_sites(cost, 300.0, "mclp", p=p, weights=w)
            best = max(w[(cost[:, list(c)] <= 300).any(axis=1)].sum()
                       for c in itertools.combinations(range(6), p))
            got = w[(cost[:, out["chosen"]] <= 300).any(axis=1)].sum()
            assert len(out["chosen"]) == p
            assert got == pytest.approx(best)
            assert out["coverage_rate"] == pytest.approx(best / w.sum())


# --- LSCP ------------------------------------------------------------------------------------

def test_lscp_beats_greedy_on_the_classic_trap() -> None:
    # 6 demand points; cand 0 covers 4 (greedy takes it first) but then 2 more are needed;
    # cands 1 and 2 together cover everything.
    cost = _cover_matrix([{1, 2, 3, 4}, {0, 1, 2}, {3, 4, 5}, {0}, {5}], 6)
    out = solve_sites(cost, 150.0, "lscp")
    assert sorted(out["chosen"]) == [1, 2]
    assert out["p"] == 2 and out["uncovered"] == [] and out["unreachable"] == []
    assert out["coverage_rate"] == pytest.approx(1.0)


def _min_cover_size(reach: np.ndarray) -> int:
    n_cand = reach.shape[1]
    for k in range(1, n_cand + 1):
        for c in itertools.combinations(range(n_cand), k):
            if reach[:, list(c)].any(axis=1).all():
                return k
    raise AssertionError("no cover")


def test_lscp_is_minimal_by_brute_force() -> None:
    rng = np.random.default_rng(2026)
    for _ in range(6):
        cost = rng.uniform(0, 1000, size=(10, 8))
        reach = cost <= 350
        keep = reach.any(axis=1)
        out = solve_sites(cost, 350.0, "lscp")
        chosen = out["chosen"]
        assert reach[keep][:, chosen].any(axis=1).all()
        assert len(chosen) == _min_cover_size(reach[keep])
        assert out["unreachable"] == [int(i) for i in np.flatnonzero(~keep)]


def test_lscp_reports_unreachable_demand_instead_of_failing() -> None:
    cost = np.array([[100.0, 900.0],
                     [900.0, 100.0],
                     [900.0, 950.0],   # nothing within 500 m
                     [np.inf, np.nan]])  # no route at all
    out = solve_sites(cost, 500.0, "lscp", weights=np.array([1.0, 1.0, 2.0, 4.0]))
    assert out["unreachable"] == [2, 3]
    assert out["uncovered"] == [2, 3]
    assert sorted(out["chosen"]) == [0, 1] and out["covered"] == [0, 1]
    assert out["coverage_rate"] == pytest.approx(2 / 8)
    mclp = solve_sites(cost, 500.0, "mclp", p=2)
    assert mclp["unreachable"] == [2, 3] and mclp["covered"] == [0, 1]


def test_lscp_with_all_demand_unreachable_chooses_nothing() -> None:
    out = solve_sites(np.full((3, 2), 900.0), 100.0, "lscp")
    assert out["chosen"] == [] and out["unreachable"] == [0, 1, 2]
    assert out["coverage_rate"] == 0.0


# --- invalid input ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    {"model": "mclp", "p": 0},
    {"model": "mclp", "p": 4},
    {"model": "mclp", "p": None},
    {"model": "mclp", "p": 1, "service_m": 0.0},
    {"model": "lscp", "service_m": -5.0},
    {"model": "pmedian", "p": 1},
    {"model": "mclp", "p": 1, "weights": np.ones(3)},
    {"model": "mclp", "p": 1, "weights": -np.ones(2)},
])
def test_invalid_parameters_raise_invalid_input(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"service_m": 500.0, **kwargs}
    with pytest.raises(InvalidInput):
        solve_sites(np.array([[100.0, 200.0, 300.0], [300.0, 200.0, 100.0]]), **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("cost", [np.zeros((0, 3)), np.zeros((3, 0)), np.zeros(3),
                                  np.array([[-1.0, 2.0]])])
def test_empty_or_malformed_cost_raises_invalid_input(cost: np.ndarray) -> None:
    with pytest.raises(InvalidInput):
        solve_sites(cost, 500.0, "lscp")


# --- plan_posts on a store -------------------------------------------------------------------

LON0, LAT0 = 121.470, 31.230
DLON = 100 / (111_320 * math.cos(math.radians(LAT0)))  # ≈ 100 m east
DLAT = 100 / 110_574  # ≈ 100 m north


def _pt(east_m: float, north_m: float) -> tuple[float, float]:
    return LON0 + east_m / 100 * DLON, LAT0 + north_m / 100 * DLAT


# two clusters ~1.5 km apart and one straggler between them
TEST_POINTS = [(f"西{i}", *_pt(x, y)) for i, (x, y) in
               enumerate([(0, 0), (150, 0), (0, 150), (150, 150)])] + \
              [(f"东{i}", *_pt(x, y)) for i, (x, y) in
               enumerate([(1500, 0), (1650, 0), (1500, 150)])] + [("中", *_pt(800, 800))]
MARKETS = [("西市场", box(*_pt(50, 50), *_pt(100, 100))), ("东市场", Point(_pt(1550, 50))),
           ("远市场", Point(_pt(5000, 5000)))]


def _build(db_url: str) -> None:
    store = open_store(db_url)
    try:
        store.add_features([Feature(Kind.test_point, Point(lon, lat), name=n, category="bus_stop")
                            for n, lon, lat in TEST_POINTS])
        store.add_features([Feature(Kind.market, g, name=n) for n, g in MARKETS])
    finally:
        store.close()


def _assert_covered_within(out: dict, service_m: float) -> None:
    sites = [(s["lon"], s["lat"]) for s in out["sites"]]
    assert len(sites) == len(out["chosen"])
    for d in out["demand_points"]:
        nearest = min(_geo_m((d["lon"], d["lat"]), s) for s in sites)
        if d["covered"]:
            assert nearest <= service_m * 1.002, d
        else:
            assert nearest > service_m * 0.998, d


def test_plan_posts_on_test_points_covers_within_service_radius(db_url: str) -> None:
    _build(db_url)
    store = open_store(db_url)
    try:
        out = plan_posts(store, model="mclp", p=2, service_m=300.0)
    finally:
        store.close()
    assert out["distance"] == "straight_line" and out["demand"] == "test_point"
    assert len(out["demand_points"]) == len(TEST_POINTS)
    # one post in each cluster covers all but the straggler
    assert sum(d["covered"] for d in out["demand_points"]) == 7
    assert out["coverage_rate"] == pytest.approx(7 / 8)
    assert {s["name"][0] for s in out["sites"]} == {"西", "东"}
    _assert_covered_within(out, 300.0)


def test_plan_posts_lscp_with_market_candidates_flags_unreachable(db_url: str) -> None:
    _build(db_url)
    store = open_store(db_url)
    try:
        out = plan_posts(store, model="lscp", service_m=300.0, candidate_kind=Kind.market)
    finally:
        store.close()
    assert sorted(s["name"] for s in out["sites"]) == ["东市场", "西市场"]
    names = [d["name"] for d in out["demand_points"]]
    assert [names[i] for i in out["unreachable"]] == ["中"]
    assert out["p"] == 2
    _assert_covered_within(out, 300.0)
    # polygon market is sited at a point inside its polygon
    west = next(s for s in out["sites"] if s["name"] == "西市场")
    assert box(*_pt(50, 50), *_pt(100, 100)).contains(Point(west["lon"], west["lat"]))


def test_plan_posts_issue_demand_with_explicit_candidates_and_distance(db_url: str) -> None:
    store = open_store(db_url)
    now = datetime(2026, 11, 1, 9, 0)
    try:
        # 5 open issues at one spot, 1 open issue 1 km away, 3 closed ones ignored
        open_ = [_pt(10, 10)] * 5 + [_pt(1000, 0)]
        closed = [_pt(2000, 2000)] * 3
        store.add_issues([Issue("clutter", lon, lat, status="reported", reported_at=now)
                          for lon, lat in open_] +
                         [Issue("clutter", lon, lat, status="closed", reported_at=now)
                          for lon, lat in closed])
        cands = [("甲岗", *_pt(0, 0)), ("乙岗", *_pt(1000, 100)), ("丙岗", *_pt(2000, 2000))]
        calls: list[int] = []

        def geodesic(origins: list[tuple[float, float]],
                     destinations: list[tuple[float, float]]) -> np.ndarray:
            calls.append(1)
            return np.array([[_geo_m(o, d) for d in destinations] for o in origins])

        out = plan_posts(store, model="mclp", p=1, service_m=250.0, demand="issues",
                         candidates=cands, distance=geodesic)
    finally:
        store.close()
    assert calls and out["distance"] == "network"
    assert sum(d["weight"] for d in out["demand_points"]) == 6  # closed issues excluded
    assert sorted(d["weight"] for d in out["demand_points"]) == [1, 5]  # one cell each
    assert [s["name"] for s in out["sites"]] == ["甲岗"]
    assert out["coverage_rate"] == pytest.approx(5 / 6)
    _assert_covered_within(out, 250.0)


def test_plan_posts_without_demand_or_with_bad_args_raises(db_url: str) -> None:
    store = open_store(db_url)
    try:
        with pytest.raises(InvalidInput):
            plan_posts(store, p=1)  # no test points
        store.add_features([Feature(Kind.test_point, Point(LON0, LAT0), name="a",
                                    category="bus_stop")])
        with pytest.raises(InvalidInput):
            plan_posts(store, p=1, demand="shops")
        with pytest.raises(InvalidInput):
            plan_posts(store, p=1, candidate_kind=Kind.market)  # no markets
        with pytest.raises(InvalidInput):
            plan_posts(store, p=2)  # only one candidate
        with pytest.raises(InvalidInput):
            plan_posts(store, p=1, candidates=[("x", LON0, LAT0)], candidate_kind="market")
    finally:
        store.close()
