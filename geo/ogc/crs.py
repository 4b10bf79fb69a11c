"""The coordinate reference systems the OGC API answers in (Part 2, CRS by reference).

The store keeps WGS 84 lon/lat (OGC CRS84). An answer in EPSG:4326 or EPSG:4490 (CGCS2000)
gives its positions in the axis order of the CRS's EPSG definition, latitude first, as Part 2
requires; pyproj says the axis order and does the transformation (between CGCS2000 and WGS 84
PROJ knows no datum shift: the two agree to a few centimetres, and the numbers stay the same).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray

from geo.model.errors import InvalidInput
from geo.store import BBox

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
CGCS2000 = "http://www.opengis.net/def/crs/EPSG/0/4490"
SUPPORTED: tuple[str, ...] = (CRS84, EPSG_4326, CGCS2000)
_PROJ_NAMES = {CRS84: "OGC:CRS84", EPSG_4326: "EPSG:4326", CGCS2000: "EPSG:4490"}


@cache
def _crs(uri: str) -> pyproj.CRS:
    # looking a CRS up in PROJ's database takes a while: each is built once
    return pyproj.CRS.from_user_input(_PROJ_NAMES[uri])


@lru_cache(maxsize=64)
def _transformer(source: str, target: str, thread: int) -> pyproj.Transformer:
    # pyproj transformers must not be shared between threads: one per pair and thread;
    # always_xy=False: positions in and out in each CRS's own axis order
    return pyproj.Transformer.from_crs(_crs(source), _crs(target), always_xy=False)


@dataclass(frozen=True)
class OgcCrs:
    """One supported CRS, by its URI."""

    uri: str

    @property
    def is_crs84(self) -> bool:
        """True for WGS 84 lon/lat, the store's own coordinates (nothing to transform)."""
        return self.uri == CRS84

    @property
    def lat_first(self) -> bool:
        """Whether positions in this CRS give the latitude first (its first axis points
        north), read from the CRS's definition."""
        return _crs(self.uri).axis_info[0].direction.lower() == "north"

    @property
    def axis_names(self) -> str:
        """The order of a bbox's numbers in this CRS (for messages)."""
        return "minlat,minlon,maxlat,maxlon" if self.lat_first else \
            "minlon,minlat,maxlon,maxlat"

    def from_crs84(self, lon: NDArray[Any], lat: NDArray[Any]
                   ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """WGS 84 lon/lat arrays as this CRS's two coordinates, in its axis order."""
        if self.is_crs84:
            return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        first, second = _transformer(CRS84, self.uri, threading.get_ident()).transform(
            np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        return np.asarray(first, dtype=float), np.asarray(second, dtype=float)

    def geometries(self, geoms: NDArray[Any]) -> NDArray[Any]:
        """WGS 84 shapely geometries in this CRS (all their positions in one transformation)."""
        if self.is_crs84:
            return geoms

        def move(xy: NDArray[np.float64]) -> NDArray[np.float64]:
            a, b = self.from_crs84(xy[:, 0], xy[:, 1])
            return np.column_stack([a, b])

        return np.asarray(shapely.transform(geoms, move))

    def bbox_to_crs84(self, values: tuple[float, float, float, float]) -> BBox:
        """A bbox given in this CRS (its axis order) as WGS 84 minlon,minlat,maxlon,maxlat."""
        if self.is_crs84:
            return values
        t = _transformer(self.uri, CRS84, threading.get_ident())
        try:
            box = t.transform_bounds(*values)
        except pyproj.exceptions.ProjError:
            box = (math.inf,) * 4
        if not all(math.isfinite(v) for v in box):
            raise InvalidInput(f"bbox {values} lies outside {self.uri}'s area")
        return (box[0], box[1], box[2], box[3])


def parse_crs(value: str | None, name: str = "crs") -> OgcCrs:
    """The CRS named by a `crs` or `bbox-crs` parameter (default CRS84), or InvalidInput
    listing the supported URIs."""
    if value is None or value == "":
        return OgcCrs(CRS84)
    uri = value.strip()
    if uri.startswith("[") and uri.endswith("]"):  # a safe CURIE, [EPSG:4326]
        uri = _curie(uri[1:-1])
    if uri not in SUPPORTED:
        raise InvalidInput(f"{name} {value!r} is not supported; {name} is one of: "
                           + ", ".join(SUPPORTED) + " (不支持的坐标参考系)")
    return OgcCrs(uri)


def _curie(text: str) -> str:
    authority, _, code = text.partition(":")
    if authority.upper() == "OGC" and code == "CRS84":
        return CRS84
    if authority.upper() == "EPSG":
        return f"http://www.opengis.net/def/crs/EPSG/0/{code}"
    return text
