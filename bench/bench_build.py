"""What building one cold tile of the map page costs, layer by layer, in process.

    python -m bench.bench_build --db sqlite:////work/bench-city/city.db [--zoom 13] [--passes 5]
    python -m bench.bench_build --db postgresql://…/ccmap_bench --zoom 15
    python -m bench.bench_build --db sqlite:////work/bench-city/city.db --zoom 11 --filters

The page asks a move for 512-pixel tiles of six layers a place (the five feature layers and the
issues, the feature layers carrying the properties it draws with; seven in a city whose test
points it draws from tiles). This builds the tiles of
each layer over 4 x 3 tiles around the centre of the database's extent, straight from the store
(no cache, no HTTP), `--passes` times, and prints each layer's mean time a tile in the best pass:
the building a cold pan waits for, without the noise of a browser beside it. The row `request`
is the page's own request of the same tiles through the app (a viewer's: the six layers in one
tile, `size=512` and the page's `fields`; login token, ETag, building, gzip, the memory cache and
a disk cache in a new directory each pass, as `ccmap serve` keeps by default): what the server
spends on each tile of a cold pan. The garbage collector's objects are frozen first, as the
server's are when it starts. Run it with the code of another checkout (`cd` there) to
compare.

`--filters` builds the issue tiles only, once per filter of the page's filter panel (the
commonest category, status, source, unit and community of the database, a week of the week
replay, the last 30 days, overdue) and for a unit's own user (scope: its issues only, on every
tile it asks): the tiles no kept count serves, which a user's filter or a unit's login makes
cold.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bench import page_layers, page_spec, seeding
from geo.maps.tilecache import DiskTileCache
from geo.model.kinds import Kind
from geo.store import IssueQuery, Store, open_store
from geo.store.schema import issues as issues_t
from geo.tiling.tiles import ISSUE_LAYER, Tile, tile_of
from server.app import create_app
from server.settings import Settings


def page_fields(layer: str) -> tuple[str, ...]:
    """The properties the page's tiles of a feature layer carry (in the code measured)."""
    spec = seeding().PAGE_FIELDS
    if not isinstance(spec, str):  # before per-layer fields: the same for every layer
        return tuple(spec)
    from geo.tiling.tiles import feature_fields

    return feature_fields(spec, layer)


def page_issue_fields() -> dict[str, tuple[str, ...]]:
    """The issue_tile keyword for the properties the page's issue points carry (in the code
    measured: nothing before issue fields, when they carried all)."""
    try:
        from geo.tiling.tiles import issue_fields
    except ImportError:
        return {}
    return {"fields": issue_fields(page_spec())}


