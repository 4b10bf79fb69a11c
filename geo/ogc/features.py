"""The features of a collection as GeoJSON in the asked CRS: a page (with how many match in
all) or one feature by its id, through the store's scoped queries (the same as the GeoJSON
routes of /api/layers and /api/issues.geojson).

Feature ids are the store's ids (a feature keeps its id across edits). Pages are ordered by id,
so that offset paging meets every feature once while new ones are added (they come last).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping

from geo.layers.geojson import feature_json, issue_json
from geo.model.errors import InvalidInput, NotFound
from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.ogc.crs import OgcCrs
from geo.ogc.documents import ISSUES, check_collection
from geo.store import BBox, IssueQuery, Store

MAX_ID = 2**63 - 1  # the largest id the databases store
DIGITS = re.compile(r"^[0-9]{1,19}$")  # ASCII digits only: str.isdigit takes "²" too


@dataclass(frozen=True)
class ItemsQuery:
    """One page of a collection's features: filters (WGS 84 bbox, reported_at since/until for
    issues), the page and the CRS of the answer, in a unit user's scope (None: everything)."""

    crs: OgcCrs
    offset: int
    limit: int
    bbox: BBox | None = None
    since: datetime | None = None
    until: datetime | None = None
    scope_unit: str | None = None


def items(store: Store, collection_id: str, q: ItemsQuery) -> tuple[list[dict[str, Any]], int]:
    """A page of a collection's features as GeoJSON (in q.crs) and how many match in all."""
    if check_collection(collection_id) == ISSUES:
        rows, matched = store.query_issues(IssueQuery(
            bbox=q.bbox, since=q.since, until=q.until, scope_unit=q.scope_unit, sort="id",
            offset=q.offset, limit=q.limit))
        return issue_features(rows, q.crs), matched
    if q.since is not None or q.until is not None:
        raise InvalidInput(f"collection {collection_id} has no time: datetime filters "
                           f"{ISSUES} only (这个数据集没有时间属性)")
    kind = Kind(collection_id)
    matched = store.count_features(kind, q.bbox, scope_unit=q.scope_unit)
    found = store.features(kind, q.bbox, q.limit, scope_unit=q.scope_unit,
                           offset=q.offset) if q.offset < matched else []
    return layer_features(found, q.crs), matched


def item(store: Store, collection_id: str, feature_id: str, crs: OgcCrs,
         scope_unit: str | None = None) -> dict[str, Any]:
    """One feature of a collection as GeoJSON (NotFound when it is not in the collection or
    outside the caller's scope)."""
    check_collection(collection_id)
    missing = NotFound(f"no feature {feature_id!r} in collection {collection_id} "
                       "(没有这个要素)")
    if not DIGITS.match(feature_id) or not 1 <= int(feature_id) <= MAX_ID:
        raise missing
    if collection_id == ISSUES:
        return issue_features([store.issue(int(feature_id), scope_unit=scope_unit)], crs)[0]
    feature = store.feature(int(feature_id), scope_unit=scope_unit)
    if feature.kind.value != collection_id:
        raise missing
    return layer_features([feature], crs)[0]


def layer_features(rows: list[Feature], crs: OgcCrs) -> list[dict[str, Any]]:
    """Stored features as GeoJSON Features, their geometries in crs."""
    docs = [feature_json(f) for f in rows]
    if rows and not crs.is_crs84:
        oriented = shapely.orient_polygons(np.array([f.geometry for f in rows], dtype=object))
        for doc, geom in zip(docs, crs.geometries(oriented), strict=True):
            doc["geometry"] = dict(mapping(geom))
    return docs


def issue_features(rows: list[Issue], crs: OgcCrs) -> list[dict[str, Any]]:
    """Issues as GeoJSON point Features, their positions in crs."""
    now = datetime.now()
    docs = [issue_json(i, "wgs84", now) for i in rows]
    if rows and not crs.is_crs84:
        first, second = crs.from_crs84(np.array([i.lon for i in rows], dtype=float),
                                       np.array([i.lat for i in rows], dtype=float))
        for doc, a, b in zip(docs, first.tolist(), second.tolist(), strict=True):
            doc["geometry"]["coordinates"] = [a, b]
    return docs
