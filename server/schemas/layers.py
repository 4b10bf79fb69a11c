"""Response bodies of the layer routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class FeatureName(BaseModel):
    """One feature found by name."""

    id: int
    name: str
    unit: str | None = None


class FeatureNames(BaseModel):
    """Features found by name: `numberMatched` counts every match, `items` holds the first
    `numberReturned` of them by name."""

    numberMatched: int  # the OGC API Features spelling, as the layer pages use
    numberReturned: int
    items: list[FeatureName]


class LayerInfo(BaseModel):
    """A layer kind, its Chinese label and how many features it holds."""

    kind: str
    label: str
    count: int


class LayerImported(BaseModel):
    """A layer imported at once: the new features' ids and the warnings (rows repaired …);
    for zones, streets and alleys, how many issues were re-routed."""

    model_config = ConfigDict(extra="allow")
    imported: int
    ids: list[int]
    warnings: list[dict[str, Any]]
    rerouted_issues: int | None = Field(None, description="zone, street and alley layers")
