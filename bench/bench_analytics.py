"""Analytics latency at city scale, over HTTP through the app, on one or more databases.

    python -m bench.bench_analytics --db sqlite:////work/bench-city/analytics.db [--runs 3]
        [--period 2026-11] [--db postgresql://...?options=-csearch_path%3Dbench_city,public]
        [--no-migrate]

Each endpoint of issue 15's table (ranking, dashboard, choropleth, hot spots, workload) is asked
--runs times through a TestClient on the app (auth, validation, JSON encoding included), one
request at a time; the median, min and max are printed beside the figure measured before the
analytics were aggregated in SQL ("today") and the target. The only write is a bench user
(bench-analytics, admin) added when missing; --no-migrate opens the store without bringing the
schema up to date (for a database to keep read-only apart from that user: the figures are then
those of its indexes, and the alembic revision found is printed).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from geo.accounts import Role, User, hash_password
from geo.store import Store, open_store
from geo.store.sql import SqlStore
from server.app import create_app
from server.settings import Settings

USER, PASSWORD = "bench-analytics", "bench-analytics-pw-2026"
# (label, path, params, today's figure in s (None: timed out at 300 s), target in s)
ENDPOINTS: list[tuple[str, str, dict[str, Any], float | None, float]] = [
    ("ranking by zone", "/api/ranking", {"level": "zone"}, 1.8, 1.0),
    ("ranking by community", "/api/ranking", {"level": "community"}, 1.8, 1.0),
    ("dashboard", "/api/dashboard", {}, 10.2, 1.0),
    ("choropleth zone issues (all)", "/api/choropleth", {"level": "zone", "metric": "issues"},
     None, 1.0),
    ("choropleth zone per_km (all)", "/api/choropleth", {"level": "zone", "metric": "per_km"},
     None, 1.0),
    ("choropleth community overdue", "/api/choropleth",
     {"level": "community", "metric": "overdue"}, None, 1.0),
    ("hotspots Gi* 100 m", "/api/hotspots", {"cell": 100}, None, 3.0),
    ("workload", "/api/workload", {}, 34.0, 1.0),
]


def _user(store: Store) -> None:
    if store.user(USER) is None:
        store.add_user(User(USER, Role.admin, password_hash=hash_password(PASSWORD)),
                       actor="bench")


def bench(url: str, runs: int, period: str, migrate: bool) -> list[dict[str, Any]]:
    """Time every endpoint on one database: rows of label, today, target, median, min, max."""
    original = SqlStore.migrate
    if not migrate:
        SqlStore.migrate = lambda self: None  # type: ignore[method-assign]
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
        print(f"{'endpoint':32s} {'today':>9s} {'target':>7s} {'median':>8s} {'min':>7s} "
              f"{'max':>7s}  HTTP      KB")
        for label, path, params, today, target in ENDPOINTS:
            if path in ("/api/ranking", "/api/dashboard"):
                params = {**params, "period": period}
            times, status, size = [], 0, 0
            for _ in range(runs):
                t0 = time.perf_counter()
                resp = client.get(path, params=params)
                times.append(time.perf_counter() - t0)
                status, size = resp.status_code, len(resp.content)
            med = statistics.median(times)
            ok = "ok" if med <= target and status == 200 else "MISS"
            shown = f"{today:.1f} s" if today is not None else "> 300 s"
            print(f"{label:32s} {shown:>9s} {target:5.1f} s {med:6.2f} s {min(times):5.2f} s "
                  f"{max(times):5.2f} s  {status}  {size / 1024:8.1f}  {ok}", flush=True)
            rows.append({"endpoint": label, "today_s": today, "target_s": target,
                         "median_s": round(med, 3), "min_s": round(min(times), 3),
                         "max_s": round(max(times), 3), "status": status})
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
    args = p.parse_args(argv)
    for url in args.db:
        bench(url, args.runs, args.period, not args.no_migrate)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
