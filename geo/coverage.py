"""Coverage-gap analysis: "横向到边、纵向到底、不留空白、不留死角".

All lengths and areas are computed in the local UTM zone of the jurisdiction (never degrees).
The jurisdiction is the union of the sub-district (街道) features; without any, the union of the
communities; without those, the convex hull of the zones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.features import Feature, Issue
from geo.geojson import geometry_json
from geo.kinds import Kind
from geo.projection import MetricFrame, grow_bbox
from geo.store import BBox, IssueQuery, Store

MIN_GAP_M2 = 1.0  # slivers below this are rounding, not gaps
ACTIVITY_RADIUS_M = 50.0
UNCOVERED_IDS = 1000  # the report lists at most this many ids of issues in no zone


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


def jurisdiction(store: Store) -> BaseGeometry | None:
    """The jurisdiction's area: sub-districts, else communities, else the zones' hull."""
    return _jurisdiction(CoverageInput(store.features(Kind.subdistrict),
                                       store.features(Kind.community),
                                       store.features(Kind.zone), [], [], []))


def load_input(store: Store, bbox: BBox | None = None, now: datetime | None = None,
               days: int = 30) -> CoverageInput:
    """Read what the analysis needs from the store; with a bbox, only what the part inside it
    needs (the issues as SQL counts and the recent ones near the zones there, never all)."""
    if bbox is not None:
        return _load_area(store, bbox, now or datetime.now(), days)
    return CoverageInput(
        jurisdiction=store.features(Kind.subdistrict),
        communities=store.features(Kind.community),
        zones=store.features(Kind.zone),
        lines=store.features(Kind.street) + store.features(Kind.alley),
        points=store.features(Kind.market) + store.features(Kind.test_point),
        issues=store.issues(),
    )


def _load_area(store: Store, bbox: BBox, now: datetime, days: int) -> CoverageInput:
    points = [p for kind in (Kind.market, Kind.test_point)
              for p in store.features(kind, bbox=bbox)]
    # and the zones a market reaching out of the bbox may lie in
    reach = shapely.total_bounds([shapely.box(*bbox), *(p.geometry for p in points)]).tolist()
    zones = store.features(Kind.zone, bbox=(reach[0], reach[1], reach[2], reach[3]))
    # a zone reaching out of the bbox is forgotten only if no recent issue lies anywhere in it
    near = shapely.total_bounds([shapely.box(*bbox), *(z.geometry for z in zones)]).tolist()
    near = grow_bbox((near[0], near[1], near[2], near[3]), ACTIVITY_RADIUS_M * 1.2 + 1)
    recent, _ = store.query_issues(IssueQuery(since=now - timedelta(days=days), bbox=near,
                                              limit=None, sort="id"))
    ids, count = store.query_issues(IssueQuery(uncovered=True, bbox=bbox, sort="id",
                                               limit=UNCOVERED_IDS))
    return CoverageInput(
        jurisdiction=store.features(Kind.subdistrict, bbox=bbox),
        communities=store.features(Kind.community, bbox=bbox),
        zones=zones,
        lines=store.features(Kind.street, bbox=bbox) + store.features(Kind.alley, bbox=bbox),
        points=points, issues=recent, bbox=bbox,
        uncovered=(count, [i.id for i in ids if i.id is not None]))


def analyse(data: CoverageInput, now: datetime | None = None, days: int = 30,
            with_geometry: bool = True) -> dict[str, Any]:
    """Every kind of coverage gap, with metric figures (m, m²) and percentages; with
    data.bbox, of the part of the jurisdiction inside it (lines, overlaps and uncovered
    area cut at its edges, points and issues inside it, zones reaching into it)."""
    now = now or datetime.now()
    area = _jurisdiction(data)
    view = shapely.box(*data.bbox) if data.bbox is not None else None
    if area is not None and view is not None:
        area = area.intersection(view)
        data = replace(data, points=[p for p in data.points  # where the report locates them
                                     if view.intersects(p.geometry.centroid)])
    if area is None or area.is_empty:
        return {"jurisdiction_m2": 0.0, "message": "no jurisdiction, communities or zones"}
    frame = MetricFrame.for_geometry(area)
    m_area = frame.to_metric(area)
    zone_geoms = np.array([z.geometry for z in data.zones], dtype=object)
    m_zones = frame.to_metric(zone_geoms) if len(zone_geoms) else zone_geoms
    covered = shapely.union_all(m_zones) if len(m_zones) else shapely.Polygon()

    def geo(g: BaseGeometry) -> dict[str, Any] | None:
        return geometry_json(frame.to_wgs84(g)) if with_geometry else None

    clip = frame.to_metric(shapely.box(*data.bbox)) if data.bbox is not None else None
    gaps = shapely.difference(m_area, covered)
    pieces = [g for g in getattr(gaps, "geoms", [gaps]) if g.area >= MIN_GAP_M2]
    pieces.sort(key=lambda g: -g.area)
    uncovered_area = {
        "area_m2": round(sum(g.area for g in pieces), 1),
        "percent": round(100 * sum(g.area for g in pieces) / m_area.area, 2),
        "polygons": [{"area_m2": round(g.area, 1), "bbox": list(frame.to_wgs84(g).bounds),
                      "geometry": geo(g)} for g in pieces],
    }
    return {
        "jurisdiction_m2": round(m_area.area, 1),
        "zones": len(data.zones) if view is None else int(
            shapely.intersects(view, [z.geometry for z in data.zones]).sum()),
        "uncovered_area": uncovered_area,
        "overlaps": _overlaps(data.zones, m_zones, frame, geo, clip),
        "lines": _lines(data, frame, covered, geo, clip),
        "unassigned_points": _unassigned(data.points, data.zones),
        "uncovered_issues": _uncovered_issues(data),
        "forgotten": _forgotten(data, frame, m_zones, now, days, view),
    }


def _jurisdiction(data: CoverageInput) -> BaseGeometry | None:
    for layer in (data.jurisdiction, data.communities):
        if layer:
            return shapely.union_all([f.geometry for f in layer])
    if data.zones:
        return shapely.union_all([z.geometry for z in data.zones]).convex_hull
    return None


def _overlaps(zones: Sequence[Feature], m_zones: Any, frame: MetricFrame,
              geo: Any, clip: BaseGeometry | None = None) -> list[dict[str, Any]]:
    if len(m_zones) < 2:
        return []
    tree = shapely.STRtree(m_zones)
    a, b = tree.query(m_zones, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    inter = shapely.intersection(m_zones[a], m_zones[b])
    if clip is not None:
        inter = shapely.intersection(inter, clip)
    areas = shapely.area(inter)
    out = []
    for i, j, g, ar in zip(a.tolist(), b.tolist(), inter, areas.tolist(), strict=True):
        if ar < MIN_GAP_M2:
            continue
        za, zb = zones[i], zones[j]
        out.append({"zones": [za.id, zb.id], "names": [za.name, zb.name],
                    "units": [za.properties.get("unit"), zb.properties.get("unit")],
                    "types": [za.properties.get("zone_type") or za.category,
                              zb.properties.get("zone_type") or zb.category],
                    "area_m2": round(ar, 1), "bbox": list(frame.to_wgs84(g).bounds),
                    "geometry": geo(g)})
    out.sort(key=lambda o: -o["area_m2"])
    return out


def _lines(data: CoverageInput, frame: MetricFrame, covered: BaseGeometry,
           geo: Any, clip: BaseGeometry | None = None) -> dict[str, Any]:
    """Street and alley length outside every zone and not assigned to a cadre (路长)."""
    if not data.lines:
        return {"by_kind": {}, "by_community": [], "pieces": []}
    m_lines = frame.to_metric(np.array([f.geometry for f in data.lines], dtype=object))
    if clip is not None:
        m_lines = shapely.intersection(m_lines, clip)
    assigned = np.array([bool(f.properties.get("cadre")) for f in data.lines])
    shapely.prepare(covered)
    outside = shapely.difference(m_lines, covered)
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
    by_community = []
    for c in data.communities:
        m_c = frame.to_metric(c.geometry)
        for kind in ("street", "alley"):
            mask = kinds == kind
            t = float(shapely.length(shapely.intersection(m_lines[mask], m_c)).sum())
            u = float(shapely.length(shapely.intersection(outside[mask], m_c)).sum())
            if t:
                by_community.append({"community": c.name, "kind": kind,
                                     "total_m": round(t, 1), "uncovered_m": round(u, 1),
                                     "percent": round(100 * u / t, 2)})
    pieces = [{"id": f.id, "name": f.name, "kind": f.kind.value, "uncovered_m": round(length, 1),
               "geometry": geo(g)}
              for f, g, length in zip(data.lines, outside, loose.tolist(), strict=True)
              if length >= 1.0]
    pieces.sort(key=lambda p: -p["uncovered_m"])
    return {"by_kind": by_kind, "by_community": by_community, "pieces": pieces}


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
    since = now - timedelta(days=days)
    recent = [i for i in data.issues if i.reported_at and i.reported_at >= since]
    pts = frame.to_metric(shapely.points([i.lon for i in recent], [i.lat for i in recent])) \
        if recent else np.array([], dtype=object)
    quiet_zones = []
    if len(m_zones):
        active = set()
        if len(pts):
            _, hit = shapely.STRtree(m_zones).query(pts, predicate="within")
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
