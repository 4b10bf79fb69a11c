"""Request and response bodies of the assessment planner's routes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from geo.model.clients import MAX_ACCURACY_M
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
    client_id: UUID | None = Field(None, description="a UUID made by an offline client: a "
                                   "second POST with it by the same user answers 200 with the "
                                   "first record and creates nothing")
    lon: float | None = Field(None, ge=-180, le=180, description="where the inspector's device "
                              "stood (WGS 84), as its GPS gave it")
    lat: float | None = Field(None, ge=-90, le=90)
    accuracy_m: float | None = Field(None, ge=0, le=MAX_ACCURACY_M,
                                     description="the GPS accuracy radius of lon/lat in metres")


class RoundSummary(BaseModel):
    """An inspection round in the list: its teams, stops and stops left unscheduled."""

    id: int
    name: str
    created_at: str
    created_by: str | None
    teams: int
    stops: int
    unscheduled: int


class SampledPoint(BaseModel):
    """A test point drawn into a sample (with its community and risk weight)."""

    model_config = ConfigDict(extra="allow")
    id: int
    name: str | None
    category: str | None
    category_label: str | None
    community: str | None = None
    lon: float
    lat: float
    risk_weight: float | None = None
    revisit: bool = False
    address: str | None = None


class Sample(BaseModel):
    """A reproducible sample of test points: per-category counts, the quota shortfall, the
    points left out as recently inspected (exclude_days) and the 回头看 revisits."""

    model_config = ConfigDict(extra="allow")
    seed: int
    risk_weighted: bool
    size: int
    points: list[SampledPoint]
    by_category: dict[str, int]
    shortfall: dict[str, int]
    exclude_days: int
    excluded: int
    revisits: int


class RoundStop(SampledPoint):
    """A stop of a team's route: its order, the leg walked or driven to it, arrival time."""

    seq: int
    leg_m: int | float
    arrive_min: float


class RoundTeam(BaseModel):
    """One team: its ordered stops, route length and duration, and the path on the streets."""

    model_config = ConfigDict(extra="allow")
    team: int
    name: str
    inspector: str | None
    stops: list[RoundStop]
    distance_m: int | float
    duration_min: float
    path: list[list[float]] = Field(description="[lon, lat] vertices")


class RoundPlan(BaseModel):
    """A round's routed plan (the sample is stored without its point list)."""

    model_config = ConfigDict(extra="allow")
    mode: str
    mode_label: str | None = None
    distance: str | None = None
    start: list[float] | None = None
    budget_min: int | float
    service_min: int | float
    return_to_start: bool
    teams: list[RoundTeam]
    unscheduled: list[SampledPoint]
    planned_at: str | None = None
    sample: dict[str, Any] | None = None


class RoundCreated(RoundSummary):
    """A new round: its summary and plan."""

    plan: RoundPlan


class RoundDetail(RoundCreated):
    """A round with its plan and which stops were inspected (test point id → inspection id)."""

    inspected: dict[int, int]


class ChecklistItem(BaseModel):
    """One item of a test point category's checklist and the issue category it becomes."""

    model_config = ConfigDict(extra="allow")
    code: str
    label: str
    issue_category: str | None = None


class InspectionItem(BaseModel):
    """The result of one checklist item (a failed one names the issue it became)."""

    model_config = ConfigDict(extra="allow")
    code: str
    label: str | None = None
    result: str
    note: str | None = None
    issue_id: int | None = None


class InspectionPublic(BaseModel):
    """An inspection of a test point: its items, counts, score rate and the issues its
    failed items became."""

    model_config = ConfigDict(extra="allow")
    id: int
    feature_id: int
    round_id: int | None
    inspector: str | None
    source: str | None
    category: str | None
    community: str | None
    unit: str | None
    zone_id: int | None
    inspected_at: str
    items: list[InspectionItem]
    passed: int
    failed: int
    applicable: int
    score_rate: float | None
    issue_ids: list[int]
    client_id: str | None = None
    device_lon: float | None = Field(None, description="where the inspector's device stood")
    device_lat: float | None = None
    accuracy_m: float | None = Field(None, description="its GPS accuracy radius in metres")


class InspectionRecorded(InspectionPublic):
    """A recorded inspection: the point's name and the item codes that came with a photo."""

    point: str | None
    photos: list[str]


class ScoreRow(BaseModel):
    """Inspection score rate (测评得分率) of one point, category, community, zone or unit."""

    model_config = ConfigDict(extra="allow")
    rank: int
    name: str | None
    inspections: int
    passed: int
    applicable: int
    failed: int
    score_rate: float | None
    last_inspected_at: str | None


class PointScoreRow(ScoreRow):
    """ScoreRow of one test point (level=point): its id and category."""

    feature_id: int
    category: str | None


class ScoreTable(BaseModel):
    """Score rates by level for a period, best first."""

    level: str
    period: str
    rows: list[PointScoreRow] | list[ScoreRow]


class PostSite(BaseModel):
    """A chosen post site and the demand it covers."""

    index: int
    name: str | None
    lon: float
    lat: float
    covers: int
    covers_weight: float


class DemandPoint(BaseModel):
    """A demand point (test point, or a cluster of open issues) and whether it is covered."""

    name: str | None
    lon: float
    lat: float
    weight: float
    covered: bool
    unreachable: bool


class PostPlan(BaseModel):
    """Where to put posts (MCLP or LSCP): the chosen candidates, the demand covered (indexes
    into demand_points) and the coverage rate."""

    model_config = ConfigDict(extra="allow")
    model: str
    service_m: float
    p: int
    chosen: list[int]
    covered: list[int]
    uncovered: list[int]
    unreachable: list[int]
    coverage_rate: float
    sites: list[PostSite]
    demand_points: list[DemandPoint]
    demand: str
    distance: str
