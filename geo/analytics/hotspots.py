"""Hot and cold spots of issues: Getis–Ord Gi* on a grid of aggregated cells (esda/libpysal).

Issues are counted in the database per base heatmap cell (cell_x, cell_y of the
geo.tiling.cells.BASE_CELL_DEG grid, written with each issue), never loaded as points. A Gi* cell is
a block of fx × fy base cells, fx and fy chosen so that its sides are as close as possible to
cell_m metres at the area's latitude (at 36°N, 100 m gives 2 × 2 base cells, about 89 × 111 m);
the grid covers the jurisdiction's extent (or the issues' cells), every cell including the
empty ones, and an issue outside it counts in the nearest edge cell. Neighbours are the queen
contiguity of the lattice plus the cell itself (Gi*, binary weights). Significance comes from
conditional permutations (esda's p_sim) and is corrected for the many tests with the false
discovery rate (esda.fdr): a cell is hot/cold at 99, 95 or 90 % confidence when its p_sim is at
or below the FDR threshold for α = 0.01, 0.05 or 0.10 (bins ±3, ±2, ±1; 0 = not significant).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyproj
import shapely
from esda import G_Local, fdr
from libpysal.graph import Graph
from scipy import sparse
from shapely.geometry.base import BaseGeometry

from geo.layers.geojson import geometry_json
from geo.model.errors import InvalidInput
from geo.model.records import Issue
from geo.tiling.cells import BASE_CELL_DEG

GEOD = pyproj.Geod(ellps="WGS84")
MAX_CELLS = 40_000
LEVELS = ((3, 0.01), (2, 0.05), (1, 0.10))
LABELS = {3: "热点 99%", 2: "热点 95%", 1: "热点 90%", 0: "不显著", -1: "冷点 90%",
          -2: "冷点 95%", -3: "冷点 99%"}


@dataclass(frozen=True)
class BlockGrid:
    """A lattice of fx × fy base cells whose south-west base cell is (x0, y0)."""

    x0: int
    y0: int
    fx: int
    fy: int
    cols: int
    rows: int
    width_m: float  # one cell's sides at the grid's latitude
    height_m: float

    def box(self, col: int, row: int) -> BaseGeometry:
        """One cell as a WGS84 rectangle."""
        x, y = (self.x0 + col * self.fx) * BASE_CELL_DEG, (self.y0 + row * self.fy) * BASE_CELL_DEG
        return shapely.box(x, y, x + self.fx * BASE_CELL_DEG, y + self.fy * BASE_CELL_DEG)


def block_grid(extent: tuple[float, float, float, float], cell_m: float) -> BlockGrid:
    """The grid of blocks of base cells about cell_m on a side covering a lon/lat extent; the
    blocks grow (× 1.5) while the grid would exceed MAX_CELLS."""
    minx, miny, maxx, maxy = extent
    lat = (miny + maxy) / 2
    lon = (minx + maxx) / 2
    base_w = GEOD.inv(lon, lat, lon + BASE_CELL_DEG, lat)[2]
    base_h = GEOD.inv(lon, lat - BASE_CELL_DEG / 2, lon, lat + BASE_CELL_DEG / 2)[2]
    fx, fy = max(1, round(cell_m / base_w)), max(1, round(cell_m / base_h))
    x0, y0 = math.floor(minx / BASE_CELL_DEG), math.floor(miny / BASE_CELL_DEG)
    nx = math.floor(maxx / BASE_CELL_DEG) - x0 + 1  # base cells across the extent
    ny = math.floor(maxy / BASE_CELL_DEG) - y0 + 1
    while math.ceil(nx / fx) * math.ceil(ny / fy) > MAX_CELLS:
        fx, fy = math.ceil(fx * 1.5), math.ceil(fy * 1.5)
    return BlockGrid(x0, y0, fx, fy, max(2, math.ceil(nx / fx)), max(2, math.ceil(ny / fy)),
                     fx * base_w, fy * base_h)


def block_counts(cells: Iterable[tuple[int, int, float]], grid: BlockGrid) -> np.ndarray:
    """Counts[rows, cols] of the grid from base-cell counts (outside: the nearest edge cell)."""
    counts = np.zeros((grid.rows, grid.cols))
    arr = np.asarray(list(cells), dtype=float).reshape(-1, 3)
    if len(arr):
        c = np.clip((arr[:, 0] - grid.x0) // grid.fx, 0, grid.cols - 1).astype(int)
        r = np.clip((arr[:, 1] - grid.y0) // grid.fy, 0, grid.rows - 1).astype(int)
        np.add.at(counts, (r, c), arr[:, 2])
    return counts


def queen_lattice(rows: int, cols: int) -> Graph:
    """Binary queen contiguity of a rows × cols lattice numbered row-major: the weights of
    libpysal's lat2W(rows, cols, rook=False), built as a sparse matrix in a few vectorised
    steps (lat2W and its W object took seconds at 20,000 cells; G_Local gives the same
    statistics and, with the same seed, the same permutation p-values on either)."""
    idx = np.arange(rows * cols).reshape(rows, cols)
    heads, tails = [], []
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):  # each neighbour pair once
        c0, c1 = max(0, -dc), cols - max(0, dc)
        a, b = idx[0:rows - dr, c0:c1], idx[dr:rows, c0 + dc:c1 + dc]
        heads += [a.ravel(), b.ravel()]
        tails += [b.ravel(), a.ravel()]
    i, j = np.concatenate(heads), np.concatenate(tails)
    adjacency = sparse.csr_array((np.ones(len(i)), (i, j)), shape=(rows * cols, rows * cols))
    return Graph.from_sparse(adjacency)


def lattice_p_sim(y: np.ndarray, card: np.ndarray, lag: np.ndarray, permutations: int,
                  seed: int, block: int = 64) -> np.ndarray:
    """esda's conditional-permutation p-values (p_sim) of Gi* with binary weights, vectorised:
    the draws of esda.crand without numba (for each permutation, max(card) ids chosen without
    replacement from the n - 1 other cells, legacy RandomState(seed)), cell i summing the
    values of the first card[i] of them, ids ≥ i shifted by one to skip i itself; p is
    (larger + 1) / (permutations + 1) with larger the draws at or above the observed sum,
    folded to the smaller tail ("directed"), as float32. Instead of a loop over cells, the sum
    of a permutation's draws is a step function of i (a draw r picks y[r + 1] while i <= r, y[r]
    after), built for all cells at once with a cumulative sum. y: values (counts), card: the
    cells' neighbour counts, lag: the sum of each cell's neighbours' values."""
    n = len(y)
    rng = np.random.RandomState(seed)
    kmax = int(card.max())
    ids = np.empty((permutations, kmax), dtype=np.int64)
    for k in range(permutations):
        ids[k] = rng.choice(n - 1, size=kmax, replace=False)
    observed = y + lag  # the statistic's numerator: the cell and its neighbours
    larger = np.zeros(n)
    for k in np.unique(card).tolist():
        cells = np.flatnonzero(card == k)
        for start in range(0, permutations, block):
            r = ids[start:start + block, :k]
            b = len(r)
            steps = np.bincount((np.arange(b)[:, None] * (n + 1) + r + 1).ravel(),
                                weights=(y[r] - y[r + 1]).ravel(), minlength=b * (n + 1))
            sums = y[r + 1].sum(axis=1)[:, None] + np.cumsum(steps.reshape(b, n + 1), axis=1)
            larger[cells] += (sums[:, cells] + y[cells] >= observed[cells]).sum(axis=0)
    low = (permutations - larger) < larger
    larger[low] = permutations - larger[low]
    return ((larger + 1.0) / (permutations + 1.0)).astype(np.float32)


