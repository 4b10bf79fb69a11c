"""Responsibility zones (责任区): validated saves with versions, restore, merge and split;
line and point assignments; the per-unit workload table.

Validation of a zone's polygon: it must be a valid (non-self-intersecting) Polygon or
MultiPolygon; the part outside the jurisdiction is clipped (reported) or the save refused, and
overlap with zones of the same type is reported with the area and the other zone's owner,
then accepted with a warning or refused — both per ZonePolicy (settings).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import shapely
import shapely.ops
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geo.layers.geojson import check_geometry, check_shape
from geo.layers.projection import MetricFrame
from geo.model.errors import Conflict, ImportRejected, InvalidInput, NotFound, RowProblem
from geo.model.kinds import Kind
from geo.model.records import Feature
from geo.store import IssueQuery, Store
from geo.zones import figures as area_figures

ZONE_TYPES = {"storefront_duty": "门前三包/五包", "grid": "网格", "sponsor_area": "包保片区",
              "district_patch": "分片管理"}
ZONE_FIELDS = ("unit", "responsible_person", "phone", "notes", "zone_type")
MIN_M2 = 1.0


@dataclass(frozen=True)
class ZonePolicy:
    """outside: clip | refuse; overlap (same zone type): warn | refuse; vertex limit."""

    outside: str = "clip"
    overlap: str = "warn"
    max_vertices: int = 100_000


@dataclass
class ZoneSave:
    """A saved zone and the warnings the planner should see."""

    zone: Feature
    warnings: list[dict[str, Any]]


def parse_polygon(geometry: dict[str, Any]) -> BaseGeometry:
    """A GeoJSON geometry as a valid polygon, or InvalidInput saying what is wrong."""
    try:
        geom = shape(geometry)
    except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException):
        raise InvalidInput("geometry 须为 GeoJSON Polygon 或 MultiPolygon") from None
    if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty:
        raise InvalidInput(f"责任区须为 Polygon 或 MultiPolygon，不能是 {geom.geom_type}")
    if not geom.is_valid:
        raise InvalidInput(f"多边形自相交或无效：{shapely.is_valid_reason(geom)}")
    return geom


def check_zone(store: Store, geom: BaseGeometry, zone_type: str, policy: ZonePolicy,
               ignore_ids: tuple[int, ...] = ()) -> tuple[BaseGeometry, list[dict[str, Any]]]:
    """Apply the jurisdiction and overlap rules; the geometry to save and the warnings."""
    if zone_type not in ZONE_TYPES:
        raise InvalidInput(f"zone_type 须为以下之一：{', '.join(ZONE_TYPES)}")
    frame = MetricFrame.for_geometry(geom)
    warnings: list[dict[str, Any]] = []
    boundary = [f.geometry for f in store.features(Kind.subdistrict)]
    if boundary:
        area = shapely.union_all(boundary)
        outside = frame.to_metric(geom.difference(area)).area
        if outside >= MIN_M2:
            if policy.outside == "refuse":
                raise Conflict(f"责任区超出辖区边界 {outside:.0f} m²",
                               outside_m2=round(outside, 1))
            clipped = _polygonal(geom.intersection(area))
            if clipped is None:
                raise InvalidInput("责任区完全在辖区之外")
            geom = clipped
            warnings.append({"type": "clipped", "outside_m2": round(outside, 1),
                             "message": f"已按辖区边界裁剪 {outside:.0f} m²"})
    overlaps = []
    for other in store.features(Kind.zone, bbox=geom.bounds):
        if other.id in ignore_ids or (other.properties.get("zone_type") or other.category) \
                != zone_type:
            continue
        shared = frame.to_metric(geom.intersection(other.geometry)).area
        if shared >= MIN_M2:
            overlaps.append({"type": "overlap", "zone_id": other.id, "name": other.name,
                             "unit": other.properties.get("unit"),
                             "area_m2": round(shared, 1),
                             "message": f"与「{other.name}」（{other.properties.get('unit')}）"
                                        f"重叠 {shared:.0f} m²"})
    if overlaps and policy.overlap == "refuse":
        names = "、".join(str(o["name"] or f"#{o['zone_id']}") for o in overlaps)
        raise Conflict(f"责任区与同类责任区重叠：{names}", overlaps=overlaps)
    return geom, warnings + overlaps


def _polygonal(geom: BaseGeometry) -> BaseGeometry | None:
    parts = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon" and g.area > 0]
    return shapely.union_all(parts) if parts else None


def zone_feature(body: dict[str, Any], geom: BaseGeometry) -> Feature:
    """A zone Feature from the zone form's fields."""
    name = str(body.get("name") or "").strip()
    if not name:
        raise InvalidInput("责任区须填写名称")
    props = {k: body[k] for k in ZONE_FIELDS if body.get(k) not in (None, "")}
    return Feature(Kind.zone, geom, name=name, category=body.get("zone_type"), properties=props)


