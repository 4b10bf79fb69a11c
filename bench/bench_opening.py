"""How soon a new deployment's first view is warm: `ccmap serve` starts on a city with an empty
disk tile cache and background reseeding on (CCMAP_TILE_RESEED_SECONDS, default 10), and this
prints when its passes have built the views the page opens on (/api/health's `tile_reseed`:
passes made, nothing pending), and with `--city` when they have seeded the whole city
(`city_seeded`, CCMAP_TILE_SEED_CITY; without `--city` the server seeds the opening views only).

    python -m bench.bench_opening --db sqlite:////work/bench-city/city.db [--city] [--cwd DIR]

`--cwd` serves with the code of another checkout (e.g. a git worktree of the code before a
change). The database is only read (but for the server's own start-up work).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.serve import http, served


def run(db: str, cwd: Path | None = None, seconds: float = 10.0, city: bool = False,
        timeout: float = 1800.0) -> dict[str, Any]:
    """Serve db with an empty cache; the seconds from the first answer until the opening
    views are built, with the health's tile_reseed then (`opening`), and with city until the
    whole city is (`city`)."""
    with tempfile.TemporaryDirectory(prefix="bench_opening-") as cache:
        env = {"CCMAP_TILE_CACHE_DIR": cache, "CCMAP_TILE_RESEED_SECONDS": str(seconds),
               "CCMAP_BASEMAP": "none", "CCMAP_TILE_SEED_CITY": "true" if city else "false"}
        log = Path(cache) / "serve.log"
        found: dict[str, Any] = {}
        with served(db, log, env=env, cwd=cwd) as server:
            started = time.perf_counter()
            while True:
                status = json.loads(http(server.base + "/api/health")[1])["tile_reseed"]
                if status is None:
                    raise SystemExit("the server does not reseed (CCMAP_TILE_RESEED_SECONDS?)")
                at = round(time.perf_counter() - started, 1)
                if "opening" not in found and status["passes"] > 0 and status["pending"] == 0:
                    found["opening"] = {"seconds": at, **status}
                if "opening" in found and (not city or status.get("city_seeded")):
                    if city:
                        found["city"] = {"seconds": at, **status}
                    return found
                if at > timeout:
                    raise SystemExit(f"not warm after {timeout:g} s: {status}")
                # then once a second: /api/health counts the issues (30-80 ms of PostgreSQL
                # at 1M), which every 0.2 s would slow the seeding it waits for
                time.sleep(0.2 if "opening" not in found else 1.0)


def main(argv: list[str] | None = None) -> int:
    """Print how long the opening views took to build."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--cwd", type=Path, default=None, help="serve the code of this checkout")
    ap.add_argument("--seconds", type=float, default=10.0,
                    help="CCMAP_TILE_RESEED_SECONDS of the server (default 10, its default)")
    ap.add_argument("--city", action="store_true",
                    help="wait for the whole city too (CCMAP_TILE_SEED_CITY)")
    args = ap.parse_args(argv)
    found = run(args.db, args.cwd, args.seconds, args.city)
    opening = found["opening"]
    print(f"opening views warm {opening['seconds']} s after the server answered: "
          f"{opening['built']} tiles built in {opening['passes']} passes")
    if args.city:
        city = found["city"]
        print(f"whole city warm {city['seconds']} s after the server answered: "
              f"{city['built']} tiles built in {city['passes']} passes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
