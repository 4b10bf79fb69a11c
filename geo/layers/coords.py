"""Chinese offset coordinate systems: WGS84 ↔ GCJ-02 (Mars) ↔ BD-09 (Baidu), vectorized.

GCJ-02 is WGS84 plus a published nonlinear offset inside mainland China; BD-09 is a further
rotation/scale of GCJ-02. The forward formulas are exact; the inverses iterate to < 1 mm.
Points outside China are returned unchanged (as the official encoders do).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray

from geo.model.errors import InvalidInput

A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
EE = 0.00669342162296594323  # its eccentricity squared
X_PI = np.pi * 3000.0 / 180.0
SYSTEMS = ("wgs84", "gcj02", "bd09")

Arr = NDArray[np.float64]
G = TypeVar("G", bound=shapely.Geometry)


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """True where a point lies outside the rectangle in which GCJ-02 applies."""
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return (x < 72.004) | (x > 137.8347) | (y < 0.8293) | (y > 55.8271)


def _offset(lon: Arr, lat: Arr) -> tuple[Arr, Arr]:
    x, y = lon - 105.0, lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * np.pi
    magic = 1 - EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((A * (1 - EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (A / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat


def _arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[Arr, Arr]:
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """WGS84 → GCJ-02 (exact forward formula)."""
    x, y = _arrays(lon, lat)
    dlon, dlat = _offset(x, y)
    outside = out_of_china(x, y)
    return np.where(outside, x, x + dlon), np.where(outside, y, y + dlat)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """GCJ-02 → WGS84 by fixed-point iteration of the forward formula (error < 1e-9 deg)."""
    gx, gy = _arrays(lon, lat)
    x, y = gx.copy(), gy.copy()
    for _ in range(30):
        fx, fy = wgs84_to_gcj02(x, y)
        ex, ey = fx - gx, fy - gy
        x, y = x - ex, y - ey
        if np.all(np.abs(ex) < 1e-10) and np.all(np.abs(ey) < 1e-10):
            break
    return x, y


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """GCJ-02 → BD-09."""
    x, y = _arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """BD-09 → GCJ-02 (the standard closed-form inverse, refined by iteration)."""
    bx, by = _arrays(lon, lat)
    x, y = bx - 0.0065, by - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * X_PI)
    gx, gy = z * np.cos(theta), z * np.sin(theta)
    for _ in range(5):
        fx, fy = gcj02_to_bd09(gx, gy)
        gx, gy = gx - (fx - bx), gy - (fy - by)
    return gx, gy


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """WGS84 → BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """BD-09 → WGS84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


CONVERTERS: dict[tuple[str, str], Callable[[ArrayLike, ArrayLike], tuple[Any, Any]]] = {
    ("gcj02", "wgs84"): gcj02_to_wgs84,
    ("bd09", "wgs84"): bd09_to_wgs84,
    ("wgs84", "gcj02"): wgs84_to_gcj02,
    ("wgs84", "bd09"): wgs84_to_bd09,
}


def convert_geometry(geom: G, source: str, target: str = "wgs84") -> G:
    """Convert a shapely geometry (or array of them) between coordinate systems."""
    if source not in SYSTEMS or target not in SYSTEMS:
        raise InvalidInput(f"坐标系须为以下之一：{', '.join(SYSTEMS)}")
    if source == target:
        return geom
    fn = CONVERTERS[(source, target)]

    def apply(xy: Arr) -> Arr:
        x, y = fn(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, apply)


def point_to_wgs84(lon: float, lat: float, source: str) -> tuple[float, float]:
    """One point from source (wgs84, gcj02, bd09) to WGS84, e.g. a click on a Gaode basemap."""
    if source not in SYSTEMS:
        raise InvalidInput(f"坐标系须为以下之一：{', '.join(SYSTEMS)}")
    if source == "wgs84":
        return lon, lat
    x, y = CONVERTERS[(source, "wgs84")](lon, lat)
    return float(x), float(y)


OFFSET_NAMES = {"gcj02": "GCJ-02 (国测局坐标: WGS 84 with the GCJ-02 offset)",
                "bd09": "BD-09 (百度坐标: GCJ-02 with Baidu's further offset)"}


def crs_of(system: str) -> pyproj.CRS:
    """The CRS to label data in `system` with: EPSG:4326 for WGS 84; for GCJ-02 and BD-09
    (which no registry lists) WGS 84's axes and ellipsoid under a datum named for the offset,
    so that a GIS reading the file sees it is not WGS 84 instead of drawing it 300-700 m off."""
    wgs84 = pyproj.CRS.from_epsg(4326)
    if system == "wgs84":
        return wgs84
    if system not in OFFSET_NAMES:
        raise InvalidInput(f"坐标系须为以下之一：{', '.join(SYSTEMS)}")
    spec = wgs84.to_json_dict()
    spec.pop("id", None)
    ensemble = spec.pop("datum_ensemble")
    spec["name"] = system.upper().replace("GCJ02", "GCJ-02").replace("BD09", "BD-09")
    spec["datum"] = {"type": "GeodeticReferenceFrame", "name": OFFSET_NAMES[system],
                     "ellipsoid": ensemble["ellipsoid"]}
    return pyproj.CRS.from_json_dict(spec)
