"""The map page's shell (GET /: folium's page, the page config, the catalog in English) built
through the app, as a viewer, in Chinese and in English: what every page load costs before any
tile. Opens the database as it is (no migration), so a checkout from before a migration can be
timed on the same database (`cd` there and run this file with its PYTHONPATH).

    python -m bench.bench_shell --db sqlite:////work/bench-city/city.db [--runs 30]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time

from fastapi.testclient import TestClient

from bench import no_migration
from geo.accounts.logins import hash_password
from geo.model.users import Role, User
from geo.store.sql import SqlStore
from server.app import create_app
from server.settings import Settings


def main(argv: list[str] | None = None) -> int:
    """Print the shell's median and slowest build time in each language."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args(argv)
    SqlStore.migrate = no_migration  # type: ignore[method-assign]
    store = SqlStore(args.db)
    username, password = f"shell{secrets.token_hex(4)}", secrets.token_urlsafe(18)
    store.add_user(User(username, Role.viewer, password_hash=hash_password(password)))
    settings = Settings(database_url=args.db, basemap="none", tile_cache_dir="none")
    with TestClient(create_app(settings, store=store)) as client:
        r = client.post("/api/auth/token", data={"username": username, "password": password})
        client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        for lang in ("zh-CN", "en"):
            times = []
            for _ in range(args.runs + 1):
                started = time.perf_counter()
                page = client.get("/", headers={"Accept-Language": lang})
                times.append((time.perf_counter() - started) * 1000)
                if page.status_code != 200:
                    raise SystemExit(f"GET / answered {page.status_code}")
            times = times[1:]  # the first builds the catalog's caches
            print(f"map page shell, {lang}: median {statistics.median(times):.1f} ms, "
                  f"slowest {max(times):.1f} ms, {len(page.content) / 1000:.0f} kB "
                  f"({args.runs} runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
