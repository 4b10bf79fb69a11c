"""Hot and cold spots of issues: Getis–Ord Gi* on a square grid (esda/libpysal).

Issues are counted on a square grid (cell_m metres, local UTM) over the jurisdiction's extent
(or the issues' extent), every cell including the empty ones. Neighbours are the queen
contiguity of the lattice plus the cell itself (Gi*, binary weights). Significance comes from
conditional permutations (esda's p_sim) and is corrected for the many tests with the false
discovery rate (esda.fdr): a cell is hot/cold at 99, 95 or 90 % confidence when its p_sim is at
or below the FDR threshold for α = 0.01, 0.05 or 0.10 (bins ±3, ±2, ±1; 0 = not significant).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from esda import G_Local, fdr
from libpysal.weights import lat2W
from shapely.geometry.base import BaseGeometry

from geo.errors import InvalidInput
from geo.features import Issue
from geo.geojson import geometry_json
from geo.projection import MetricFrame

MAX_CELLS = 40_000
LEVELS = ((3, 0.01), (2, 0.05), (1, 0.10))
LABELS = {3: "热点 99%", 2: "热点 95%", 1: "热点 90%", 0: "不显著", -1: "冷点 90%",
          -2: "冷点 95%", -3: "冷点 99%"}


def grid_counts(issues: Sequence[Issue], frame: MetricFrame, extent: tuple[float, ...],
                cell_m: float) -> tuple[np.ndarray, float, float, float, int, int]:
    """Counts per cell of a metric grid covering extent: (counts[rows, cols], x0, y0, cell,
    rows, cols); the cell grows when the grid would exceed MAX_CELLS."""
    minx, miny, maxx, maxy = extent
    width, height = maxx - minx, maxy - miny
    cell = cell_m
    while math.ceil(width / cell) * math.ceil(height / cell) > MAX_CELLS:
        cell *= 1.5
    cols, rows = max(2, math.ceil(width / cell)), max(2, math.ceil(height / cell))
    counts = np.zeros((rows, cols))
    if issues:
        pts = frame.to_metric(shapely.points([i.lon for i in issues], [i.lat for i in issues]))
        xs, ys = shapely.get_x(pts), shapely.get_y(pts)
        c = np.clip(((xs - minx) // cell).astype(int), 0, cols - 1)
        r = np.clip(((ys - miny) // cell).astype(int), 0, rows - 1)
        np.add.at(counts, (r, c), 1)
    return counts, minx, miny, cell, rows, cols


def hotspots(issues: Sequence[Issue], area: BaseGeometry | None, cell_m: float = 100.0,
             permutations: int = 999, seed: int = 12345) -> dict[str, Any]:
    """Gi* hot/cold spots: summary and the significant cells as GeoJSON features."""
    if not 20 <= cell_m <= 5000:
        raise InvalidInput("cell size must be between 20 and 5000 m")
    if area is None:
        if not issues:
            return {"cells": 0, "issues": 0, "features": [], "summary": {}}
        area = shapely.MultiPoint([(i.lon, i.lat) for i in issues]).envelope
    frame = MetricFrame.for_geometry(area)
    extent = frame.to_metric(area).bounds
    counts, x0, y0, cell, rows, cols = grid_counts(issues, frame, extent, cell_m)
    y = counts.ravel()  # row-major, as lat2W numbers the lattice
    features: list[dict[str, Any]] = []
    summary = {label: 0 for label in LABELS.values()}
    if y.sum() == 0 or y.std() == 0:
        return {"cells": int(y.size), "cell_m": round(cell, 1), "issues": int(y.sum()),
                "features": [], "summary": summary}
    w = lat2W(rows, cols, rook=False)
    with warnings.catch_warnings():
        # esda warns that the default alternative of its conditional randomization will change;
        # G_Local does not let the caller choose it yet, and p_sim is what this module uses
        warnings.filterwarnings("ignore", message="The alternative hypothesis",
                                category=DeprecationWarning)
        g = G_Local(y, w, transform="B", star=True, permutations=permutations, seed=seed,
                    keep_simulations=False, n_jobs=1)
    p = np.asarray(g.p_sim)
    z = np.asarray(g.Zs)
    bins = np.zeros(y.size, dtype=int)
    for level, alpha in reversed(LEVELS):  # strongest last so it wins
        threshold = fdr(p, alpha)
        significant = p <= threshold
        bins[significant & (z > 0)] = level
        bins[significant & (z < 0)] = -level
    for k in range(y.size):
        summary[LABELS[int(bins[k])]] += 1
        if bins[k] == 0:
            continue
        r, c = divmod(k, cols)
        square = shapely.box(x0 + c * cell, y0 + r * cell, x0 + (c + 1) * cell,
                             y0 + (r + 1) * cell)
        features.append({"type": "Feature", "geometry": geometry_json(frame.to_wgs84(square)),
                         "properties": {"count": int(y[k]), "z": round(float(z[k]), 3),
                                        "p": round(float(p[k]), 4), "bin": int(bins[k]),
                                        "label": LABELS[int(bins[k])]}})
    return {"cells": int(y.size), "cell_m": round(cell, 1), "issues": int(y.sum()),
            "permutations": permutations, "features": features, "summary": summary}
