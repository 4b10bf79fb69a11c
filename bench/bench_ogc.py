"""OGC API Features at city scale: GDAL's ogr2ogr copies a whole collection (by default the
1,000,000 issues) from a served database through /ogc, paging at the maximum limit.

    python -m bench.bench_ogc --db sqlite:////work/bench-city/city.db
    python -m bench.bench_ogc --db postgresql://postgres@127.0.0.1:5432/ccmap_city
                              [--collection issues] [--page-size 10000] [--json out.json]

The database (e.g. the city of `python -m bench.city --out DIR --import --db URL`) is served
as it is with `ccmap serve` on a free local port; a viewer is added with the CLI (so the
database must be writable). ogr2ogr (Debian's gdal-bin) copies the collection into a
GeoPackage with `-oo PAGE_SIZE=…`, the bearer token passed in GDAL_HTTP_HEADERS, following
the `next` links. Printed: features matched (numberMatched) and copied, distinct ids (every
feature exactly once), the wall time, features per second, the server's CPU seconds, and the
time of the first and the last page asked alone (what offset paging costs deep in a table).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.serve import add_user, http, served, token


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_page(base: str, auth: str, collection: str, limit: int, offset: int
               ) -> tuple[float, dict[str, Any]]:
    """Seconds to fetch one page, and the page."""
    t0 = time.perf_counter()
    status, body = http(f"{base}/ogc/collections/{collection}/items?limit={limit}"
                        f"&offset={offset}", auth)
    if status != 200:
        raise RuntimeError(f"page at offset {offset}: {status} {body[:300]!r}")
    return time.perf_counter() - t0, json.loads(body)


def run(db_url: str, collection: str, page_size: int) -> dict[str, Any]:
    """Serve the database, copy the collection with ogr2ogr, and measure."""
    username, password = add_user(db_url, "viewer", prefix="benchogc")
    with tempfile.TemporaryDirectory(prefix="bench-ogc-") as tmp, \
            served(db_url, Path(tmp) / "serve.log") as server:
        auth = token(server.base, username, password)
        first_s, first = timed_page(server.base, auth, collection, page_size, 0)
        matched = int(first["numberMatched"])
        last_offset = max(0, matched - page_size)
        last_s, _ = timed_page(server.base, auth, collection, page_size, last_offset)
        out = Path(tmp) / f"{collection}.gpkg"
        env = {**os.environ, "GDAL_HTTP_HEADERS": f"Authorization: Bearer {auth}",
               "GDAL_HTTP_TIMEOUT": "600"}
        cpu0, t0 = cpu_seconds(server.process.pid), time.perf_counter()
        done = subprocess.run(["ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{server.base}/ogc",
                               collection, "-oo", f"PAGE_SIZE={page_size}"],
                              env=env, capture_output=True, text=True)
        wall, cpu = time.perf_counter() - t0, cpu_seconds(server.process.pid) - cpu0
        if done.returncode != 0:
            raise RuntimeError(f"ogr2ogr failed: {done.stderr[-2000:]}")
        with sqlite3.connect(out) as gpkg:
            copied, distinct = gpkg.execute(
                f'SELECT count(*), count(DISTINCT fid) FROM "{collection}"').fetchone()
    return {"collection": collection, "page_size": page_size, "matched": matched,
            "copied": copied, "distinct_ids": distinct, "pages": -(-matched // page_size),
            "copy_s": round(wall, 1), "features_per_s": round(copied / wall) if wall else None,
            "server_cpu_s": round(cpu, 1), "first_page_s": round(first_s, 2),
            "last_page_s": round(last_s, 2)}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", required=True, help="database URL of an imported city")
    ap.add_argument("--collection", default="issues")
    ap.add_argument("--page-size", type=int, default=10_000,
                    help="ogr2ogr's PAGE_SIZE (the server's maximum limit: 10000)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    figures = run(args.db, args.collection, args.page_size)
    for key, value in figures.items():
        print(f"{key:>16}: {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    ok = figures["copied"] == figures["distinct_ids"] == figures["matched"]
    print("every feature copied exactly once" if ok else "MISMATCH", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
