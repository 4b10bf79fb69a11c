"""A province's ledger on PostGIS: the bench city's streets and zones with 10,000,000 issues,
imported with the real CLI into issues partitioned by month, then the dashboard, heatmap and
tile figures. A documented command run by hand (about an hour and a half on 2 cores), not CI.

    python -m bench.bench_province --out /work/province/files \\
        --db postgresql://postgres@127.0.0.1:5432/ccmap_province [--issues 10000000] \\
        [--schema province] [--no-generate] [--no-import] [--runs 3] [--period 2026-11]

Steps: generate the city's files with --issues issues (bench.city: same seed, streets, zones and
two years of reports as the 1M city, more issues), import them into a fresh --schema of --db
(`ccmap import ...` per file, wall time and peak RSS printed), print how the issues sit in their
month partitions and the plan of the dashboard's period count (partition pruning), then run
bench.bench_analytics (heatmap, issue list, ranking, dashboard, choropleths, hot spots,
coverage, workload) and bench.bench_tiles --reuse (street, zone, test point and issue tiles) on
it. --no-generate imports files made before; --no-import measures a database imported before.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from bench.city import fresh_database, generate, run_import
from geo.store import IssueQuery
from geo.store.rows import _issue_conditions
from geo.store.schema import issues as issues_t
from geo.store.sql import engine_url


def _url(db: str, schema: str) -> str:
    sep = "&" if "?" in db else "?"
    return f"{db}{sep}options=-csearch_path%3D{schema},public"


def partitions(url: str, period: str) -> None:
    """Rows per partition (first, last, default, count) and the plan of a period's count."""
    engine = create_engine(engine_url(url))
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT c.relname, c.reltuples::bigint FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'issues'::regclass ORDER BY c.relname")).all()
        total = conn.execute(text("SELECT count(*) FROM issues")).scalar_one()
        in_default = conn.execute(text("SELECT count(*) FROM issues_default")).scalar_one()
        size = conn.execute(text(
            "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits "
            "WHERE inhparent = 'issues'::regclass")).scalar_one()
        keys = conn.execute(text(
            "SELECT pg_size_pretty(pg_total_relation_size('issue_keys'))")).scalar_one()
        year, month = map(int, period.split("-"))
        since = datetime(year, month, 1)
        until = datetime(year + month // 12, month % 12 + 1, 1)
        q = select(func.count()).select_from(issues_t).where(
            *_issue_conditions(IssueQuery(since=since, until=until, now=datetime.now())))
        sql = str(q.compile(engine, compile_kwargs={"literal_binds": True}))
        plan = [r[0] for r in conn.execute(text(f"EXPLAIN {sql}"))]
    months = [r for r in rows if r[0] != "issues_default"]
    print(f"issues {total:,} in {len(months)} month partitions ({months[0][0]} .. "
          f"{months[-1][0]}) + issues_default ({in_default:,} rows), {size} with indexes; "
          f"issue_keys {keys}")
    scanned = sorted({m for line in plan for m in re.findall(r" on (issues_\w+)", line)})
    print(f"period {period}: count(*) plan reads {len(scanned)} of {len(rows)} partitions "
          f"({', '.join(scanned)})")
    for line in plan:
        print(f"    {line}")
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    """Generate, import, then measure."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder for the city's files")
    ap.add_argument("--db", required=True, help="PostgreSQL URL (a database of your own)")
    ap.add_argument("--schema", default="province")
    ap.add_argument("--issues", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--now", type=date.fromisoformat, default=date(2026, 12, 2),
                    help="the day the two years of issues end (the 1M city's)")
    ap.add_argument("--no-generate", action="store_true")
    ap.add_argument("--no-import", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--period", default="2026-11", help="dashboard and ranking period")
    args = ap.parse_args(argv)
    if not args.db.startswith("postgres"):
        ap.error("--db must be a PostgreSQL URL: the partitioning is PostGIS's")
    url = _url(args.db, args.schema)
    if not args.no_generate:
        t0 = time.perf_counter()
        m = generate(args.out, args.seed, 1.0, datetime.combine(args.now, datetime.min.time()),
                     args.issues)
        print(f"generated {m['files']['issues.csv']['count']:,} issues "
              f"({m['files']['issues.csv']['bytes'] / 1e9:.2f} GB CSV) in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    if not args.no_import:
        url = fresh_database(args.db, args.schema)
        print(f"importing into {url}", flush=True)
        t0 = time.perf_counter()
        results = run_import(args.out, url)
        print(f"  total {time.perf_counter() - t0:.0f} s", flush=True)
        if any(r.returncode != 0 for r in results):
            return 1
    partitions(url, args.period)
    for module, extra in (("bench.bench_analytics", ["--runs", str(args.runs),
                                                     "--period", args.period]),
                          ("bench.bench_tiles", ["--reuse"])):
        print(f"\n$ python -m {module} --db {url} {' '.join(extra)}", flush=True)
        done = subprocess.run([sys.executable, "-m", module, "--db", url, *extra], check=False)
        if done.returncode:
            return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
