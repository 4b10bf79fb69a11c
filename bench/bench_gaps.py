"""Benchmark: coverage-gap analysis of 50,000 street/alley segments, 5,000 zones and 2,000
test points (target: under 5 s on this 2-core machine). Prints the figures.

Run: .venv/bin/python bench/bench_gaps.py            (a synthetic city built in memory)
     .venv/bin/python -m bench.bench_gaps --db URL [--db URL2] [--before DIR] [--runs 2]
     .venv/bin/python -m bench.bench_gaps --http --db URL [--db URL2] [--before DIR]

With --db, times the real command `ccmap gaps --json` on each database (a fresh process each
run: start-up, store opening, reading the layers, the analysis and the JSON on stdout), wall
and CPU seconds and peak RSS, and prints the totals it reports. --before DIR runs the same
command from another checkout (e.g. `git archive <commit> | tar -x -C DIR`) with this venv and
prints its figures beside. The store is opened without migrating (a benchmark database stays as
it is; the alembic revision is printed), so the command only reads.

With --http (and --db), times instead what the map's 覆盖缺口 layer asks a served database
(`ccmap serve`, a viewer logged in): `/api/coverage.geojson` for the whole city's view (the
data's extent grown by a quarter each side, as the page's first view asks), every page through
its `next` links, then the same layer again (a user switching it off and on within a minute),
and `/api/coverage` (the JSON report the 覆盖缺口 list's totals come from). Each request's wall
time and the server's CPU seconds are printed, beside the code of --before DIR served the same
way (a checkout of this repository; the database is the same, so keep its schema the same).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, Point, box

from bench.serve import add_user, http, served, token
from bench.synthetic import SIDE, X0, Y0, grid_zones
from geo.model.kinds import Kind
from geo.model.records import Feature
from geo.zones.gaps import CoverageInput, analyse


def build(n_zones: int = 5000, n_lines: int = 50_000, n_points: int = 2000,
          seed: int = 7) -> CoverageInput:
    """A synthetic city: a grid of zones with holes and overlaps, random segments and points."""
    rng = np.random.default_rng(seed)
    zones = grid_zones(rng, n_zones, overlap_p=0.02, overlap_grow=0.1)
    starts = rng.uniform([X0, Y0], [X0 + SIDE, Y0 + SIDE], (n_lines, 2))
    ends = starts + rng.normal(0, 0.0008, (n_lines, 2))
    lines = [Feature(Kind.street if n % 5 else Kind.alley, LineString([s, e]), id=100_000 + n,
                     properties={"cadre": "路长"} if n % 17 == 0 else {})
             for n, (s, e) in enumerate(zip(starts, ends, strict=True))]
    pts = rng.uniform([X0, Y0], [X0 + SIDE, Y0 + SIDE], (n_points, 2))
    points = [Feature(Kind.test_point, Point(p), category="bus_stop", id=200_000 + n)
              for n, p in enumerate(pts)]
    area = box(X0, Y0, X0 + SIDE, Y0 + SIDE)
    communities = [Feature(Kind.community, c, name=f"社区{n}") for n, c in
                   enumerate(shapely.get_parts(shapely.intersection(
                       area, [box(X0 + a * SIDE / 3, Y0 + b * SIDE / 3,
                                  X0 + (a + 1) * SIDE / 3, Y0 + (b + 1) * SIDE / 3)
                              for a in range(3) for b in range(3)])))]
    return CoverageInput([Feature(Kind.subdistrict, area, name="街道")], communities, zones,
                         lines, points, [])


def synthetic() -> None:
    """Build the data, time the analysis, print the figures."""
    t0 = time.perf_counter()
    data = build()
    t1 = time.perf_counter()
    c1 = time.process_time()
    report = analyse(data, with_geometry=False)
    c2 = time.process_time()
    t2 = time.perf_counter()
    report_geo = analyse(data, with_geometry=True)
    t3 = time.perf_counter()
    print(f"zones {len(data.zones)}, segments {len(data.lines)}, test points "
          f"{len(data.points)} (built in {t1 - t0:.1f} s)")
    print(f"gap analysis: {t2 - t1:.2f} s wall, {c2 - c1:.2f} s CPU (target < 5 s); with "
          f"geometries for the map: {t3 - t2:.2f} s; load average {os.getloadavg()[0]:.1f}")
    t = report["totals"]
    print(f"uncovered {t['uncovered_km2']:.2f} km² ({t['uncovered_percent']}%) in "
          f"{t['parts']['uncovered_pieces']} pieces; overlap {t['overlap_km2']:.3f} km² in "
          f"{t['parts']['overlap_pairs']} overlapping pairs; unassigned {t['unassigned_km']:.1f}"
          f" km; {t['orphan_points']} orphan points; "
          f"{len(report_geo['lines']['pieces'])} uncovered segments")


# run in the child: `ccmap gaps --json` without migrating the store (argv: checkout, db)
CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
from geo.store.sql import SqlStore
SqlStore.migrate = lambda self: None
from server.cli import main
sys.exit(main(["gaps", "--db", sys.argv[2], "--json"]))
"""


