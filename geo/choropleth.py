"""Choropleths of zones and communities (issues per zone, per km, per km², open, overdue,
rectification, on-time closure and recurrence rates) with class breaks from mapclassify."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import mapclassify
import numpy as np
import shapely

from geo.errors import InvalidInput
from geo.features import Feature, Issue
from geo.geojson import geometry_json
from geo.kinds import Kind
from geo.projection import MetricFrame
from geo.scoring import metrics
from geo.store import IssueQuery, Store

METRICS = {
    "issues": "问题数", "per_km": "每公里道路问题数", "per_km2": "每平方公里问题数",
    "open": "未结问题数", "overdue": "超期问题数", "rectification_rate": "整改率",
    "on_time_closure_rate": "按期结案率", "recurrence_rate": "回潮率",
}
CLASSES = 5


def _areas(store: Store, level: str) -> list[Feature]:
    if level == "zone":
        return store.features(Kind.zone)
    if level == "community":
        return store.features(Kind.community)
    raise InvalidInput("level must be zone or community")


def choropleth(store: Store, level: str, metric: str, since: datetime | None = None,
               until: datetime | None = None, scope_unit: str | None = None) -> dict[str, Any]:
    """Areas with the metric's value and class, the breaks and a legend, as GeoJSON."""
    if metric not in METRICS:
        raise InvalidInput(f"metric must be one of {', '.join(METRICS)}")
    areas = _areas(store, level)
    if not areas:
        return {"type": "FeatureCollection", "features": [], "breaks": [], "legend": []}
    issues, _ = store.query_issues(IssueQuery(since=since, until=until, scope_unit=scope_unit,
                                              sort="id", limit=10_000_000))
    groups = _group(issues, areas, level)
    frame = MetricFrame.for_geometry(shapely.union_all([a.geometry for a in areas]))
    lines = store.features(Kind.street) + store.features(Kind.alley)
    m_lines = frame.to_metric(np.array([f.geometry for f in lines], dtype=object)) \
        if lines else np.array([], dtype=object)
    now = min(until or datetime.now(), datetime.now())
    values = []
    for k, area in enumerate(areas):
        m_area = frame.to_metric(area.geometry)
        mine = groups.get(k, [])
        km = float(shapely.length(shapely.intersection(m_lines, m_area)).sum()) / 1000 \
            if len(m_lines) else 0.0
        m = metrics(mine, now)
        row = {"issues": len(mine), "open": sum(1 for i in mine
                                                 if i.status not in ("closed", "rejected")),
               "overdue": m["overdue"], "rectification_rate": m["rectification_rate"],
               "on_time_closure_rate": m["on_time_closure_rate"],
               "recurrence_rate": m["recurrence_rate"],
               "per_km": len(mine) / km if km else 0.0,
               "per_km2": len(mine) / (m_area.area / 1e6) if m_area.area else 0.0}
        values.append(row[metric])
    arr = np.array(values, dtype=float)
    k = min(CLASSES, len(np.unique(arr)))
    if k >= 2:
        classifier = mapclassify.NaturalBreaks(arr, k=k)
        bins, classes = [float(b) for b in classifier.bins], classifier.yb.tolist()
    else:
        bins, classes = [float(arr.max())], [0] * len(arr)
    features = [{"type": "Feature", "geometry": geometry_json(a.geometry), "properties": {
        "id": a.id, "name": a.name, "unit": a.properties.get("unit"), "metric": metric,
        "value": round(v, 4), "class": int(c)}} for a, v, c in zip(areas, values, classes,
                                                                   strict=True)]
    lower = [float(arr.min()), *bins[:-1]]
    legend = [{"class": n, "from": round(lo, 4), "to": round(hi, 4)}
              for n, (lo, hi) in enumerate(zip(lower, bins, strict=True))]
    return {"type": "FeatureCollection", "features": features, "metric": metric,
            "label": METRICS[metric], "level": level, "breaks": bins, "legend": legend,
            "method": "Fisher-Jenks natural breaks (mapclassify)"}


def _group(issues: list[Issue], areas: list[Feature], level: str) -> dict[int, list[Issue]]:
    out: dict[int, list[Issue]] = defaultdict(list)
    if level == "zone":
        index = {a.id: k for k, a in enumerate(areas)}
        for i in issues:
            if i.zone_id in index:
                out[index[i.zone_id]].append(i)
        return out
    tree = shapely.STRtree([a.geometry for a in areas])
    pts = shapely.points([i.lon for i in issues], [i.lat for i in issues])
    p_idx, a_idx = tree.query(pts, predicate="within") if len(issues) else ([], [])
    seen = set()
    for p, a in zip(list(p_idx), list(a_idx), strict=True):
        if int(p) not in seen:
            seen.add(int(p))
            out[int(a)].append(issues[int(p)])
    return out
