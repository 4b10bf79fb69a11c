"""The evaluation indicators (考评指标) of a period per unit, zone, community or category
(geo/analytics/indicators.py has the definitions)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

RATE = "in percent, 2 decimals rounded half up; null when nothing is due"


class IndicatorValues(BaseModel):
    """A group's counts, rates and score for one period."""

    registered: int = Field(description="立案数: cases reported in the period")
    due: int = Field(description="应结案数: deadline in the period, or closed early in it "
                                 "(缓办 left out when CCMAP_INDICATORS_EXCLUDE_DEFERRED)")
    closed: int = Field(description="结案数: of those due, closed by the period's end")
    closed_on_time: int = Field(description="按期结案数: closed no later than the deadline")
    overdue: int = Field(description="超期数: of those due, closed late or open past the "
                                     "deadline at the period's end")
    reworked: int = Field(description="of those due, with a failed verification (返工)")
    extended: int = Field(description="of those due, with an approved extension (延期)")
    deferred: int = Field(description="缓办/挂账 cases whose deadline fell in the period "
                                      "(left out of due when the setting says so)")
    extension_requests: int = Field(description="延期申请 requested in the period")
    extension_approved: int
    extension_rejected: int
    extension_pending: int
    closure_rate: float | None = Field(description=f"结案率 = closed / due, {RATE}")
    on_time_rate: float | None = Field(description=f"按期结案率 = closed_on_time / due, {RATE}")
    rework_rate: float | None = Field(description=f"返工率 = reworked / due, {RATE}")
    extension_rate: float | None = Field(description=f"延期率 = extended / due, {RATE}")
    score: float | None = Field(description="综合指标值 (0–100): the weighted indicators; "
                                            "null when nothing is due")


class IndicatorChange(BaseModel):
    """This period's value minus the previous period's (环比; rates in percentage points);
    null where either has none."""

    registered: int | None
    due: int | None
    closed: int | None
    closed_on_time: int | None
    overdue: int | None
    closure_rate: float | None
    on_time_rate: float | None
    rework_rate: float | None
    extension_rate: float | None
    score: float | None


class IndicatorRow(IndicatorValues):
    """One unit, zone, community or category (or the whole scope): its indicators, rank,
    the previous period's and the change."""

    name: str
    id: int | None = Field(None, description="the zone's id (level zone)")
    code: str | None = Field(None, description="the category's code (level category)")
    rank: int | None = Field(description="by score, 1 = best; null without a score")
    previous_rank: int | None
    rank_change: int | None = Field(description="previous rank minus this one (↑ positive)")
    trend: str = Field(description="↑, ↓, → or empty (no rank in one of the periods)")
    previous: IndicatorValues
    change: IndicatorChange


class PeriodSpan(BaseModel):
    """A period's label and bounds (from included, to excluded)."""

    model_config = ConfigDict(populate_by_name=True)
    period: str
    from_: str = Field(alias="from")
    to: str


class IndicatorReport(PeriodSpan):
    """The indicators of a level for a period with the whole scope's total and the rules."""

    level: str
    level_label: str
    as_of: str = Field(description="counted up to here: the period's end, or now while it runs")
    previous_period: PeriodSpan
    exclude_deferred: bool
    weights: dict[str, float]
    formula: str
    total: IndicatorRow
    rows: list[IndicatorRow]
