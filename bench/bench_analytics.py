"""Analytics latency at city scale, over HTTP through the app, on one or more databases.

    python -m bench.bench_analytics --db sqlite:////path/to/copy-of-city.db [--runs 3]
        [--period 2026-11] [--db postgresql://...?options=-csearch_path%3Dbench_city,public]
        [--no-migrate] [--json FILE]

Each endpoint of issue 15's table (heatmap, issue list, ranking, dashboard, choropleths, hot
spots, coverage of a view, workload) is asked --runs times through a TestClient on the app
(auth, validation, JSON encoding included), one request at a time, in a fresh process-wide
state (the first run of each row pays for whatever a cache would hold); the median ("after"),
min and max are printed beside the figure measured on the same backend before this round of
work ("before") and the target, with the median CPU seconds of this process per request ("cpu":
all the work on SQLite, the app's share on PostGIS; unlike wall time, hardly stretched by a
loaded machine). It writes a bench user (bench-analytics, admin) when missing
and its login token: run it on a copy of a database that must stay as it is. --no-migrate
opens the store without bringing the schema up to date (the figures are then those of its
indexes; the alembic revision found is printed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from bench import no_migration
from geo.accounts.logins import hash_password
from geo.model.users import Role, User
from geo.store import Store, open_store
from geo.store.sql import SqlStore
from server.app import create_app
from server.settings import Settings

USER, PASSWORD = "bench-analytics", "bench-analytics-pw-2026"
# a z15 view (1280 × 800 px) at the centre of the full bench city, and the whole city at z12
VIEW_Z15 = "115.9575,36.4412,116.0125,36.4688"
CITY_Z12 = "115.85,36.38,116.12,36.53"
# (label, path, params, before per backend: (median wall s, median CPU s) measured on the full
# city (1M issues) with the code before a51aa63 (before migration 0014, the cached zone figures and
# the vectorised Gi*) under a load average of 10-16, target in s)
Before = dict[str, tuple[float, float]]
ENDPOINTS: list[tuple[str, str, dict[str, Any], Before, float]] = [
    ("heatmap z12 city", "/api/heatmap", {"zoom": 12, "bbox": CITY_Z12},
     {"SQLite": (18.171, 4.823), "PostGIS": (5.208, 0.177)}, 0.3),
    ("heatmap z15 view", "/api/heatmap", {"zoom": 15, "bbox": VIEW_Z15},
     {"SQLite": (1.786, 0.471), "PostGIS": (1.84, 0.081)}, 0.3),
    ("issues list page 1", "/api/issues", {"page": 1, "page_size": 50},
     {"SQLite": (0.124, 0.021), "PostGIS": (0.237, 0.016)}, 0.1),
    ("issues list, category", "/api/issues",
     {"page": 2, "page_size": 50, "category": "street_vending"},
     {"SQLite": (2.254, 0.457), "PostGIS": (0.084, 0.016)}, 0.1),
    ("ranking by zone", "/api/ranking", {"level": "zone"},
     {"SQLite": (1.646, 0.636), "PostGIS": (1.766, 0.484)}, 1.0),
    ("ranking by community", "/api/ranking", {"level": "community"},
     {"SQLite": (0.526, 0.26), "PostGIS": (0.442, 0.08)}, 1.0),
    ("dashboard", "/api/dashboard", {}, {"SQLite": (1.79, 0.775), "PostGIS": (2.327, 0.359)}, 1.0),
    ("choropleth zone issues (all)", "/api/choropleth", {"level": "zone", "metric": "issues"},
     {"SQLite": (4.661, 1.65), "PostGIS": (9.627, 1.575)}, 1.0),
    ("choropleth zone per_km (all)", "/api/choropleth", {"level": "zone", "metric": "per_km"},
     {"SQLite": (12.846, 4.97), "PostGIS": (41.129, 4.539)}, 1.0),
    ("choropleth community overdue", "/api/choropleth",
     {"level": "community", "metric": "overdue"},
     {"SQLite": (1.44, 0.553), "PostGIS": (3.039, 0.28)}, 1.0),
    ("hotspots Gi* 100 m", "/api/hotspots", {"cell": 100},
     {"SQLite": (7.171, 2.492), "PostGIS": (14.086, 1.986)}, 3.0),
    ("coverage z15 view", "/api/coverage", {"bbox": VIEW_Z15},
     {"SQLite": (6.322, 1.962), "PostGIS": (5.711, 0.721)}, 1.0),
    ("workload", "/api/workload", {}, {"SQLite": (11.502, 3.626), "PostGIS": (10.119, 2.88)}, 1.0),
]


def _user(store: Store) -> None:
    if store.user(USER) is None:
        store.add_user(User(USER, Role.admin, password_hash=hash_password(PASSWORD)),
                       actor="bench")


def bench(url: str, runs: int, period: str, migrate: bool) -> list[dict[str, Any]]:
    """Time every endpoint on one database: rows of label, today, target, median, min, max."""
    original = SqlStore.migrate
    if not migrate:
        SqlStore.migrate = no_migration  # type: ignore[method-assign]
    try:
        store = open_store(url)
    finally:
        SqlStore.migrate = original  # type: ignore[method-assign]
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    backend = "PostGIS" if store.postgis else "SQLite"  # type: ignore[attr-defined]
    print(f"\n{backend}  {url}  schema revision {revision}  issues {store.issue_count():,}"
          f"  period {period}  {runs} runs")
    _user(store)
    rows = []
    app = create_app(Settings(database_url=url, basemap="none"), store=store)
    with TestClient(app) as client:
        r = client.post("/api/auth/token", data={"username": USER, "password": PASSWORD})
        client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        print(f"{'endpoint':30s} {'before':>8s} {'after':>8s} {'min':>7s} {'max':>7s} "
              f"{'cpu bef':>7s} {'cpu':>7s} {'target':>7s}  HTTP      KB")
        for label, path, params, befores, target in ENDPOINTS:
            before, before_cpu = befores.get(backend, (None, None))
            if path in ("/api/ranking", "/api/dashboard"):
                params = {**params, "period": period}
            times, cpus, status, size = [], [], 0, 0
            for _ in range(runs):
                t0, c0 = time.perf_counter(), time.process_time()
                resp = client.get(path, params=params)
                times.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
                status, size = resp.status_code, len(resp.content)
            med, cpu = statistics.median(times), statistics.median(cpus)
            ok = "ok" if med <= target and status == 200 else "MISS"
            shown = f"{before:.3f} s" if before is not None else "-"
            shown_cpu = f"{before_cpu:.3f} s" if before_cpu is not None else "-"
            print(f"{label:30s} {shown:>8s} {med:6.3f} s {min(times):5.3f} s "
                  f"{max(times):5.3f} s {shown_cpu:>7s} {cpu:5.3f} s {target:5.1f} s  {status}  "
                  f"{size / 1024:8.1f}  {ok}", flush=True)
            rows.append({"backend": backend, "endpoint": label, "before_s": before,
                         "before_cpu_s": before_cpu, "target_s": target,
                         "median_s": round(med, 3), "min_s": round(min(times), 3),
                         "max_s": round(max(times), 3), "cpu_s": round(cpu, 3),
                         "status": status})
    store.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run the benchmark on each --db."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", action="append", required=True, help="database URL (repeatable)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--period", default="2026-11", help="period of ranking and dashboard")
    p.add_argument("--no-migrate", action="store_true",
                   help="do not bring the schema up to date (keep the database as it is)")
    p.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = p.parse_args(argv)
    rows = []
    for url in args.db:
        rows += bench(url, args.runs, args.period, not args.no_migrate)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
