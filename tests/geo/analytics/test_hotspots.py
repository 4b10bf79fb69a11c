"""Gi* hot spots: a real cluster is hot at high confidence, the z-scores match the formula, and
the permutation p-values are esda's own."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import shapely
from esda import G_Local
from fastapi.testclient import TestClient
from libpysal.weights import lat2W
from shapely.geometry import box

from geo.analytics.hotspots import block_grid, hotspots, issue_cells, lattice_p_sim, queen_lattice
from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.store import Store
from geo.tiling.cells import BASE_CELL_DEG

AREA = box(121.46, 31.22, 121.48, 31.24)


def _issues(seed: int = 1) -> list[Issue]:
    rng = np.random.default_rng(seed)
    spread = rng.uniform([121.46, 31.22], [121.48, 31.24], (300, 2))
    cluster = rng.normal([121.470, 31.230], 0.0004, (300, 2))
    return [Issue("street_vending", float(x), float(y)) for x, y in np.vstack([spread, cluster])]


def _gi_star(y: np.ndarray, w_full: np.ndarray, i: int) -> float:
    """Getis–Ord Gi* z-score from its textbook formula (binary weights, self included)."""
    n = len(y)
    wi = w_full[i]
    xbar, s = y.mean(), np.sqrt((y ** 2).mean() - y.mean() ** 2)
    sw, sw2 = wi.sum(), (wi ** 2).sum()
    return float((wi @ y - xbar * sw) / (s * np.sqrt((n * sw2 - sw ** 2) / (n - 1))))


def test_cluster_is_a_significant_hot_spot_and_z_matches_the_formula() -> None:
    issues = _issues()
    result = hotspots(issue_cells(issues), AREA, cell_m=200, permutations=9999)
    hot = [f for f in result["features"] if f["properties"]["bin"] == 3]
    assert hot, result["summary"]
    centre = shapely.Point(121.470, 31.230)
    assert any(shapely.geometry.shape(f["geometry"]).buffer(1e-9).contains(centre) for f in hot)
    assert all(f["properties"]["label"] == "热点 99%" for f in hot)
    # independent check of the z-score of the hottest cell
    grid = block_grid(AREA.bounds, 200)
    # whole base cells (about 47 × 55 m here): each side within half a base cell of 200 m
    assert abs(grid.width_m - 200) <= 24 and abs(grid.height_m - 200) <= 28
    rows, cols = grid.rows, grid.cols
    # the grid's cells are blocks of whole base cells: count the points per block directly
    col = np.array([np.floor(i.lon / BASE_CELL_DEG) for i in issues]) - grid.x0
    row = np.array([np.floor(i.lat / BASE_CELL_DEG) for i in issues]) - grid.y0
    counts = np.zeros((rows, cols))
    np.add.at(counts, (np.clip(row // grid.fy, 0, rows - 1).astype(int),
                       np.clip(col // grid.fx, 0, cols - 1).astype(int)), 1)
    w = lat2W(rows, cols, rook=False).full()[0] + np.eye(rows * cols)
    y = counts.ravel()
    k = int(np.argmax(y))
    top = max(result["features"], key=lambda f: f["properties"]["count"])
    assert top["properties"]["count"] == int(y[k])
    assert top["properties"]["z"] == pytest.approx(_gi_star(y, w, k), rel=1e-3)


def test_spatially_random_issues_give_few_hot_spots() -> None:
    rng = np.random.default_rng(7)
    xy = rng.uniform([121.46, 31.22], [121.48, 31.24], (600, 2))
    result = hotspots(issue_cells([Issue("clutter", float(x), float(y)) for x, y in xy]), AREA,
                      cell_m=200)
    strong = sum(1 for f in result["features"] if abs(f["properties"]["bin"]) >= 2)
    assert strong <= 0.02 * result["cells"]  # FDR keeps false alarms rare


def test_api_returns_geojson_with_summary(client: TestClient, store: Store) -> None:
    store.add_features([Feature(Kind.subdistrict, AREA, name="街道")])
    store.add_issues(_issues())
    doc = client.get("/api/hotspots", params={"cell": 200, "category": "street_vending",
                                                "permutations": 9999}).json()
    assert doc["type"] == "FeatureCollection" and doc["issues"] == 600
    assert doc["summary"]["热点 99%"] >= 1 and doc["features"]
    assert client.get("/api/hotspots", params={"recurrence": "true"}).json()["features"] == []
    assert client.get("/api/hotspots", params={"cell": 1}).status_code == 422


@pytest.mark.parametrize("rows, cols, seed", [(14, 17, 12345), (1, 9, 3), (30, 8, 2026)])
def test_p_values_are_esdas_conditional_permutation_p_values(rows: int, cols: int,
                                                              seed: int) -> None:
    """The vectorised draws give, for the same seed, exactly esda's G_Local p_sim on libpysal's
    queen lattice (the page's and bulletin's confidence levels rest on them)."""
    rng = np.random.default_rng(seed)
    y = rng.poisson(2, rows * cols).astype(float)
    y[: min(4, y.size)] += 12  # a cluster
    w = queen_lattice(rows, cols)
    assert (w.sparse.toarray() == lat2W(rows, cols, rook=False).full()[0]).all()
    card = np.diff(w.sparse.tocsr().indptr)
    p = lattice_p_sim(y, card, np.asarray(w.sparse @ y), 999, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        esda = G_Local(y, lat2W(rows, cols, rook=False), transform="B", star=True,
                       permutations=999, seed=seed, n_jobs=1)
    assert np.array_equal(np.asarray(esda.p_sim), p)
