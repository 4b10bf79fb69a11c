"""Seeded synthetic zones shared by the benchmarks that run without the benchmark city."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from geo.model.kinds import Kind
from geo.model.records import Feature

X0, Y0, SIDE = 121.40, 31.15, 0.10  # about 10 km × 11 km


def grid_zones(rng: np.random.Generator, n_zones: int, overlap_p: float, overlap_grow: float,
               wobble: bool = False) -> list[Feature]:
    """Zones on a grid over the square: 3 % of the cells left out (gaps), `overlap_p` of them
    grown by `overlap_grow` of a cell on every side (overlaps); `wobble`: outlines of about 40
    jittered vertices, like a digitised grid cell, instead of boxes."""
    k = int(np.ceil(np.sqrt(n_zones / 0.95)))  # room for the cells left out as gaps
    step = SIDE / k
    zones: list[Feature] = []
    for i in range(k):
        for j in range(k):
            if len(zones) >= n_zones:
                break
            if rng.random() < 0.03:
                continue  # a gap
            grow = step * overlap_grow if rng.random() < overlap_p else 0.0  # an overlap
            cell = box(X0 + i * step - grow, Y0 + j * step - grow,
                       X0 + (i + 1) * step + grow, Y0 + (j + 1) * step + grow)
            shape: BaseGeometry = cell
            if wobble:
                xy = shapely.get_coordinates(shapely.segmentize(cell.exterior, step / 10))
                xy[:-1] += rng.normal(0, step / 200, (len(xy) - 1, 2))
                xy[-1] = xy[0]
                shape = shapely.make_valid(shapely.Polygon(xy))
            zones.append(Feature(Kind.zone, shape, name=f"Z{i}-{j}",
                                 properties={"unit": f"U{(i * k + j) % 40}"},
                                 id=len(zones) + 1))
    return zones
