"""GCJ-02 / BD-09 conversions against the reference implementation (eviltransform)."""

from __future__ import annotations

import eviltransform
import numpy as np
import pyproj
import pytest
from shapely.geometry import LineString

from geo.layers.coords import (
    bd09_to_wgs84,
    convert_geometry,
    gcj02_to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geo.model.errors import InvalidInput

GEOD = pyproj.Geod(ellps="WGS84")
# a grid across mainland China (73–135 E, 18–53 N), some points in the sea but inside the box
LON, LAT = (a.ravel() for a in np.meshgrid(np.linspace(74, 134, 25), np.linspace(19, 52, 15)))


def _metres(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> float:
    _, _, d = GEOD.inv(lon1, lat1, lon2, lat2)
    return float(np.max(d))


def test_forward_matches_reference_everywhere() -> None:
    gx, gy = wgs84_to_gcj02(LON, LAT)
    ref = np.array([eviltransform.wgs2gcj(la, lo) for lo, la in zip(LON, LAT, strict=True)])
    assert np.allclose(gx, ref[:, 1], atol=1e-9) and np.allclose(gy, ref[:, 0], atol=1e-9)
    bx, by = wgs84_to_bd09(LON, LAT)
    ref = np.array([eviltransform.wgs2bd(la, lo) for lo, la in zip(LON, LAT, strict=True)])
    assert np.allclose(bx, ref[:, 1], atol=1e-9) and np.allclose(by, ref[:, 0], atol=1e-9)


def test_offset_is_hundreds_of_metres_in_china() -> None:
    gx, gy = wgs84_to_gcj02(121.47, 31.23)
    assert 300 < _metres(np.array([121.47]), np.array([31.23]), gx, gy) < 700


def test_inverse_within_one_metre_of_reference() -> None:
    gx, gy = wgs84_to_gcj02(LON, LAT)
    wx, wy = gcj02_to_wgs84(gx, gy)
    ref = np.array([eviltransform.gcj2wgs_exact(la, lo) for lo, la in zip(gx, gy, strict=True)])
    assert _metres(wx, wy, ref[:, 1], ref[:, 0]) < 1.0
    assert _metres(wx, wy, LON, LAT) < 0.01  # and the round trip is exact to a centimetre
    bx, by = wgs84_to_bd09(LON, LAT)
    wx, wy = bd09_to_wgs84(bx, by)
    ref = np.array([eviltransform.gcj2wgs_exact(*eviltransform.bd2gcj(la, lo))
                    for lo, la in zip(bx, by, strict=True)])
    assert _metres(wx, wy, ref[:, 1], ref[:, 0]) < 1.0
    assert _metres(wx, wy, LON, LAT) < 0.01


def test_outside_china_is_unchanged() -> None:
    x, y = wgs84_to_gcj02([-118.25, 2.35], [34.05, 48.85])
    assert np.array_equal(x, [-118.25, 2.35]) and np.array_equal(y, [34.05, 48.85])
    x, y = gcj02_to_wgs84(-118.25, 34.05)
    assert (float(x), float(y)) == (-118.25, 34.05)


def test_geometry_conversion_moves_every_vertex() -> None:
    line = LineString([(121.47, 31.23), (121.48, 31.24)])
    shifted = convert_geometry(line, "wgs84", "gcj02")
    expected = wgs84_to_gcj02([121.47, 121.48], [31.23, 31.24])
    assert np.allclose(np.array(shifted.coords).T, np.array(expected), atol=1e-12)
    back = convert_geometry(shifted, "gcj02", "wgs84")
    assert back.equals_exact(line, tolerance=1e-8)
    with pytest.raises(InvalidInput):
        convert_geometry(line, "utm", "wgs84")
