"""Zones (责任区) editing, versions and restore; assignments; the unit workload table."""

from __future__ import annotations

from typing import Any

import shapely
from fastapi import APIRouter, Request
from shapely.geometry import shape

from geo.i18n import DEFAULT
from geo.layers import geojson
from geo.model.errors import InvalidInput
from geo.model.kinds import Kind
from geo.model.users import require
from geo.zones import workflows
from geo.zones.editing import (
    ZonePolicy,
    split_at_zones,
    suggest_division,
    workload,
    zone_history,
)
from geo.zones.gaps import analyse, load_input
from server.auth import Analyst, CurrentUser, Reader
from server.deps import Id, SettingsDep, StoreDep
from server.errors import localized_entries
from server.locale import request_locale
from server.schemas.analytics import UnitWorkload
from server.schemas.common import FeatureCollection
from server.schemas.zones import (
    FeatureAssign,
    SegmentsSplit,
    ZoneDeleted,
    ZoneForm,
    ZoneMerge,
    ZoneRestore,
    ZoneSaved,
    ZoneSplit,
    ZonesSplit,
    ZoneSuggest,
    ZoneVersion,
)
from server.settings import Settings

router = APIRouter(tags=["zones"])


def policy(settings: Settings) -> ZonePolicy:
    """The zone validation rules from settings."""
    return ZonePolicy(outside=settings.zone_outside, overlap=settings.zone_overlap,
                      max_vertices=settings.max_geometry_vertices)


def _zone_out(zone: Any, warnings: list[dict[str, Any]] | None = None,
              rerouted: int = 0, locale: str = DEFAULT) -> dict[str, Any]:
    return {**geojson.feature_json(zone), "version": zone.version,
            "warnings": localized_entries(warnings or [], locale), "rerouted_issues": rerouted}


@router.post("/api/zones", status_code=201, response_model=ZoneSaved)
def create_zone(body: ZoneForm, user: CurrentUser, store: StoreDep, settings: SettingsDep,
                request: Request) -> dict[str, Any]:
    """Create a zone drawn on the map; the issues inside it are re-routed."""
    require(user, "zones:write")
    edit = workflows.create_zone(store, body.model_dump(), user.actor, policy(settings))
    return _zone_out(edit.features[0], edit.warnings, edit.rerouted,
                     request_locale(request))


@router.put("/api/zones/{zone_id}", response_model=ZoneSaved)
def update_zone(zone_id: Id, body: ZoneForm, user: CurrentUser, store: StoreDep,
                settings: SettingsDep, request: Request) -> dict[str, Any]:
    """Save an edited zone as a new version (send the version you edited); the issues in its
    old and new shapes are re-routed."""
    require(user, "zones:write")
    edit = workflows.update_zone(store, zone_id, body.model_dump(), body.version, user.actor,
                                 policy(settings))
    return _zone_out(edit.features[0], edit.warnings, edit.rerouted,
                     request_locale(request))


@router.delete("/api/zones/{zone_id}", response_model=ZoneDeleted)
def remove_zone(zone_id: Id, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    """Delete a zone (its history is kept and it can be restored)."""
    require(user, "zones:write")
    edit = workflows.delete_zone(store, zone_id, user.actor)
    return {"deleted": zone_id, "rerouted_issues": edit.rerouted}


@router.get("/api/zones/{zone_id}/history", response_model=list[ZoneVersion])
def zone_history_view(zone_id: Id, user: Reader, store: StoreDep) -> list[dict[str, Any]]:
    """Every version of a zone: who, when, what (404 outside a unit user's scope)."""
    return [{**{k: v for k, v in r.items() if k != "geometry"},
             "at": r["at"].isoformat(timespec="seconds"),
             "geometry": geojson.geometry_json(r["geometry"]) if r["geometry"] else None}
            for r in zone_history(store, zone_id, user.scope_unit)]


@router.post("/api/zones/{zone_id}/restore", response_model=ZoneSaved)
def restore(zone_id: Id, body: ZoneRestore, user: CurrentUser, store: StoreDep,
            settings: SettingsDep) -> dict[str, Any]:
    """Restore an earlier version as the newest one."""
    require(user, "zones:write")
    edit = workflows.restore_zone_version(store, zone_id, body.version, user.actor,
                                          settings.max_geometry_vertices)
    return _zone_out(edit.features[0], None, edit.rerouted)


@router.post("/api/zones/merge", status_code=201, response_model=ZoneSaved)
def merge(body: ZoneMerge, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    """Merge zones into one (the first zone's owner unless given)."""
    require(user, "zones:write")
    fields = {k: v for k, v in (("name", body.name), ("unit", body.unit)) if v}
    edit = workflows.merge(store, body.ids, fields, user.actor)
    return _zone_out(edit.features[0], None, edit.rerouted)


@router.post("/api/zones/{zone_id}/split", response_model=ZonesSplit)
def split(zone_id: Id, body: ZoneSplit, user: CurrentUser, store: StoreDep,
          settings: SettingsDep) -> dict[str, Any]:
    """Split a zone along a line."""
    require(user, "zones:write")
    edit = workflows.split(store, zone_id, body.line, user.actor, settings.max_geometry_vertices)
    return {"zones": [_zone_out(z) for z in edit.features], "rerouted_issues": edit.rerouted}


@router.put("/api/features/{feature_id}/assignment", response_model=ZoneSaved)
def assignment(feature_id: Id, body: FeatureAssign, user: CurrentUser,
               store: StoreDep) -> dict[str, Any]:
    """Assign a street/alley segment to a cadre (路长) or a point to a unit."""
    require(user, "zones:write")
    edit = workflows.assign_feature(store, feature_id, body.values, user.actor, body.version)
    feature = edit.features[0]
    return {**geojson.feature_json(feature), "version": feature.version,
            "rerouted_issues": edit.rerouted}


@router.post("/api/features/{feature_id}/split-at-zones", response_model=SegmentsSplit)
def split_segment(feature_id: Id, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    """Cut a street/alley at zone boundaries so its parts can go to different cadres."""
    require(user, "zones:write")
    parts = split_at_zones(store, feature_id, user.actor)
    return {"features": [{**geojson.feature_json(f), "version": f.version} for f in parts]}


@router.get("/api/workload", response_model=list[UnitWorkload])
def unit_workload(_: Analyst, store: StoreDep) -> list[dict[str, Any]]:
    """Per unit: zones, area, km of street and alley, markets, test points, open issues."""
    return workload(store)


@router.post("/api/zones/suggest", response_model=FeatureCollection,
             response_model_exclude_unset=True)  # drafts have no id
def suggest(body: ZoneSuggest, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    """Draft zones (not saved) balanced by street length and test points, as GeoJSON."""
    require(user, "zones:write")
    if body.community_id is not None:
        community = store.feature(body.community_id)
        if community.kind is not Kind.community:
            raise InvalidInput(f"要素 {body.community_id} 不是社区")
        area = community.geometry
    else:
        report = analyse(load_input(store), with_geometry=True)
        polygons = report.get("uncovered_area", {}).get("polygons", [])
        if not polygons:
            raise InvalidInput("没有可划分的未覆盖区域")
        area = shapely.union_all([shape(p["geometry"]) for p in polygons])
    lines = store.features(Kind.street) + store.features(Kind.alley)
    drafts = suggest_division(area, lines, store.features(Kind.test_point), body.k)
    return geojson.collection(
        {"type": "Feature", "geometry": geojson.geometry_json(d["geometry"]),
         "properties": {k: v for k, v in d.items() if k != "geometry"}} for d in drafts)
