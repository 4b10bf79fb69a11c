"""Application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware

from geo.basemaps import resolve_basemap
from geo.store import Store, open_store
from server import routes
from server.errors import install_error_handlers
from server.settings import Settings


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    """Build the ccmap FastAPI app for the given settings (store opened from database_url)."""
    settings = settings or Settings()
    resolve_basemap(settings.basemap, settings.tianditu_key)  # fail at start-up, not per page
    own_store = store is None
    store = store or open_store(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if own_store:
            store.close()

    app = FastAPI(title="ccmap 创城点位地图", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.store = store
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    install_error_handlers(app)
    routes.mount(app, settings)
    return app
