"""Route modules; `mount` attaches them all."""

from __future__ import annotations

from fastapi import FastAPI

from server.routes import (
    admin,
    auth,
    casework,
    coverage,  # noqa: F401 - registers its routes on the layers router
    docs,
    exports,
    field,
    health,
    indicators,
    issues,
    jobs,
    layers,
    notify,
    ogc,
    open311,
    pages,
    planning,
    replies,
    tiles,
    triage,
    uploads,
    views,
    zones,
)
from server.settings import Settings


def mount(app: FastAPI, settings: Settings) -> None:
    """Attach every router and static mount to the app."""
    # a request is matched against the routes in this order: the map's many tile requests
    # first (a cached tile's matching through every route before it was a tenth of its time)
    app.include_router(tiles.router)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(admin.router)
    app.include_router(layers.router)
    app.include_router(uploads.router)
    app.include_router(jobs.router)
    app.include_router(notify.router)
    app.include_router(issues.router)
    app.include_router(casework.router)
    app.include_router(open311.router)
    app.include_router(ogc.router)
    app.include_router(zones.router)
    app.include_router(views.router)
    app.include_router(indicators.router)
    app.include_router(planning.router)
    app.include_router(field.router)
    app.include_router(exports.router)
    app.include_router(triage.router)
    app.include_router(replies.router)
    app.include_router(pages.router)
    app.include_router(docs.router)
    pages.mount_static(app, settings)
