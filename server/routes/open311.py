"""Open311 GeoReport v2 (JSON) so reporting apps and city platforms can talk to ccmap.

Authentication as everywhere (Bearer token or session); an Open311 client may instead send
its API token as the standard ``api_key`` parameter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from geo.ledger.open311 import parse_request, requests_query, service_request, services
from geo.ledger.writes import create_issues
from geo.model.errors import InvalidInput, NotFound, Unauthorized
from geo.model.users import User, require, token_hash
from geo.store import Store
from server.auth import optional_user
from server.deps import MAX_ID, SettingsDep, StoreDep
from server.errors import OPEN311_ERROR_RESPONSES, Open311Route
from server.paging import PAGE_HEADERS, link_headers
from server.params import Page, check_limit
from server.schemas.open311 import Service, ServiceRequest, ServiceRequestCreated
from server.workers import in_pool

# errors in GeoReport's shape (Open311Route), documented as such
router = APIRouter(prefix="/open311/v2", tags=["open311"], responses=OPEN311_ERROR_RESPONSES,
                   route_class=Open311Route)


def _user(request: Request, store: Store, api_key: str | None) -> User:
    if api_key:
        found = store.token_user(token_hash(api_key), ("access", "api"), datetime.now())
        if found is None:
            raise Unauthorized("invalid api_key")
        return found[0]
    user = optional_user(request, store)
    if user is None:
        raise Unauthorized("api_key or a Bearer token is required")
    return user


@router.get("/services.json", response_model=list[Service])
def list_services(request: Request, store: StoreDep) -> JSONResponse:
    """Every issue category as an Open311 service."""
    require(_user(request, store, request.query_params.get("api_key")), "read")
    return JSONResponse(services())


@router.get("/requests.json", response_model=list[ServiceRequest],
            responses={200: {"headers": PAGE_HEADERS}})
def list_requests(request: Request, store: StoreDep, settings: SettingsDep) -> JSONResponse:
    """Service requests filtered by id list, service_code, start/end date and status, newest
    first, one page at a time (page, page_size: X-Total-Count and a rel="next" Link header
    while more remain; a page_size over CCMAP_MAX_PAGE is refused)."""
    q = request.query_params
    headers: dict[str, str] = {}
    user = _user(request, store, q.get("api_key"))
    require(user, "read")
    page = _page(q.get("page"), q.get("page_size"), settings.page_size, settings.max_page)
    query = requests_query(q, user.scope_unit, page.offset, page.limit)
    if q.get("service_request_id"):
        rows = [store.issue(int(i), scope_unit=user.scope_unit)
                for i in q["service_request_id"].split(",")
                if i.strip().isdigit() and int(i) <= MAX_ID]
    else:
        rows, matched = store.query_issues(query)
        headers = link_headers(request, page, matched, numbered=True)
    return JSONResponse([service_request(i) for i in rows], headers=headers)


def _page(page: str | None, page_size: str | None, default: int, maximum: int) -> Page:
    """GeoReport's page (from 1) and page_size as an offset/limit page."""
    try:
        number = int(page or 1)
        size = int(page_size or default)
    except ValueError:
        raise InvalidInput("page and page_size must be whole numbers") from None
    if number < 1 or size < 1:
        raise InvalidInput("page and page_size start at 1")
    check_limit(size, maximum)
    if (number - 1) * size > MAX_ID:
        raise InvalidInput("page is beyond the last request")
    return Page(offset=(number - 1) * size, limit=size)


@router.get("/requests/{request_id}.json", response_model=list[ServiceRequest])
def one_request(request_id: str, request: Request, store: StoreDep) -> JSONResponse:
    """One service request."""
    user = _user(request, store, request.query_params.get("api_key"))
    require(user, "read")
    if not request_id.isdigit() or int(request_id) > MAX_ID:
        raise NotFound(f"service request {request_id} not found")
    issue = store.issue(int(request_id), scope_unit=user.scope_unit)
    return JSONResponse([service_request(issue)])


@router.post("/requests.json", response_model=list[ServiceRequestCreated])
async def post_request(request: Request, store: StoreDep) -> JSONResponse:
    """Create a service request (form-encoded, as the GeoReport v2 spec says)."""
    form: dict[str, Any] = {k: str(v) for k, v in (await request.form()).items()}
    user = _user(request, store, form.get("api_key"))
    require(user, "issues:write")
    intake = await in_pool(request, create_issues, store, [parse_request(form)], user.actor)
    return JSONResponse([{"service_request_id": str(intake.ids[0]),
                          "service_notice": "已受理，将按时限处置", "account_id": None}])
