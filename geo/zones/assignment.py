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

from geo.layers.projection import MetricFrame
from geo.model.records import Feature

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


@dataclass
class RouteColumns:
    """Where each of n points belongs, as arrays (route_points' Routes without an object per
    point; the streamed import writes these columns)."""

    zone: NDArray[np.intp]  # index in the zones list of the zone that wins; -1: in none
    overlap: NDArray[np.bool_]  # in more than one zone
    others: dict[int, list[int]]  # point index → ids of the other zones holding it
    cadre: NDArray[np.object_]  # the 路长 (str) or None
    community: NDArray[np.object_]  # the community's name or None

    def zone_ids(self, zones: list[Feature]) -> NDArray[np.object_]:
        """Each point's zone id (None where in no zone or the zone has no id)."""
        return np.array([z.id for z in zones] + [None], dtype=object)[self.zone]

    def units(self, zones: list[Feature]) -> NDArray[np.object_]:
        """Each point's unit (the winning zone's ``unit`` property, or None)."""
        return np.array([z.properties.get("unit") for z in zones] + [None],
                        dtype=object)[self.zone]

    def flags(self, zones: list[Feature], shared: bool = False) -> list[list[str]]:
        """Each point's flags, ``overlap`` then ``uncovered``: a fresh list per point, or with
        shared one list object per distinct value (for read-only use: no copy per point)."""
        has_id = np.array([z.id is not None for z in zones] + [False], dtype=bool)
        code = self.overlap.astype(np.intp) * 2 + ~has_id[self.zone]
        kinds: list[list[str]] = [[], ["uncovered"], ["overlap"], ["overlap", "uncovered"]]
        if shared:
            table = np.empty(len(kinds), dtype=object)
            for i, k in enumerate(kinds):
                table[i] = k
            return list(table[code])
        return [[*kinds[c]] for c in code.tolist()]


def route_points(lon: Any, lat: Any, zones: list[Feature],
                 lines: list[Feature] | None = None,
                 communities: list[Feature] | None = None) -> list[Route]:
    """One Route per point (WGS84 lon/lat arrays), vectorized with STRtree."""
    cols = route_columns(lon, lat, zones, lines, communities)
    return [Route(i, u, f, cols.others.get(p, []), c, m) for p, (i, u, f, c, m) in enumerate(
        zip(cols.zone_ids(zones).tolist(), cols.units(zones).tolist(), cols.flags(zones),
            cols.cadre.tolist(), cols.community.tolist(), strict=True))]


