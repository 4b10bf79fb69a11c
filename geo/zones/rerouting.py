"""Re-routing: the zone, unit, cadre and community of issues worked out again where zones or
staffed lines changed (an edit's area, in the edit's transaction), or everywhere."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.layers.projection import MetricFrame, grow_bbox
from geo.model.errors import NotFound
from geo.model.kinds import Kind
from geo.model.records import Feature, Issue, IssueRoute
from geo.store import BBox, Store
from geo.zones.assignment import CADRE_DISTANCE_M, Route, route_points

# lines farther than this from a point cannot be its cadre's: the cadre distance with room for
# the difference between metres in a UTM zone and on the ground
LINE_MARGIN_M = CADRE_DISTANCE_M * 1.2 + 1.0
REROUTE_BATCH = 5000  # issues read and routed at a time
REROUTE_WRITE = 50_000  # changed issues held before they are written


def routes_at(store: Store, lons: Sequence[float], lats: Sequence[float]) -> list[Route]:
    """Zone, unit, cadre, community and flags of points, from the stored zones and streets
    around them (a route depends only on the features near its point, see geo.zones.assignment)."""
    if len(lons) == 0:
        return []
    layers = _routing_layers(store, (min(lons), min(lats), max(lons), max(lats)))
    return route_points(lons, lats, *layers)


def apply_routes(store: Store, issues: Sequence[Issue]) -> None:
    """Set zone, unit, flags and cadre of issues from the stored zones and streets."""
    routes = routes_at(store, [i.lon for i in issues], [i.lat for i in issues])
    for issue, r in zip(issues, routes, strict=True):
        _set_route(issue, r)


def _route_of(i: Issue | IssueRoute) -> tuple[Any, ...]:
    """What routing sets on an issue (flags in any order: the same flags are no change)."""
    return i.zone_id, i.unit, sorted(i.flags), i.cadre, i.community


def _set_route(issue: Issue | IssueRoute, r: Route) -> None:
    issue.zone_id, issue.unit, issue.cadre = r.zone_id, r.unit, r.cadre
    issue.community = r.community
    issue.flags = [f for f in issue.flags if f not in ("overlap", "uncovered")] + r.flags


def _routing_layers(store: Store, bbox: BBox | None
                    ) -> tuple[list[Feature], list[Feature], list[Feature]]:
    """The zones, staffed lines and communities that can route a point inside bbox (None:
    all of them), each in the store's order (by id), which breaks routing's ties."""
    near = None if bbox is None else grow_bbox(bbox, LINE_MARGIN_M)
    lines = [f for kind in (Kind.street, Kind.alley) for f in store.features(kind, bbox=near)
             if f.properties.get("cadre")]
    return (store.features(Kind.zone, bbox=bbox), lines,
            store.features(Kind.community, bbox=bbox))


def cadre_area(line: BaseGeometry) -> BaseGeometry:
    """Where the issues routed to a street or alley's cadre can lie: the line grown by more
    than the cadre distance (the area to re-route when its cadre changes)."""
    frame = MetricFrame.for_geometry(line)
    return frame.to_wgs84(frame.to_metric(line).buffer(LINE_MARGIN_M))


class Rerouting:
    """The area changed by zone edits in progress (see `rerouting`), and then how many
    issues its re-route changed."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.areas: list[BaseGeometry] = []
        self.rerouted = 0

    def add(self, *geometries: BaseGeometry | None) -> None:
        """Add changed zone shapes (None: nothing) to the area to re-route."""
        self.areas += [g for g in geometries if g is not None and not g.is_empty]

    def add_zones(self, ids: Sequence[int]) -> None:
        """Add the current shapes of these zones (skipping ids that do not exist)."""
        for zone_id in ids:
            try:
                f = self.store.feature(zone_id)
            except NotFound:
                continue
            if f.kind is Kind.zone:
                self.add(f.geometry)

    def add_line(self, line: BaseGeometry) -> None:
        """Add the surroundings of a street or alley whose cadre changed."""
        self.add(cadre_area(line))

    def add_features(self, features: Sequence[Feature]) -> None:
        """Add new or imported features that route issues: zones, and the surroundings of
        streets and alleys with a cadre."""
        self.add(*[f.geometry for f in features if f.kind is Kind.zone])
        # a line's box grown by the margin holds its cadre_area: looser, but cheap for 50,000
        self.add(*[shapely.box(*grow_bbox(f.geometry.bounds, LINE_MARGIN_M)) for f in features
                   if f.kind in (Kind.street, Kind.alley) and f.properties.get("cadre")])


@contextmanager
def rerouting(store: Store, actor: str, zone_ids: Sequence[int] = ()) -> Iterator[Rerouting]:
    """Run zone edits and the re-route of the issues in the area they changed in one
    transaction (zone edits take turns: a second one waits for the first to commit).

    The shapes of `zone_ids` before the edit are in the area; the body adds the new shapes
    (or lines whose cadre changed); on leaving, the issues inside the area are re-routed and
    `.rerouted` says how many changed."""
    with store.transaction():
        store.lock("zones")
        change = Rerouting(store)
        change.add_zones(zone_ids)
        yield change
        change.rerouted = reroute_area(store, change.areas, actor)


def reroute_all(store: Store, actor: str) -> int:
    """Re-route every issue (a full rebuild), batch by batch; returns how many changed. It
    writes as it goes (minutes at a million issues, other writes are not held up meanwhile)."""
    return _reroute(store, actor, None, [], atomic=False)


def reroute_area(store: Store, areas: Sequence[BaseGeometry], actor: str) -> int:
    """Re-route only the issues inside `areas` (the old and new shapes of edited zones, the
    surroundings of a line whose cadre changed) against the features there; returns how many
    changed. Gives what reroute_all would, reading only that area's issues and features."""
    areas = [g for g in areas if g is not None and not g.is_empty]
    if not areas:
        return 0
    minx, miny, maxx, maxy = shapely.total_bounds(areas).tolist()
    return _reroute(store, actor, (minx, miny, maxx, maxy), areas)


def _reroute(store: Store, actor: str, bbox: BBox | None, areas: list[BaseGeometry],
             atomic: bool = True) -> int:
    with store.transaction() if atomic else nullcontext():
        layers = _routing_layers(store, bbox)
        for g in areas:
            shapely.prepare(g)
        tree = shapely.STRtree(areas) if len(areas) > 8 else None
        changed: list[IssueRoute] = []
        count = 0
        for batch in store.issue_batches(bbox, REROUTE_BATCH):
            lon = np.fromiter((i.lon for i in batch), float, len(batch))
            lat = np.fromiter((i.lat for i in batch), float, len(batch))
            if areas:  # the bbox query's candidates inside the area itself (its edge too)
                if tree is not None:
                    inside = np.unique(tree.query(shapely.points(lon, lat),
                                                  predicate="intersects")[0])
                else:
                    inside = np.flatnonzero(np.logical_or.reduce(
                        [shapely.intersects_xy(g, lon, lat) for g in areas]))
                batch, lon, lat = [batch[k] for k in inside.tolist()], lon[inside], lat[inside]
            before = [_route_of(i) for i in batch]
            routes = route_points(lon, lat, *layers)
            for issue, route in zip(batch, routes, strict=True):
                _set_route(issue, route)
            changed += [i for i, b in zip(batch, before, strict=True) if _route_of(i) != b]
            if len(changed) >= REROUTE_WRITE:  # a big area is written as it goes
                count += store.update_routes(changed, actor)
                changed = []
        return count + store.update_routes(changed, actor)
