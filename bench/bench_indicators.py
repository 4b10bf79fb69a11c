"""The evaluation indicators (考评指标) at city scale: GET /api/indicators per level, over HTTP
through the app, on one or more databases.

    python -m bench.bench_indicators --db URL [--db URL2] [--runs 3] [--period 2026-05]
        [--levels unit,zone,community,category,city] [--explain] [--json FILE]
    python -m bench.bench_indicators --build DIR [--scale 0.05] [--pg URL] [...]

Each level is asked --runs times (JSON, one request at a time) with the period's previous
period as the endpoint computes it, then /api/indicators/report (with the total) and the
ranking by indicators of zones; the median, min and max wall time and the median CPU seconds
of this process are printed (CPU: all the work on SQLite, the app's share on PostGIS), and the
SQL alone (store.indicator_counts of the period) per level. --explain prints the query plan of
the counts by zone (SQLite: EXPLAIN QUERY PLAN; PostGIS: EXPLAIN ANALYZE) to show which index
each part of the union reads. The default period is the last full month before the newest
report. It writes a user (bench-indicators, admin) and its token: run it on a copy.

Without a city at hand, --build DIR generates the benchmark city (bench/city.py) at --scale
(default 0.05: 50,000 issues) into DIR, imports it into DIR/city.db (and into --pg URL, a
PostGIS database or schema) with the real `ccmap import` commands, and measures those.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from geo.accounts.logins import hash_password
from geo.analytics.indicators import LEVELS
from geo.analytics.periods import month, parse_period
from geo.model.users import Role, User
from geo.store import Store, open_store
from geo.store.indicators import indicator_query
from geo.store.schema import issues as issues_t
from server.app import create_app
from server.settings import Settings

USER, PASSWORD = "bench-indicators", "bench-indicators-pw-2026"
TARGET_S = 1.0  # as the other analytics of a period (README, bench_analytics)


def _user(store: Store) -> None:
    if store.user(USER) is None:
        store.add_user(User(USER, Role.admin, password_hash=hash_password(PASSWORD)),
                       actor="bench")


def default_period(store: Store) -> str:
    """The last full month before the newest report."""
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        newest = conn.execute(select(func.max(issues_t.c.reported_at))).scalar()
    newest = newest or datetime.now()
    return month(datetime(newest.year, newest.month, 1) - timedelta(days=1)).label


def explain(store: Store, period: str) -> str:
    """The plan of the zone counts of the period on this backend."""
    p = parse_period(period, datetime.now())
    q = indicator_query("zone_id", p.start, p.end)
    postgis = store.postgis  # type: ignore[attr-defined]
    engine = store.engine  # type: ignore[attr-defined]
    sql = str(q.compile(engine, compile_kwargs={"literal_binds": True}))
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgis else "EXPLAIN QUERY PLAN "
    with engine.connect() as conn:
        rows = conn.execute(text(prefix + sql)).all()
    return "\n".join(str(r[0]) if postgis else f"{r[1]:>4} {r[-1]}" for r in rows)


def _time(call: Any, runs: int) -> tuple[list[float], list[float], Any]:
    times, cpus, result = [], [], None
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        result = call()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return times, cpus, result


def bench(url: str, runs: int, period: str | None, levels: list[str],
          show_plan: bool) -> list[dict[str, Any]]:
    """Time every level's indicators on one database: rows of label, median, min, max, cpu."""
    store = open_store(url)
    backend = "PostGIS" if store.postgis else "SQLite"  # type: ignore[attr-defined]
    period = period or default_period(store)
    print(f"\n{backend}  {url}  issues {store.issue_count():,}  period {period}  {runs} runs")
    if show_plan:
        print(explain(store, period))
    _user(store)
    out = []
    p = parse_period(period, datetime.now())
    app = create_app(Settings(database_url=url, basemap="none"), store=store)
    with TestClient(app) as client:
        r = client.post("/api/auth/token", data={"username": USER, "password": PASSWORD})
        client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        print(f"{'request':34s} {'median':>8s} {'min':>7s} {'max':>7s} {'cpu':>7s} {'sql':>7s}"
              f"  HTTP  rows   due")
        asks: list[tuple[str, str, dict[str, str], str | None]] = [
            (f"indicators {lv}", "/api/indicators", {"level": lv}, lv) for lv in levels]
        asks += [("indicators/report unit", "/api/indicators/report", {"level": "unit"}, None),
                 ("ranking zone by indicators", "/api/ranking",
                  {"level": "zone", "basis": "indicators"}, None)]
        for label, path, params, level in asks:
            times, cpus, resp = _time(
                lambda path=path, params=params: client.get(path,
                                                            params={**params,
                                                                    "period": period}), runs)
            sql = None
            if level is not None:
                sql_times, _, _ = _time(lambda level=level: store.indicator_counts(
                    LEVELS[level], p.start, p.end), runs)
                sql = statistics.median(sql_times)
            body = resp.json()
            rows = body["rows"] if isinstance(body, dict) and "rows" in body else body
            due = sum(x["due"] for x in rows) if isinstance(rows, list) else 0
            med = statistics.median(times)
            ok = "ok" if med <= TARGET_S and resp.status_code == 200 else "MISS"
            shown_sql = f"{sql:5.3f} s" if sql is not None else "-"
            print(f"{label:34s} {med:6.3f} s {min(times):5.3f} s {max(times):5.3f} s "
                  f"{statistics.median(cpus):5.3f} s {shown_sql:>7s}  {resp.status_code}  "
                  f"{len(rows):5d} {due:6d}  {ok}", flush=True)
            out.append({"backend": backend, "request": label, "period": period,
                        "median_s": round(med, 3), "min_s": round(min(times), 3),
                        "max_s": round(max(times), 3),
                        "cpu_s": round(statistics.median(cpus), 3),
                        "sql_s": None if sql is None else round(sql, 3),
                        "status": resp.status_code, "rows": len(rows), "due": due})
    store.close()
    return out


