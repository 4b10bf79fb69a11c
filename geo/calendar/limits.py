"""Time limits (处置时限): per issue category and urgency, an amount of a unit.

The defaults are data/reference/issue_categories.json's `limit` (一般 normal) and
`urgent_limit` (紧急 urgent): small street problems in working hours (占道经营 2 工作时, 紧急 1),
most others in working days (小广告 1 工作日, 设施破损 3 工作日, 违建 15 工作日), and what
endangers people in natural hours, which run nights and holidays too (占用消防通道 4 小时,
紧急 1 小时; 活禽/食品安全 1 天). An urgent limit is always shorter than the normal one. An office
overrides any of them in its table `time_limits` (geo.calendar.office). `time_limit_hours`
of the same file stays the natural-hour limit of the deadline an issue gets when it is
reported, before 派遣 starts the clock (and of imported ledgers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from geo.calendar.worktime import UNIT_LABELS, UNITS
from geo.model.errors import InvalidInput
from geo.model.kinds import issue_categories

URGENCIES = {"normal": "一般", "urgent": "紧急"}
MAX_AMOUNT = {"working_hours": 2000.0, "working_days": 250.0, "hours": 8760.0, "days": 365.0}


@dataclass(frozen=True)
class TimeLimit:
    """An amount of a unit (working_hours | working_days | hours | days)."""

    amount: float
    unit: str

    @property
    def label(self) -> str:
        """As the UI says it: 2 工作日, 4 小时."""
        amount = int(self.amount) if float(self.amount).is_integer() else self.amount
        return f"{amount} {UNIT_LABELS[self.unit]}"

    def as_dict(self) -> dict[str, Any]:
        """{amount, unit, label}."""
        return {"amount": self.amount, "unit": self.unit, "label": self.label}


def check_urgency(urgency: str) -> str:
    """The urgency, or InvalidInput naming the urgencies."""
    if urgency not in URGENCIES:
        raise InvalidInput(f"未知的紧急程度 {urgency!r}，可选值：{', '.join(URGENCIES)}"
                           "（一般、紧急）")
    return urgency


def check_limit(category: str, urgency: str, amount: float, unit: str) -> TimeLimit:
    """A limit an office may set: a known category and urgency, a known unit, an amount
    above zero and within a year (InvalidInput saying which is wrong)."""
    if category not in issue_categories():
        raise InvalidInput(f"未知的问题类别 {category!r}")
    check_urgency(urgency)
    if unit not in UNITS:
        raise InvalidInput(f"未知的时间单位 {unit!r}，可选值：{', '.join(UNITS)}")
    if not 0 < amount <= MAX_AMOUNT[unit]:
        raise InvalidInput(f"时限 {amount} {unit} 超出范围：须大于 0 且不超过 "
                           f"{MAX_AMOUNT[unit]:g} {unit}")
    return TimeLimit(float(amount), unit)


def default_limit(category: str, urgency: str = "normal") -> TimeLimit:
    """The reference limit of a category (InvalidInput for an unknown category or urgency)."""
    cats = issue_categories()
    if category not in cats:
        raise InvalidInput(f"未知的问题类别 {category!r}")
    row = cats[category]["urgent_limit" if check_urgency(urgency) == "urgent" else "limit"]
    return TimeLimit(float(row["amount"]), str(row["unit"]))
