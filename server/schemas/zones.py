"""Request and response bodies of the zone editing routes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from server.deps import DbInt
from server.schemas.common import GeoJSONFeature


class ZoneForm(BaseModel):
    """The zone form: a GeoJSON polygon and the owner's details."""

    geometry: dict[str, Any]
    name: str
    zone_type: str
    unit: str | None = None
    responsible_person: str | None = None
    phone: str | None = None
    notes: str | None = None
    version: DbInt | None = None  # required when updating


class ZoneRestore(BaseModel):
    """Body of POST /api/zones/{id}/restore."""

    version: DbInt


class ZoneMerge(BaseModel):
    """Body of POST /api/zones/merge."""

    ids: list[DbInt]
    name: str | None = None
    unit: str | None = None


class ZoneSplit(BaseModel):
    """Body of POST /api/zones/{id}/split: a GeoJSON LineString across the zone."""

    line: dict[str, Any]


class ZoneSuggest(BaseModel):
    """Body of POST /api/zones/suggest: divide a community, or the uncovered area."""

    k: int
    community_id: DbInt | None = None


class FeatureAssign(BaseModel):
    """Body of PUT /api/features/{id}/assignment."""

    values: dict[str, str | None]
    version: DbInt | None = None


class ZoneSaved(BaseModel):
    """A saved zone (or assigned feature) as a GeoJSON Feature, with its new version, the
    warnings the planner should see and how many issues the edit re-routed."""

    model_config = ConfigDict(extra="allow")
    type: Literal["Feature"]
    id: int | None
    geometry: dict[str, Any] | None
    properties: dict[str, Any]
    version: int
    warnings: list[dict[str, Any]] = []
    rerouted_issues: int = 0


class ZoneDeleted(BaseModel):
    """A deleted zone's id and how many issues were re-routed."""

    deleted: int
    rerouted_issues: int


class ZonesSplit(BaseModel):
    """The pieces of a split zone and how many issues were re-routed."""

    zones: list[ZoneSaved]
    rerouted_issues: int


class ZoneVersion(BaseModel):
    """One saved version of a zone (or assigned feature): who, when, what."""

    model_config = ConfigDict(extra="allow")
    id: int
    feature_id: int
    version: int
    action: str
    actor: str | None
    at: str
    kind: str | None
    name: str | None
    category: str | None
    properties: dict[str, Any] | None
    geometry: dict[str, Any] | None


class VersionedFeature(GeoJSONFeature):
    """A GeoJSON Feature with its new version."""

    version: int


class SegmentsSplit(BaseModel):
    """The parts of a street or alley cut at zone boundaries."""

    features: list[VersionedFeature]
