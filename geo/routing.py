"""Route issues to the responsibility zone (and the street cadre 路长) at their location.

Rule for overlapping zones: the smallest zone containing the point wins (the most specific
responsibility, e.g. a 门前三包 strip inside a 网格), and the issue is flagged ``overlap``.
A point in no zone is flagged ``uncovered`` (the coverage-gap analysis reads this flag).
A point within CADRE_DISTANCE_M of a street or alley segment whose properties name a
``cadre`` (路长/街长) also gets that person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from geo.features import Feature
from geo.projection import MetricFrame

CADRE_DISTANCE_M = 15.0


@dataclass
class Route:
    """Where one issue belongs."""

    zone_id: int | None = None
    unit: str | None = None
    flags: list[str] = field(default_factory=list)
    other_zones: list[int] = field(default_factory=list)
    cadre: str | None = None
    community: str | None = None


def route_points(lon: Any, lat: Any, zones: list[Feature],
                 lines: list[Feature] | None = None,
                 communities: list[Feature] | None = None) -> list[Route]:
    """One Route per point (WGS84 lon/lat arrays), vectorized with STRtree."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    routes = [Route() for _ in range(len(lon))]
    if len(lon) == 0:
        return routes
    points = shapely.points(lon, lat)
    if zones:
        frame = MetricFrame.for_geometry(shapely.union_all([z.geometry for z in zones]))
        areas = np.array([frame.to_metric(z.geometry).area for z in zones])
        tree = shapely.STRtree([z.geometry for z in zones])
        pts, hits = tree.query(points, predicate="within")
        by_point: dict[int, list[int]] = {}
        for p, z in zip(pts.tolist(), hits.tolist(), strict=True):
            by_point.setdefault(p, []).append(z)
        for p, zs in by_point.items():
            zs.sort(key=lambda z: (areas[z], zones[z].id or 0))
            best = zones[zs[0]]
            routes[p].zone_id = best.id
            routes[p].unit = best.properties.get("unit")
            if len(zs) > 1:
                routes[p].flags.append("overlap")
                routes[p].other_zones = [i for z in zs[1:] if (i := zones[z].id) is not None]
    for r in routes:
        if r.zone_id is None:
            r.flags.append("uncovered")
    if communities:
        c_tree = shapely.STRtree([c.geometry for c in communities])
        pts, hits = c_tree.query(points, predicate="within")
        for p, c in zip(pts.tolist(), hits.tolist(), strict=True):
            routes[p].community = communities[c].name
    staffed = [f for f in lines or [] if f.properties.get("cadre")]
    if staffed:
        frame = MetricFrame.around(float(lon.mean()), float(lat.mean()))
        tree = shapely.STRtree(frame.to_metric(np.array([f.geometry for f in staffed])))
        metric_points = frame.to_metric(points)
        idx, dist = tree.query_nearest(metric_points, max_distance=CADRE_DISTANCE_M,
                                       return_distance=True, all_matches=False)
        for (p, line), _d in zip(idx.T.tolist(), dist.tolist(), strict=True):
            routes[p].cadre = str(staffed[line].properties["cadre"])
    return routes
