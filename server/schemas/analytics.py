"""Response bodies of the analysis routes: coverage gaps, heatmap, hot spots, choropleth,
dashboard, ranking and the unit workload table."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from server.schemas.common import FeatureCollection

Geometry = dict[str, Any] | None  # a GeoJSON geometry, or null when not asked for


class GapArea(BaseModel):
    """An uncovered polygon or an overlap: its area, bbox and (with ?geometry=true) shape."""

    model_config = ConfigDict(extra="allow")
    area_m2: float
    bbox: list[float]
    geometry: Geometry = None


class ZoneOverlap(GapArea):
    """Two or more zones of the same type that overlap, and their owners."""

    zones: list[int]
    names: list[str | None]
    types: list[str | None]
    units: list[str | None]


class UncoveredArea(BaseModel):
    """The part of the jurisdiction no zone covers."""

    area_m2: float
    percent: float
    polygons: list[GapArea]


class LineShare(BaseModel):
    """Street or alley length, and how much of it lies outside every zone."""

    model_config = ConfigDict(extra="allow")
    total_m: float
    uncovered_m: float
    percent: float


class CommunityLineShare(LineShare):
    """LineShare of one kind (street, alley) in one community."""

    community: str | None
    kind: str


class LinePiece(BaseModel):
    """A piece of a street or alley outside every zone."""

    model_config = ConfigDict(extra="allow")
    id: int | None
    name: str | None
    kind: str
    uncovered_m: float
    geometry: Geometry = None


class UncoveredLines(BaseModel):
    """Street and alley length outside every zone, by kind and by community."""

    by_kind: dict[str, LineShare]
    by_community: list[CommunityLineShare]
    pieces: list[LinePiece]


class PointRef(BaseModel):
    """A feature named in the report, at a point (a zone: at a point inside it)."""

    model_config = ConfigDict(extra="allow")
    id: int | None
    name: str | None
    lon: float
    lat: float


class UnassignedPoint(PointRef):
    """A market, storefront or test point without a unit."""

    kind: str
    category: str | None


class ForgottenZone(PointRef):
    """A zone without an issue or inspection lately, and its unit."""

    unit: str | None


class ForgottenTestPoint(PointRef):
    """A test point not inspected lately, and its category."""

    category: str | None


class UncoveredIssues(BaseModel):
    """Issues outside every zone."""

    count: int
    ids: list[int]


class Forgotten(BaseModel):
    """Zones and test points without an issue or inspection for `days` days."""

    days: int
    zones: list[ForgottenZone]
    test_points: list[ForgottenTestPoint]


class CoverageReport(BaseModel):
    """The coverage-gap analysis (覆盖缺口): totals first, then every kind of gap. The lists
    hold at most `limit` parts each, largest first (totals.parts counts all of them,
    totals.left_out the ones not listed)."""

    model_config = ConfigDict(extra="allow")
    totals: dict[str, Any] = Field(description=(
        "uncovered_m2/km2/percent, overlap_m2/km2, unassigned_km (street, alley), orphan "
        "points, uncovered_issues, jurisdiction_m2/km2, scope, bbox, parts, left_out"))
    jurisdiction_m2: float
    zones: int | None = None
    uncovered_area: UncoveredArea | None = None
    overlaps: list[ZoneOverlap] | None = None
    lines: UncoveredLines | None = None
    unassigned_points: list[UnassignedPoint] | None = None
    uncovered_issues: UncoveredIssues | None = None
    forgotten: Forgotten | None = None
    message: str | None = Field(None, description="why there is nothing to analyse")


class Heatmap(BaseModel):
    """Issue counts per grid cell: [lon, lat, weight] of each cell's centre."""

    total: int
    cell_deg: float
    zoom: int
    max: float
    cells: list[list[float]]


class Hotspots(FeatureCollection):
    """Getis–Ord Gi* hot and cold spots: one Feature per significant block (properties count,
    z, p, bin −3…3, label) and the count of blocks per label."""

    cells: int
    issues: int
    summary: dict[str, int]
    cell_m: float | None = None
    cell_size_m: list[float] | None = None
    cell_deg: list[float] | None = None
    permutations: int | None = None


class LegendClass(BaseModel):
    """One class of a choropleth: its number and value range."""

    model_config = ConfigDict(populate_by_name=True)
    class_: int = Field(alias="class")
    from_: float = Field(alias="from")
    to: float


class Choropleth(FeatureCollection):
    """Zones or communities classed by a metric (natural breaks): each Feature's properties
    hold id, name, unit, metric, value and class."""

    breaks: list[float]
    legend: list[LegendClass]
    metric: str | None = None
    label: str | None = None
    level: str | None = None
    method: str | None = None


class Kpis(BaseModel):
    """A period's counts and rates."""

    new: int = Field(description="issues reported in the period")
    closed: int
    overdue: int
    recurring: int = Field(description="回潮: came back after being closed")
    rectification_rate: float = Field(description="整改率")
    on_time_closure_rate: float = Field(description="按期结案率")
    recurrence_rate: float = Field(description="回潮率")


class CategoryCount(BaseModel):
    """Issues of one category."""

    code: str
    label: str
    count: int


class ZoneScore(BaseModel):
    """A zone with a low score."""

    id: int | None
    name: str | None
    score: float
    issues: int


class ZoneImprovement(BaseModel):
    """A zone whose score rose against the previous period, with enough issues in both."""

    name: str | None
    score: float
    previous_score: float
    gain: float = Field(description="score points gained against the previous period")
    change: int = Field(description="places risen in the ranking")
    issues: int
    previous_issues: int


class WeekTrend(BaseModel):
    """Issues reported and closed in one ISO week."""

    week: str
    new: int
    closed: int


class Dashboard(BaseModel):
    """What the dashboard shows for a period, with the previous period's KPIs."""

    model_config = ConfigDict(populate_by_name=True)
    period: str
    from_: str = Field(alias="from")
    to: str
    kpis: Kpis
    previous: Kpis
    top_categories: list[CategoryCount]
    worst_zones: list[ZoneScore]
    most_improved: list[ZoneImprovement]
    improved_min_issues: int = Field(description="issues a zone needs in both periods to "
                                                 "count as improved")
    trend: list[WeekTrend]


class RankingRow(BaseModel):
    """One ranked community, zone or unit, with the change against the previous period."""

    model_config = ConfigDict(extra="allow")
    rank: int
    name: str | None
    score: float
    trend: str
    change: int | None
    issues: int
    closed: int
    overdue: int
    recurring: int
    rectification_rate: float | None
    on_time_closure_rate: float | None
    recurrence_rate: float | None
    overdue_rate: float | None
    assessment_score_rate: float | None


class RankingFormula(BaseModel):
    """How the score is computed: the weights, the formula and notes in Chinese."""

    weights: dict[str, float]
    formula: str
    notes: str


class UnitWorkload(BaseModel):
    """What one unit is responsible for."""

    unit: str | None
    zones: int
    zone_area_m2: float
    street_km: float
    alley_km: float
    markets: int
    test_points: int
    open_issues: int
