"""Vector tile latency at city scale, through the app (auth, ETag, encoding), on one backend.

    python -m bench.bench_tiles --db sqlite:///var/bench_tiles.db [--issues 1000000]
    python -m bench.bench_tiles --db postgresql://postgres@127.0.0.1:5432/ccmap_bench
    (--reuse keeps the data of an earlier run)
    python -m bench.bench_tiles --db sqlite:////work/bench-city/city.db --reuse
    (any imported database, e.g. the city of `python -m bench.city --import`: the tiles
    cover the database's extent)

The data are synthetic, written with store.add_features/add_issues in chunks: a lattice of
50,000 street segments (~100 m) over an 18 x 11 km city, 5,000 zone squares, 2,000 test points
and --issues issues (clustered around hotspots, 20% anywhere). Tiles: every tile over the city
at z10-12, a seeded sample at z13-17, for street, zone, test_point and issues. Each tile is
asked twice: cold (encoded) and warm (the in-process cache). On PostGIS the raw ST_AsMVT query
of the same tile is timed too, and what the server does to build the tile, without the request
around it (`built`: the layers' versions, the tile's query, gzip; no cache): the target is the
tile within 2x of the raw query (`x raw`, the median of each tile's built / raw), while the
request's own cost (login token, parameters, HTTP: about what the `warm` column takes) is the
same for a tile served from the cache. The row `base` is the
map page's tile of several layers (BASE, one request; raw: the layers' raw queries added up);
the row `page` is what a move of the page asks for a place, as the page asks for it (BASE and
the issues, 512 pixels, the properties it draws with), at map zooms 13-14 and 15-17: what a
cold pan builds.

Then (unless --no-http) the cached tiles as a browser gets them: the database served by
`ccmap serve` (uvicorn, one worker), each sampled tile asked once to cache it, then three times
more over one keep-alive connection, as a 200 from the cache and as a 304 to If-None-Match.
"""

from __future__ import annotations

import argparse
import http.client
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from shapely.geometry import LineString, Point, box
from sqlalchemy import text

from bench import page_spec
from bench.serve import add_user, served, token
from geo.maps.tilecache import TileCaches, tile_data, tile_request, tile_tags
from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.store import IssueQuery, Store, open_store
from geo.tiling.tiles import NextDeadlines, TileCache, covering_tiles
from server.app import create_app
from server.settings import Settings

LON0, LAT0 = 115.90, 36.40
WIDTH, HEIGHT = 0.20, 0.10  # degrees: about 18 x 11 km
CHUNK = 20_000
BASE = "subdistrict,community,zone,street,alley"  # the map page's shared tile of these layers
PAGE = BASE + ",issues"  # and with the issues: what a move asks for a place


def seed(store: Store, n_issues: int) -> None:
    """Write the synthetic city in chunks."""
    rng = np.random.default_rng(2026)
    store.clear()
    # 50,000 street segments: a 250 x 100 lattice of horizontal and vertical segments
    cols, rows = 125, 200
    dx, dy = WIDTH / cols, HEIGHT / rows
    streets = []
    for i in range(cols):
        for j in range(rows):
            x, y = LON0 + i * dx, LAT0 + j * dy
            streets.append(Feature(Kind.street, LineString([(x, y), (x + dx, y + dy * 0.1)]),
                                   name=f"路{i}-{j}", category="residential"))
            streets.append(Feature(Kind.street, LineString([(x, y), (x + dx * 0.1, y + dy)]),
                                   name=f"街{i}-{j}", category="tertiary"))
    for k in range(0, len(streets), CHUNK):
        store.add_features(streets[k:k + CHUNK], "bench")
    zones = []
    zc, zr = 100, 50
    for i in range(zc):
        for j in range(zr):
            x, y = LON0 + i * WIDTH / zc, LAT0 + j * HEIGHT / zr
            zones.append(Feature(Kind.zone, box(x, y, x + WIDTH / zc * 0.95,
                                                y + HEIGHT / zr * 0.95),
                                 name=f"责任区{i}-{j}", properties={"unit": f"单位{i % 40}"}))
    store.add_features(zones, "bench")
    points = [Feature(Kind.test_point, Point(LON0 + rng.random() * WIDTH,
                                             LAT0 + rng.random() * HEIGHT),
                      name=f"点位{i}", category="market") for i in range(2000)]
    store.add_features(points, "bench")
    hot = rng.random((40, 2)) * [WIDTH, HEIGHT] + [LON0, LAT0]
    now = datetime.now()
    started = time.perf_counter()
    for k in range(0, n_issues, CHUNK):
        m = min(CHUNK, n_issues - k)
        which = rng.integers(0, 40, m)
        xy = hot[which] + rng.normal(0, 0.004, (m, 2))
        anywhere = rng.random(m) < 0.2
        xy[anywhere] = rng.random((int(anywhere.sum()), 2)) * [WIDTH, HEIGHT] + [LON0, LAT0]
        store.add_issues([Issue("litter" if r % 3 else "graffiti", float(lon), float(lat),
                                status="reported" if r % 2 else "closed",
                                unit=f"单位{r % 40}", reported_at=now - timedelta(days=r % 700),
                                deadline=now + timedelta(days=(r % 20) - 10))
                          for r, (lon, lat) in enumerate(xy, start=k)], "bench")
        print(f"  issues {k + m:,} ({time.perf_counter() - started:.0f} s)", flush=True)


