"""Request bodies of the zone editing routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from server.deps import DbInt


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
