"""Benchmark: heatmap of 1,000,000 issues (target: whole-city cells under 1 MB gzipped,
endpoint under 300 ms). Prints the figures; run: .venv/bin/python bench/bench_heatmap.py
[--rows N]."""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import tempfile
import time

import numpy as np
from fastapi.testclient import TestClient

from geo.accounts.logins import hash_password
from geo.model.kinds import issue_categories
from geo.model.records import Issue
from geo.model.users import Role, User
from geo.store import open_store
from server.app import create_app
from server.settings import Settings


def main() -> None:
    """Fill a store with N clustered issues, then time /api/heatmap for the whole city."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    rng = np.random.default_rng(3)
    cats = list(issue_categories())
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/heat.db"
        store = open_store(url)
        store.add_user(User("bench", Role.viewer, password_hash=hash_password("bench-pass")))
        centres = rng.uniform([121.40, 31.15], [121.55, 31.30], (200, 2))
        t0 = time.perf_counter()
        for start in range(0, args.rows, 100_000):
            n = min(100_000, args.rows - start)
            which = rng.integers(0, len(centres), n)
            xy = centres[which] + rng.normal(0, 0.003, (n, 2))
            store.add_issues([Issue(cats[k % len(cats)], float(x), float(y), status="reported")
                              for k, (x, y) in enumerate(xy)], actor="bench")
        t1 = time.perf_counter()
        print(f"stored {store.issue_count()} issues in {t1 - t0:.0f} s")
        with TestClient(create_app(Settings(database_url=url, basemap="none"),
                                   store=store)) as c:
            token = c.post("/api/auth/token", data={"username": "bench",
                                                    "password": "bench-pass"}).json()
            h = {"Authorization": f"Bearer {token['access_token']}", "Accept-Encoding": "gzip"}
            for zoom, label in ((12, "whole city"), (15, "district"), (17, "street")):
                times = []
                for _ in range(5):
                    t = time.perf_counter()
                    r = c.get("/api/heatmap", params={"zoom": zoom}, headers=h)
                    times.append((time.perf_counter() - t) * 1000)
                doc = r.json()
                raw = json.dumps(doc).encode()
                print(f"zoom {zoom} ({label}): {statistics.median(times):.0f} ms median, "
                      f"{len(doc['cells'])} cells, {len(raw) / 1e3:.0f} kB JSON, "
                      f"{len(gzip.compress(raw)) / 1e3:.0f} kB gzipped, total {doc['total']}")
            t = time.perf_counter()
            c.get("/api/heatmap", params={"zoom": 12, "category": "illegal_ads"}, headers=h)
            print(f"filtered by category: {(time.perf_counter() - t) * 1000:.0f} ms "
                  "(targets: < 300 ms, < 1 MB gzipped)")
        store.close()


if __name__ == "__main__":
    main()
