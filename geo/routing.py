"""Route issues to the responsibility zone (and the street cadre 路长) at their location.

Rule for overlapping zones: the smallest zone containing the point wins (the most specific
responsibility, e.g. a 门前三包 strip inside a 网格), and the issue is flagged ``overlap``.
A point in no zone is flagged ``uncovered`` (the coverage-gap analysis reads this flag).
A point within CADRE_DISTANCE_M of a street or alley segment whose properties name a
``cadre`` (路长/街长) also gets that person.

A point's route depends only on the point and the features near it: areas and distances are
measured in the UTM zone of the point itself, and ties are broken by the features' order (the
store's: by id). So routing a few points against the features of their area gives what routing
every point against every feature gives, which the local re-route after a zone edit relies on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

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
    groups = _utm_groups(lon, lat)
    if zones:
        pts, hits = _within(points, lon, lat, [z.geometry for z in zones])
        group_of = np.zeros(len(lon), dtype=np.intp)
        areas = np.zeros((len(groups), len(zones)))
        for g, (frame, members) in enumerate(groups):
            group_of[members] = g
            used = np.unique(hits[np.isin(pts, members)])
            if len(used):
                geoms = np.array([zones[z].geometry for z in used.tolist()])
                areas[g, used] = shapely.area(frame.to_metric(geoms))
        ids = np.array([z.id or 0 for z in zones])
        # per point: the smallest zone first (then the lowest id, then the first listed)
        order = np.lexsort((hits, ids[hits], areas[group_of[pts], hits], pts))
        pts, hits = pts[order], hits[order]
        first = np.ones(len(pts), dtype=bool)
        first[1:] = pts[1:] != pts[:-1]
        many = np.bincount(pts, minlength=len(lon)) > 1
        for p, z in zip(pts[first].tolist(), hits[first].tolist(), strict=True):
            routes[p].zone_id = zones[z].id
            routes[p].unit = zones[z].properties.get("unit")
        for p, z in zip(pts[~first].tolist(), hits[~first].tolist(), strict=True):
            if (i := zones[z].id) is not None:
                routes[p].other_zones.append(i)
        for p in np.flatnonzero(many).tolist():
            routes[p].flags.append("overlap")
    for r in routes:
        if r.zone_id is None:
            r.flags.append("uncovered")
    if communities:
        pts, hits = _within(points, lon, lat, [c.geometry for c in communities])
        order = np.lexsort((hits, pts))  # in overlapping communities, the first one wins
        pts, hits = pts[order], hits[order]
        first = np.ones(len(pts), dtype=bool)
        first[1:] = pts[1:] != pts[:-1]
        for p, c in zip(pts[first].tolist(), hits[first].tolist(), strict=True):
            routes[p].community = communities[c].name
    staffed = [f for f in lines or [] if f.properties.get("cadre")]
    if staffed:
        geoms = np.array([f.geometry for f in staffed])
        for frame, members in groups:
            tree = shapely.STRtree(frame.to_metric(geoms))
            p_idx, line = tree.query_nearest(frame.to_metric(points[members]),
                                             max_distance=CADRE_DISTANCE_M, all_matches=True)
            # equally near lines (all_matches gives those only): the first listed wins
            order = np.lexsort((line, p_idx))
            p_idx, line = p_idx[order], line[order]
            first = np.ones(len(p_idx), dtype=bool)
            first[1:] = p_idx[1:] != p_idx[:-1]
            for p, k in zip(members[p_idx[first]].tolist(), line[first].tolist(), strict=True):
                routes[p].cadre = str(staffed[k].properties["cadre"])
    return routes


FEW_POLYGONS = 64  # up to this many, each polygon tests every point (no tree to build)


def _within(points: Any, lon: NDArray[np.float64], lat: NDArray[np.float64],
            polygons: list[Any]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """(point index, polygon index) of each point strictly inside each polygon."""
    if len(polygons) > FEW_POLYGONS:
        pts, hits = shapely.STRtree(polygons).query(points, predicate="within")
        return pts.astype(np.intp), hits.astype(np.intp)
    pts_l, hits_l = [], []
    for k, poly in enumerate(polygons):
        minx, miny, maxx, maxy = poly.bounds
        near = np.flatnonzero((lon >= minx) & (lon <= maxx) & (lat >= miny) & (lat <= maxy))
        inside = near[shapely.contains_xy(poly, lon[near], lat[near])]
        pts_l.append(inside)
        hits_l.append(np.full(len(inside), k, dtype=np.intp))
    if not pts_l:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    return np.concatenate(pts_l).astype(np.intp), np.concatenate(hits_l)


def _utm_groups(lon: NDArray[np.float64], lat: NDArray[np.float64]
                ) -> list[tuple[MetricFrame, NDArray[np.intp]]]:
    """The points grouped by their UTM zone: each group's frame and point indices."""
    keys = np.minimum((lon + 180) // 6 + 1, 60).astype(int) * 2 + (lat < 0)
    out = []
    for key in np.unique(keys).tolist():
        members = np.flatnonzero(keys == key)
        k = int(members[0])
        out.append((MetricFrame.around(float(lon[k]), float(lat[k])), members))
    return out
