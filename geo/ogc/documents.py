"""The landing page, conformance and collection documents of the OGC API (JSON).

Collections: one per layer kind (its id is the kind, as in /api/layers/{kind} and the tiles),
and `issues`. Links are absolute, made from the API's root URL (…/ogc).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from geo.model.errors import NotFound
from geo.model.kinds import LABELS_ZH, Kind
from geo.ogc.crs import CRS84, SUPPORTED
from geo.store import BBox, Store

ISSUES = "issues"
COLLECTIONS: tuple[str, ...] = (*(k.value for k in Kind), ISSUES)
GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.1"
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
)
TITLE = "创城点位地图 OGC API Features"
DESCRIPTION = "创城点位地图的图层、责任区和问题（按调用者的权限范围）"
ISSUES_TITLE = "问题"
ISSUES_DESCRIPTION = "问题台账中的问题（点），时间属性为上报时间 reported_at"


def link(href: str, rel: str, type_: str, title: str | None = None) -> dict[str, str]:
    """One link of a document."""
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def landing_page(root: str, openapi_url: str) -> dict[str, Any]:
    """The landing page (/ogc): what the API is and where its parts are."""
    return {"title": TITLE, "description": DESCRIPTION, "links": [
        link(root, "self", JSON, "this document"),
        link(openapi_url, "service-desc", OPENAPI, "the API definition (OpenAPI)"),
        link(f"{root}/conformance", "conformance", JSON, "conformance classes"),
        link(f"{root}/collections", "data", JSON, "the collections"),
    ]}


def conformance() -> dict[str, Any]:
    """The conformance classes the API implements."""
    return {"conformsTo": list(CONFORMANCE)}


def check_collection(collection_id: str) -> str:
    """The collection id, or NotFound listing the collections."""
    if collection_id not in COLLECTIONS:
        raise NotFound(f"no collection {collection_id!r}; collections: "
                       + ", ".join(COLLECTIONS) + " (没有这个数据集)")
    return collection_id


def collection(root: str, collection_id: str, extent: BBox | None) -> dict[str, Any]:
    """One collection's document: title, extent (CRS84), CRSs and links to its items."""
    base = f"{root}/collections/{check_collection(collection_id)}"
    title = ISSUES_TITLE if collection_id == ISSUES else LABELS_ZH[Kind(collection_id)]
    doc: dict[str, Any] = {
        "id": collection_id, "title": title,
        "itemType": "feature", "crs": list(SUPPORTED), "storageCrs": CRS84,
        "links": [link(base, "self", JSON, "this collection"),
                  link(f"{base}/items", "items", GEOJSON, "its features")],
    }
    if extent is not None:
        doc["extent"] = {"spatial": {"bbox": [list(extent)], "crs": CRS84}}
    if collection_id == ISSUES:
        doc["description"] = ISSUES_DESCRIPTION
    return doc


def collection_extent(store: Store, collection_id: str, scope_unit: str | None) -> BBox | None:
    """Where a collection's features lie (in the caller's scope); for issues, the extent of the
    layers (the city: issues lie in it, and scanning a million issues for it costs too
    much)."""
    if check_collection(collection_id) == ISSUES:
        return store.extent(scope_unit=scope_unit)
    return store.extent(Kind(collection_id), scope_unit)


def collections(root: str, extent_of: Callable[[str], BBox | None]) -> dict[str, Any]:
    """Every collection's document (extent_of gives each one's extent in the caller's
    scope)."""
    return {"links": [link(f"{root}/collections", "self", JSON, "the collections")],
            "crs": list(SUPPORTED),
            "collections": [collection(root, c, extent_of(c)) for c in COLLECTIONS]}
