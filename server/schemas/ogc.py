"""The JSON documents of the OGC API Features routes (/ogc) and of the tiles' TileJSON."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from server.schemas.common import FeatureCollection, GeoJSONFeature


class OgcLink(BaseModel):
    """A link of an OGC API document."""

    href: str
    rel: str
    type: str
    title: str | None = None


class LandingPage(BaseModel):
    """/ogc: what the API is and links to its definition, conformance and collections."""

    title: str
    description: str
    links: list[OgcLink]


class Conformance(BaseModel):
    """The conformance classes the API implements."""

    conformsTo: list[str]


class SpatialExtent(BaseModel):
    """Where a collection's features lie: one bbox (minlon, minlat, maxlon, maxlat)."""

    bbox: list[list[float]]
    crs: str


class Extent(BaseModel):
    """A collection's extent."""

    spatial: SpatialExtent


class CollectionInfo(BaseModel):
    """One collection: a layer kind, zones or issues."""

    id: str
    title: str
    description: str | None = None
    itemType: Literal["feature"]
    crs: list[str] = Field(description="the CRSs its features can be asked in (crs=…)")
    storageCrs: str
    extent: Extent | None = None
    links: list[OgcLink]


class Collections(BaseModel):
    """Every collection the caller can read."""

    links: list[OgcLink]
    crs: list[str]
    collections: list[CollectionInfo]


class OgcFeature(GeoJSONFeature):
    """One feature of a collection (its `links`: self and the collection)."""

    links: list[OgcLink] | None = None


class OgcFeatureCollection(FeatureCollection):
    """One page of a collection's features: follow the `next` link until there is none;
    numberMatched counts every feature of the filters, numberReturned this page's."""

    numberMatched: int
    numberReturned: int
    timeStamp: str = Field(description="when the answer was made (RFC 3339, UTC)")
    links: list[OgcLink]


class VectorLayer(BaseModel):
    """One MVT layer inside the tiles."""

    id: str
    description: str
    fields: dict[str, str]
    minzoom: int
    maxzoom: int


class TileJSON(BaseModel):
    """A TileJSON 3.0.0 document: add the vector tiles to QGIS or MapLibre as an XYZ source."""

    tilejson: str
    name: str
    scheme: str
    tiles: list[str]
    minzoom: int
    maxzoom: int
    bounds: list[float]
    center: list[float]
    vector_layers: list[VectorLayer]
