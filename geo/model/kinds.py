"""Layer kinds, their allowed geometry types and the test-point categories."""

from __future__ import annotations

import json
from enum import StrEnum
from functools import cache
from typing import Any

from geo import DATA_DIR
from geo.model.errors import InvalidInput


class Kind(StrEnum):
    """Layer kinds (see the glossary in the design brief)."""

    street = "street"
    alley = "alley"
    market = "market"
    test_point = "test_point"
    community = "community"
    subdistrict = "subdistrict"
    compound = "compound"
    storefront = "storefront"
    zone = "zone"


LINE = frozenset({"LineString", "MultiLineString"})
POINT = frozenset({"Point", "MultiPoint"})
AREA = frozenset({"Polygon", "MultiPolygon"})

GEOMETRY_TYPES: dict[Kind, frozenset[str]] = {
    Kind.street: LINE,
    Kind.alley: LINE,
    Kind.market: POINT | AREA,
    Kind.test_point: POINT,
    Kind.community: AREA,
    Kind.subdistrict: AREA,
    Kind.compound: POINT | AREA,
    Kind.storefront: POINT | AREA,
    Kind.zone: AREA,
}

LABELS_ZH: dict[Kind, str] = {
    Kind.street: "主次干道",
    Kind.alley: "背街小巷",
    Kind.market: "农贸市场",
    Kind.test_point: "测评点位",
    Kind.community: "社区",
    Kind.subdistrict: "街道",
    Kind.compound: "居民小区",
    Kind.storefront: "沿街门店",
    Kind.zone: "责任区",
}


def parse_kind(value: str) -> Kind:
    """Return the Kind named by value, or raise InvalidInput listing the valid kinds."""
    try:
        return Kind(value)
    except ValueError:
        valid = ", ".join(k.value for k in Kind)
        raise InvalidInput(f"未知的图层类型 {value!r}，可选类型：{valid}") from None


@cache
def reference_table(name: str) -> list[dict[str, Any]]:
    """Load a reference table (a JSON list of rows) from data/reference/NAME.json."""
    with open(DATA_DIR / "reference" / f"{name}.json", encoding="utf-8") as fh:
        rows: list[dict[str, Any]] = json.load(fh)
    return rows


def test_point_categories() -> dict[str, str]:
    """Test point category code → Chinese label."""
    return {r["code"]: r["label"] for r in reference_table("test_point_categories")}


def issue_categories() -> dict[str, dict[str, Any]]:
    """Issue category code → row (label, time limit in hours, ...)."""
    return {r["code"]: r for r in reference_table("issue_categories")}


def sources() -> dict[str, str]:
    """Issue source code → Chinese label."""
    return {r["code"]: r["label"] for r in reference_table("issue_sources")}


def check_category(code: str) -> str:
    """An issue category code, or InvalidInput listing the categories."""
    if code not in issue_categories():
        raise InvalidInput(f"未知的问题类别 {code!r}，可选类别：{', '.join(issue_categories())}")
    return code
