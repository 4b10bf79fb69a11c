"""Benchmark: planning inspection rounds on the demo city (Huangpu streets from OSM).

Prints, for a few sample sizes and team counts, the time to build the street network, the
network distance matrix, the routing (OR-Tools, default 2 s search) and the balance of the team
days. Run: .venv/bin/python bench/bench_rounds.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from geo.demo.city import build_demo
from geo.model.kinds import Kind
from geo.planner.network import StreetNetwork
from geo.planner.rounds import RoundSpec, plan_rounds
from geo.store import open_store


def main() -> None:
    """Print the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'demo.db'}")
        build_demo(store, n_issues=500)
        t = time.perf_counter()
        network = StreetNetwork.from_store(store)
        assert network is not None
        print(f"street network: {network.graph.number_of_nodes()} nodes, "
              f"{network.graph.number_of_edges()} edges, built in "
              f"{time.perf_counter() - t:.2f} s")
        points = store.features(Kind.test_point)
        rng = np.random.default_rng(1)
        for n, teams in ((30, 1), (60, 3), (94, 5)):
            chosen = [points[k] for k in rng.choice(len(points), size=n, replace=False)]
            stops = [{"id": p.id, "name": p.name, "category": p.category,
                      "category_label": p.category, "lon": p.geometry.centroid.x,
                      "lat": p.geometry.centroid.y} for p in chosen]
            where = [(s["lon"], s["lat"]) for s in stops]
            t = time.perf_counter()
            network.distances(where, where)
            matrix_s = time.perf_counter() - t
            t = time.perf_counter()
            plan = plan_rounds(store, stops, RoundSpec(teams=teams, budget_min=8 * 60,
                                                       service_min=10), network=network)
            days = [tm["duration_min"] for tm in plan["teams"]]
            print(f"{n:>3} points, {teams} teams: matrix {matrix_s * 1000:.0f} ms, plan "
                  f"{time.perf_counter() - t:.1f} s, days {min(days):.0f}–{max(days):.0f} min, "
                  f"{sum(tm['distance_m'] for tm in plan['teams']) / 1000:.1f} km, "
                  f"unscheduled {len(plan['unscheduled'])}")
        store.close()


if __name__ == "__main__":
    main()
