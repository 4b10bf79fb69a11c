"""Benchmark: coverage-gap analysis of 50,000 street/alley segments, 5,000 zones and 2,000
test points (target: under 5 s on this 2-core machine). Prints the figures.

Run: .venv/bin/python bench/bench_gaps.py
"""

from __future__ import annotations

import time

import numpy as np
import shapely
from shapely.geometry import LineString, Point, box

from geo.coverage import CoverageInput, analyse
from geo.features import Feature
from geo.kinds import Kind

X0, Y0, SIDE = 121.40, 31.15, 0.10  # about 10 km × 11 km


def build(n_zones: int = 5000, n_lines: int = 50_000, n_points: int = 2000,
          seed: int = 7) -> CoverageInput:
    """A synthetic city: a grid of zones with holes and overlaps, random segments and points."""
    rng = np.random.default_rng(seed)
    k = int(np.ceil(np.sqrt(n_zones / 0.95)))  # room for the cells left out as gaps
    step = SIDE / k
    zones: list[Feature] = []
    for i in range(k):
        for j in range(k):
            if len(zones) >= n_zones:
                break
            if rng.random() < 0.03:
                continue  # a gap
            grow = step * 0.1 if rng.random() < 0.02 else 0.0  # an overlap
            cell = box(X0 + i * step - grow, Y0 + j * step - grow,
                       X0 + (i + 1) * step + grow, Y0 + (j + 1) * step + grow)
            zones.append(Feature(Kind.zone, cell, name=f"Z{i}-{j}",
                                 properties={"unit": f"U{(i * k + j) % 40}"},
                                 id=len(zones) + 1))
    starts = rng.uniform([X0, Y0], [X0 + SIDE, Y0 + SIDE], (n_lines, 2))
    ends = starts + rng.normal(0, 0.0008, (n_lines, 2))
    lines = [Feature(Kind.street if n % 5 else Kind.alley, LineString([s, e]), id=100_000 + n,
                     properties={"cadre": "路长"} if n % 17 == 0 else {})
             for n, (s, e) in enumerate(zip(starts, ends, strict=True))]
    pts = rng.uniform([X0, Y0], [X0 + SIDE, Y0 + SIDE], (n_points, 2))
    points = [Feature(Kind.test_point, Point(p), category="bus_stop", id=200_000 + n)
              for n, p in enumerate(pts)]
    area = box(X0, Y0, X0 + SIDE, Y0 + SIDE)
    communities = [Feature(Kind.community, c, name=f"社区{n}") for n, c in
                   enumerate(shapely.get_parts(shapely.intersection(
                       area, [box(X0 + a * SIDE / 3, Y0 + b * SIDE / 3,
                                  X0 + (a + 1) * SIDE / 3, Y0 + (b + 1) * SIDE / 3)
                              for a in range(3) for b in range(3)])))]
    return CoverageInput([Feature(Kind.subdistrict, area, name="街道")], communities, zones,
                         lines, points, [])


def main() -> None:
    """Build the data, time the analysis, print the figures."""
    t0 = time.perf_counter()
    data = build()
    t1 = time.perf_counter()
    report = analyse(data, with_geometry=False)
    t2 = time.perf_counter()
    report_geo = analyse(data, with_geometry=True)
    t3 = time.perf_counter()
    print(f"zones {len(data.zones)}, segments {len(data.lines)}, test points "
          f"{len(data.points)} (built in {t1 - t0:.1f} s)")
    print(f"gap analysis: {t2 - t1:.2f} s (target < 5 s); with geometries for the map: "
          f"{t3 - t2:.2f} s")
    ua = report["uncovered_area"]
    print(f"uncovered {ua['area_m2'] / 1e6:.2f} km² ({ua['percent']}%) in "
          f"{len(ua['polygons'])} pieces; {len(report['overlaps'])} overlapping pairs; "
          f"street uncovered {report['lines']['by_kind']['street']['percent']}%; "
          f"{len(report['unassigned_points'])} test points without a unit; "
          f"{len(report_geo['lines']['pieces'])} uncovered segments")


if __name__ == "__main__":
    main()
