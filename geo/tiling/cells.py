"""Heatmap aggregation: issues are counted per grid cell when written (cell_x, cell_y of a
BASE_CELL_DEG grid); a view asks for cells coarse enough for its zoom, so the page receives
cell counts, never raw points."""

from __future__ import annotations

import math
from typing import Any

BASE_CELL_DEG = 0.0005  # about 50 m; must match the store's CELL_DEG
TARGET_PX = 10  # a heatmap cell should cover about this many screen pixels
# an issue cell of the map's vector tiles: about as wide as a marker cluster, so a city's
# million issues read as bubbles with their counts, not a carpet of 10-pixel dots
CLUSTER_PX = 64


def factor_for_zoom(zoom: int, target_px: int = TARGET_PX) -> int:
    """How many base cells make one cell of about target_px screen pixels at this web-map zoom
    (a power of two; by default a heatmap cell)."""
    deg_per_px = 360.0 / (256 * 2 ** max(0, min(zoom, 22)))
    wanted = target_px * deg_per_px / BASE_CELL_DEG
    return max(1, 2 ** max(0, round(math.log2(wanted)))) if wanted > 1 else 1


def heatmap(cells: list[tuple[int, int, float]], total: int, zoom: int) -> dict[str, Any]:
    """The heatmap document of the API: total issues, cell size and [lon, lat, count] cells.
    `cells` are blocks of factor_for_zoom(zoom) base cells, as store.issue_cells(query,
    factor=...) counts them in SQL."""
    factor = factor_for_zoom(zoom)
    size = BASE_CELL_DEG * factor
    out = [[round((gx + 0.5) * size, 6), round((gy + 0.5) * size, 6), round(n, 2)]
           for gx, gy, n in sorted(cells)]
    return {"total": total, "cell_deg": size, "zoom": zoom,
            "max": max((c[2] for c in out), default=0), "cells": out}
