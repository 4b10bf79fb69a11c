"""Coverage-gap analysis: "横向到边、纵向到底、不留空白、不留死角".

All lengths and areas are computed in the local UTM zone of the jurisdiction (never degrees).
The jurisdiction is the union of the sub-district (街道) features; without any, the union of the
communities; without those, the convex hull of the zones.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.layers.geojson import geometry_json
from geo.layers.projection import MetricFrame, grow_bbox
from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.store import BBox, IssueQuery, Store

MIN_GAP_M2 = 1.0  # slivers below this are rounding, not gaps
ACTIVITY_RADIUS_M = 50.0
WINDOW_SLACK = timedelta(minutes=5)  # load_input and analyse called with different clocks
UNCOVERED_IDS = 1000  # the report lists at most this many ids of issues in no zone
# the only properties the analysis reads of each layer (the rest is never parsed)
ZONE_KEYS, LINE_KEYS, POINT_KEYS = ("unit", "zone_type"), ("cadre",), ("unit",)


@dataclass(frozen=True)
class CoverageInput:
    """The layers the analysis reads."""

    jurisdiction: list[Feature]
    communities: list[Feature]
    zones: list[Feature]
    lines: list[Feature]
    points: list[Feature]  # markets and test points
    issues: list[Issue]
    bbox: BBox | None = None  # the analysis of the part inside it only (see load_input)
    uncovered: tuple[int, list[int]] | None = None  # (count, ids) of issues in no zone, if known
    recent: tuple[Any, Any] | None = None  # (lons, lats) of the issues in the window, if known
    since: datetime | None = None  # the start of that window


def jurisdiction(store: Store) -> BaseGeometry | None:
    """The jurisdiction's area: sub-districts, else communities, else the zones' hull."""
    return _jurisdiction(CoverageInput(store.features(Kind.subdistrict, keys=()),
                                       store.features(Kind.community, keys=()),
                                       store.features(Kind.zone, keys=()), [], [], []))


def load_input(store: Store, bbox: BBox | None = None, now: datetime | None = None,
               days: int = 30) -> CoverageInput:
    """Read what analyse with the same now and days needs from the store (the issues as an
    SQL count of the uncovered ones and the positions of the recent ones, never all); with a
    bbox, only what the part inside it needs (the recent issues near the zones there)."""
    now = now or datetime.now()
    if bbox is not None:
        return _load_area(store, bbox, now, days)
    # the issues are never all read: the uncovered ones are counted in SQL and only the
    # positions of the recent ones (the forgotten corners' window) are read
    recent = store.issue_positions(IssueQuery(since=now - timedelta(days=days), limit=None))
    ids, count = store.query_issues(IssueQuery(uncovered=True, sort="id", limit=UNCOVERED_IDS))
    return CoverageInput(
        jurisdiction=store.features(Kind.subdistrict, keys=()),
        communities=store.features(Kind.community, keys=()),
        zones=store.features(Kind.zone, keys=ZONE_KEYS),
        lines=[f for kind in (Kind.street, Kind.alley)
               for f in store.features(kind, keys=LINE_KEYS)],
        points=[f for kind in (Kind.market, Kind.test_point)
                for f in store.features(kind, keys=POINT_KEYS)],
        issues=[], recent=recent, since=now - timedelta(days=days),
        uncovered=(count, [i.id for i in ids if i.id is not None]),
    )


def _load_area(store: Store, bbox: BBox, now: datetime, days: int) -> CoverageInput:
    points = [p for kind in (Kind.market, Kind.test_point)
              for p in store.features(kind, bbox=bbox, keys=POINT_KEYS)]
    # and the zones a market reaching out of the bbox may lie in
    reach = shapely.total_bounds([shapely.box(*bbox), *(p.geometry for p in points)]).tolist()
    zones = store.features(Kind.zone, bbox=(reach[0], reach[1], reach[2], reach[3]),
                           keys=ZONE_KEYS)
    # a zone reaching out of the bbox is forgotten only if no recent issue lies anywhere in it
    near = shapely.total_bounds([shapely.box(*bbox), *(z.geometry for z in zones)]).tolist()
    near = grow_bbox((near[0], near[1], near[2], near[3]), ACTIVITY_RADIUS_M * 1.2 + 1)
    recent = store.issue_positions(IssueQuery(since=now - timedelta(days=days), bbox=near,
                                              limit=None))
    ids, count = store.query_issues(IssueQuery(uncovered=True, bbox=bbox, sort="id",
                                               limit=UNCOVERED_IDS))
    return CoverageInput(
        jurisdiction=store.features(Kind.subdistrict, bbox=bbox, keys=()),
        communities=store.features(Kind.community, bbox=bbox, keys=()),
        zones=zones,
        lines=[f for kind in (Kind.street, Kind.alley)
               for f in store.features(kind, bbox=bbox, keys=LINE_KEYS)],
        points=points, issues=[], recent=recent, bbox=bbox,
        since=now - timedelta(days=days),
        uncovered=(count, [i.id for i in ids if i.id is not None]))


# what a report is computed from besides the area and the window: every layer (a kind or the
# issues) and the database's identity
REPORT_LAYERS = (*(k.value for k in Kind), "issues", "database")


class ReportCache:
    """The gap reports of this process by what they are computed from: the area, the window,
    the options and the version of every layer (any write gives a new key, in whichever
    process it is made), each kept for max_age_s after the time it was computed at (its
    window ends then). The map's gap layer asks for a whole city's gaps a page at a time: the
    pages after the first are cut from the first one's report. Bounded (least recently used
    go first)."""

    def __init__(self, max_items: int = 8, max_age_s: float = 60.0,
                 clock: Callable[[], datetime] = datetime.now) -> None:
        self.max_items = max_items
        self.max_age = timedelta(seconds=max_age_s)
        self.clock = clock
        self._items: OrderedDict[tuple[Any, ...], tuple[datetime, dict[str, Any]]] = \
            OrderedDict()
        self._lock = threading.Lock()

    def report(self, store: Store, bbox: BBox | None, days: int, with_geometry: bool,
               limit: int | None = None) -> dict[str, Any]:
        """analyse(load_input(...)) now, or the same analysis made less than max_age_s ago
        while nothing has changed since. Do not modify what it returns: later callers get
        the same report."""
        now = self.clock()
        versions = store.layer_versions(REPORT_LAYERS)
        key = (bbox, days, with_geometry, limit, tuple(sorted(versions.items())))
        with self._lock:
            kept = self._items.get(key)
            if kept is not None and now - self.max_age < kept[0] <= now:
                self._items.move_to_end(key)
                return kept[1]
        made = analyse(load_input(store, bbox, now, days), now, days,
                       with_geometry=with_geometry, limit=limit)
        with self._lock:
            self._items[key] = (now, made)
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return made


def analyse(data: CoverageInput, now: datetime | None = None, days: int = 30,
            with_geometry: bool = True, limit: int | None = None) -> dict[str, Any]:
    """Every kind of coverage gap, with metric figures (m, m²) and percentages, and their
    totals first; with data.bbox, of the part of the jurisdiction inside it (lines, overlaps
    and uncovered area cut at its edges, points and issues inside it, zones reaching into
    it). With a limit, each list keeps its `limit` largest parts; the totals count them all
    and say how many were left out."""
    now = now or datetime.now()
    if data.since is not None and abs(data.since - (now - timedelta(days=days))) > WINDOW_SLACK:
        raise ValueError(f"the issues were read since {data.since}, the analysis asks since "
                         f"{now - timedelta(days=days)}: pass load_input the same now and days")
    area = _jurisdiction(data)
    view = shapely.box(*data.bbox) if data.bbox is not None else None
    if area is not None and view is not None:
        area = area.intersection(view)
        data = replace(data, points=[p for p in data.points  # where the report locates them
                                     if view.intersects(p.geometry.centroid)])
    if area is None or area.is_empty:
        return {"totals": _totals(data, 0.0, {}, 0.0, 0.0), "jurisdiction_m2": 0.0,
                "message": "没有可分析的辖区、社区或责任区"}
    frame = MetricFrame.for_geometry(area)
    m_area = frame.to_metric(area)
    zone_geoms = np.array([z.geometry for z in data.zones], dtype=object)
    m_zones = frame.to_metric(zone_geoms) if len(zone_geoms) else zone_geoms
    covered = shapely.union_all(m_zones) if len(m_zones) else shapely.Polygon()

    def geo(gs: Any) -> tuple[list[list[float]], list[dict[str, Any] | None]]:
        """The lon/lat bboxes and GeoJSON (None without geometries) of metric geometries,
        projected back in one call."""
        w = frame.to_wgs84(np.array(list(gs), dtype=object))
        return (shapely.bounds(w).reshape(-1, 4).tolist(),
                [geometry_json(g) for g in w] if with_geometry else [None] * len(w))

    clip = frame.to_metric(shapely.box(*data.bbox)) if data.bbox is not None else None
    gaps = shapely.difference(m_area, covered)
    pieces = [g for g in getattr(gaps, "geoms", [gaps]) if g.area >= MIN_GAP_M2]
    pieces.sort(key=lambda g: -g.area)
    boxes, shapes = geo(pieces)
    uncovered_area = {
        "area_m2": round(sum(g.area for g in pieces), 1),
        "percent": round(100 * sum(g.area for g in pieces) / m_area.area, 2),
        "polygons": [{"area_m2": round(g.area, 1), "bbox": bb, "geometry": js}
                     for g, bb, js in zip(pieces, boxes, shapes, strict=True)],
    }
    overlaps, shared = _overlaps(data.zones, m_zones, frame, geo, clip)
    lines = _lines(data, frame, m_zones, geo, clip)
    report = {
        "jurisdiction_m2": round(m_area.area, 1),
        "zones": len(data.zones) if view is None else int(
            shapely.intersects(view, [z.geometry for z in data.zones]).sum()),
        "uncovered_area": uncovered_area,
        "overlaps": overlaps,
        "lines": lines,
        "unassigned_points": _unassigned(data.points, data.zones),
        "uncovered_issues": _uncovered_issues(data),
        "forgotten": _forgotten(data, frame, m_zones, now, days, view),
    }
    totals = _totals(data, m_area.area, report, shared, lines.pop("outside_m"))
    _limit(report, totals, limit)
    return {"totals": totals, **report}


# the listed parts: (name in totals.parts, path of the list in the report)
PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("uncovered_pieces", ("uncovered_area", "polygons")),
    ("overlap_pairs", ("overlaps",)),
    ("line_pieces", ("lines", "pieces")),
    ("orphan_points", ("unassigned_points",)),
    ("forgotten_zones", ("forgotten", "zones")),
    ("forgotten_test_points", ("forgotten", "test_points")),
]


def _list(report: dict[str, Any], path: tuple[str, ...]) -> list[Any]:
    doc: Any = report
    for key in path:
        doc = doc.get(key, {}) if isinstance(doc, dict) else {}
    return doc if isinstance(doc, list) else []


def _totals(data: CoverageInput, area_m2: float, report: dict[str, Any], shared_m2: float,
            outside_m: float) -> dict[str, Any]:
    """The figures a planner asks first, counting every part (nothing capped)."""
    ua = report.get("uncovered_area", {})
    by_kind = report.get("lines", {}).get("by_kind", {})
    loose = {k: by_kind.get(k, {}).get("uncovered_m", 0.0) for k in ("street", "alley")}
    orphans = _list(report, ("unassigned_points",))
    parts = {name: len(_list(report, path)) for name, path in PARTS}
    parts["uncovered_issues"] = report.get("uncovered_issues", {}).get("count", 0)
    return {
        "scope": "jurisdiction" if data.bbox is None else "bbox",
        "bbox": list(data.bbox) if data.bbox is not None else None,
        "jurisdiction_m2": round(area_m2, 1),
        "jurisdiction_km2": round(area_m2 / 1e6, 4),
        "uncovered_m2": ua.get("area_m2", 0.0),
        "uncovered_km2": round(ua.get("area_m2", 0.0) / 1e6, 4),
        "uncovered_percent": ua.get("percent", 0.0),
        "overlap_m2": round(shared_m2, 1),
        "overlap_km2": round(shared_m2 / 1e6, 4),
        "overlap_pairs_sum_m2": round(sum(o["area_m2"] for o in report.get("overlaps", [])),
                                      1),
        "unassigned_km": round((loose["street"] + loose["alley"]) / 1000, 3),
        "unassigned_street_km": round(loose["street"] / 1000, 3),
        "unassigned_alley_km": round(loose["alley"] / 1000, 3),
        "outside_zones_km": round(outside_m / 1000, 3),
        "orphan_points": len(orphans),
        "orphan_markets": sum(p["kind"] == Kind.market.value for p in orphans),
        "orphan_test_points": sum(p["kind"] == Kind.test_point.value for p in orphans),
        "uncovered_issues": parts["uncovered_issues"],
        "parts": parts,
        "left_out": dict.fromkeys(parts, 0),
    }


def _limit(report: dict[str, Any], totals: dict[str, Any], limit: int | None) -> None:
    """Keep the `limit` first (largest) parts of each list; count the rest in left_out."""
    left = totals["left_out"]
    if limit is not None:
        for name, path in PARTS:
            rows = _list(report, path)
            left[name] = max(len(rows) - limit, 0)
            del rows[limit:]
    issues = report["uncovered_issues"]
    cap = UNCOVERED_IDS if limit is None else min(limit, UNCOVERED_IDS)
    del issues["ids"][cap:]
    left["uncovered_issues"] = issues["count"] - len(issues["ids"])


def _jurisdiction(data: CoverageInput) -> BaseGeometry | None:
    for layer in (data.jurisdiction, data.communities):
        if layer:
            return shapely.union_all([f.geometry for f in layer])
    if data.zones:
        return shapely.union_all([z.geometry for z in data.zones]).convex_hull
    return None


def _overlaps(zones: Sequence[Feature], m_zones: Any, frame: MetricFrame, geo: Any,
              clip: BaseGeometry | None = None) -> tuple[list[dict[str, Any]], float]:
    """The overlapping pairs of zones, largest first, and the area of their union in m²
    (land claimed twice or more, counted once)."""
    if len(m_zones) < 2:
        return [], 0.0
    a, b = shapely.STRtree(m_zones).query(m_zones)  # the pairs whose bounding boxes meet
    keep = a < b
    a, b = a[keep], b[keep]
    # only the pairs whose interiors meet share an area: most neighbours in a grid of zones
    # only touch, and telling them apart costs a third of cutting them (the same pairs, the
    # same intersections as cutting every intersecting pair)
    meet = shapely.relate_pattern(m_zones[a], m_zones[b], "T********")
    a, b = a[meet], b[meet]
    inter = shapely.intersection(m_zones[a], m_zones[b])
    if clip is not None:
        inter = shapely.intersection(inter, clip)
    areas = shapely.area(inter)
    big = areas >= MIN_GAP_M2
    shared = float(shapely.area(shapely.union_all(inter[big]))) if big.any() else 0.0
    out = []
    boxes, shapes = geo(inter[big])
    for i, j, ar, bb, js in zip(a[big].tolist(), b[big].tolist(), areas[big].tolist(), boxes,
                                shapes, strict=True):
        za, zb = zones[i], zones[j]
        out.append({"zones": [za.id, zb.id], "names": [za.name, zb.name],
                    "units": [za.properties.get("unit"), zb.properties.get("unit")],
                    "types": [za.properties.get("zone_type") or za.category,
                              zb.properties.get("zone_type") or zb.category],
                    "area_m2": round(ar, 1), "bbox": bb, "geometry": js})
    out.sort(key=lambda o: -o["area_m2"])
    return out, shared


def _lines(data: CoverageInput, frame: MetricFrame, m_zones: Any,
           geo: Any, clip: BaseGeometry | None = None) -> dict[str, Any]:
    """Street and alley length outside every zone and not assigned to a cadre (路长); also
    outside_m, the length outside every zone whether assigned or not."""
    if not data.lines:
        return {"by_kind": {}, "by_community": [], "pieces": [], "outside_m": 0.0}
    m_lines = frame.to_metric(np.array([f.geometry for f in data.lines], dtype=object))
    if clip is not None:
        m_lines = shapely.intersection(m_lines, clip)
    assigned = np.array([bool(f.properties.get("cadre")) for f in data.lines])
    outside = _outside(m_lines, m_zones)
    outside_m = float(shapely.length(outside).sum())
    outside[assigned] = shapely.LineString()
    total = shapely.length(m_lines)
    loose = shapely.length(outside)
    kinds = np.array([f.kind.value for f in data.lines])
    by_kind = {}
    for kind in ("street", "alley"):
        mask = kinds == kind
        if mask.any():
            t, u = float(total[mask].sum()), float(loose[mask].sum())
            by_kind[kind] = {"total_m": round(t, 1), "uncovered_m": round(u, 1),
                             "percent": round(100 * u / t, 2) if t else 0.0}
    listed = np.flatnonzero(loose >= 1.0)
    _, shapes = geo(outside[listed])
    pieces = [{"id": data.lines[k].id, "name": data.lines[k].name,
               "kind": data.lines[k].kind.value, "uncovered_m": round(float(loose[k]), 1),
               "geometry": js} for k, js in zip(listed.tolist(), shapes, strict=True)]
    pieces.sort(key=lambda p: -p["uncovered_m"])
    return {"by_kind": by_kind,
            "by_community": _by_community(data, frame, m_lines, outside, kinds, total, loose),
            "pieces": pieces, "outside_m": outside_m}


def _outside(m_lines: Any, m_zones: Any) -> Any:
    """Each line minus every zone: the difference with each zone it meets in turn (equal to
    the difference with their union, without cutting every line against the whole union)."""
    out = m_lines.copy()
    if not len(m_zones) or not len(m_lines):
        return out
    li, zi = _hits(m_zones, m_lines, shapely.intersects)
    inside = np.zeros(len(m_lines), dtype=bool)  # a line inside one zone: nothing outside
    inside[li[shapely.contains(m_zones[zi], m_lines[li])]] = True
    out[inside] = shapely.LineString()
    keep = ~inside[li]
    order = np.argsort(li[keep], kind="stable")
    li, zi = li[keep][order], zi[keep][order]
    first = np.r_[0, np.flatnonzero(np.diff(li)) + 1] if len(li) else np.array([], int)
    rank = np.arange(len(li)) - np.repeat(first, np.diff(np.r_[first, len(li)]))
    for r in range(int(rank.max()) + 1 if len(rank) else 0):
        sel = rank == r
        out[li[sel]] = shapely.difference(out[li[sel]], m_zones[zi[sel]])
    # a line meeting no zone: its own union, as an overlay would give (a way that goes back
    # over itself, as OSM ways sometimes do, counts once)
    alone = ~inside
    alone[li] = False
    out[alone] = shapely.union_all(out[alone].reshape(-1, 1), axis=1)
    return out


def _hits(tree_geoms: Any, geoms: Any, predicate: Any) -> tuple[Any, Any]:
    """(index in geoms, index in tree_geoms) of the pairs where predicate(tree geometry,
    geometry) holds: bounding boxes by STRtree, then the predicate with the tree's geometries
    prepared (zones and communities are large, lines and points small)."""
    i, j = shapely.STRtree(tree_geoms).query(geoms)
    shapely.prepare(tree_geoms)
    keep = predicate(tree_geoms[j], geoms[i])
    return i[keep], j[keep]


def _by_community(data: CoverageInput, frame: MetricFrame, m_lines: Any, outside: Any,
                  kinds: Any, total: Any, loose: Any) -> list[dict[str, Any]]:
    """Total and uncovered length per community and kind (lines cut at community edges)."""
    if not data.communities:
        return []
    m_comm = frame.to_metric(np.array([c.geometry for c in data.communities], dtype=object))
    li, ci = _hits(m_comm, m_lines, shapely.intersects)
    whole = shapely.contains_properly(m_comm[ci], m_lines[li])
    t = total[li].copy()
    cut = ~whole
    t[cut] = shapely.length(shapely.intersection(m_lines[li[cut]], m_comm[ci[cut]]))
    u = loose[li].copy()
    cut &= u > 0
    u[cut] = shapely.length(shapely.intersection(outside[li[cut]], m_comm[ci[cut]]))
    street = kinds[li] == "street"
    rows = []
    for kind, mask in (("street", street), ("alley", ~street)):
        n = len(data.communities)
        tk = np.bincount(ci[mask], weights=t[mask], minlength=n)
        uk = np.bincount(ci[mask], weights=u[mask], minlength=n)
        rows.append([(k, kind, float(tk[k]), float(uk[k])) for k in range(n)])
    out = []
    for k, c in enumerate(data.communities):
        for _, kind, tt, uu in (rows[0][k], rows[1][k]):
            if tt:
                out.append({"community": c.name, "kind": kind, "total_m": round(tt, 1),
                            "uncovered_m": round(uu, 1), "percent": round(100 * uu / tt, 2)})
    return out


def _unassigned(points: Sequence[Feature], zones: Sequence[Feature]) -> list[dict[str, Any]]:
    """Markets and test points with no unit of their own and in no zone."""
    if not points:
        return []
    geoms = np.array([p.geometry for p in points], dtype=object)
    in_zone = np.zeros(len(points), dtype=bool)
    if zones:
        tree = shapely.STRtree([z.geometry for z in zones])
        hit, _ = tree.query(geoms, predicate="intersects")
        in_zone[np.unique(hit)] = True
    return [{"id": p.id, "kind": p.kind.value, "name": p.name, "category": p.category,
             "lon": p.geometry.centroid.x, "lat": p.geometry.centroid.y}
            for p, inside in zip(points, in_zone.tolist(), strict=True)
            if not inside and not p.properties.get("unit")]


def _uncovered_issues(data: CoverageInput) -> dict[str, Any]:
    if data.uncovered is not None:
        count, ids = data.uncovered
        return {"count": count, "ids": ids[:UNCOVERED_IDS]}
    ids = [i.id for i in data.issues if i.zone_id is None and i.id is not None]
    return {"count": len(ids), "ids": ids[:UNCOVERED_IDS]}


def _forgotten(data: CoverageInput, frame: MetricFrame, m_zones: Any, now: datetime,
               days: int, view: BaseGeometry | None = None) -> dict[str, Any]:
    """Zones and test points with no issue reported in or near them for `days` days."""
    if data.recent is not None:
        lons, lats = data.recent
    else:
        since = now - timedelta(days=days)
        recent = [i for i in data.issues if i.reported_at and i.reported_at >= since]
        lons, lats = [i.lon for i in recent], [i.lat for i in recent]
    pts = frame.to_metric(shapely.points(lons, lats)) if len(lons) \
        else np.array([], dtype=object)
    quiet_zones = []
    if len(m_zones):
        active = set()
        if len(pts):
            _, hit = _hits(m_zones, pts, shapely.contains)
            active = set(hit.tolist())
        quiet_zones = [{"id": z.id, "name": z.name, "unit": z.properties.get("unit"),
                        "lon": z.geometry.representative_point().x,
                        "lat": z.geometry.representative_point().y}
                       for k, z in enumerate(data.zones) if k not in active
                       and (view is None or view.intersects(z.geometry))]
    test_points = [p for p in data.points if p.kind is Kind.test_point]
    quiet_points = []
    if test_points:
        m_tp = frame.to_metric(np.array([p.geometry for p in test_points], dtype=object))
        active = set()
        if len(pts):
            _, hit = shapely.STRtree(pts).query(m_tp, predicate="dwithin",
                                                distance=ACTIVITY_RADIUS_M)
            active = set(_.tolist())
        quiet_points = [{"id": p.id, "name": p.name, "category": p.category,
                         "lon": p.geometry.centroid.x, "lat": p.geometry.centroid.y}
                        for k, p in enumerate(test_points) if k not in active]
    return {"days": days, "zones": quiet_zones, "test_points": quiet_points}


def gap_features(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's geometries as GeoJSON features for the map's gap layer."""
    out: list[dict[str, Any]] = []
    for k, g in enumerate(report.get("uncovered_area", {}).get("polygons", [])):
        out.append({"type": "Feature", "geometry": g["geometry"],
                    "properties": {"gap": "uncovered_area", "rank": k + 1,
                                   "area_m2": g["area_m2"]}})
    for o in report.get("overlaps", []):
        out.append({"type": "Feature", "geometry": o["geometry"],
                    "properties": {"gap": "overlap", "area_m2": o["area_m2"],
                                   "names": o["names"], "units": o["units"]}})
    for p in report.get("lines", {}).get("pieces", []):
        out.append({"type": "Feature", "geometry": p["geometry"],
                    "properties": {"gap": "uncovered_line", "name": p["name"],
                                   "kind": p["kind"], "uncovered_m": p["uncovered_m"]}})
    points = [("unassigned_point", p) for p in report.get("unassigned_points", [])]
    forgotten = report.get("forgotten", {})
    points += [("forgotten_zone", z) for z in forgotten.get("zones", [])]
    points += [("forgotten_point", p) for p in forgotten.get("test_points", [])]
    for gap, p in points:
        out.append({"type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [p["lon"], p["lat"]]},
                    "properties": {"gap": gap, "name": p["name"], "days": forgotten.get("days")}})
    return out
