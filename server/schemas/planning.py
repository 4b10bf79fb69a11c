"""Request bodies of the assessment planner's routes."""

from __future__ import annotations

from pydantic import BaseModel, Field

from server.deps import DbInt


class RoundCreate(BaseModel):
    """A new inspection round: the sample to draw and how to route it."""

    seed: DbInt
    name: str = ""
    teams: int = Field(1, ge=1, le=50)
    mode: str = Field("walk", pattern="^(walk|drive)$")
    budget_min: float = Field(240, gt=0, le=24 * 60)
    service_min: float = Field(15, ge=0, le=240)
    start: tuple[float, float] | None = None
    return_to_start: bool = False
    inspectors: list[str] = []
    risk: bool = False
    exclude_days: int = Field(0, ge=0, le=3650)
    coords: str = Field("wgs84", description="system of `start` (gcj02 on a Gaode basemap)")


class InspectionCreate(BaseModel):
    """Checklist results of one test point: code → {result: pass|fail|na, note}."""

    feature_id: DbInt
    results: dict[str, dict[str, str]]
    inspector: str = ""
    round_id: DbInt | None = None
    source: str = "unannounced_inspection"


class RoundSummary(BaseModel):
    """An inspection round in the list: its teams, stops and stops left unscheduled."""

    id: int
    name: str
    created_at: str
    created_by: str | None
    teams: int
    stops: int
    unscheduled: int
