"""Metric work (lengths, areas, buffers, offsets) in a local projected CRS, never in degrees."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TypeVar

import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray

G = TypeVar("G")  # a shapely geometry or an array of them


def local_utm(lon: float, lat: float) -> pyproj.CRS:
    """The WGS84 / UTM zone CRS that contains (lon, lat)."""
    return _utm(*_zone(lon, lat))


def _zone(lon: float, lat: float) -> tuple[int, bool]:
    # the regular 6° zones (the Norway/Svalbard exceptions are far from any Chinese city)
    return min(int((lon + 180) // 6) + 1, 60), lat < 0


@cache
def _utm(zone: int, south: bool) -> pyproj.CRS:
    # looking the zone up in PROJ's database takes ~0.1 s, so each zone is built once
    return pyproj.CRS.from_epsg((32700 if south else 32600) + zone)


@lru_cache(maxsize=256)
def _frame(zone: int, south: bool, thread: int) -> MetricFrame:
    # pyproj transformers must not be shared between threads: one per zone and thread
    crs = _utm(zone, south)
    return MetricFrame(crs, pyproj.Transformer.from_crs(4326, crs, always_xy=True),
                       pyproj.Transformer.from_crs(crs, 4326, always_xy=True))


@dataclass(frozen=True)
class MetricFrame:
    """Transforms between WGS84 lon/lat and a local metric CRS."""

    crs: pyproj.CRS
    _fwd: pyproj.Transformer
    _inv: pyproj.Transformer

    @classmethod
    def around(cls, lon: float, lat: float) -> MetricFrame:
        """A frame in the UTM zone of (lon, lat)."""
        return _frame(*_zone(lon, lat), threading.get_ident())

    @classmethod
    def for_geometry(cls, geom: shapely.Geometry) -> MetricFrame:
        """A frame around the centroid of geom (WGS84)."""
        c = shapely.centroid(geom)
        return cls.around(float(shapely.get_x(c)), float(shapely.get_y(c)))

    @classmethod
    def for_geometries(cls, geoms: NDArray[np.object_]) -> MetricFrame:
        """for_geometry of the union of geoms, without the union when their bounds lie in one
        UTM zone (the union's centroid is inside those bounds)."""
        minx, miny, maxx, maxy = shapely.total_bounds(geoms).tolist()
        if _zone(minx, miny) == _zone(maxx, maxy):
            return cls.around(minx, miny)
        return cls.for_geometry(shapely.union_all(geoms))

    def to_metric(self, geom: G) -> G:
        """Project a WGS84 geometry (or array of them) to metres."""
        out: G = shapely.transform(geom, lambda xy: _apply(self._fwd, xy))  # type: ignore[call-overload]
        return out

    def to_wgs84(self, geom: G) -> G:
        """Project a metric geometry (or array of them) back to WGS84 lon/lat."""
        out: G = shapely.transform(geom, lambda xy: _apply(self._inv, xy))  # type: ignore[call-overload]
        return out


def _apply(t: pyproj.Transformer, xy: NDArray[np.float64]) -> NDArray[np.float64]:
    x, y = t.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


M_PER_DEG_LAT = 110_574.0  # the shortest degree of latitude (at the equator)


def grow_bbox(bbox: tuple[float, float, float, float], metres: float
              ) -> tuple[float, float, float, float]:
    """A lon/lat bbox grown by at least `metres` on every side."""
    minx, miny, maxx, maxy = bbox
    dlat = metres / M_PER_DEG_LAT
    cos = max(math.cos(math.radians(min(89.0, max(abs(miny), abs(maxy)) + dlat))), 0.01)
    dlon = metres / (M_PER_DEG_LAT * cos)
    return (minx - dlon, miny - dlat, maxx + dlon, maxy + dlat)
