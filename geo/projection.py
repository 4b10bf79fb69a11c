"""Metric work (lengths, areas, buffers, offsets) in a local projected CRS, never in degrees."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info

G = TypeVar("G")  # a shapely geometry or an array of them


def local_utm(lon: float, lat: float) -> pyproj.CRS:
    """The WGS84 / UTM zone CRS that contains (lon, lat)."""
    infos = query_utm_crs_info(datum_name="WGS 84",
                               area_of_interest=AreaOfInterest(lon, lat, lon, lat))
    return pyproj.CRS.from_epsg(int(infos[0].code))


@dataclass(frozen=True)
class MetricFrame:
    """Transforms between WGS84 lon/lat and a local metric CRS."""

    crs: pyproj.CRS
    _fwd: pyproj.Transformer
    _inv: pyproj.Transformer

    @classmethod
    def around(cls, lon: float, lat: float) -> MetricFrame:
        """A frame in the UTM zone of (lon, lat)."""
        crs = local_utm(lon, lat)
        return cls(crs, pyproj.Transformer.from_crs(4326, crs, always_xy=True),
                   pyproj.Transformer.from_crs(crs, 4326, always_xy=True))

    @classmethod
    def for_geometry(cls, geom: shapely.Geometry) -> MetricFrame:
        """A frame around the centroid of geom (WGS84)."""
        c = shapely.centroid(geom)
        return cls.around(float(shapely.get_x(c)), float(shapely.get_y(c)))

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
