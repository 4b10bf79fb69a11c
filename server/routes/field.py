"""The offline inspection app (外业巡查): its page, service worker, web app manifest, icons,
and the inspector's round as the app keeps it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from geo.planner.field import field_round, report_categories
from server.auth import Inspector
from server.deps import IdQuery, SettingsDep, StoreDep
from server.icons import app_icon
from server.routes.pages import page_user, templates, vendor_installed
from server.schemas.field import FieldRound

router = APIRouter(tags=["field"])
SCOPE = "/field"  # what the service worker controls: the page and its query strings
ICON_SIZES = (192, 512)


@router.get("/field", response_class=HTMLResponse, include_in_schema=False)
def field_page(request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    """The inspector's page: the round, its checklists, reports and the sync queue."""
    user = page_user(request, store)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    return templates.TemplateResponse(request, "field.html", {
        "title": settings.title, "user": user.display_name or user.username,
        "photo_px": settings.field_photo_max_px, "tile_mb": settings.field_tile_cache_mb,
        "min_zoom": settings.field_tile_min_zoom,
        "max_zoom": max(settings.field_tile_min_zoom, settings.field_tile_max_zoom),
        # for a report made without a round (a new city has none yet)
        "categories": report_categories(),
        "assets_missing": not vendor_installed(settings)})


@router.get("/field/sw.js", include_in_schema=False)
def service_worker(settings: SettingsDep) -> Response:
    """The service worker, served under the scope it controls (Service-Worker-Allowed)."""
    code = (settings.static_dir / "js" / "field-sw.js").read_text("utf-8")
    return Response(code, media_type="text/javascript", headers={
        "Service-Worker-Allowed": SCOPE, "Cache-Control": "no-cache"})


@router.get("/field/manifest.webmanifest", include_in_schema=False)
def manifest(settings: SettingsDep) -> Response:
    """The web app manifest: the app installs with the page as its start and scope."""
    icons = [{"src": f"/field/icons/{n}.png", "sizes": f"{n}x{n}", "type": "image/png",
              "purpose": "any"} for n in ICON_SIZES]
    icons.append({"src": "/field/icons/maskable-512.png", "sizes": "512x512",
                  "type": "image/png", "purpose": "maskable"})
    doc = {"name": f"外业巡查 — {settings.title}", "short_name": "外业巡查",
           "lang": "zh-CN", "start_url": SCOPE, "scope": SCOPE, "display": "standalone",
           "background_color": "#ffffff", "theme_color": "#2e7d32", "icons": icons}
    return JSONResponse(doc, media_type="application/manifest+json")


@router.get("/field/icons/{name}.png", include_in_schema=False)
def icon(name: Annotated[str, Path(pattern="^(maskable-)?(192|512)$")]) -> Response:
    """The app's icon (drawn here: a white map pin with a tick on green)."""
    maskable = name.startswith("maskable-")
    return Response(app_icon(int(name.removeprefix("maskable-")), maskable),
                    media_type="image/png", headers={"Cache-Control": "max-age=86400"})


@router.get("/api/field/round", response_model=FieldRound)
def inspector_round(user: Inspector, store: StoreDep, settings: SettingsDep,
                    round: IdQuery = None,
                    team: Annotated[int | None, Query(ge=1)] = None) -> dict[str, Any]:
    """The round the field app keeps offline: the newest round with a team whose inspector
    is the caller (username or display name), or `round` (and `team`); its stops in order,
    their checklists, which were inspected, the issue categories and the area to cache."""
    doc = field_round(store, {user.username, user.display_name}, round, team)
    return {**doc, "settings": {"photo_max_px": settings.field_photo_max_px,
                                "tile_cache_mb": settings.field_tile_cache_mb}}