def save_zone(store: Store, body: dict[str, Any], actor: str, policy: ZonePolicy,
              zone_id: int | None = None, version: int | None = None) -> ZoneSave:
    """Create or update a zone from the form (geometry as GeoJSON) after validation."""
    check_geometry(body.get("geometry"), policy.max_vertices)
    geom = parse_polygon(body.get("geometry") or {})
    if zone_id is not None:
        current = store.feature(zone_id)
        if current.kind is not Kind.zone:
            raise InvalidInput(f"要素 {zone_id} 不是责任区")
    geom, warnings = check_zone(store, geom, str(body.get("zone_type") or ""), policy,
                                ignore_ids=(zone_id,) if zone_id else ())
    feature = replace(zone_feature(body, geom), id=zone_id)
    saved = store.save_feature(feature, actor, "create" if zone_id is None else "update",
                               expected_version=version)
    return ZoneSave(saved, warnings)


def zone_history(store: Store, zone_id: int, scope_unit: str | None = None
                 ) -> list[dict[str, Any]]:
    """Every saved version of a zone (or assigned feature), oldest first (none for a feature
    imported and never edited); NotFound when the caller may not see it."""
    versions = store.feature_versions(zone_id)
    if not versions:  # imported and never edited: no history yet, if the caller may see it
        store.feature(zone_id, scope_unit=scope_unit)
        return []
    owner = (versions[-1]["properties"] or {}).get("unit")
    if scope_unit is not None and owner is not None and owner != scope_unit:
        raise NotFound(f"要素 {zone_id} 不存在")
    return versions


def restore_zone(store: Store, zone_id: int, version: int, actor: str,
                 max_vertices: int = 100_000) -> Feature:
    """Save an earlier version of a zone again, as a new version (zones only: a version of
    another kind of feature is refused, so is one whose coordinates are not lon/lat)."""
    old = next((v for v in store.feature_versions(zone_id) if v["version"] == version), None)
    if old is None or old["geometry"] is None:
        raise InvalidInput(f"责任区 {zone_id} 没有可恢复的版本 {version}")
    if old["kind"] != Kind.zone.value:
        raise InvalidInput(f"要素 {zone_id} 是 {old['kind']}，不是责任区：此处只能恢复责任区")
    check_shape(old["geometry"], max_vertices)
    feature = Feature(Kind.zone, old["geometry"], name=old["name"], category=old["category"],
                      properties=old["properties"], id=zone_id)
    try:
        store.feature(zone_id)
    except NotFound:
        feature.id = None  # it was deleted: restoring brings it back under a new id
    return store.save_feature(feature, actor, f"restore:{version}")


def merge_zones(store: Store, ids: list[int], body: dict[str, Any], actor: str) -> Feature:
    """Replace several zones by their union (name and owner from the form)."""
    if len(set(ids)) < 2:
        raise InvalidInput("合并至少需要两个责任区")
    zones = [store.feature(i) for i in ids]
    if any(z.kind is not Kind.zone for z in zones):
        raise InvalidInput("只能合并责任区")
    union = _polygonal(shapely.union_all([z.geometry for z in zones]))
    if union is None:
        raise InvalidInput("所选责任区面积为零")
    fields = {**zones[0].properties, "zone_type": zones[0].properties.get("zone_type")
              or zones[0].category, "name": zones[0].name, **body}
    merged = store.save_feature(zone_feature(fields, union), actor, "merge")
    for z in zones:
        assert z.id is not None
        store.delete_feature(z.id, actor)
    return merged


def split_zone(store: Store, zone_id: int, line: dict[str, Any], actor: str,
               max_vertices: int = 100_000) -> list[Feature]:
    """Cut a zone in two or more along a drawn line; the pieces keep the zone's owner."""
    check_geometry(line, max_vertices)
    zone = store.feature(zone_id)
    if zone.kind is not Kind.zone:
        raise InvalidInput(f"要素 {zone_id} 不是责任区")
    try:
        cutter = shape(line)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise InvalidInput("分割线须为 GeoJSON LineString") from None
    if cutter.geom_type != "LineString":
        raise InvalidInput("分割线须为 GeoJSON LineString")
    pieces = [g for g in shapely.get_parts(shapely.ops.split(zone.geometry, cutter))
              if g.area > 0] if zone.geometry.geom_type == "Polygon" else []
    if len(pieces) < 2:
        raise InvalidInput("分割线未穿过责任区，无法分割")
    out = [store.save_feature(replace(zone, geometry=pieces[0]), actor, "split",
                              expected_version=zone.version)]
    for k, piece in enumerate(pieces[1:], start=2):
        out.append(store.save_feature(replace(zone, id=None, geometry=piece,
                                              name=f"{zone.name}-{k}"), actor, "split"))
    return out


