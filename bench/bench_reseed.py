"""What a planner's zone edit costs the tile cache: seed the map page's tiles, edit one zone,
let the server's background reseeding pass run, seed again, and print what each had to build.

    python -m bench.bench_reseed --db sqlite:////work/bench-city/reseed.db
    python -m bench.bench_reseed --db postgresql://…/ccmap_bench [--min-zoom 13]
                                 [--max-zoom 17] [--cwd DIR]

The database must be a copy (one zone is moved 30 m east). `ccmap tiles seed` fills a new
temporary disk cache (the page's tiles over the city, as an operator seeds after an import),
the zone of the smallest id is moved through the store, and `ccmap tiles seed` runs again: it
builds only the tiles whose keys the edit changed (an edit changes the version of the tiles
around it: migration 0030; before, every zone tile of the city, and with them the page's shared
tiles). Between the edit and the second seeding, the pass a server's background loop runs
(geo.maps.seeding.Reseeder, every CCMAP_TILE_RESEED_SECONDS) rebuilds the tiles the edit
changed, so that the second seeding finds every tile cached. `--cwd` runs the seeding, the edit
and the pass with the code of another checkout (e.g. a git worktree of the code before a change;
code without the background pass skips it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# run by `python -c` in the checkout being measured (its own store and schema)
EDIT = """
import sys
from dataclasses import replace
from shapely import affinity
from geo.model.kinds import Kind
from geo.store import open_store
store = open_store(sys.argv[1])
zone = store.features(Kind.zone, limit=1)[0]
store.save_feature(replace(zone, geometry=affinity.translate(zone.geometry, 0.0003, 0)),
                   "bench", "update")
store.close()
"""

# one pass of the server's background reseeding, in a process of its own: the first notes the
# versions in the cache directory, the next (after the edit) catches up from them
RESEED = """
import json, sys, time
from bench import seeding
from geo.maps import tilecache
reseeding = seeding()
if not hasattr(reseeding, "Reseeder"):
    print("null")
    sys.exit()
from geo.store import open_store
from server.settings import Settings
s = Settings(database_url=sys.argv[1])
store = open_store(sys.argv[1])
caches = tilecache.TileCaches.make(int(s.tile_cache_mb * 1e6), s.tile_cache_path(),
                                   int(s.tile_cache_disk_mb * 1e6))
t0 = time.perf_counter()
zooms = [int(z) if z else None for z in sys.argv[2:4]]
r = reseeding.Reseeder(store, caches, 3600, *zooms).run_pass()
print(json.dumps({"tiles": r.tiles, "built": r.built, "cached": r.cached,
                  "wall_s": round(time.perf_counter() - t0, 2)}))
store.close()
"""


def _reseed(db: str, env: dict[str, str], cwd: Path | None, min_zoom: int | None,
            max_zoom: int | None) -> dict[str, Any] | None:
    """One background reseeding pass over the zooms seeded: its report (None: the code has
    none)."""
    zooms = [str(z or "") for z in (min_zoom, max_zoom)]
    out = subprocess.run([sys.executable, "-c", RESEED, db, *zooms], env=env, cwd=cwd,
                         check=True,
                         capture_output=True, text=True).stdout
    doc: dict[str, Any] | None = json.loads(out.strip().splitlines()[-1])
    return doc


def _seed(db: str, env: dict[str, str], cwd: Path | None, zooms: list[str]) -> dict[str, Any]:
    """`ccmap tiles seed --json`: its report and its wall time."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "server.cli", "tiles", "seed", "--db", db,
                          "--json", *zooms], env=env, cwd=cwd, check=True,
                         capture_output=True, text=True).stdout
    doc: dict[str, Any] = json.loads(out[out.index("{"):])
    doc["wall_s"] = round(time.perf_counter() - t0, 2)
    return doc


def run(db: str, min_zoom: int | None = None, max_zoom: int | None = None,
        cwd: Path | None = None) -> dict[str, dict[str, Any]]:
    """Seed, edit a zone, run a background pass, seed again: {"first": report, "background":
    the pass's report (left out for code without one), "after_edit": report}."""
    zooms = [*(["--min-zoom", str(min_zoom)] if min_zoom else []),
             *(["--max-zoom", str(max_zoom)] if max_zoom else [])]
    with tempfile.TemporaryDirectory(prefix="bench-reseed-") as cache:
        env = {**os.environ, "CCMAP_TILE_CACHE_DIR": cache}
        first = _seed(db, env, cwd, zooms)
        noted = _reseed(db, env, cwd, min_zoom, max_zoom)
        subprocess.run([sys.executable, "-c", EDIT, db], env=env, cwd=cwd, check=True,
                       capture_output=True)
        result = {"first": first}
        if noted is not None:
            result["background"] = _reseed(db, env, cwd, min_zoom, max_zoom) or {}
        result["after_edit"] = _seed(db, env, cwd, zooms)
        return result


def main(argv: list[str] | None = None) -> int:
    """Print what seeding built before and after one zone edit."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--db", required=True, help="a copy of a database: a zone is edited")
    ap.add_argument("--min-zoom", type=int, help="first map zoom seeded (default: seed's)")
    ap.add_argument("--max-zoom", type=int, help="last map zoom seeded (default: seed's)")
    ap.add_argument("--cwd", type=Path, help="run the code of this checkout")
    args = ap.parse_args(argv)
    result = run(args.db, args.min_zoom, args.max_zoom, args.cwd)
    for name, doc in result.items():
        print(f"{name:11s} {doc['tiles']:6d} tiles: built {doc['built']:6d}, "
              f"cached {doc['cached']:6d}, in {doc['wall_s']:.1f} s")
    if "background" not in result:
        print("(this code has no background reseeding pass)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