def centre_tiles(store: Store, zoom: int) -> list[Tile]:
    """The 4 x 3 512-pixel tiles of `zoom` around the centre of the database's extent."""
    bbox = store.extent()
    if bbox is None:
        raise SystemExit("the database is empty")
    x0, y0 = tile_of((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2, zoom)
    return [Tile(zoom, x0 + dx, y0 + dy, 512) for dx in range(-2, 2) for dy in range(-1, 2)]


def run(store: Store, zoom: int, passes: int) -> dict[str, float]:
    """Each page layer's mean build time a tile (ms) in its best pass, and their sum."""
    tiles = centre_tiles(store, zoom)
    layers = page_layers(store)
    best = {name: float("inf") for name in layers}
    query = IssueQuery(now=datetime.now())
    issue_fields = page_issue_fields()
    for _ in range(passes):
        for name in layers:
            started = time.perf_counter()
            for tile in tiles:
                if name == ISSUE_LAYER:
                    store.issue_tile(query, tile, **issue_fields)
                else:
                    store.feature_tile(Kind(name), tile, fields=page_fields(name))
            best[name] = min(best[name], (time.perf_counter() - started) / len(tiles) * 1000)
    return {**best, "all": sum(best.values())}


def filters(store: Store, now: datetime) -> dict[str, dict[str, object]]:
    """The IssueQuery keywords of each filter measured (the commonest values of the data)."""
    engine = store.engine  # type: ignore[attr-defined]

    def commonest(column: str) -> str:
        col = issues_t.c[column]
        with engine.connect() as conn:
            return str(conn.execute(select(col).where(col.is_not(None)).group_by(col)
                                    .order_by(func.count().desc()).limit(1)).scalar_one())

    with engine.connect() as conn:
        latest = conn.execute(select(func.max(issues_t.c.reported_at))).scalar() or now
    week = latest - timedelta(days=60)
    return {"none": {}, "category": {"categories": [commonest("category")]},
            "status": {"statuses": [commonest("status")]},
            "source": {"sources": [commonest("source")]},
            "unit": {"units": [commonest("unit")]},
            "unit's user": {"scope_unit": commonest("unit")},
            "community": {"communities": [commonest("community")]},
            "a week": {"since": week, "until": week + timedelta(days=7)},
            "30 days": {"since": latest - timedelta(days=30)},
            "overdue": {"overdue": True}}


def run_filters(store: Store, zoom: int, passes: int) -> dict[str, float]:
    """The issue tiles' mean build time a tile (ms, best pass) under each filter."""
    tiles = centre_tiles(store, zoom)
    now = datetime.now()
    issue_fields = page_issue_fields()
    best: dict[str, float] = {}
    for name, kw in filters(store, now).items():
        query = IssueQuery(now=now, **kw)  # type: ignore[arg-type]
        best[name] = float("inf")
        for _ in range(passes):
            started = time.perf_counter()
            for tile in tiles:
                store.issue_tile(query, tile, **issue_fields)
            best[name] = min(best[name], (time.perf_counter() - started) / len(tiles) * 1000)
    return best


def through_app(db: str, store: Store, zoom: int, passes: int) -> float:
    """The page's cold request of each tile through the app (ms a tile, best pass)."""
    from bench.serve import add_user

    username, password = add_user(db, "viewer")
    layers = ",".join(page_layers(store))
    urls = [f"/api/tiles/{layers}/{t.z}/{t.x}/{t.y}.mvt?size=512&fields={page_spec()}"
            for t in centre_tiles(store, zoom)]
    best = float("inf")
    for _ in range(passes):
        with tempfile.TemporaryDirectory(prefix="bench_build-") as cache_dir:
            settings = Settings(database_url=db, basemap="none", tile_cache_dir=cache_dir)
            make_tree = getattr(DiskTileCache, "make_tree", None)  # as `ccmap serve` does
            if make_tree is not None:
                make_tree(DiskTileCache(Path(cache_dir), int(settings.tile_cache_disk_mb * 1e6)))
            with TestClient(create_app(settings, store=store)) as client:
                r = client.post("/api/auth/token",
                                data={"username": username, "password": password})
                client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
                client.headers["Accept-Encoding"] = "gzip"
                started = time.perf_counter()
                for url in urls:
                    resp = client.get(url)
                    if resp.status_code != 200 or resp.headers.get("X-Tile-Cache") != "miss":
                        raise SystemExit(f"{url}: {resp.status_code} "
                                         f"{resp.headers.get('X-Tile-Cache')}")
                best = min(best, (time.perf_counter() - started) / len(urls) * 1000)
    return best


def main(argv: list[str] | None = None) -> int:
    """Print the page layers' build times a tile."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--zoom", type=int, default=13,
                    help="tile zoom (a 512-pixel tile of z is drawn at map zoom z + 1)")
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--filters", action="store_true",
                    help="the issue tiles under each filter of the page (see above)")
    args = ap.parse_args(argv)
    store = open_store(args.db)
    # as `ccmap serve` does at start (server/app.py): without it the collector re-scans this
    # process's objects while a tile's thousands of geometries are made, 10 of a z13 tile's
    # 24 ms of streets
    gc.freeze()
    try:
        if args.filters:
            figures = run_filters(store, args.zoom, args.passes)
        else:
            figures = run(store, args.zoom, args.passes)
            figures["request"] = through_app(args.db, store, args.zoom, args.passes)
    finally:
        store.close()
    print(f"512-pixel {'issue ' if args.filters else ''}tiles of zoom {args.zoom} "
          f"(map zoom {args.zoom + 1}), 12 tiles, best of {args.passes} passes, ms a tile"
          f"{' by filter' if args.filters else ''}:")
    for name, ms in figures.items():
        print(f"  {name:12s} {ms:7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