def run_cli(checkout: Path, url: str) -> dict[str, Any]:
    """One `ccmap gaps --json` in a fresh process: wall s, CPU s, peak RSS MB, its report."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(checkout), url], stdout=out,
                                stderr=err, cwd=checkout)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own CPU time and peak RSS
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            err.seek(0)
            raise SystemExit(f"ccmap gaps failed on {url}: {err.read().decode()[-2000:]}")
        out.seek(0)
        report = json.loads(out.read())
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mb": usage.ru_maxrss / 1024, "report": report}


def revision(url: str) -> str:
    """The alembic revision of a database (what its indexes are)."""
    from sqlalchemy import create_engine, text

    from geo.store.sql import engine_url

    engine = create_engine(engine_url(url))
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar())
    finally:
        engine.dispose()


def on_databases(urls: list[str], before: Path | None, runs: int) -> None:
    """Time `ccmap gaps --json` on each database, after (this checkout) and before."""
    here = Path(__file__).resolve().parent.parent
    checkouts = [("after", here)] + ([("before", before)] if before else [])
    print(f"{'database':>10} {'code':>7} {'wall s (median)':>16} {'CPU s':>7} {'RSS MB':>7}"
          f"  load")
    for url in urls:
        name = "PostGIS" if url.startswith("postgres") else "SQLite"
        for label, checkout in checkouts:
            rows = [run_cli(checkout, url) for _ in range(runs if label == "after" else 1)]
            wall = statistics.median(r["wall"] for r in rows)
            each = ", ".join(f"{r['wall']:.1f}" for r in rows)
            print(f"{name:>10} {label:>7} {wall:>16.1f} {rows[-1]['cpu']:>7.1f} "
                  f"{max(r['rss_mb'] for r in rows):>7.0f}  {os.getloadavg()[0]:.1f}"
                  f"  (runs: {each} s)")
            if label == "after":
                t = rows[-1]["report"]["totals"]
                print(f"{'':>19}totals: " + json.dumps(
                    {k: v for k, v in t.items() if k not in ("left_out", "bbox")},
                    ensure_ascii=False))
        print(f"{'':>19}(alembic revision {revision(url)}; target < 5 s)")


def extent(base: str, tok: str) -> list[float]:
    """The data's extent (west, south, east, north) as the OGC collection of the communities
    says, grown by a quarter each side (the page's view of the whole city asks that)."""
    status, body = http(base + "/ogc/collections/community", tok)
    if status != 200:
        raise SystemExit(f"/ogc/collections/community: {status} {body[:200]!r}")
    w, s, e, n = json.loads(body)["extent"]["spatial"]["bbox"][0]
    dx, dy = (e - w) / 4, (n - s) / 4
    return [w - dx, s - dy, e + dx, n + dy]


def cpu_s(pid: int) -> float:
    """CPU seconds a process has used so far (user + system, /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(base: str, path: str, tok: str, pid: int) -> tuple[float, float, dict[str, Any]]:
    """One GET: wall s, the server's CPU s, the JSON answer (a non-200 stops the benchmark)."""
    c0, t0 = cpu_s(pid), time.perf_counter()
    status, body = http(base + path, tok)
    wall, cpu = time.perf_counter() - t0, cpu_s(pid) - c0
    if status != 200:
        raise SystemExit(f"{path}: {status} {body[:300]!r}")
    return wall, cpu, json.loads(body)


def layer(base: str, tok: str, pid: int, bbox: list[float]) -> list[tuple[float, float, int]]:
    """The gap layer of the view, every page: (wall s, server CPU s, features) a page."""
    path: str | None = ("/api/coverage.geojson?coords=wgs84&bbox="
                        + ",".join(f"{v:.6f}" for v in bbox))
    pages = []
    while path:
        wall, cpu, doc = timed(base, path, tok, pid)
        pages.append((wall, cpu, len(doc["features"])))
        nxt = [ln["href"] for ln in doc.get("links", []) if ln.get("rel") == "next"]
        path = nxt[0].removeprefix(base) if nxt else None
        if path and not path.startswith("/"):  # an absolute link to another host name
            path = "/" + path.split("/", 3)[3]
    return pages


def over_http(urls: list[str], before: Path | None) -> None:
    """Time the map's gap layer and the report over HTTP on each database, after and before."""
    here = Path(__file__).resolve().parent.parent
    checkouts = [("after", here)] + ([("before", before)] if before else [])
    log = Path(tempfile.gettempdir()) / f"bench_gaps-serve-{os.getpid()}.log"
    print(f"{'database':>10} {'code':>7}  {'what':<34} {'wall s':>7} {'CPU s':>6} "
          f"{'features':>8}  load")
    for url in urls:
        name = "PostGIS" if url.startswith("postgres") else "SQLite"
        user = add_user(url, "viewer", prefix="benchgaps")
        for label, checkout in checkouts:
            env = {"CCMAP_BASEMAP": "none", "CCMAP_TILE_CACHE_DIR": "none"}
            with served(url, log, env=env, cwd=checkout) as server:
                tok = token(server.base, *user)
                pid = server.process.pid
                bbox = extent(server.base, tok)
                rows: list[tuple[str, float, float, int]] = []
                for attempt in ("layer switched on", "layer on again"):
                    pages = layer(server.base, tok, pid, bbox)
                    rows += [(f"{attempt}: page {k + 1}", *p) for k, p in enumerate(pages)]
                    rows.append((f"{attempt}: all {len(pages)} pages",
                                 sum(p[0] for p in pages), sum(p[1] for p in pages),
                                 sum(p[2] for p in pages)))
                q = "/api/coverage?bbox=" + ",".join(f"{v:.6f}" for v in bbox)
                wall, cpu, doc = timed(server.base, q, tok, pid)
                rows.append(("report (/api/coverage)", wall, cpu,
                             sum(doc["totals"]["parts"].values())))
            for what, wall, cpu, n in rows:
                print(f"{name:>10} {label:>7}  {what:<34} {wall:>7.2f} {cpu:>6.2f} {n:>8}  "
                      f"{os.getloadavg()[0]:.1f}", flush=True)
        print(f"{'':>19}(alembic revision {revision(url)}; the whole city's view, bbox "
              + ",".join(f"{v:.4f}" for v in bbox) + ")")


def main() -> None:
    """The synthetic city, or `ccmap gaps --json` on the databases given."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", action="append", default=[], help="database URL (repeatable)")
    ap.add_argument("--before", type=Path, help="checkout of the code before, for its figure")
    ap.add_argument("--runs", type=int, default=2, help="runs of this checkout per database")
    ap.add_argument("--http", action="store_true",
                    help="time the map's gap layer and the report over HTTP (ccmap serve)")
    args = ap.parse_args()
    if args.http:
        if not args.db:
            ap.error("--http needs --db")
        over_http(args.db, args.before)
    elif args.db:
        on_databases(args.db, args.before, args.runs)
    else:
        synthetic()


if __name__ == "__main__":
    main()
