"""Benchmark: is the server still answering while a large ledger is imported over HTTP?

Starts `ccmap serve` (uvicorn, a real server on 127.0.0.1 and a free port) on a fresh demo
database, logs in, uploads the largest allowed ledger (CCMAP_MAX_IMPORT_ROWS valid rows, under
CCMAP_MAX_UPLOAD_MB) and, until the import has finished, calls GET /api/health over and over
(bounded in count and time), measuring each answer. Prints health p50/p95/p99/max during the
import and the import's wall time, on SQLite and on PostGIS (CCMAP_BENCH_POSTGRES_URL, default
the local test database; skipped with the reason when unusable).

--before DIR runs the same against another checkout (e.g. `git worktree add /tmp/ccmap-before
82a1fad`) with this venv, for the figures before uploads became jobs.

Target: health p99 < 200 ms during the import.
Run: .venv/bin/python bench/bench_upload_health.py [--rows N] [--backend sqlite|postgis|both]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.serve import served

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("CCMAP_BENCH_POSTGRES_URL",
                        "postgresql://postgres@127.0.0.1:5432/ccmap_test")
DEMO_PASSWORD_EXPR = "from geo.accounts.logins import DEMO_PASSWORD; print(DEMO_PASSWORD)"
MAX_HEALTH_CALLS = 50_000
MAX_SECONDS = 1200.0


def write_ledger(path: Path, rows: int, seed: int = 7) -> int:
    """A valid ledger of `rows` rows inside the demo sub-district; returns its size in bytes."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(121.461, 121.486, rows)
    lat = rng.uniform(31.220, 31.241, rows)
    cats = ("乱堆乱放", "占道经营", "小广告/牛皮癣", "暴露垃圾")
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("编号,问题类型,问题描述,经度,纬度,上报时间,状态\n")
        for k in range(rows):
            fh.write(f"B{k:07d},{cats[k % 4]},群众反映,{lon[k]:.6f},{lat[k]:.6f},"
                     f"2026/11/{1 + k % 28:02d} 08:30,上报\n")
    return path.stat().st_size


def _env(checkout: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(checkout), "CCMAP_BASEMAP": "none"}
    env.pop("CCMAP_DATABASE_URL", None)
    return env


