"""Benchmark: routing 1,000,000 points to 5,000 zones with ccmap's vectorised routing
(geo.ledger.streamed_import's routing step, the call `ccmap import issues` makes per chunk: zone_id,
unit, flags, cadre and community columns from geo.zones.assignment.route_columns) against
`geopandas.sjoin(points, zones, predicate="within")` on the same data (issue 15's target:
ccmap ≤ 1.3 × sjoin). Prints best and median wall and CPU seconds of each and the ratio, and
checks that both give the same zone wherever exactly one zone contains the point.

Run: .venv/bin/python -m bench.bench_routing                     (a seeded synthetic city)
     .venv/bin/python -m bench.bench_routing --city /work/bench-city [--runs 3]
     .venv/bin/python -m bench.bench_routing --db sqlite:////work/bench-city/city.db \
         --points /work/bench-city/files/issues.csv

--city DIR reads DIR/files/zones.geojson and the lon/lat columns of DIR/files/issues.csv.
--db URL reads the zones (with their stored ids) from a store, opened without migrating (a
benchmark database stays as it is; only reads). Only zones are routed (no streets or
communities), as sjoin only finds the containing zones. The sjoin frames are built before the
clock starts (ccmap's time includes building its points from lon/lat and the output columns).
geo.zones.assignment.route_points (one Route object per point, used for a few issues at a time)
is timed
too, for reference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from bench import no_migration
from bench.synthetic import SIDE, X0, Y0, grid_zones
from geo.ledger.streamed_import import _route
from geo.model.kinds import Kind
from geo.model.records import Feature
from geo.zones.assignment import route_points


def synthetic(n_zones: int = 4950, n_points: int = 1_000_000, seed: int = 7
              ) -> tuple[list[Feature], np.ndarray, np.ndarray]:
    """Seeded zones (a jittered grid with gaps and overlaps) and uniform points over them."""
    rng = np.random.default_rng(seed)
    zones = grid_zones(rng, n_zones, overlap_p=0.03, overlap_grow=0.15, wobble=True)
    pts = rng.uniform([X0, Y0], [X0 + SIDE, Y0 + SIDE], (n_points, 2))
    return zones, pts[:, 0].copy(), pts[:, 1].copy()


def zones_from_geojson(path: Path) -> list[Feature]:
    """Zones of a GeoJSON file, numbered 1.. in file order (as an import would store them)."""
    frame = gpd.read_file(path)
    return [Feature(Kind.zone, g, name=str(n), properties={"unit": u}, id=i + 1)
            for i, (g, n, u) in enumerate(zip(frame.geometry, frame.get("name", frame.index),
                                              frame.get("unit", [None] * len(frame)),
                                              strict=True))]


def zones_from_store(url: str) -> list[Feature]:
    """The zones of a store (by id), opened without migrating."""
    from geo.store.sql import SqlStore

    SqlStore.migrate = no_migration  # type: ignore[method-assign]
    return SqlStore(url).features(Kind.zone)


def points_from_csv(path: Path, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """The lon/lat columns of an issues CSV (its first `limit` rows)."""
    frame = pd.read_csv(path, usecols=["lon", "lat"], nrows=limit).dropna()
    return frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)


def timed(fn: Callable[[], Any], runs: int) -> tuple[list[float], list[float], Any]:
    """Wall and CPU seconds of each run, and the last run's result."""
    walls, cpus, out = [], [], None
    for _ in range(runs):
        out = None
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return walls, cpus, out


def run(zones: list[Feature], lon: np.ndarray, lat: np.ndarray, runs: int) -> None:
    """Time both, print the table, the ratio and the agreement check."""
    ids = np.array([z.id for z in zones])
    zone_frame = gpd.GeoDataFrame({"zid": ids}, geometry=[z.geometry for z in zones],
                                  crs="EPSG:4326")
    point_frame = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    print(f"{len(lon):,} points × {len(zones):,} zones; {runs} runs each; "
          f"load {os.getloadavg()[0]:.2f} before")

    frame = pd.DataFrame({"lon": lon, "lat": lat})

    def import_routing() -> pd.DataFrame:
        rows = frame.copy()
        _route(rows, zones, [], [])
        return rows

    s_wall, s_cpu, joined = timed(
        lambda: gpd.sjoin(point_frame, zone_frame, how="inner", predicate="within"), runs)
    c_wall, c_cpu, routed = timed(import_routing, runs)
    r_wall, r_cpu, _ = timed(lambda: route_points(lon, lat, zones), runs)
    load = os.getloadavg()[0]

    print(f"{'':34} {'best s':>8} {'median s':>9} {'best CPU s':>11} {'median CPU s':>13}")
    for name, w, c in (("geopandas sjoin (within)", s_wall, s_cpu),
                       ("ccmap import routing (columns)", c_wall, c_cpu),
                       ("ccmap route_points (Route objects)", r_wall, r_cpu)):
        print(f"{name:34} {min(w):8.2f} {statistics.median(w):9.2f} {min(c):11.2f} "
              f"{statistics.median(c):13.2f}")
    print(f"ratio import routing / sjoin: best {min(c_wall) / min(s_wall):.2f}×, median "
          f"{statistics.median(c_wall) / statistics.median(s_wall):.2f}×, CPU best "
          f"{min(c_cpu) / min(s_cpu):.2f}× (target ≤ 1.3×); load {load:.2f} after")

    # agreement: where exactly one zone contains the point both must name it
    hits = joined.index.to_numpy()
    count = np.bincount(hits, minlength=len(lon))
    single = count == 1
    sjoin_zone = np.zeros(len(lon), dtype=np.int64)
    sjoin_zone[hits[single[hits]]] = joined["zid"].to_numpy()[single[hits]]
    ccmap_zone = routed["zone_id"].fillna(0).to_numpy(np.int64)
    same = ccmap_zone[single] == sjoin_zone[single]
    none_both = int(((count == 0) & (ccmap_zone == 0)).sum())
    print(f"in exactly one zone: {int(single.sum()):,}, same zone {int(same.sum()):,}, "
          f"differ {int((~same).sum()):,}; in several {int((count > 1).sum()):,}; "
          f"in none {int((count == 0).sum()):,} (ccmap uncovered there too: {none_both:,})")
    if not same.all() or none_both != int((count == 0).sum()):
        raise SystemExit("ccmap and sjoin disagree")


def main() -> None:
    """Parse the arguments, load the data, run."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--city", type=Path, help="benchmark city folder (files/zones.geojson, "
                    "files/issues.csv)")
    ap.add_argument("--db", help="read the zones from this store (read-only)")
    ap.add_argument("--points", type=Path, help="issues CSV with lon/lat columns")
    ap.add_argument("--limit", type=int, default=1_000_000, help="points (default 1,000,000)")
    ap.add_argument("--zones", type=int, default=4950, help="synthetic zones (default 4,950)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    t0 = time.perf_counter()
    if a.city or a.db:
        zones = (zones_from_store(a.db) if a.db
                 else zones_from_geojson(a.city / "files" / "zones.geojson"))
        csv = a.points or (a.city / "files" / "issues.csv" if a.city else None)
        if csv is None:
            raise SystemExit("--db needs --points (or --city)")
        lon, lat = points_from_csv(csv, a.limit)
    else:
        zones, lon, lat = synthetic(a.zones, a.limit, a.seed)
    print(f"data loaded in {time.perf_counter() - t0:.1f} s")
    run(zones, lon, lat, a.runs)


if __name__ == "__main__":
    main()
