"""GeoJSON layer pages as the map page asks for them: a planner's editable zones of a view.

    python -m bench.bench_layers --db sqlite:////work/bench-city/bench.db
    python -m bench.bench_layers --db postgresql://…/ccmap_bench [--zoom 15] [--repeats 8]
                                 [--kind zone] [--cwd DIR]

The database (e.g. the city of `python -m bench.city --import`) is served by `ccmap serve` on a
free local port (one worker; a planner is added with the CLI, so use a copy). For each of the
bench_page pans at --zoom (default 15, where a planner's zones become editable GeoJSON) the
page's request is timed over one keep-alive connection, gzip accepted, as the browser asks it:
`/api/layers/<kind>?bbox=<the view of a 1400 x 900 window, padded by a quarter>&limit=10000`.
Printed per view: features (every one the view matched: the page is never cut), bytes on
the wire, the first (cold) and the median of the next --repeats answers, and the server's CPU
per answer. `--cwd` serves the code of another
checkout (e.g. a git worktree of the code before a change) for a before/after comparison.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_ogc import cpu_seconds
from bench.serve import add_user, served, token

VIEWS = [(116.03313, 36.46738), (115.98507, 36.41768), (115.937, 36.44253)]  # bench_page's
WINDOW = (1400, 900)  # bench_page's browser window
PAD = 0.25  # the page's padding of the view (static/js/loading.js, layerQuery)


def view_bbox(lon: float, lat: float, zoom: int) -> str:
    """The padded bbox of a WINDOW-sized map view centred on lon/lat at zoom (Web Mercator)."""
    deg_px = 360 / (256 * 2 ** zoom)
    half_w = WINDOW[0] * deg_px * (1 + 2 * PAD) / 2
    half_h = WINDOW[1] * deg_px * math.cos(math.radians(lat)) * (1 + 2 * PAD) / 2
    return f"{lon - half_w:.6f},{lat - half_h:.6f},{lon + half_w:.6f},{lat + half_h:.6f}"


def run(db: str, kind: str = "zone", zoom: int = 15, repeats: int = 8,
        views: list[tuple[float, float]] | None = None, cwd: Path | None = None
        ) -> list[dict[str, Any]]:
    """Serve db (the code of checkout cwd) and time each view's GeoJSON page of kind; a row
    a view: centre, matched, features (in the answer), bytes, cold_s, median_s, cpu_s."""
    username, password = add_user(db, "planner")
    log = Path(tempfile.gettempdir()) / "bench_layers-serve.log"
    rows = []
    with served(db, log, cwd=cwd) as srv:
        bearer = token(srv.base, username, password)
        conn = http.client.HTTPConnection(srv.base.split("//")[1], timeout=120)
        headers = {"Authorization": f"Bearer {bearer}", "Accept-Encoding": "gzip"}
        for lon, lat in views or VIEWS:
            path = f"/api/layers/{kind}?bbox={view_bbox(lon, lat, zoom)}&coords=wgs84&limit=10000"
            times, body, cpu0 = [], b"", cpu_seconds(srv.process.pid)
            for _ in range(repeats + 1):
                t = time.perf_counter()
                conn.request("GET", path, headers=headers)
                r = conn.getresponse()
                body = r.read()
                times.append(time.perf_counter() - t)
                if r.status != 200:
                    raise RuntimeError(f"{path}: HTTP {r.status} {body[:200]!r}")
                gzipped = r.getheader("content-encoding") == "gzip"
            doc = json.loads(gzip.decompress(body) if gzipped else body)
            rows.append({"centre": (lon, lat), "matched": doc["numberMatched"],
                         "features": len(doc["features"]), "bytes": len(body),
                         "cold_s": times[0], "median_s": statistics.median(times[1:]),
                         "cpu_s": (cpu_seconds(srv.process.pid) - cpu0) / (repeats + 1)})
    return rows


def main(argv: list[str] | None = None) -> int:
    """Serve the database and print the times of the views' GeoJSON pages."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--kind", default="zone")
    ap.add_argument("--zoom", type=int, default=15)
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--cwd", type=Path, help="serve the code of this checkout")
    args = ap.parse_args(argv)
    rows = run(args.db, args.kind, args.zoom, args.repeats, cwd=args.cwd)
    print(f"{args.kind} pages at z{args.zoom}, {args.db} served from {args.cwd or Path.cwd()}")
    print(f"{'view':>22}  {'features':>8}  {'bytes':>9}  {'cold':>7}  {'median':>7}  "
          f"{'server CPU':>10}")
    for row in rows:
        lon, lat = row["centre"]
        print(f"{lon:10.5f},{lat:9.5f}  {row['features']:8d}  {row['bytes']:9d}  "
              f"{row['cold_s'] * 1000:5.0f} ms  {row['median_s'] * 1000:4.0f} ms  "
              f"{row['cpu_s'] * 1000:7.0f} ms")
    print(f"median of the views: "
          f"{statistics.median(r['median_s'] for r in rows) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