def raw_sql(layer: str, z: int, x: int, y: int) -> str:
    """The hand-written ST_AsMVT query of a feature tile (PostGIS), for comparison."""
    return f"""
        WITH mvtgeom AS (
          SELECT ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope({z}, {x}, {y}),
                              4096, 64, true) AS geom, id AS fid, id, kind, name, category,
                 properties->>'unit' AS unit
          FROM features
          WHERE kind = '{layer}'
            AND geom && ST_Transform(ST_TileEnvelope({z}, {x}, {y}, margin => 64.0 / 4096),
                                     4326))
        SELECT ST_AsMVT(mvtgeom, '{layer}', 4096, 'geom', 'fid') FROM mvtgeom"""


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def served_warm(db: str, city: tuple[float, float, float, float], sample: int,
                username: str, password: str) -> None:
    """Time cached tiles over HTTP from `ccmap serve`: a 200 from the cache and a 304."""
    rnd = random.Random(11)
    print(f"\ncached tiles over HTTP (ccmap serve, keep-alive; {sample} tiles a row, 3 times each)")
    print(f"{'tile':<18}{'200 median':>11}{'p95':>9}{'304 median':>12}{'p95':>9}")
    log = Path(tempfile.gettempdir()) / "bench_tiles_serve.log"
    with served(db, log, env={"CCMAP_BASEMAP": "none"}, workers=1) as srv:
        bearer = token(srv.base, username, password)
        conn = http.client.HTTPConnection(srv.base.removeprefix("http://"), timeout=600)
        asked = {"Authorization": f"Bearer {bearer}", "Accept-Encoding": "gzip"}

        def get(url: str, extra: dict[str, str]) -> tuple[float, http.client.HTTPResponse]:
            started = time.perf_counter()
            conn.request("GET", url, headers={**asked, **extra})
            resp = conn.getresponse()
            resp.read()
            return (time.perf_counter() - started) * 1000, resp

        for layer, z, size in (("base", 14, 512), ("issues", 14, 512), ("street", 16, 256)):
            path = BASE if layer == "base" else layer
            hits, not_modified = [], []
            for t in rnd.sample(covering_tiles(city, z), sample):
                url = f"/api/tiles/{path}/{t.z}/{t.x}/{t.y}.mvt?size={size}"
                _, first = get(url, {})
                assert first.status == 200, first.status
                tag = first.getheader("ETag") or ""
                for _ in range(3):
                    took, resp = get(url, {})
                    assert resp.getheader("X-Tile-Cache", "").startswith("hit"), url
                    hits.append(took)
                    took, resp = get(url, {"If-None-Match": tag})
                    assert resp.status == 304, resp.status
                    not_modified.append(took)
            print(f"{f'{layer} z{z} {size}px':<18}{statistics.median(hits):9.2f}ms"
                  f"{pct(hits, 95):7.2f}ms{statistics.median(not_modified):10.2f}ms"
                  f"{pct(not_modified, 95):7.2f}ms", flush=True)
        conn.close()