def assign(store: Store, feature_id: int, values: dict[str, Any], actor: str,
           version: int | None = None) -> Feature:
    """Assign a street/alley to a cadre (路长) or a market/compound/test point to a unit."""
    feature = store.feature(feature_id)
    lines = feature.kind in (Kind.street, Kind.alley)
    allowed = {"cadre", "phone"} if lines else {"unit", "responsible_person", "phone"}
    if feature.kind not in (Kind.street, Kind.alley, Kind.market, Kind.compound,
                            Kind.test_point, Kind.storefront):
        raise InvalidInput(f"{feature.kind.value} 类要素不能在此分配")
    bad = set(values) - allowed
    if bad:
        raise InvalidInput(f"{feature.kind.value} 类要素只能分配 {', '.join(sorted(allowed))}，"
                           f"不能分配 {', '.join(sorted(bad))}")
    props = {**feature.properties}
    for key, value in values.items():
        if value in (None, ""):
            props.pop(key, None)
        else:
            props[key] = str(value)
    return store.save_feature(replace(feature, properties=props), actor, "assign",
                              expected_version=version)


def workload(store: Store) -> list[dict[str, Any]]:
    """Per unit: zone count and area, km of street and alley in its zones or under its cadres,
    markets and test points in its zones or assigned to it, open issues. The zones' area and
    street km come from geo.zones.figures (computed again only after the zone, street or alley
    layer changes)."""
    zones = area_figures.areas(store, Kind.zone)
    if not zones.ids:
        return []
    units: dict[str, dict[str, Any]] = {}

    def row(unit: str) -> dict[str, Any]:
        return units.setdefault(unit, {"unit": unit, "zones": 0, "zone_area_m2": 0.0,
                                       "street_km": 0.0, "alley_km": 0.0, "markets": 0,
                                       "test_points": 0, "open_issues": 0})

    owners = [u or "（未指定单位）" for u in zones.units]
    km = area_figures.line_km(store, Kind.zone)
    for z, name in enumerate(owners):
        r = row(name)
        r["zones"] += 1
        r["zone_area_m2"] += float(zones.area_km2[z]) * 1e6
        r["street_km"] += float(km[Kind.street][z])
        r["alley_km"] += float(km[Kind.alley][z])
    tree = shapely.STRtree(zones.geoms)
    for kind, key in ((Kind.market, "markets"), (Kind.test_point, "test_points")):
        points = store.features(kind)
        if not points:
            continue
        p_idx, z_idx = tree.query(np.array([f.geometry for f in points], dtype=object),
                                  predicate="intersects")
        first: dict[int, int] = {}
        for p, k in zip(p_idx.tolist(), z_idx.tolist(), strict=True):
            first[p] = min(k, first.get(p, k))
        for p, f in enumerate(points):
            holder = f.properties.get("unit") or (zones.units[first[p]] if p in first else None)
            if holder:
                row(str(holder))[key] += 1
    for unit, n in store.open_issue_counts(IssueQuery(limit=None), "unit").items():
        if unit and n:  # counted in SQL
            row(unit)["open_issues"] += n
    out = sorted(units.values(), key=lambda r: r["unit"])
    for r in out:
        for field in ("zone_area_m2", "street_km", "alley_km"):
            r[field] = round(r[field], 3 if field.endswith("km") else 1)
    return out


TEST_POINT_WEIGHT_M = 300.0  # a test point counts like 300 m of street when balancing


def suggest_division(area: BaseGeometry, lines: list[Feature], points: list[Feature],
                     k: int) -> list[dict[str, Any]]:
    """Propose k zones over `area` balanced by street/alley length and test points.

    Documented heuristic (recursive weighted bisection): the workload of each segment
    (its length, at its midpoint) and of each test point (TEST_POINT_WEIGHT_M) is split by a
    straight cut across the longer side of the region's bounding box at the weighted median
    that gives the two halves k1 : k - k1 of the work, recursively until k regions remain.
    Regions are clipped to the area; figures are in metres (local UTM).
    """
    if not 1 <= k <= 50:
        raise InvalidInput("k 须在 1 至 50 之间")
    if area.is_empty or area.area == 0:
        raise InvalidInput("划分范围为空，无可划分")
    frame = MetricFrame.for_geometry(area)
    m_area = frame.to_metric(area)
    m_lines = [frame.to_metric(f.geometry) for f in lines]
    xy, w = [], []
    for g in m_lines:
        part = g.intersection(m_area)
        if part.length > 0:
            mid = part.interpolate(0.5, normalized=True)
            xy.append((mid.x, mid.y))
            w.append(part.length)
    for p in points:
        m = frame.to_metric(p.geometry).centroid
        if m_area.contains(m):
            xy.append((m.x, m.y))
            w.append(TEST_POINT_WEIGHT_M)
    coords = np.array(xy, dtype=float).reshape(-1, 2)
    weights = np.array(w, dtype=float)
    cells = _bisect(shapely.box(*m_area.bounds), coords, weights, k)
    out = []
    for n, cell in enumerate(cells, start=1):
        region = _polygonal(cell.intersection(m_area))
        if region is None:
            continue
        street_m = sum(g.intersection(region).length for g in m_lines)
        tps = sum(1 for p in points if region.contains(frame.to_metric(p.geometry)))
        out.append({"name": f"建议责任区{n}", "geometry": frame.to_wgs84(region),
                    "street_m": round(street_m, 1), "test_points": tps,
                    "area_m2": round(region.area, 1)})
    return out


