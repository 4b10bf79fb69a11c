"""Response bodies of the layer routes."""

from __future__ import annotations

from pydantic import BaseModel


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
