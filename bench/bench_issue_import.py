"""Benchmark: import issue rows (CSV) with validation and zone routing, then list.

Each backend imports the same file twice into a fresh demo database, each time in a child
process (its own peak RSS): "before", the one-transaction import (parse_issues + import_parsed,
every row an Issue object), and "after", the streamed import (geo.ledger.streamed_import, chunk
by chunk).
Targets (issue 4): import < 20 s on SQLite on a 2-core machine; filtered listing < 200 ms at
100,000 rows; issue 15: 1,000,000 rows in ≤ 120 s and ≤ 1 GB (bench.city --import measures the
city). Run: .venv/bin/python -m bench.bench_issue_import [--rows N] [--pg URL] [--chunk-rows N]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from bench.city import fresh_database, run_step
from geo.demo.city import build_demo
from geo.ledger.mapping import open_table, parse_issues, read_table
from geo.ledger.streamed_import import DEFAULT_CHUNK_ROWS, import_table
from geo.ledger.writes import import_parsed
from geo.model.kinds import issue_categories
from geo.store import IssueQuery, Store, open_store


def write_csv(path: Path, rows: int, seed: int = 1) -> None:
    """A hotline-style export with Chinese headers inside the demo sub-district."""
    rng = np.random.default_rng(seed)
    cats = [c["label"] for c in issue_categories().values()]
    start = datetime(2026, 1, 1)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["编号", "问题类型", "问题描述", "经度", "纬度", "地址", "上报时间", "状态",
                    "来源"])
        lon = rng.uniform(121.461, 121.486, rows)
        lat = rng.uniform(31.220, 31.241, rows)
        minutes = rng.integers(0, 300 * 24 * 60, rows)
        for k in range(rows):
            w.writerow([f"H{k:07d}", cats[k % len(cats)], "群众反映", f"{lon[k]:.6f}",
                        f"{lat[k]:.6f}", "示范街道", (start + timedelta(minutes=int(minutes[k])))
                        .strftime("%Y/%m/%d %H:%M"), "上报" if k % 3 else "结案", "12345热线"])


def child(variant: str, db_url: str, csv_path: Path, chunk_rows: int) -> None:
    """Build the demo city at db_url, import csv_path the `variant` way; print one JSON line."""
    store = open_store(db_url)
    build_demo(store)  # zones and streets to route against
    base = store.issue_count()
    t0 = time.perf_counter()
    if variant == "before":
        parsed = parse_issues(read_table(csv_path.read_bytes(), csv_path.name))
        report = import_parsed(store, parsed, "bench", dry_run=False)
    else:
        report = import_table(store, open_table(csv_path, csv_path.name,
                                                chunk_rows=chunk_rows), "bench")
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "imported": report["imported"],
                      "errors": report["errors"], "stored": store.issue_count() - base}))
    store.close()


def list_queries(store: Store) -> None:
    """Time the filtered list queries on an imported store."""
    queries = {
        "page 1, newest first": IssueQuery(),
        "category + status": IssueQuery(categories=["illegal_ads"], statuses=["reported"]),
        "overdue": IssueQuery(overdue=True),
        "date range + bbox": IssueQuery(since=datetime(2026, 3, 1), until=datetime(2026, 4, 1),
                                        bbox=(121.465, 31.225, 121.475, 31.235)),
        "unit scope": IssueQuery(scope_unit="区市场监管局"),
    }
    for name, q in queries.items():
        times = []
        for _ in range(5):
            t = time.perf_counter()
            rows, total = store.query_issues(q)
            times.append((time.perf_counter() - t) * 1000)
        print(f"  list [{name}]: {statistics.median(times):.0f} ms median "
              f"({total} match, {len(rows)} returned); target < 200 ms")


def main() -> None:
    """Run the benchmark on SQLite (and PostGIS with --pg) and print before/after figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--pg", help="postgresql://… to run on PostGIS too (schemas "
                    "bench_import_before/after are replaced)")
    ap.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS)
    ap.add_argument("--child", choices=["before", "after"], help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--csv", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.db, Path(args.csv), args.chunk_rows)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hotline.csv"
        write_csv(path, args.rows)
        backends = [("sqlite", f"sqlite:///{tmp}/VARIANT.db")]
        if args.pg:
            backends.append(("postgis", args.pg))
        print(f"rows: {args.rows}, chunk rows (after): {args.chunk_rows}")
        for backend, template in backends:
            for variant in ("before", "after"):
                url = (template.replace("VARIANT", variant) if backend == "sqlite"
                       else fresh_database(template, f"bench_import_{variant}"))
                step = run_step(f"{backend} {variant}",
                                ["--child", variant, "--db", url, "--csv", str(path),
                                 "--chunk-rows", str(args.chunk_rows)],
                                None, Path(tmp) / f"{backend}-{variant}.log",
                                module="bench.bench_issue_import")
                try:
                    doc = json.loads(step.message.splitlines()[-1])
                except (ValueError, IndexError):
                    print(f"{backend:8s} {variant:6s} failed: {step.message}")
                    continue
                print(f"{backend:8s} {variant:6s} import {doc['seconds']:7.2f} s, "
                      f"imported {doc['imported']} (stored {doc['stored']}), "
                      f"process peak RSS {step.max_rss_mb:7.1f} MB (with the demo build)")
                if variant == "after":
                    store = open_store(url)
                    list_queries(store)
                    store.close()


if __name__ == "__main__":
    main()
