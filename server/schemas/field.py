"""Response bodies of the offline inspection app's routes (外业巡查)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from server.schemas.planning import ChecklistItem


class FieldRoundName(BaseModel):
    """The round: its id and name."""

    id: int
    name: str


class FieldTeam(BaseModel):
    """The inspector's team of the round."""

    team: int
    name: str
    inspector: str


class FieldStop(BaseModel):
    """A stop of the round in visiting order, and its inspection in this round (if any)."""

    id: int
    seq: int | None
    name: str | None
    category: str | None
    category_label: str | None
    address: str
    lon: float
    lat: float
    inspection_id: int | None


class FieldCategory(BaseModel):
    """An issue category a report may take."""

    code: str
    label: str


class FieldSettings(BaseModel):
    """The app's settings: photo long edge (px) and the bound of the tile cache (MB)."""

    photo_max_px: int
    tile_cache_mb: float


class FieldRound(BaseModel):
    """The round the field app keeps offline."""

    round: FieldRoundName
    team: FieldTeam | None = Field(description="null: no team of the round is the caller's; "
                                   "stops are every team's")
    stops: list[FieldStop]
    path: list[list[float]] = Field(description="the team's route, [lon, lat] vertices")
    checklists: dict[str, list[ChecklistItem]]
    categories: list[FieldCategory]
    bbox: list[float] | None = Field(description="minx, miny, maxx, maxy (WGS 84) of the "
                                     "stops with a margin: the area whose tiles are cached")
    settings: FieldSettings
