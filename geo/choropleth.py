"""Choropleths of zones and communities (issues per zone, per km, per km², open, overdue,
rectification, on-time closure and recurrence rates) with class breaks from mapclassify."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import mapclassify
import numpy as np
from threadpoolctl import threadpool_limits

from geo import area_figures
from geo.errors import InvalidInput
from geo.kinds import Kind
from geo.scoring import metrics, unrouted_communities
from geo.store import IssueQuery, Store
from geo.store.aggregates import merge_stats

METRICS = {
    "issues": "问题数", "per_km": "每公里道路问题数", "per_km2": "每平方公里问题数",
    "open": "未结问题数", "overdue": "超期问题数", "rectification_rate": "整改率",
    "on_time_closure_rate": "按期结案率", "recurrence_rate": "回潮率",
}
CLASSES = 5


def _kind(level: str) -> Kind:
    if level == "zone":
        return Kind.zone
    if level == "community":
        return Kind.community
    raise InvalidInput("level must be zone or community")


def choropleth(store: Store, level: str, metric: str, since: datetime | None = None,
               until: datetime | None = None, scope_unit: str | None = None) -> dict[str, Any]:
    """Areas with the metric's value and class, the breaks and a legend, as GeoJSON. The
    areas' geometry, area and street km come from geo.area_figures (computed again only
    after their layers change); the issues are counted in SQL on every call."""
    if metric not in METRICS:
        raise InvalidInput(f"metric must be one of {', '.join(METRICS)}")
    kind = _kind(level)
    areas = area_figures.areas(store, kind)
    if not areas.ids:
        return {"type": "FeatureCollection", "features": [], "breaks": [], "legend": []}
    now = min(until or datetime.now(), datetime.now())
    query = IssueQuery(since=since, until=until, scope_unit=scope_unit, limit=None, now=now)
    groups = _group(store, query, areas, level)
    if metric == "per_km":
        lines = area_figures.line_km(store, kind)
        km = lines[Kind.street] + lines[Kind.alley]
    else:
        km = np.zeros(len(areas.ids))
    area_km2 = areas.area_km2
    empty = merge_stats([])
    values = []
    for k in range(len(areas.ids)):
        counts = groups.get(k, empty)
        n = counts["issues"]
        m = metrics(counts)
        row = {"issues": n, "open": counts["open"],
               "overdue": m["overdue"], "rectification_rate": m["rectification_rate"],
               "on_time_closure_rate": m["on_time_closure_rate"],
               "recurrence_rate": m["recurrence_rate"],
               "per_km": n / km[k] if km[k] else 0.0,
               "per_km2": n / area_km2[k] if area_km2[k] else 0.0}
        values.append(row[metric])
    arr = np.array(values, dtype=float)
    k = min(CLASSES, len(np.unique(arr)))
    if k >= 2:
        # KMeans (10 starts on a few thousand values) in one OpenMP thread: 0.02 s of CPU
        # instead of 0.4 s spent by the threads of the pool waiting on each other
        with threadpool_limits(1, user_api="openmp"):
            classifier = mapclassify.NaturalBreaks(arr, k=k)
        bins, classes = [float(b) for b in classifier.bins], classifier.yb.tolist()
    else:
        bins, classes = [float(arr.max())], [0] * len(arr)
    features = [{"type": "Feature", "geometry": geometry, "properties": {
        "id": fid, "name": name, "unit": unit, "metric": metric,
        "value": round(v, 4), "class": int(c)}}
        for fid, name, unit, geometry, v, c in zip(areas.ids, areas.names, areas.units,
                                                    areas.geojson, values, classes, strict=True)]
    lower = [float(arr.min()), *bins[:-1]]
    legend = [{"class": n, "from": round(lo, 4), "to": round(hi, 4)}
              for n, (lo, hi) in enumerate(zip(lower, bins, strict=True))]
    return {"type": "FeatureCollection", "features": features, "metric": metric,
            "label": METRICS[metric], "level": level, "breaks": bins, "legend": legend,
            "method": "Fisher-Jenks natural breaks (mapclassify)"}


def _group(store: Store, query: IssueQuery, areas: area_figures.Areas,
           level: str) -> dict[int, dict[str, int]]:
    """Counts (issue_stats) per area index: by the zone_id or community stored with each
    issue, counted in SQL."""
    index: dict[Any, list[int]] = defaultdict(list)
    if level == "zone":
        for k, fid in enumerate(areas.ids):
            index[fid].append(k)
        rows = store.issue_stats(query, by=["zone_id"])
        return {k: r for r in rows for k in index.get(r["zone_id"], [])[:1]}
    for k, name in enumerate(areas.names):
        index[name].append(k)
    out: dict[int, list[dict[str, int]]] = defaultdict(list)
    rows = store.issue_stats(query, by=["community"])
    for r in rows:
        if r["community"] in index:
            out[index[r["community"]][0]].append(r)
    if any(r["community"] is None for r in rows):
        for name, counts in unrouted_communities(store, query).items():
            if name in index:
                out[index[name][0]].append(counts)
    return {k: merge_stats(v) for k, v in out.items()}
