"""Open311 GeoReport v2 (JSON) so reporting apps and city platforms can talk to ccmap.

Reads need no credentials where the settings allow it (CCMAP_OPEN311_PUBLIC_SERVICES, on by
default; CCMAP_OPEN311_PUBLIC_REQUESTS, off by default): such a reader sees the public's scope
(geo.ledger.open311.Reader), rate-limited per client IP. With the standard ``api_key``
parameter (an API token), a Bearer token or a session, a reader sees its unit's scope as
anywhere else; POST always needs one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from geo.ledger.open311 import (
    Reader,
    parse_request,
    read_request,
    read_requests,
    service_definition,
    services,
    throttle,
)
from geo.ledger.writes import create_issues
from geo.model.errors import InvalidInput, Unauthorized
from geo.model.users import User, require, token_hash
from geo.store import Store
from server.auth import optional_user
from server.deps import MAX_ID, SettingsDep, StoreDep
from server.errors import OPEN311_ERROR_RESPONSES, Open311Route
from server.paging import PAGE_HEADERS, link_headers
from server.params import Page, check_limit
from server.schemas.open311 import (
    Service,
    ServiceDefinition,
    ServiceRequest,
    ServiceRequestCreated,
)
from server.settings import Settings
from server.workers import in_pool

# errors in GeoReport's shape (Open311Route), documented as such
router = APIRouter(prefix="/open311/v2", tags=["open311"], responses=OPEN311_ERROR_RESPONSES,
                   route_class=Open311Route)


def _user(request: Request, store: Store, api_key: str | None) -> User | None:
    """The user of the api_key, Bearer token or session; None when none was sent (401 for
    a wrong one: a bad key is never read as no key)."""
    if api_key:
        found = store.token_user(token_hash(api_key), ("access", "api"), datetime.now())
        if found is None:
            raise Unauthorized("invalid api_key")
        return found[0]
    return optional_user(request, store)


def _reader(request: Request, store: Store, settings: Settings, public: bool,
            what: str) -> Reader:
    """Who reads: a user (its unit's scope), or the public where `public` allows it (each
    such read counted against the client's rate limit)."""
    user = _user(request, store, request.query_params.get("api_key"))
    if user is not None:
        require(user, "read")
        return Reader(scope_unit=user.scope_unit)
    if not public:
        raise Unauthorized(f"{what} are not public on this server: send an api_key")
    client = request.client.host if request.client else "unknown"
    throttle(store, client, settings.open311_public_rate, datetime.now())
    return Reader(public=True, decimals=settings.open311_public_decimals)


@router.get("/services.json", response_model=list[Service])
def list_services(request: Request, store: StoreDep, settings: SettingsDep) -> JSONResponse:
    """Every issue category as an Open311 service (public unless
    CCMAP_OPEN311_PUBLIC_SERVICES=false)."""
    _reader(request, store, settings, settings.open311_public_services, "services")
    return JSONResponse(services())


@router.get("/services/{service_code}.json", response_model=ServiceDefinition)
def one_service(service_code: str, request: Request, store: StoreDep,
                settings: SettingsDep) -> JSONResponse:
    """A service's definition: ccmap's services have no extra attributes (metadata false)."""
    _reader(request, store, settings, settings.open311_public_services, "services")
    return JSONResponse(service_definition(service_code))


@router.get("/requests.json", response_model=list[ServiceRequest],
            responses={200: {"headers": PAGE_HEADERS}})
def list_requests(request: Request, store: StoreDep, settings: SettingsDep) -> JSONResponse:
    """Service requests filtered by id list, service_code, start/end date and status, newest
    first, one page at a time (page, page_size: X-Total-Count and a rel="next" Link header
    while more remain; a page_size over CCMAP_MAX_PAGE is refused). Without credentials (when
    CCMAP_OPEN311_PUBLIC_REQUESTS is on): the cases the public may see."""
    q = request.query_params
    reader = _reader(request, store, settings, settings.open311_public_requests, "requests")
    page = _page(q.get("page"), q.get("page_size"), settings.page_size, settings.max_page)
    rows, matched = read_requests(store, q, reader, page.offset, page.limit)
    headers = {} if matched is None else link_headers(request, page, matched, numbered=True)
    return JSONResponse(rows, headers=headers)


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
def one_request(request_id: str, request: Request, store: StoreDep,
                settings: SettingsDep) -> JSONResponse:
    """One service request (a list of one, as GeoReport answers)."""
    reader = _reader(request, store, settings, settings.open311_public_requests, "requests")
    return JSONResponse([read_request(store, request_id, reader)])


@router.post("/requests.json", response_model=list[ServiceRequestCreated])
async def post_request(request: Request, store: StoreDep) -> JSONResponse:
    """Create a service request (form-encoded, as the GeoReport v2 spec says); needs an
    api_key (or a Bearer token) of an account that may report issues."""
    form: dict[str, Any] = {k: str(v) for k, v in (await request.form()).items()}
    user = _user(request, store, form.get("api_key") or request.query_params.get("api_key"))
    if user is None:
        raise Unauthorized("api_key is required to post a service request")
    require(user, "issues:write")
    intake = await in_pool(request, create_issues, store, [parse_request(form)], user.actor)
    return JSONResponse([{"service_request_id": str(intake.ids[0]),
                          "service_notice": "已受理，将按时限处置", "account_id": None}])
