"""Benchmark: import 100,000 issue rows (CSV) with validation and zone routing, then list.

Targets (issue 4): import < 20 s on SQLite on a 2-core machine; filtered listing < 200 ms at
100,000 rows. Prints the figures; run: .venv/bin/python bench/bench_issue_import.py [--rows N]
"""

from __future__ import annotations

import argparse
import csv
import resource
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from geo.demo import build_demo
from geo.issue_import import parse_issues, read_table
from geo.kinds import issue_categories
from geo.ledger import import_parsed
from geo.store import IssueQuery, open_store


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


def main() -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/bench.db")
        build_demo(store)  # zones and streets to route against
        base = store.issue_count()
        path = Path(tmp) / "hotline.csv"
        write_csv(path, args.rows)
        t0 = time.perf_counter()
        parsed = parse_issues(read_table(path.read_bytes(), path.name))
        t1 = time.perf_counter()
        report = import_parsed(store, parsed, "bench", dry_run=False)
        t2 = time.perf_counter()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"rows: {args.rows}, imported: {report['imported']}, "
              f"errors: {report['errors']}, store now holds {store.issue_count()} "
              f"(demo {base})")
        print(f"import total: {t2 - t0:.2f} s (read+validate {t1 - t0:.2f} s, "
              f"route+recurrence+write {t2 - t1:.2f} s); target < 20 s")
        print(f"peak memory (max RSS): {peak_mb:.0f} MB")
        queries = {
            "page 1, newest first": IssueQuery(),
            "category + status": IssueQuery(categories=["illegal_ads"], statuses=["reported"]),
            "overdue": IssueQuery(overdue=True),
            "date range + bbox": IssueQuery(since=datetime(2026, 3, 1),
                                            until=datetime(2026, 4, 1),
                                            bbox=(121.465, 31.225, 121.475, 31.235)),
            "unit scope": IssueQuery(scope_unit="区市场监管局"),
        }
        for name, q in queries.items():
            times = []
            for _ in range(5):
                t = time.perf_counter()
                rows, total = store.query_issues(q)
                times.append((time.perf_counter() - t) * 1000)
            print(f"list [{name}]: {statistics.median(times):.0f} ms median "
                  f"({total} match, {len(rows)} returned); target < 200 ms")
        store.close()


if __name__ == "__main__":
    main()
