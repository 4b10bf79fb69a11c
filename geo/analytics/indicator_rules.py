"""The choices a centre's evaluation rules make for the indicators (geo/analytics/indicators.py):
whether 缓办 cases count as due, and the weights of the score (综合指标值). Kept apart from the
computation so that the settings can check them without loading the store."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from geo.model.errors import InvalidInput

DEFAULT_WEIGHTS = {"on_time_rate": 0.4, "closure_rate": 0.3, "no_rework_rate": 0.15,
                   "no_extension_rate": 0.15}
WEIGHT_LABELS = {"on_time_rate": "按期结案率", "closure_rate": "结案率",
                 "no_rework_rate": "(1−返工率)", "no_extension_rate": "(1−延期率)"}


@dataclass(frozen=True)
class IndicatorRules:
    """The choices a centre's rules make: 缓办 left out of 应结案数, the score's weights."""

    exclude_deferred: bool = True
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))


def check_weights(weights: Mapping[str, Any]) -> dict[str, float]:
    """The score's weights, checked: known names, numbers ≥ 0, not all 0."""
    unknown = sorted(set(weights) - set(WEIGHT_LABELS))
    if unknown:
        raise InvalidInput(f"未知的指标权重 {', '.join(unknown)}：可设的权重为 "
                           f"{', '.join(WEIGHT_LABELS)}")
    out: dict[str, float] = {}
    for k, v in weights.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            raise InvalidInput(f"指标权重 {k} 须为不小于 0 的数，不能为 {v!r}")
        out[k] = float(v)
    if not sum(out.values()):
        raise InvalidInput("指标权重之和为 0：请至少为一项指标设置权重")
    return out


def formula_text(weights: Mapping[str, float]) -> str:
    """The score's formula with the weights in force, as shown to users."""
    total = sum(weights.values()) or 1.0
    return "综合指标值 = " + " + ".join(
        f"{100 * v / total:g}%×{WEIGHT_LABELS[k]}" for k, v in weights.items() if v)
