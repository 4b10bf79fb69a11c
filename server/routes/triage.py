"""The triage queue (受理) page and API, and claims (认领) on issues."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from geo.layers.geojson import issue_json, parse_coords
from geo.ledger import claims, triage
from geo.maps.basemaps import resolve_basemap
from geo.model.kinds import issue_categories, sources
from geo.model.lifecycle import statuses
from geo.model.records import Issue
from geo.model.users import PERMISSIONS
from server.auth import CurrentUser
from server.deps import Id, SettingsDep, StoreDep
from server.paging import next_href
from server.params import CoordsQuery, PageDep
from server.routes.issues import issue_public
from server.routes.pages import page_user, templates, vendor_installed
from server.schemas.issues import IssuePublic
from server.schemas.triage import (
    ClaimPublic,
    TriageAccept,
    TriageCategory,
    TriageDuplicate,
    TriageNearby,
    TriagePage,
    TriageReject,
)

router = APIRouter(tags=["triage"])

SourcesQuery = Annotated[list[str] | None, Query(description="issue sources")]
CategoriesQuery = Annotated[list[str] | None, Query(description="issue categories")]
RadiusQuery = Annotated[float, Query(gt=0, le=2000, description="metres around the report")]


@router.get("/triage", response_class=HTMLResponse, include_in_schema=False)
def triage_page(request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    """The triage queue (受理), for the roles that accept reports."""
    user = page_user(request, store)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    if user.role not in PERMISSIONS["issues:write"]:
        return templates.TemplateResponse(request, "forbidden.html",
                                          {"title": settings.title}, status_code=403)
    basemap = resolve_basemap(settings.basemap, settings.tianditu_key,
                              settings.basemap_attribution)
    config = {"coords": basemap.coords, "user": user.username,
              "basemap": [{"url": t.url, "attribution": t.attribution,
                           "subdomains": t.subdomains, "maxZoom": t.max_zoom}
                          for t in basemap.layers],
              "categories": {k: v["label"] for k, v in issue_categories().items()},
              "sources": sources(), "statuses": statuses(), "radius": triage.NEARBY_M,
              "assetsMissing": not vendor_installed(settings)}
    return templates.TemplateResponse(request, "triage.html",
                                      {"title": settings.title, "config": config})


@router.get("/api/triage", response_model=TriagePage)
def triage_queue(request: Request, user: CurrentUser, store: StoreDep, page: PageDep,
                 source: SourcesQuery = None, category: CategoriesQuery = None
                 ) -> dict[str, Any]:
    """The reports waiting for triage (status reported) in the caller's scope, oldest first,
    a page at a time (admins and inspectors)."""
    rows, matched = triage.queue(store, user, source or [], category or [], page.limit,
                                 page.offset)
    now = datetime.now()
    return {"numberMatched": matched, "numberReturned": len(rows),
            "next": next_href(request, page, matched) if rows else None,
            "items": [issue_public(i, user, now) for i in rows]}


@router.get("/api/triage/{issue_id}/nearby", response_model=TriageNearby)
def triage_nearby(issue_id: Id, user: CurrentUser, store: StoreDep, radius: RadiusQuery = 200,
                  coords: CoordsQuery = None) -> dict[str, Any]:
    """The open issues within `radius` metres of a report (duplicate candidates), nearest
    first, as GeoJSON points (coords: shifted for a GCJ-02/BD-09 basemap)."""
    system = parse_coords(coords)
    issue, found = triage.nearby(store, issue_id, user, radius)
    now = datetime.now()

    def point(i: Issue, extra: dict[str, Any]) -> dict[str, Any]:
        feature = issue_json(i, system, now)
        feature["properties"].update(extra, category_label=_label(i.category),
                                     status_label=statuses().get(i.status, i.status))
        return feature

    return {"type": "FeatureCollection", "radius_m": radius, "center": point(issue, {}),
            "features": [point(i, {"distance_m": round(d, 1),
                                   "same_category": i.category == issue.category})
                         for i, d in found]}


def _label(category: str) -> str:
    return str(issue_categories().get(category, {}).get("label", category))


@router.post("/api/triage/{issue_id}/accept", response_model=IssuePublic)
def accept(issue_id: Id, body: TriageAccept, user: CurrentUser,
           store: StoreDep) -> dict[str, Any]:
    """立案: accept a waiting report (reported → accepted), with an urgency and a new category
    if given; 409 when it no longer waits, is stale or someone else holds it."""
    return issue_public(triage.accept(store, issue_id, body.version, user, body.urgency,
                                      body.category, body.note), user)


@router.post("/api/triage/{issue_id}/reject", response_model=IssuePublic)
def reject(issue_id: Id, body: TriageReject, user: CurrentUser,
           store: StoreDep) -> dict[str, Any]:
    """不予立案: reject a waiting report with the reason (required, kept in its history)."""
    return issue_public(triage.reject(store, issue_id, body.reason, body.version, user), user)


@router.post("/api/triage/{issue_id}/duplicate", response_model=IssuePublic)
def duplicate(issue_id: Id, body: TriageDuplicate, user: CurrentUser,
              store: StoreDep) -> dict[str, Any]:
    """A waiting report repeats the open case `into`: merged into it (rejected as its
    duplicate), its reporter named in the kept case's history and linked_reports."""
    return issue_public(triage.mark_duplicate(store, issue_id, body.into, body.version, user,
                                              body.note), user)


@router.post("/api/triage/{issue_id}/category", response_model=IssuePublic)
def recategorise(issue_id: Id, body: TriageCategory, user: CurrentUser,
                 store: StoreDep) -> dict[str, Any]:
    """改类别: give an open issue another category (422 for an unknown one), noted in its
    history."""
    return issue_public(triage.recategorise(store, issue_id, body.category, body.version,
                                            user, body.note), user)


def _claim(issue: Issue) -> dict[str, Any]:
    holder, until = claims.holder(issue)
    return {"issue_id": issue.id, "claimed_by": holder, "claimed_until": until,
            "version": issue.version}


@router.post("/api/issues/{issue_id}/claim", response_model=ClaimPublic)
def claim(issue_id: Id, user: CurrentUser, store: StoreDep,
          settings: SettingsDep) -> dict[str, Any]:
    """Claim (认领) an open issue for CCMAP_CLAIM_MINUTES, or extend your claim; 409 when
    someone else holds it or the case is closed/rejected."""
    return _claim(claims.claim(store, issue_id, user, settings.claim_minutes))


@router.delete("/api/issues/{issue_id}/claim", response_model=ClaimPublic)
def release(issue_id: Id, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    """Release your claim on an issue (an admin may release anyone's); 409 when someone else
    holds it."""
    return _claim(claims.release(store, issue_id, user))