def main() -> None:
    """Seed (unless --reuse), then time the tiles and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--db", required=True)
    ap.add_argument("--issues", type=int, default=1_000_000)
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--sample", type=int, default=40, help="tiles per zoom at z13-17")
    ap.add_argument("--no-http", action="store_true", help="skip the cached tiles over HTTP")
    ap.add_argument("--only-http", action="store_true",
                    help="only the cached tiles over HTTP (an imported database, as --reuse)")
    args = ap.parse_args()
    args.reuse = args.reuse or args.only_http
    store = open_store(args.db)
    if not args.reuse:
        t0 = time.perf_counter()
        seed(store, args.issues)
        print(f"seeded in {time.perf_counter() - t0:.0f} s")
    username, password = add_user(args.db, "admin")
    settings = Settings(database_url=args.db, basemap="none")
    city = store.extent() if args.reuse else (LON0, LAT0, LON0 + WIDTH, LAT0 + HEIGHT)
    if city is None:
        raise SystemExit("the database is empty: run without --reuse to seed it")
    postgis = args.db.startswith("postgres")
    print(f"backend {'PostGIS' if postgis else 'SQLite'}; features {store.layer_counts()}, "
          f"issues {store.issue_count():,}")
    if not args.only_http:
        through_app(args, store, settings, city, username, password)
    store.close()
    if not args.no_http:
        served_warm(args.db, city, 20, username, password)


def through_app(args: argparse.Namespace, store: Store, settings: Settings,
                city: tuple[float, float, float, float], username: str, password: str) -> None:
    """Every tile at z10-12 and a sample at z13-17 through the app (TestClient): cold, warm
    and, on PostGIS, the raw SQL."""
    rnd = random.Random(7)
    postgis = args.db.startswith("postgres")
    with TestClient(create_app(settings, store=store)) as client:
        r = client.post("/api/auth/token", data={"username": username, "password": password})
        client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        everything: list[float] = []
        print(f"{'layer':<11}{'zoom':>6}{'tiles':>7}{'median':>9}{'p95':>9}{'max':>9}"
              f"{'warm':>8}{'KB avg':>8}{'raw SQL':>9}{'built':>8}{'x raw':>7}")
        nothing_kept = TileCaches(TileCache(0))  # every tile built
        rows = [(layer, zooms, "") for layer in ("street", "zone", "test_point", "issues", BASE)
                for zooms in ((10, 11, 12), (13, 14, 15), (16, 17))]
        # what a cold pan of the page builds: its one request a place, 512 pixels, the
        # properties it draws with (map zooms 13-14 and 15-17)
        rows += [(PAGE, zooms, f"?size=512&fields={page_spec()}")
                 for zooms in ((12, 13), (14, 15, 16))]
        for layer, zooms, query in rows:
            cold, warm, sizes, raw, built, ratios = [], [], [], [], [], []
            for z in zooms:
                tiles = covering_tiles(city, z)
                if z >= 13 or query:
                    tiles = rnd.sample(tiles, min(args.sample, len(tiles)))
                for t in tiles:
                    url = f"/api/tiles/{layer}/{t.z}/{t.x}/{t.y}.mvt{query}"
                    s = time.perf_counter()
                    resp = client.get(url)
                    cold.append((time.perf_counter() - s) * 1000)
                    assert resp.status_code == 200, resp.text
                    sizes.append(len(resp.content))
                    s = time.perf_counter()
                    client.get(url)
                    warm.append((time.perf_counter() - s) * 1000)
                    if postgis and layer not in ("issues", PAGE):
                        engine = store.engine  # type: ignore[attr-defined]
                        with engine.connect() as conn:
                            s = time.perf_counter()
                            for one in layer.split(","):
                                conn.execute(text(raw_sql(one, t.z, t.x, t.y))).scalar()
                            raw.append((time.perf_counter() - s) * 1000)
                        s = time.perf_counter()
                        req = tile_request(layer, t.z, t.x, t.y, 256, IssueQuery(), {}, None)
                        tile_data(store, req, tile_tags(store, req, NextDeadlines()),
                                  nothing_kept)
                        built.append((time.perf_counter() - s) * 1000)
                        ratios.append(built[-1] / raw[-1])
            everything += cold
            raw_txt = (f"{statistics.median(raw):8.1f}{statistics.median(built):8.1f}"
                       f"{statistics.median(ratios):6.1f}x" if raw else "       -")
            name = {BASE: "base", PAGE: "page"}.get(layer, layer)
            print(f"{name:<11}{f'{zooms[0]}-{zooms[-1]}':>6}{len(cold):>7}"
                  f"{statistics.median(cold):8.1f}ms{pct(cold, 95):8.1f}ms"
                  f"{max(cold):8.1f}ms{statistics.median(warm):7.2f}ms"
                  f"{statistics.mean(sizes) / 1000:8.1f}{raw_txt}", flush=True)
        print(f"all tiles: {len(everything)}, median {statistics.median(everything):.1f} ms, "
              f"p95 {pct(everything, 95):.1f} ms, max {max(everything):.1f} ms")


if __name__ == "__main__":
    main()