def _bisect(box_: BaseGeometry, xy: Any, w: Any, k: int) -> list[BaseGeometry]:
    if k == 1:
        return [box_]
    minx, miny, maxx, maxy = box_.bounds
    axis = 0 if maxx - minx >= maxy - miny else 1
    k1 = k // 2
    lo, hi = (minx, maxx) if axis == 0 else (miny, maxy)
    inside = (xy[:, 0] >= minx) & (xy[:, 0] <= maxx) & (xy[:, 1] >= miny) & (xy[:, 1] <= maxy) \
        if len(xy) else np.zeros(0, dtype=bool)
    if inside.any() and w[inside].sum() > 0:
        order = np.argsort(xy[inside, axis])
        cum = np.cumsum(w[inside][order])
        target = cum[-1] * k1 / k
        cut = float(xy[inside, axis][order][np.searchsorted(cum, target)])
        cut = min(max(cut, lo + (hi - lo) * 0.05), hi - (hi - lo) * 0.05)
    else:
        cut = lo + (hi - lo) * k1 / k
    if axis == 0:
        first, second = shapely.box(minx, miny, cut, maxy), shapely.box(cut, miny, maxx, maxy)
    else:
        first, second = shapely.box(minx, miny, maxx, cut), shapely.box(minx, cut, maxx, maxy)
    return _bisect(first, xy, w, k1) + _bisect(second, xy, w, k - k1)


def validate_zone_import(store: Store, features: list[Feature],
                         policy: ZonePolicy) -> tuple[list[Feature], list[RowProblem]]:
    """Apply the zone rules (jurisdiction, same-type overlap) to the zones of an imported file:
    all or nothing — any refused row rejects the whole file (ImportRejected)."""
    out: list[Feature] = []
    problems: list[RowProblem] = []
    for row, f in enumerate(features, start=1):
        zone_type = str(f.properties.get("zone_type") or f.category or "grid")
        if zone_type not in ZONE_TYPES:
            problems.append(RowProblem(row, f"未知的责任区类型 {zone_type!r}", "zone_type",
                                       hint=f"可选责任区类型：{', '.join(ZONE_TYPES)}"))
            continue
        try:
            geom, warnings = check_zone(store, f.geometry, zone_type, policy)
        except (Conflict, InvalidInput) as exc:
            problems.append(RowProblem(row, exc.message, "geometry"))
            continue
        problems += [RowProblem(row, w["message"], "geometry", severity="warning")
                     for w in warnings]
        out.append(replace(f, geometry=geom, category=zone_type,
                           properties={**f.properties, "zone_type": zone_type}))
    if any(p.severity == "error" for p in problems):
        raise ImportRejected("有责任区不符合责任区规则，整个文件未导入",
                             problems=problems)
    return out, problems


def split_at_zones(store: Store, feature_id: int, actor: str) -> list[Feature]:
    """Cut a street or alley segment where it crosses zone boundaries, so each part can be
    assigned on its own; the parts keep the segment's name and properties."""
    feature = store.feature(feature_id)
    if feature.kind not in (Kind.street, Kind.alley):
        raise InvalidInput("只有主次干道和背街小巷可按责任区边界分割")
    zones = store.features(Kind.zone, bbox=feature.geometry.bounds)
    if not zones:
        raise InvalidInput("没有与该路段相接的责任区")
    borders = shapely.union_all([z.geometry.boundary for z in zones])
    pieces = [g for g in shapely.get_parts(shapely.ops.split(feature.geometry, borders))
              if g.length > 0]
    if len(pieces) < 2:
        raise InvalidInput("该路段未跨越责任区边界")
    first = store.save_feature(replace(feature, geometry=pieces[0]), actor, "split",
                               expected_version=feature.version)
    rest = [store.save_feature(replace(feature, id=None, geometry=g,
                                       source_id=f"{feature.source_id or feature.id}#{k}"),
                               actor, "split")
            for k, g in enumerate(pieces[1:], start=2)]
    return [first, *rest]
