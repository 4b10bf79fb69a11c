"""Post siting (志愿服务站/巡查岗): MCLP and LSCP coverage models with spopt, and store glue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pulp
import shapely
from numpy.typing import NDArray
from spopt.locate import LSCP, MCLP

from geo.layers.projection import MetricFrame
from geo.model.errors import InvalidInput
from geo.model.kinds import Kind, parse_kind
from geo.model.lifecycle import UNHANDLED
from geo.model.records import Feature
from geo.planner.network import DistanceFn, LonLat, straight_distances
from geo.store import IssueQuery, Store

MODELS = ("mclp", "lscp")
DEMANDS = ("test_point", "issues")
ISSUE_CELL_M = 100.0  # issues are aggregated on a grid of this cell size (metres)



def _solver() -> pulp.LpSolver:
    return pulp.PULP_CBC_CMD(msg=False)


def _chosen(model: Any) -> list[int]:
    """Indices of the facility variables set to 1 in a solved spopt model."""
    return [j for j, v in enumerate(model.fac_vars) if (v.value() or 0.0) > 0.5]


def _check_cost(cost: Any) -> NDArray[np.float64]:
    try:
        arr = np.asarray(cost, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"距离矩阵必须是数值：{exc}") from exc
    if arr.ndim != 2:
        raise InvalidInput(f"距离矩阵必须是二维的（需求点 × 候选点位），实际形状为 {arr.shape}")
    if arr.shape[0] == 0:
        raise InvalidInput("没有需要覆盖的需求点")
    if arr.shape[1] == 0:
        raise InvalidInput("没有候选点位")
    if np.any(arr[~np.isnan(arr)] < 0):
        raise InvalidInput("距离矩阵中不能有负值")
    # NaN (no route) means unreachable, like +inf
    return np.where(np.isnan(arr), np.inf, arr)


def _check_weights(weights: Any, n: int) -> NDArray[np.float64]:
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=float).reshape(-1)
    if w.shape[0] != n:
        raise InvalidInput(f"权重个数 {w.shape[0]} 与需求点个数 {n} 不符：每个需求点须有一个权重")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InvalidInput("权重必须是非负有限数")
    return w


def _check_p(p: int, n_cand: int) -> None:
    if isinstance(p, bool) or int(p) != p or p < 1 or p > n_cand:
        raise InvalidInput(f"站点数 p 必须在 1 到候选点数 {n_cand} 之间，实际为 {p}")


def solve_sites(cost: np.ndarray, service_m: float, model: str, p: int | None = None,
                weights: np.ndarray | None = None) -> dict[str, Any]:
    """Choose candidate sites (columns of cost, metres) by MCLP (p sites) or LSCP (fewest)."""
    if model not in MODELS:
        raise InvalidInput(f"未知模型「{model}」：可选 {', '.join(MODELS)}")
    if not np.isfinite(service_m) or service_m <= 0:
        raise InvalidInput(f"服务半径 service_m 必须大于 0，实际为 {service_m}")
    arr = _check_cost(cost)
    n_dem, n_cand = arr.shape
    w = _check_weights(weights, n_dem)
    reach = arr <= service_m  # (demand, candidate) coverage matrix
    reachable = reach.any(axis=1)
    unreachable = [int(i) for i in np.flatnonzero(~reachable)]

    if model == "mclp":
        if p is None:
            raise InvalidInput("MCLP 模型需要站点数 p")
        _check_p(p, n_cand)
        # spopt's objective needs a finite matrix: beyond-radius values only need to stay beyond
        finite = np.where(np.isfinite(arr), arr, 2.0 * service_m + 1.0)
        mclp = MCLP.from_cost_matrix(finite, w, service_radius=service_m, p_facilities=int(p))
        mclp.solve(_solver(), results=False)
        chosen = _chosen(mclp)
    else:
        if p is not None:
            _check_p(p, n_cand)
        rows = np.flatnonzero(reachable)
        chosen = []
        if rows.size:
            sub = np.where(reach[rows], 0.0, 2.0 * service_m + 1.0)
            lscp = LSCP.from_cost_matrix(sub, service_radius=service_m)
            lscp.solve(_solver(), results=False)
            chosen = _chosen(lscp)

    covered_mask = reach[:, chosen].any(axis=1) if chosen else np.zeros(n_dem, dtype=bool)
    total = float(w.sum())
    covered_w = float(w[covered_mask].sum())
    rate = covered_w / total if total > 0 else float(covered_mask.mean())
    return {
        "model": model,
        "service_m": float(service_m),
        "p": int(p) if model == "mclp" and p is not None else len(chosen),
        "chosen": [int(j) for j in chosen],
        "covered": [int(i) for i in np.flatnonzero(covered_mask)],
        "uncovered": [int(i) for i in np.flatnonzero(~covered_mask)],
        "unreachable": unreachable,
        "coverage_rate": rate,
    }


def _lonlat(f: Feature) -> LonLat:
    pt = f.geometry.representative_point()
    return float(pt.x), float(pt.y)


def _issue_demand(store: Store) -> list[tuple[str, float, float, float]]:
    """Open issues counted on a 100 m grid: (name, lon, lat, weight) at each cell's centre."""
    issues = store.issue_flags(IssueQuery(statuses=sorted(UNHANDLED), limit=None))
    if not len(issues["lon"]):
        return []
    pts = shapely.points(issues["lon"], issues["lat"])
    frame = MetricFrame.for_geometry(shapely.multipoints(pts))
    xy = shapely.get_coordinates(frame.to_metric(pts))
    cells, counts = np.unique(np.floor(xy / ISSUE_CELL_M).astype(np.int64), axis=0,
                              return_counts=True)
    centres = frame.to_wgs84(shapely.points((cells + 0.5) * ISSUE_CELL_M))
    lonlat = shapely.get_coordinates(centres)
    return [("", float(lon), float(lat), float(n))
            for (lon, lat), n in zip(lonlat.tolist(), counts.tolist(), strict=True)]