@contextmanager
def database(backend: str, tmp: Path) -> Iterator[str]:
    """A fresh database URL: a SQLite file, or a new schema in the PostGIS database."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        return
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, connect_timeout=3, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema},public"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def postgis_problem() -> str | None:
    """Why PostGIS cannot be used (None when it can)."""
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except Exception as exc:
        return f"PostGIS not usable at {PG_URL}: {exc}"
    return None


@contextmanager
def serve(checkout: Path, url: str, log: Path) -> Iterator[str]:
    """`ccmap serve` from checkout on a free port; yields its base URL."""
    with served(url, log, timeout=30, env=_env(checkout), cwd=checkout) as server:
        yield server.base


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def run_once(checkout: Path, backend: str, ledger: Path, tmp: Path) -> dict[str, Any]:
    """Build the demo, serve it, import the ledger while probing health; the figures."""
    with database(backend, tmp) as url:
        subprocess.run([sys.executable, "-m", "server.cli", "demo", "--no-serve", "--db", url],
                       cwd=checkout, env=_env(checkout), check=True, capture_output=True)
        password = subprocess.run([sys.executable, "-c", DEMO_PASSWORD_EXPR], cwd=checkout,
                                  env=_env(checkout), check=True, capture_output=True,
                                  text=True).stdout.strip()
        log = tmp / f"server-{backend}-{checkout.name}.log"
        with serve(checkout, url, log) as base, \
                httpx.Client(base_url=base, timeout=MAX_SECONDS) as api:
            r = api.post("/api/auth/token", data={"username": "admin", "password": password})
            r.raise_for_status()
            auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
            return _import_while_probing(api, auth, ledger)


def _import_while_probing(api: httpx.Client, auth: dict[str, str],
                          ledger: Path) -> dict[str, Any]:
    finished = threading.Event()
    outcome: dict[str, Any] = {}

    def do_import() -> None:
        start = time.perf_counter()
        try:
            with ledger.open("rb") as fh:
                r = api.post("/api/issues/import", headers=auth,
                             files={"file": (ledger.name, fh, "text/csv")})
            outcome["answer_s"] = time.perf_counter() - start
            outcome["status"] = r.status_code
            doc = r.json()
            if r.status_code == 202:  # a job: follow it
                while time.perf_counter() - start < MAX_SECONDS:
                    job = api.get(doc["status_url"], headers=auth).json()
                    if job["state"] in ("done", "failed"):
                        doc = job["result"] if job["state"] == "done" else job
                        outcome["state"] = job["state"]
                        break
                    time.sleep(0.2)
            outcome["imported"] = doc.get("imported")
            outcome["wall_s"] = time.perf_counter() - start
        except Exception as exc:  # reported, not raised: the probe must stop either way
            outcome["error"] = repr(exc)
        finally:
            finished.set()

    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + MAX_SECONDS
    with httpx.Client(base_url=str(api.base_url), timeout=60) as probe:
        worker = threading.Thread(target=do_import)
        worker.start()
        while not finished.is_set() and len(latencies) < MAX_HEALTH_CALLS \
                and time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                ok = probe.get("/api/health").status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - t0) * 1000)
            failures += not ok
            time.sleep(0.01)
        worker.join(timeout=MAX_SECONDS)
    outcome.update(health_calls=len(latencies), health_failures=failures,
                   p50=statistics.median(latencies) if latencies else float("nan"),
                   p95=percentile(latencies, 95) if latencies else float("nan"),
                   p99=percentile(latencies, 99) if latencies else float("nan"),
                   max=max(latencies, default=float("nan")))
    return outcome


def report(label: str, o: dict[str, Any]) -> None:
    """Print one run's figures."""
    if "error" in o:
        print(f"{label}: import error {o['error']}")
    print(f"{label}: import {o.get('imported')} rows, HTTP {o.get('status')} after "
          f"{o.get('answer_s', float('nan')):.2f} s, finished after "
          f"{o.get('wall_s', float('nan')):.1f} s; health during import: "
          f"{o['health_calls']} calls ({o['health_failures']} failed), p50 {o['p50']:.1f} ms, "
          f"p95 {o['p95']:.1f} ms, p99 {o['p99']:.1f} ms, max {o['max']:.1f} ms  "
          f"[target p99 < 200 ms: {'met' if o['p99'] < 200 else 'NOT met'}]")


def main() -> None:
    """Run the benchmark on the chosen backends (and the --before checkout)."""
    from server.settings import Settings

    settings = Settings()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=settings.max_import_rows)
    p.add_argument("--backend", choices=("sqlite", "postgis", "both"), default="both")
    p.add_argument("--before", type=Path, help="checkout of the code before (git worktree)")
    p.add_argument("--after", type=Path, default=ROOT, help="checkout to measure (this one)")
    args = p.parse_args()
    backends = ["sqlite", "postgis"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(prefix="ccmap-bench-") as tmpdir:
        tmp = Path(tmpdir)
        ledger = tmp / "ledger.csv"
        size = write_ledger(ledger, args.rows)
        print(f"ledger: {args.rows:,} rows, {size / 1e6:.1f} MB "
              f"(limits {settings.max_import_rows:,} rows, {settings.max_upload_mb} MB)")
        if size > settings.max_upload_mb * 1e6:
            sys.exit("the ledger is over CCMAP_MAX_UPLOAD_MB: use fewer --rows")
        checkouts = [("after", args.after)] + ([("before", args.before)] if args.before else [])
        for backend in backends:
            if backend == "postgis" and (problem := postgis_problem()):
                print(f"postgis: skipped ({problem})")
                continue
            for name, checkout in checkouts:
                report(f"{backend}/{name}", run_once(checkout, backend, ledger, tmp))


if __name__ == "__main__":
    main()
