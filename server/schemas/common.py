"""Response bodies shared by several routes: health, jobs, GeoJSON, file downloads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


# a time as the store keeps it: local, ISO 8601 without an offset (so not JSON Schema's
# "date-time", which requires one)
LocalTimeText = Annotated[str, BeforeValidator(_iso),
                          Field(description="local time, ISO 8601 without an offset")]


class TileReseed(BaseModel):
    """What this process's tile reseeding has done since it started."""

    leader: bool = Field(description="whether this process reseeds for the machine")
    passes: int
    built: int = Field(description="tiles built (after writes, the opening views, the city)")
    cached: int = Field(description="tiles queued that a request had rebuilt already")
    pending: int = Field(description="tiles queued, to be rebuilt in the next passes")
    last_pass: datetime | None
    city_pending: int = Field(description=(
        "tiles of the whole city's seeding (CCMAP_TILE_SEED_CITY) not built yet"))
    city_seeded: bool = Field(description=(
        "whether every tile `ccmap tiles seed` builds by default has been seeded for this "
        "database"))


class Health(BaseModel):
    """Liveness and what the store holds."""

    status: str
    database: str
    layers: dict[str, int]
    issues: int
    tile_reseed: TileReseed | None = Field(
        None, description="the background reseeding of the map's tiles (null: off)")


class JobPublic(BaseModel):
    """A background job (an import): its state, progress and, when done, its report."""

    id: int
    kind: str
    state: str
    done: int | float | None
    total: int | float | None
    message: str | None
    result: Any
    created_at: str | None
    started_at: str | None
    finished_at: str | None


class JobAccepted(BaseModel):
    """202 Accepted: the work runs as a job; follow status_url (also the Location header)."""

    job_id: int
    status_url: str


class GeoJSONFeature(BaseModel):
    """An RFC 7946 Feature (ccmap adds the feature's `id`; some answers add more members)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["Feature"]
    id: int | str | None = None
    geometry: dict[str, Any] | None
    properties: dict[str, Any] | None


class FeatureCollection(BaseModel):
    """An RFC 7946 FeatureCollection (analysis answers add members beside `features`)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["FeatureCollection"]
    features: list[GeoJSONFeature]


# OpenAPI schemas of bodies that are not JSON (files, tiles, pages)
BINARY = {"type": "string", "format": "binary"}
TEXT = {"type": "string"}