def plan_posts(store: Store, model: str = "mclp", p: int | None = None,
               service_m: float = 500.0, demand: str = "test_point",
               candidates: Sequence[tuple[str, float, float]] | None = None,
               candidate_kind: Kind | str | None = None,
               distance: DistanceFn | None = None) -> dict[str, Any]:
    """Site posts over the store's test points or open issues; solve_sites plus map-ready lists."""
    if demand not in DEMANDS:
        raise InvalidInput(f"未知需求类型「{demand}」：可选 {', '.join(DEMANDS)}")
    if candidates is not None and candidate_kind is not None:
        raise InvalidInput("candidates 与 candidate_kind 只能给一个")
    test_points: list[Feature] | None = None
    if demand == "test_point":
        test_points = store.features(Kind.test_point)
        dem = [(f.name, *_lonlat(f), 1.0) for f in test_points]
    else:
        dem = _issue_demand(store)
    if not dem:
        raise InvalidInput(f"没有需求点：库中没有「{demand}」类需求点（测评点位或未办结问题）")

    if candidates is not None:
        cand = [(str(n), float(lon), float(lat)) for n, lon, lat in candidates]
    else:
        kind = parse_kind(str(candidate_kind)) if candidate_kind is not None else Kind.test_point
        if kind == Kind.test_point and test_points is not None:
            feats = test_points
        else:
            feats = store.features(kind)
        cand = [(f.name, *_lonlat(f)) for f in feats]
    if not cand:
        raise InvalidInput("没有候选点位")

    origins = [(lon, lat) for _, lon, lat, _ in dem]
    destinations = [(lon, lat) for _, lon, lat in cand]
    cost = (np.asarray(distance(origins, destinations), dtype=float) if distance is not None
            else straight_distances(origins, destinations, detour=1.0))
    if cost.shape != (len(origins), len(destinations)):
        raise InvalidInput(f"距离函数返回的矩阵形状 {cost.shape} 不对，应为 "
                           f"{(len(origins), len(destinations))}")
    weights = np.array([w for *_, w in dem], dtype=float)
    result = solve_sites(cost, service_m, model, p=p, weights=weights)

    reach = np.where(np.isnan(cost), np.inf, cost) <= service_m
    covered = set(result["covered"])
    unreachable = set(result["unreachable"])
    result["sites"] = [
        {"index": j, "name": cand[j][0], "lon": cand[j][1], "lat": cand[j][2],
         "covers": int(reach[:, j].sum()), "covers_weight": float(weights[reach[:, j]].sum())}
        for j in result["chosen"]]
    result["demand_points"] = [
        {"name": name, "lon": lon, "lat": lat, "weight": w, "covered": i in covered,
         "unreachable": i in unreachable}
        for i, (name, lon, lat, w) in enumerate(dem)]
    result["demand"] = demand
    result["distance"] = "network" if distance is not None else "straight_line"
    return result
