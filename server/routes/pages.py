"""HTML pages and the locally served front-end assets."""

from __future__ import annotations

import logging

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from geo.basemaps import resolve_basemap
from geo.mapview import MapPage, render_map_page
from server.deps import SettingsDep, StoreDep
from server.settings import Settings

router = APIRouter(tags=["pages"])
log = logging.getLogger("ccmap")
# npm packages whose files the pages may load; nothing else in node_modules is served
VENDOR_PACKAGES = ["leaflet", "leaflet.markercluster", "leaflet.fullscreen", "leaflet-draw",
                   "leaflet.heat"]


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def main_map(store: StoreDep, settings: SettingsDep) -> HTMLResponse:
    """The main map page."""
    basemap = resolve_basemap(settings.basemap, settings.tianditu_key,
                              settings.basemap_attribution)
    page = MapPage(basemap=basemap, bounds=store.extent(), title=settings.title,
                   assets_missing=not vendor_installed(settings))
    return HTMLResponse(render_map_page(page))


def vendor_installed(settings: Settings) -> bool:
    """True when `npm ci` has fetched the front-end libraries."""
    return (settings.static_dir / "node_modules" / "leaflet" / "dist" / "leaflet.js").exists()


def mount_static(app: FastAPI, settings: Settings) -> None:
    """Serve static/js, static/css and the whitelisted npm packages under /vendor/<package>/."""
    for sub in ("js", "css"):
        app.mount(f"/static/{sub}", StaticFiles(directory=settings.static_dir / sub),
                  name=f"static-{sub}")
    modules = settings.static_dir / "node_modules"
    if not vendor_installed(settings):
        log.warning("front-end assets missing in %s: run ./run.sh setup (npm ci)", modules)
    for package in VENDOR_PACKAGES:
        app.mount(f"/vendor/{package}",
                  StaticFiles(directory=modules / package, check_dir=False),
                  name=f"vendor-{package}")