def issue_cells(issues: Sequence[Issue]) -> list[tuple[int, int, float]]:
    """Base-cell counts of issues held in memory (what the store's issue_cells returns)."""
    out: dict[tuple[int, int], float] = {}
    for i in issues:
        key = (math.floor(i.lon / BASE_CELL_DEG), math.floor(i.lat / BASE_CELL_DEG))
        out[key] = out.get(key, 0.0) + 1.0
    return [(x, y, n) for (x, y), n in sorted(out.items())]


def hotspots(cells: Sequence[tuple[int, int, float]], area: BaseGeometry | None,
             cell_m: float = 100.0, permutations: int = 999, seed: int = 12345
             ) -> dict[str, Any]:
    """Gi* hot/cold spots of base-cell counts (store.issue_cells): summary and the
    significant cells as GeoJSON features."""
    if not 20 <= cell_m <= 5000:
        raise InvalidInput("网格边长须在 20 至 5000 米之间")
    cells = [c for c in cells if c[2]]
    if area is None:
        if not cells:
            return {"cells": 0, "issues": 0, "features": [], "summary": {}}
        xs, ys = [c[0] for c in cells], [c[1] for c in cells]
        extent = (min(xs) * BASE_CELL_DEG, min(ys) * BASE_CELL_DEG,
                  (max(xs) + 0.5) * BASE_CELL_DEG, (max(ys) + 0.5) * BASE_CELL_DEG)
    else:
        extent = area.bounds
    grid = block_grid(extent, cell_m)
    rows, cols = grid.rows, grid.cols
    y = block_counts(cells, grid).ravel()  # row-major, as lat2W numbers the lattice
    size = round(math.sqrt(grid.width_m * grid.height_m), 1)
    features: list[dict[str, Any]] = []
    summary = {label: 0 for label in LABELS.values()}
    if y.sum() == 0 or y.std() == 0:
        return {"cells": int(y.size), "cell_m": size, "issues": int(y.sum()),
                "features": [], "summary": summary}
    w = queen_lattice(rows, cols)
    with warnings.catch_warnings():
        # esda warns that the default alternative of its conditional randomization will change;
        # the permutations are drawn here (lattice_p_sim, esda's "directed" p_sim)
        warnings.filterwarnings("ignore", message="The alternative hypothesis",
                                category=DeprecationWarning)
        g = G_Local(y, w, transform="B", star=True, permutations=0)  # Gi* and its z-scores
    card = np.diff(w.sparse.tocsr().indptr)  # neighbours of each cell (the self-weight apart)
    p = lattice_p_sim(y, card, np.asarray(w.sparse @ y), permutations, seed)
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
        features.append({"type": "Feature", "geometry": geometry_json(grid.box(c, r)),
                         "properties": {"count": int(y[k]), "z": round(float(z[k]), 3),
                                        "p": round(float(p[k]), 4), "bin": int(bins[k]),
                                        "label": LABELS[int(bins[k])]}})
    return {"cells": int(y.size), "cell_m": size,
            "cell_size_m": [round(grid.width_m, 1), round(grid.height_m, 1)],
            "cell_deg": [grid.fx * BASE_CELL_DEG, grid.fy * BASE_CELL_DEG],
            "issues": int(y.sum()), "permutations": permutations, "features": features,
            "summary": summary}
