"""HTML pages and the locally served front-end assets."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from geo.i18n import translate
from geo.maps.basemaps import resolve_basemap
from geo.maps.mapview import MapPage, counted_issues, render_map_page, tiled_test_points
from geo.model.errors import CcmapError
from geo.model.kinds import Kind
from geo.model.users import PERMISSIONS, ROLE_LABELS, Role, User
from geo.store import Store
from server.auth import optional_user
from server.deps import SettingsDep, StoreDep
from server.icons import app_icon
from server.locale import request_locale, template_context
from server.security import csp_nonce, with_nonce
from server.settings import Settings

router = APIRouter(tags=["pages"])
log = logging.getLogger("ccmap")
# npm packages whose files the pages may load; nothing else in node_modules is served
VENDOR_PACKAGES = ["leaflet", "leaflet.markercluster", "leaflet.fullscreen", "leaflet-draw",
                   "leaflet.heat", "pbf", "flatpickr", "swagger-ui-dist"]


# every page gets `_`, `lang` and the catalog of the request's locale (server/locale.py)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates",
                            context_processors=[template_context])


def page_user(request: Request, store: Store) -> User | None:
    """The logged-in user of a page request, or None (pages redirect to /login instead)."""
    try:
        return optional_user(request, store)
    except CcmapError:
        return None


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def main_map(request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    """The main map page (login first)."""
    user = page_user(request, store)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    basemap = resolve_basemap(settings.basemap, settings.tianditu_key,
                              settings.basemap_attribution)
    locale = request_locale(request)
    page = MapPage(basemap=basemap, bounds=store.extent(), title=settings.title, locale=locale,
                   assets_missing=not vendor_installed(settings),
                   user=translate(f"{user.display_name or user.username}"
                                  f"（{ROLE_LABELS[user.role]}"
                                  # a unit's user sees whose issues and zones it is shown
                                  f"{'：' + user.unit if user.unit else ''}）", locale),
                   is_admin=user.role is Role.admin,
                   can_report=user.role in PERMISSIONS["issues:write"],
                   can_edit_zones=user.role in PERMISSIONS["zones:write"],
                   analyst=user.role in PERMISSIONS["analysis:read"],
                   can_plan=user.role in PERMISSIONS["plan:write"],
                   can_inspect=user.role in PERMISSIONS["inspections:write"],
                   user_name=user.display_name or user.username,
                   communities=tuple(c.name for c in store.features(Kind.community)),
                   units=filter_units(store, user),
                   issue_total=counted_issues(store),
                   test_points_tiled=tiled_test_points(store),
                   page_limit=settings.max_page)
    # folium's inline scripts carry the response's CSP nonce (server/security.py)
    return HTMLResponse(with_nonce(render_map_page(page), csp_nonce(request)))


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    """The browser tab's icon for every page: the app's icon, 32 pixels (PNG)."""
    return Response(app_icon(32), media_type="image/png",
                    headers={"Cache-Control": "max-age=86400"})


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, settings: SettingsDep) -> Response:
    """The login form."""
    return templates.TemplateResponse(request, "login.html", {"title": settings.title})


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
def dashboard_page(request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    """The dashboard beside the map."""
    if page_user(request, store) is None:
        return RedirectResponse("/login", status_code=303)
    return templates.TemplateResponse(request, "dashboard.html", {"title": settings.title})


@router.get("/workload", response_class=HTMLResponse, include_in_schema=False)
def workload_page(request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    """The per-unit workload table."""
    if page_user(request, store) is None:
        return RedirectResponse("/login", status_code=303)
    return templates.TemplateResponse(request, "workload.html", {"title": settings.title})


@router.get("/admin", response_class=HTMLResponse, include_in_schema=False)
def admin_page(request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    """Users, units and the audit log (admins only)."""
    user = page_user(request, store)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    if user.role is not Role.admin:
        return templates.TemplateResponse(request, "forbidden.html",
                                          {"title": settings.title}, status_code=403)
    return templates.TemplateResponse(request, "admin.html",
                                      {"title": settings.title, "user": user})


def filter_units(store: Store, user: User) -> tuple[str, ...]:
    """The units the map's issue filter offers: a unit user's own; for others every registered
    unit and every unit owning a zone (issues are routed to those)."""
    if user.scope_unit is not None:
        return (user.scope_unit,)
    names = {u.name for u in store.units() if u.kind == "unit"}
    return tuple(sorted(names | set(store.property_values(Kind.zone, "unit"))))


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
