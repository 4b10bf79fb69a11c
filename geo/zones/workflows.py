"""Zone workflows that the HTTP routes and the CLI share: each edit of zones or of a line's cadre,
the re-route of the issues in the area it changed, and their audit rows in one transaction (a
failure anywhere leaves nothing written)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from geo.model.records import Feature
from geo.store import Store
from geo.zones.editing import (
    ZonePolicy,
    assign,
    merge_zones,
    restore_zone,
    save_zone,
    split_zone,
)
from geo.zones.rerouting import rerouting


@dataclass
class ZoneEdit:
    """What an edit did: the zones or features it saved (none for a delete), the warnings the
    planner should see, and how many issues its re-route changed."""

    features: list[Feature]
    warnings: list[dict[str, Any]] = field(default_factory=list)
    rerouted: int = 0


def create_zone(store: Store, form: dict[str, Any], actor: str, policy: ZonePolicy) -> ZoneEdit:
    """Save a new zone drawn on the map; the issues inside it are re-routed."""
    with rerouting(store, actor) as change:
        saved = save_zone(store, form, actor, policy)
        change.add(saved.zone.geometry)
    return ZoneEdit([saved.zone], saved.warnings, change.rerouted)


def update_zone(store: Store, zone_id: int, form: dict[str, Any], version: int | None,
                actor: str, policy: ZonePolicy) -> ZoneEdit:
    """Save an edited zone as a new version; the issues in its old and new shapes are
    re-routed."""
    with rerouting(store, actor, [zone_id]) as change:
        saved = save_zone(store, form, actor, policy, zone_id, version)
        change.add(saved.zone.geometry)
    return ZoneEdit([saved.zone], saved.warnings, change.rerouted)


def delete_zone(store: Store, zone_id: int, actor: str) -> ZoneEdit:
    """Delete a zone (its history is kept); the issues it held are re-routed."""
    with rerouting(store, actor, [zone_id]) as change:
        store.delete_feature(zone_id, actor)
    return ZoneEdit([], [], change.rerouted)


def restore_zone_version(store: Store, zone_id: int, version: int, actor: str,
                         max_vertices: int) -> ZoneEdit:
    """Restore an earlier version of a zone as its newest one, and re-route."""
    with rerouting(store, actor, [zone_id]) as change:
        zone = restore_zone(store, zone_id, version, actor, max_vertices)
        change.add(zone.geometry)
    return ZoneEdit([zone], [], change.rerouted)


def merge(store: Store, ids: list[int], fields: dict[str, Any], actor: str) -> ZoneEdit:
    """Merge zones into one (the first zone's owner unless `fields` say), and re-route."""
    with rerouting(store, actor, ids) as change:
        zone = merge_zones(store, ids, fields, actor)
        change.add(zone.geometry)
    return ZoneEdit([zone], [], change.rerouted)


def split(store: Store, zone_id: int, line: dict[str, Any], actor: str,
          max_vertices: int) -> ZoneEdit:
    """Cut a zone along a drawn line into pieces that keep its owner, and re-route."""
    with rerouting(store, actor, [zone_id]) as change:
        pieces = split_zone(store, zone_id, line, actor, max_vertices)
    return ZoneEdit(pieces, [], change.rerouted)


def assign_feature(store: Store, feature_id: int, values: dict[str, Any], actor: str,
                   version: int | None = None) -> ZoneEdit:
    """Assign a street/alley to a cadre or a point to a unit; a cadre change re-routes the
    issues near the line."""
    with rerouting(store, actor) as change:
        feature = assign(store, feature_id, values, actor, version)
        if "cadre" in values:
            change.add_line(feature.geometry)
    return ZoneEdit([feature], [], change.rerouted)
