"""The issue ledger's write path: validate, set deadlines, route, detect recurrence/duplicates."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.errors import Conflict, InvalidInput, NotFound
from geo.features import Feature, Issue, IssueRoute
from geo.kinds import Kind, issue_categories, reference_table
from geo.lifecycle import deadline_for, statuses
from geo.projection import MetricFrame, grow_bbox
from geo.recurrence import (
    DEFAULT_RULE,
    RecurrenceRule,
    find_duplicates,
    find_recurrences,
    near_bbox,
)
from geo.routing import CADRE_DISTANCE_M, Route, route_points
from geo.store import BBox, Store

if TYPE_CHECKING:
    from geo.issue_import import IssueImport

# lines farther than this from a point cannot be its cadre's: the cadre distance with room for
# the difference between metres in a UTM zone and on the ground
LINE_MARGIN_M = CADRE_DISTANCE_M * 1.2 + 1.0
REROUTE_BATCH = 5000  # issues read and routed at a time
REROUTE_WRITE = 50_000  # changed issues held before they are written


@dataclass
class Intake:
    """What creating issues did: the new ids, and the duplicate candidates offered per id."""

    ids: list[int] = field(default_factory=list)
    duplicates: dict[int, list[int]] = field(default_factory=dict)
    recurring: int = 0


def sources() -> dict[str, str]:
    """Issue source code → Chinese label."""
    return {r["code"]: r["label"] for r in reference_table("issue_sources")}


def validate_issue(issue: Issue) -> None:
    """Raise InvalidInput when an issue's category, source, status or location is wrong."""
    if issue.category not in issue_categories():
        raise InvalidInput(f"unknown category {issue.category!r}; categories: "
                           + ", ".join(issue_categories()))
    if issue.source not in sources():
        raise InvalidInput(f"unknown source {issue.source!r}; sources: "
                           + ", ".join(sources()))
    if issue.status not in statuses():
        raise InvalidInput(f"unknown status {issue.status!r}")
    if not (-180 <= issue.lon <= 180 and -90 <= issue.lat <= 90):
        raise InvalidInput(f"location ({issue.lon}, {issue.lat}) is not lon/lat degrees")


def prepare(store: Store, issues: list[Issue], now: datetime,
            rule: RecurrenceRule = DEFAULT_RULE) -> dict[int, list[int]]:
    """Fill deadline, zone, unit, cadre, flags and recurring_of in place; return duplicates."""
    if not issues:
        return {}
    for i in issues:
        i.reported_at = i.reported_at or now
        i.deadline = i.deadline or deadline_for(i.category, i.reported_at)
    apply_routes(store, issues)
    box = near_bbox(issues, rule.radius_m)
    nearby = store.issues(bbox=box)
    closed = [i for i in nearby if i.status == "closed" and i.closed_at is not None]
    for k, old_id in find_recurrences(issues, closed, rule).items():
        issues[k].recurring_of = old_id
        if "recurring" not in issues[k].flags:
            issues[k].flags.append("recurring")
    return find_duplicates(issues, nearby, rule)


def routes_at(store: Store, lons: Sequence[float], lats: Sequence[float]) -> list[Route]:
    """Zone, unit, cadre, community and flags of points, from the stored zones and streets
    around them (a route depends only on the features near its point, see geo.routing)."""
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


def create_issues(store: Store, issues: list[Issue], actor: str,
                  now: datetime | None = None) -> Intake:
    """Validate, prepare and store issues in one transaction."""
    now = now or datetime.now()
    for i in issues:
        validate_issue(i)
    external = [i.external_id for i in issues if i.external_id]
    taken = sorted(store.existing_external_ids(external)) if external else []
    if taken or len(set(external)) < len(external):
        # a client's id names one report: a second POST with it is refused, not stored twice
        raise Conflict(f"external_id already used (外部编号重复): {', '.join(taken or external)}; "
                       "look the issue up instead of reporting it again",
                       external_ids=taken or external)
    duplicates = prepare(store, issues, now)
    ids = store.add_issues(issues, actor=actor)
    return Intake(ids, {ids[k]: v for k, v in duplicates.items()},
                  sum(1 for i in issues if i.recurring_of))


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


def import_parsed(store: Store, parsed: IssueImport, actor: str,
                  dry_run: bool) -> dict[str, Any]:
    """Write parsed import rows (skipping stored external ids) unless dry_run; the report."""
    known = store.existing_external_ids([i.external_id for i in parsed.issues
                                         if i.external_id])
    fresh = [i for i in parsed.issues if not i.external_id or i.external_id not in known]
    parsed.skipped = len(parsed.issues) - len(fresh)
    imported = len(fresh) if dry_run else (
        len(create_issues(store, fresh, actor=actor).ids) if fresh else 0)
    report = parsed.report(imported)
    report["dry_run"] = dry_run
    return report
