"""Load test: simulated users against `ccmap serve` with 1 and with 2 worker processes.

    python -m bench.bench_load --db "postgresql://…/ccmap_load?options=-csearch_path%3Dbench_city,public"
        [--workers 1 2] [--users 50] [--time 60] [--spawn-rate 10] [--json FILE]

It WRITES to the database (users, status changes, imported issues): give it a copy. For each
worker count it serves the database on 127.0.0.1 (`ccmap serve --workers N`, basemap none),
runs `locust --headless` with the users of bench/load_users.py (vector tiles, issue list pages,
the dashboard, legal status changes, small CSV imports followed to their end) for a bounded time,
and prints per request kind and overall: requests, req/s, p50/p95/p99 (ms) and errors, the
worker counts side by side, with the load average and the server's CPU seconds. Any error
(a failed request, an exception in a user) makes the exit status 1.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil

from bench.serve import add_user, served, token
from geo.store import IssueQuery, open_store

ROOT = Path(__file__).resolve().parent.parent
ISSUES_PER_USER = 12  # issues a simulated user may move along (5 steps each)


def issue_shares(db_url: str, users: int) -> list[list[int]]:
    """For each simulated user, its own `reported` issues (oldest ids first)."""
    store = open_store(db_url)
    try:
        rows, _ = store.query_issues(IssueQuery(statuses=["reported"], sort="id",
                                                limit=users * ISSUES_PER_USER))
    finally:
        store.close()
    ids = [i.id for i in rows if i.id is not None]
    return [ids[k::users] for k in range(users)]


def city_extent(db_url: str) -> list[float]:
    """(west, south, east, north) of the database's layers."""
    store = open_store(db_url)
    try:
        extent = store.extent()
    finally:
        store.close()
    if extent is None:
        raise SystemExit("the database holds no layers: import a city first (bench.city)")
    return list(extent)


def server_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (the workers) so far."""
    total = 0.0
    proc = psutil.Process(pid)
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def run(db_url: str, workers: int, args: argparse.Namespace, users: dict[str, tuple[str, str]],
        out: Path) -> dict[str, Any]:
    """Serve with `workers` processes, run locust; per request kind: count, req/s, p50/p95/p99,
    errors; plus load average and server CPU."""
    plan_path = out / f"plan-{workers}.json"
    prefix = out / f"locust-{workers}"
    log = out / f"serve-{workers}.log"
    with served(db_url, log, env={"CCMAP_BASEMAP": "none"}, workers=workers,
                cwd=ROOT) as server:
        plan = {"viewer_token": token(server.base, *users["viewer"]),
                "admin_token": token(server.base, *users["admin"]),
                "extent": city_extent(db_url), "issue_shares": issue_shares(db_url, args.users),
                "think_min": args.think[0], "think_max": args.think[1]}
        plan_path.write_text(json.dumps(plan), encoding="utf-8")
        cpu0, load0 = server_cpu(server.process.pid), os.getloadavg()
        done = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "load_users.py"),
             "--headless", "--users", str(args.users), "--spawn-rate", str(args.spawn_rate),
             "--run-time", f"{args.time}s", "--stop-timeout", "60", "--host", server.base,
             "--csv", str(prefix), "--only-summary", "--exit-code-on-error", "0",
             "--loglevel", "WARNING"],
            env={**os.environ, "CCMAP_LOAD_PLAN": str(plan_path)}, cwd=ROOT,
            capture_output=True, text=True)
        cpu, load1 = server_cpu(server.process.pid) - cpu0, os.getloadavg()
    if done.returncode != 0:
        raise SystemExit(f"locust failed ({done.returncode}):\n{done.stderr[-3000:]}")
    kinds: dict[str, dict[str, Any]] = {}
    with open(f"{prefix}_stats.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            name = "overall" if row["Name"] == "Aggregated" else row["Name"]
            kinds[name] = {"requests": int(row["Request Count"]),
                           "rps": float(row["Requests/s"]),
                           "p50": float(row["50%"]), "p95": float(row["95%"]),
                           "p99": float(row["99%"]), "errors": int(row["Failure Count"])}
    with open(f"{prefix}_exceptions.csv", encoding="utf-8") as fh:
        exceptions = [r for r in csv.DictReader(fh)]
    with open(f"{prefix}_failures.csv", encoding="utf-8") as fh:
        failures = [r for r in csv.DictReader(fh)]
    return {"workers": workers, "kinds": kinds, "server_cpu_s": round(cpu, 1),
            "load_before": [round(x, 2) for x in load0], "load_after": [round(x, 2) for x in load1],
            "exceptions": sum(int(r["Count"]) for r in exceptions),
            "failures": [{k: r[k] for k in ("Method", "Name", "Error", "Occurrences")}
                         for r in failures],
            "exception_texts": [r["Msg"][:300] for r in exceptions]}


def table(results: list[dict[str, Any]]) -> str:
    """Per request kind, the runs side by side (times in ms)."""
    names = [n for r in results for n in r["kinds"] if n != "overall"]
    names = [*dict.fromkeys(names), "overall"]
    width = 43
    lines = ["".ljust(20) + "".join(
        f" | {r['workers']} worker{'s' if r['workers'] > 1 else ''}".ljust(width + 3)
        for r in results)]
    lines.append("request kind".ljust(20) + "".join(
        f" | {'n':>6} {'req/s':>7} {'p50':>7} {'p95':>7} {'p99':>7} {'err':>4}"
        for _ in results))
    for name in names:
        cells = []
        for r in results:
            k = r["kinds"].get(name)
            cells.append(" | " + ("-".rjust(width) if k is None else
                                  f"{k['requests']:6d} {k['rps']:7.1f} {k['p50']:7.0f} "
                                  f"{k['p95']:7.0f} {k['p99']:7.0f} {k['errors']:4d}"))
        lines.append(name.ljust(20) + "".join(cells))
    for r in results:
        lines.append(f"{r['workers']} worker(s): server CPU {r['server_cpu_s']} s, load average "
                     f"{r['load_before'][0]} before / {r['load_after'][0]} after (1 min), "
                     f"exceptions {r['exceptions']}")
    return "\n".join(lines)


def main() -> int:
    """Parse arguments, run the load at each worker count, print the table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", required=True, help="a database this benchmark may write to")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--users", type=int, default=50)
    p.add_argument("--time", type=int, default=60, help="seconds of load per worker count")
    p.add_argument("--spawn-rate", type=float, default=10.0, help="users started per second")
    p.add_argument("--think", type=float, nargs=2, default=[0.2, 1.0], metavar=("MIN", "MAX"),
                   help="seconds a user waits between two actions (uniform)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("--out", type=Path, help="folder for logs and locust CSVs (default: temp)")
    args = p.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="ccmap-load-"))
    out.mkdir(parents=True, exist_ok=True)
    users = {role: add_user(args.db, role, prefix="load") for role in ("viewer", "admin")}
    results = []
    for n in args.workers:
        print(f"{n} worker(s): {args.users} users for {args.time} s …", file=sys.stderr)
        results.append(run(args.db, n, args, users, out))
    print(table(results))
    print(f"(logs and locust CSVs in {out})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False),
                             encoding="utf-8")
    bad = [r for r in results if r["exceptions"] or r["kinds"]["overall"]["errors"]]
    for r in bad:
        print(f"{r['workers']} worker(s): failures {r['failures']} exceptions "
              f"{r['exception_texts']}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