def route_columns(lon: Any, lat: Any, zones: list[Feature],
                  lines: list[Feature] | None = None,
                  communities: list[Feature] | None = None) -> RouteColumns:
    """Route every point (WGS84 lon/lat arrays) at once: route_points' answer as columns."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    n = len(lon)
    cols = RouteColumns(np.full(n, -1, dtype=np.intp), np.zeros(n, dtype=bool), {},
                        np.full(n, None, dtype=object), np.full(n, None, dtype=object))
    if n == 0:
        return cols
    groups = _utm_groups(lon, lat)
    if zones:
        pts, hits = _within(lon, lat, [z.geometry for z in zones])
        group_of = np.zeros(n, dtype=np.intp)
        areas = np.zeros((len(groups), len(zones)))
        for g, (frame, members) in enumerate(groups):
            group_of[members] = g
            used = np.unique(hits if len(groups) == 1 else hits[np.isin(pts, members)])
            if len(used):
                geoms = np.array([zones[z].geometry for z in used.tolist()])
                areas[g, used] = shapely.area(frame.to_metric(geoms))
        ids = np.array([z.id or 0 for z in zones])
        # per point: the smallest zone first (then the lowest id, then the first listed)
        order = np.lexsort((hits, ids[hits], areas[group_of[pts], hits], pts))
        pts, hits = pts[order], hits[order]
        first = np.ones(len(pts), dtype=bool)
        first[1:] = pts[1:] != pts[:-1]
        cols.zone[pts[first]] = hits[first]
        cols.overlap = np.bincount(pts, minlength=n) > 1
        zone_id = [z.id for z in zones]
        for p, z in zip(pts[~first].tolist(), hits[~first].tolist(), strict=True):
            if (i := zone_id[z]) is not None:
                cols.others.setdefault(p, []).append(i)
    if communities:
        pts, hits = _within(lon, lat, [c.geometry for c in communities])
        order = np.lexsort((hits, pts))  # in overlapping communities, the first one wins
        pts, hits = pts[order], hits[order]
        first = np.ones(len(pts), dtype=bool)
        first[1:] = pts[1:] != pts[:-1]
        names = np.array([c.name for c in communities] + [None], dtype=object)
        cols.community[pts[first]] = names[hits[first]]
    staffed = [f for f in lines or [] if f.properties.get("cadre")]
    if staffed:
        points = shapely.points(lon, lat)
        geoms = np.array([f.geometry for f in staffed])
        cadres = np.array([str(f.properties["cadre"]) for f in staffed] + [None], dtype=object)
        for frame, members in groups:
            tree = shapely.STRtree(frame.to_metric(geoms))
            p_idx, line = tree.query_nearest(frame.to_metric(points[members]),
                                             max_distance=CADRE_DISTANCE_M, all_matches=True)
            # equally near lines (all_matches gives those only): the first listed wins
            order = np.lexsort((line, p_idx))
            p_idx, line = p_idx[order], line[order]
            first = np.ones(len(p_idx), dtype=bool)
            first[1:] = p_idx[1:] != p_idx[:-1]
            cols.cadre[members[p_idx[first]]] = cadres[line[first]]
    return cols


MAX_COLUMNS = 4096  # longitude columns of the point index
MAX_CANDIDATES = 16  # × points: more (point, polygon) box candidates than that: an STRtree


def _within(lon: NDArray[np.float64], lat: NDArray[np.float64],
            polygons: list[Any]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """(point index, polygon index) of each point strictly inside each polygon (as
    ``within``): the points sorted by longitude column then latitude give each polygon its
    bounding-box candidates, tested in one call against the polygons, prepared."""
    none = np.zeros(0, dtype=np.intp)
    if not polygons or len(lon) == 0:
        return none, none
    # prepared copies: the features' own geometries may be shared with other threads
    geoms = shapely.transform(np.array(polygons, dtype=object), lambda xy: xy)
    shapely.prepare(geoms)
    box = shapely.bounds(geoms)
    ok = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
    polys = np.flatnonzero(np.isfinite(box).all(axis=1))
    if len(ok) == 0 or len(polys) == 0:
        return none, none
    x, y = lon[ok], lat[ok]
    x0, y0, span = float(x.min()), float(y.min()), float(y.max() - y.min()) + 1.0
    width = float(np.median(box[polys, 2] - box[polys, 0]))
    extent = float(x.max()) - x0
    ncol = int(min(MAX_COLUMNS, max(1.0, extent / width))) if width > 0 else 1
    scale = ncol / extent if extent > 0 else 0.0
    col = np.minimum((x - x0) * scale, ncol - 1).astype(np.intp)
    order = np.lexsort((y, col))
    sx, sy = x[order], y[order]
    key = col[order] * span + (sy - y0)  # ascending: by column, then latitude
    c0 = np.clip((box[polys, 0] - x0) * scale, 0, ncol - 1).astype(np.intp)
    c1 = np.clip((box[polys, 2] - x0) * scale, 0, ncol - 1).astype(np.intp)
    per = c1 - c0 + 1  # each polygon's columns
    owner = np.repeat(polys, per)
    cc = np.arange(int(per.sum())) - np.repeat(np.cumsum(per) - per, per) + np.repeat(c0, per)
    lo = np.searchsorted(key, cc * span + (box[owner, 1] - y0), "left")
    hi = np.searchsorted(key, cc * span + (box[owner, 3] - y0), "right")
    n = hi - lo
    total = int(n.sum())
    if total > MAX_CANDIDATES * len(x):  # many wide polygons: a tree of the polygons
        pts, hits = shapely.STRtree(geoms).query(shapely.points(x, y))
        inside = shapely.contains_xy(geoms[hits], x[pts], y[pts])
        return ok[pts[inside]], hits[inside].astype(np.intp)
    pos = np.arange(total) - np.repeat(np.cumsum(n) - n, n) + np.repeat(lo, n)
    k = np.repeat(owner, n)
    px, py = sx[pos], sy[pos]
    near = (px >= box[k, 0]) & (px <= box[k, 2]) & (py >= box[k, 1]) & (py <= box[k, 3])
    pos, k = pos[near], k[near]
    inside = shapely.contains_xy(geoms[k], sx[pos], sy[pos])
    return ok[order[pos[inside]]], k[inside]


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
