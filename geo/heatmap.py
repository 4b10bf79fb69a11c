"""Heatmap aggregation: issues are counted per grid cell when written (cell_x, cell_y of a
BASE_CELL_DEG grid); a view asks for cells coarse enough for its zoom, so the page receives
cell counts, never raw points."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

BASE_CELL_DEG = 0.0005  # about 50 m; must match the store's CELL_DEG
TARGET_PX = 10  # a cell should cover about this many screen pixels


def factor_for_zoom(zoom: int) -> int:
    """How many base cells make one heatmap cell at this web-map zoom (a power of two)."""
    deg_per_px = 360.0 / (256 * 2 ** max(0, min(zoom, 22)))
    wanted = TARGET_PX * deg_per_px / BASE_CELL_DEG
    return max(1, 2 ** max(0, round(math.log2(wanted)))) if wanted > 1 else 1


def coarsen(cells: list[tuple[int, int, float]], factor: int) -> list[list[float]]:
    """Merge base cells into factor × factor blocks: [[lon, lat, count], ...] (cell centres)."""
    merged: dict[tuple[int, int], float] = defaultdict(float)
    for x, y, n in cells:
        merged[(x // factor, y // factor)] += n
    size = BASE_CELL_DEG * factor
    return [[round((gx + 0.5) * size, 6), round((gy + 0.5) * size, 6), round(n, 2)]
            for (gx, gy), n in sorted(merged.items())]


def heatmap(cells: list[tuple[int, int, float]], total: int, zoom: int,
            grouped: bool = False) -> dict[str, Any]:
    """The heatmap document of the API: total issues, cell size and [lon, lat, count] cells
    (grouped: the cells are already blocks of factor_for_zoom(zoom), see store.issue_cells)."""
    factor = factor_for_zoom(zoom)
    out = coarsen(cells, factor) if not grouped else [
        [round((gx + 0.5) * BASE_CELL_DEG * factor, 6),
         round((gy + 0.5) * BASE_CELL_DEG * factor, 6), round(n, 2)]
        for gx, gy, n in sorted(cells)]
    return {"total": total, "cell_deg": BASE_CELL_DEG * factor, "zoom": zoom,
            "max": max((c[2] for c in out), default=0), "cells": out}
