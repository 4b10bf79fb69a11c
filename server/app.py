"""Application factory."""

from __future__ import annotations

import gc
import logging
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from starlette.types import Message, Scope

from geo.jobs.runner import JobPool, fail_stale
from geo.maps.basemaps import resolve_basemap
from geo.maps.seeding import Reseeder
from geo.notify.background import BackgroundLoop, Task
from geo.store import Store, open_store
from geo.zones.gaps import ReportCache
from server import routes
from server.activity import CountRequests, RequestCount
from server.errors import ERROR_RESPONSES, install_error_handlers
from server.notifier import start_notifier
from server.routes.tiles import close_tile_caches, tile_caches
from server.security import SecurityHeaders
from server.settings import Settings
from server.strict_json import StrictJSONMiddleware

log = logging.getLogger("ccmap.server")
WARM_UP_PATH = "/.ccmap-start-up"  # matches no route (see _build_routes)


def _warm_up(store: Store, connections: int) -> threading.Thread:
    """Warm the database's connections up in the background (store.warm_up); a failure is
    logged, never raised: the requests open their connections as they come."""
    def run() -> None:
        try:
            store.warm_up(connections)
        except Exception:  # the database down at start-up: the requests will say so
            log.warning("warming %d database connections up failed", connections,
                        exc_info=True)

    thread = threading.Thread(target=run, name="ccmap-db-warm-up", daemon=True)
    thread.start()
    return thread


async def _build_routes(app: FastAPI) -> None:
    """Have FastAPI make every route's request handling now, before the server takes requests:
    it makes a router's the first time a request is matched against it (about 1 s for ccmap's
    routes on a 2-core machine, which a new server's first page waited for). A request for a
    path no route has is matched against every router (and answered 404, to no one)."""
    scope: Scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                    "method": "GET", "scheme": "http", "path": WARM_UP_PATH,
                    "raw_path": WARM_UP_PATH.encode(), "root_path": "", "query_string": b"",
                    "headers": [], "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 0)}

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        return None

    await app(scope, receive, send)


def _start_reseeding(app: FastAPI, store: Store, settings: Settings) -> BackgroundLoop | None:
    """Start the loop that rebuilds the seeded tiles writes changed (app.state.reseeder); None
    when CCMAP_TILE_RESEED_SECONDS is 0."""
    if not settings.tile_reseed_seconds:
        return None
    reseeder = Reseeder(store, tile_caches(app, settings), settings.tile_reseed_budget_seconds,
                        fill_city=settings.tile_seed_city)
    app.state.reseeder = reseeder
    # while tiles are queued (the opening views, an import's), or while the city is seeded and
    # no request comes, a pass follows the last after a pause as long as the budget: building
    # half the time at most, not a fifth
    seconds, budget = settings.tile_reseed_seconds, settings.tile_reseed_budget_seconds
    requests: RequestCount = app.state.requests
    loop = BackgroundLoop([Task("reseed", seconds, reseeder.run_pass,
                                behind=lambda: reseeder.behind(requests.quiet()))],
                          tick=min(seconds, budget), name="ccmap-tiles")
    loop.start()
    return loop


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    """Build the ccmap FastAPI app for the given settings (store opened from database_url)."""
    settings = settings or Settings()
    resolve_basemap(settings.basemap, settings.tianditu_key)  # fail at start-up, not per page
    own_store = store is None
    store = store or open_store(settings.database_url, settings.db_pool_size)

    jobs = JobPool(store, settings.worker_threads)  # threads start with the first task

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.warm_routes:
            await _build_routes(_app)
        gc.freeze()  # start-up objects (modules, the app) are never garbage: stop re-scanning
        sys.setswitchinterval(0.001)  # a request waits less for the GIL behind a busy job
        # jobs a dead process left queued/running (no heartbeat lately) are failed, not stuck
        fail_stale(store, timedelta(minutes=settings.job_stale_minutes))
        notifier = start_notifier(store, settings)  # sends e-mails/webhooks, scans deadlines
        _app.state.warm_up = _warm_up(store, min(settings.db_warm_connections,
                                                 settings.db_pool_size))
        reseeding = _start_reseeding(_app, store, settings)
        yield
        if reseeding is not None:
            reseeding.stop()
            _app.state.reseeder.close()
        close_tile_caches(_app)
        if notifier is not None:
            notifier.stop()
        jobs.shutdown()  # queued jobs are marked failed; running ones finish first
        if own_store:
            store.close()

    # /docs is served from local assets by server/routes/docs.py; ReDoc would need a CDN
    app = FastAPI(title="ccmap 创城点位地图", version="0.1.0", lifespan=lifespan,
                  docs_url=None, redoc_url=None, responses=ERROR_RESPONSES)
    app.state.settings = settings
    app.state.store = store
    app.state.jobs = jobs
    # level 4, not starlette's 9 or zlib's default 6: a city's 5 MB zone choropleth compressed
    # in 0.39 s of CPU at 9, 0.16 s at 6 (1 % larger); a planner's 1.34 MB of zones at z15 in
    # 33 ms at 6 and 17 ms at 4, 4 % larger (on 2 cores, the CPU is scarcer than the bytes)
    app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=4)
    app.state.requests = RequestCount()
    app.state.gap_reports = ReportCache()  # a city's gaps are paged: pages after the first cut
    app.add_middleware(CountRequests, count=app.state.requests)
    app.add_middleware(SecurityHeaders, settings=settings)
    app.add_middleware(StrictJSONMiddleware, max_bytes=int(settings.max_upload_mb * 1e6))
    install_error_handlers(app)
    routes.mount(app, settings)
    return app


def app_from_env() -> FastAPI:
    """The app of one `ccmap serve --workers N` process, built from the CCMAP_ environment
    (uvicorn starts each worker process with this factory)."""
    return create_app(Settings())
