"""Drawing a sample of test points for an assessment round (抽样), reproducible from a seed.

Per category, `quota` points are drawn (data/reference/sample_quotas.json, overridable). The
draw is stratified by community: the quota is spread over the communities in proportion to
their points of that category (largest remainders), then points are drawn within each community.
With risk weighting, a point's chance grows with the issues reported within 100 m of it in
the last 90 days (1 + issues), doubles when one of them is recurring, and grows with the time
since the point was last inspected (× 1 + days/90, capped at × 2; never inspected counts × 2).
Points inspected in the last `exclude_days` days are left out; points whose latest inspection
failed an item are added on top of the quota as re-inspections (回头看, `revisit: true`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely

from geo import DATA_DIR
from geo.layers.projection import MetricFrame
from geo.model.errors import InvalidInput
from geo.model.kinds import Kind, test_point_categories
from geo.model.records import Feature
from geo.planner.inspections import inspected_since, last_inspections, revisit_due
from geo.store import IssueQuery, Store

RISK_RADIUS_M = 100.0
RISK_DAYS = 90


def quotas() -> dict[str, int]:
    """Points per category of a sample."""
    doc = json.loads((DATA_DIR / "reference" / "sample_quotas.json").read_text("utf-8"))
    return {k: int(v) for k, v in doc["quotas"].items()}


def _community_of(points: list[Feature], communities: list[Feature]) -> list[str]:
    if not communities:
        return ["（全辖区）"] * len(points)
    tree = shapely.STRtree([c.geometry for c in communities])
    out = []
    for p in points:
        hits = tree.query(p.geometry.centroid, predicate="within")
        out.append(communities[int(hits[0])].name if len(hits) else "（辖区外）")
    return out


def _risk(store: Store, points: list[Feature], now: datetime,
          last: dict[int, datetime]) -> np.ndarray:
    issues = store.issue_flags(IssueQuery(since=now - timedelta(days=RISK_DAYS), limit=None))
    weights = np.ones(len(points))
    if not points:
        return weights
    frame = MetricFrame.for_geometry(shapely.union_all([p.geometry for p in points]))
    tree = shapely.STRtree(frame.to_metric(shapely.points(issues["lon"], issues["lat"])))
    m_points = frame.to_metric(np.array([p.geometry.centroid for p in points], dtype=object))
    p_idx, i_idx = tree.query(m_points, predicate="dwithin", distance=RISK_RADIUS_M)
    np.add.at(weights, p_idx, 1)
    recurring = np.zeros(len(points), dtype=bool)
    recurring[p_idx[issues["recurring"][i_idx] == 1]] = True
    weights[recurring] *= 2
    for k, p in enumerate(points):
        days = (now - last[p.id]).days if p.id in last else RISK_DAYS
        weights[k] *= 1 + min(max(days, 0), RISK_DAYS) / RISK_DAYS
    return weights


def draw_sample(store: Store, seed: int, quota: dict[str, int] | None = None,
                risk: bool = False, now: datetime | None = None, exclude_days: int = 0,
                revisit: bool = True) -> dict[str, Any]:
    """The sample: points with their community, and the counts per category."""
    if exclude_days < 0:
        raise InvalidInput("exclude_days 不能小于 0")
    if seed < 0:
        raise InvalidInput("随机种子 seed 不能小于 0")
    now = now or datetime.now()
    rng = np.random.default_rng(seed)
    quota = quota or quotas()
    labels = test_point_categories()
    points = store.features(Kind.test_point)
    communities = _community_of(points, store.features(Kind.community))
    latest = last_inspections(store)
    weights = (_risk(store, points, now, {f: r["inspected_at"] for f, r in latest.items()})
               if risk else np.ones(len(points)))
    revisits = revisit_due(latest) if revisit else {}
    excluded = (inspected_since(latest, now - timedelta(days=exclude_days)) if exclude_days
                else set())
    by_cat: dict[str, list[int]] = defaultdict(list)
    for k, p in enumerate(points):
        if p.id not in excluded and p.id not in revisits:
            by_cat[p.category or ""].append(k)
    chosen: list[int] = []
    shortfall = {}
    for cat, n in quota.items():
        pool = by_cat.get(cat, [])
        if len(pool) < n:
            shortfall[cat] = n - len(pool)
        chosen += _stratified(rng, pool, min(n, len(pool)), communities, weights)
    chosen += [k for k, p in enumerate(points) if p.id in revisits]
    rows = [{"id": points[k].id, "name": points[k].name, "category": points[k].category,
             "category_label": labels.get(points[k].category or "", points[k].category),
             "community": communities[k], "lon": points[k].geometry.centroid.x,
             "lat": points[k].geometry.centroid.y, "risk_weight": float(weights[k]),
             "revisit": points[k].id in revisits,
             "address": str(points[k].properties.get("address") or "")}
            for k in chosen]
    counts: dict[str, int] = defaultdict(int)
    for r in rows:
        counts[str(r["category"])] += 1
    return {"seed": seed, "risk_weighted": risk, "size": len(rows), "points": rows,
            "by_category": dict(counts), "shortfall": shortfall, "exclude_days": exclude_days,
            "excluded": len(excluded), "revisits": sum(1 for r in rows if r["revisit"])}


def _stratified(rng: np.random.Generator, pool: list[int], n: int, communities: list[str],
                weights: np.ndarray) -> list[int]:
    if n == 0:
        return []
    strata: dict[str, list[int]] = defaultdict(list)
    for k in pool:
        strata[communities[k]].append(k)
    names = sorted(strata)
    exact = np.array([n * len(strata[s]) / len(pool) for s in names])
    take = np.floor(exact).astype(int)
    for j in np.argsort(-(exact - take))[: n - take.sum()]:
        take[j] += 1
    out: list[int] = []
    for name, t in zip(names, take.tolist(), strict=True):
        members = strata[name]
        w = weights[members] / weights[members].sum()
        out += [int(x) for x in rng.choice(members, size=t, replace=False, p=w)]
    return out