def build(out: Path, scale: float, pg: str | None) -> list[str]:
    """Generate the benchmark city at scale into out and import it: the database URLs."""
    from bench.city import generate, import_steps
    from server import cli

    if not (out / "manifest.json").exists():
        generate(out, 2026, scale, datetime(2026, 6, 1))
    urls = [f"sqlite:///{out / 'city.db'}"] + ([pg] if pg else [])
    for url in urls:
        t0 = time.perf_counter()
        for name, args in import_steps(out, url):
            with contextlib.redirect_stdout(io.StringIO()):
                if cli.main(args) != 0:
                    raise SystemExit(f"importing {name} into {url} failed")
        print(f"imported {out} into {url} in {time.perf_counter() - t0:.0f} s")
    return urls


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run the benchmark on each database."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", action="append", default=[], help="database URL (repeatable)")
    p.add_argument("--build", type=Path, help="generate and import a city here first")
    p.add_argument("--scale", type=float, default=0.05, help="the built city's scale")
    p.add_argument("--pg", help="with --build: also import into this PostGIS URL")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--period", help="default: the last full month before the newest report")
    p.add_argument("--levels", default="unit,zone,community,category,city")
    p.add_argument("--explain", action="store_true", help="print the zone counts' plan")
    p.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = p.parse_args(argv)
    urls = list(args.db)
    if args.build:
        urls += build(args.build, args.scale, args.pg)
    if not urls:
        p.error("give --db URL or --build DIR")
    levels = [lv for lv in args.levels.split(",") if lv]
    bad = [lv for lv in levels if lv not in LEVELS]
    if bad:
        p.error(f"unknown level {', '.join(bad)}: levels are {', '.join(LEVELS)}")
    rows = []
    for url in urls:
        rows += bench(url, args.runs, args.period, levels, args.explain)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
