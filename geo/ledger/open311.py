"""Open311 GeoReport v2 mapping: our categories are services, our issues are requests.

Our statuses map onto Open311's two: closed and rejected → ``closed``, every other → ``open``;
``status_notes`` carries the exact status in Chinese and English (e.g. "派遣 (dispatched)").

A reader is a user (a key or token: its unit's scope, every status, exact positions) or the
public (no credentials, when the server allows it): the public sees only the cases the city has
taken on (立案 and after, PUBLIC_STATUSES), never an unvetted report (上报) nor a rejected one
(不予立案, which includes the duplicates merged into another), with positions rounded when the
server says so. No answer carries the reporter, the history's notes or any internal id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from geo.model.errors import InvalidInput, NotFound, TooManyRequests
from geo.model.kinds import issue_categories
from geo.model.lifecycle import FINAL, OPEN, statuses
from geo.model.records import Issue
from geo.model.timestamps import to_local
from geo.store import MAX_ID, IssueQuery, Store

# what an anonymous reader may see: cases taken on (立案 onwards) and closed ones
PUBLIC_STATUSES = frozenset((OPEN | {"closed"}) - {"reported"})
MAX_IDS = 100  # service_request_id values of one GET requests (a list longer is refused)


@dataclass(frozen=True)
class Reader:
    """Who reads: a user's unit scope (None: the whole city), or the public (public=True,
    PUBLIC_STATUSES only, positions rounded to `decimals` when it is set)."""

    scope_unit: str | None = None
    public: bool = False
    decimals: int | None = None


def services() -> list[dict[str, Any]]:
    """The service list (one service per issue category)."""
    return [{"service_code": code, "service_name": row["label"],
             "description": f"{row['label']}（限期 {row['time_limit_hours']} 小时整改）",
             "metadata": False, "type": "realtime", "keywords": code, "group": "创城"}
            for code, row in issue_categories().items()]


def open311_status(status: str) -> str:
    """open or closed."""
    return "closed" if status in FINAL else "open"


def _when(value: datetime | None) -> str | None:
    # stored naive in the server's local time: sent with its offset (W3C/RFC 3339 date-time)
    return value.astimezone().isoformat(timespec="seconds") if value else None


def _position(value: float, decimals: int | None) -> float:
    return value if decimals is None else round(value, decimals)


def service_request(issue: Issue, decimals: int | None = None) -> dict[str, Any]:
    """An issue as an Open311 service request (lat/long rounded to `decimals` when given)."""
    cats = issue_categories()
    return {
        "service_request_id": str(issue.id),
        "status": open311_status(issue.status),
        "status_notes": f"{statuses().get(issue.status, issue.status)} ({issue.status})",
        "service_name": cats.get(issue.category, {}).get("label", issue.category),
        "service_code": issue.category,
        "description": issue.description,
        "agency_responsible": issue.unit or "",
        "service_notice": "",
        "requested_datetime": _when(issue.reported_at),
        "updated_datetime": _when(issue.closed_at or issue.reported_at),
        "expected_datetime": _when(issue.deadline),
        "address": issue.address,
        "address_id": None,
        "zipcode": None,
        "lat": _position(issue.lat, decimals),
        "long": _position(issue.lon, decimals),
        "media_url": None,
    }


def parse_request(form: dict[str, str]) -> Issue:
    """A POSTed Open311 request as a new issue (source 群众举报); InvalidInput if incomplete."""
    code = form.get("service_code", "")
    if code not in issue_categories():
        raise InvalidInput(f"service_code {code!r} not found; see services.json")
    try:
        lat, lon = float(form["lat"]), float(form["long"])
    except (KeyError, ValueError):
        raise InvalidInput("lat and long are required (numbers, WGS84)") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput("lat/long out of range")
    name = " ".join(p for p in (form.get("last_name", ""), form.get("first_name", "")) if p)
    contact = form.get("phone") or form.get("email") or ""
    return Issue(category=code, lon=lon, lat=lat, description=form.get("description", ""),
                 address=form.get("address_string", ""), source="public_report",
                 reporter=" ".join(p for p in (name, contact) if p))


def requests_query(params: Mapping[str, str], reader: Reader, offset: int,
                   limit: int) -> IssueQuery:
    """The issue query of GeoReport v2's GET requests parameters: service_code (comma list),
    status open|closed (comma list), start_date and end_date (ISO 8601), newest first, within
    what the reader may see; InvalidInput naming the parameter for a bad value."""
    query = IssueQuery(scope_unit=reader.scope_unit, sort="-reported_at", offset=offset,
                       limit=limit)
    if params.get("service_code"):
        query.categories = [_service_code(c.strip()) for c in params["service_code"].split(",")]
    wanted: frozenset[str] = frozenset()
    for status in filter(None, (s.strip() for s in params.get("status", "").split(","))):
        if status not in ("open", "closed"):
            raise InvalidInput(f"status {status!r} is not open or closed")
        wanted |= OPEN if status == "open" else FINAL
    if reader.public:
        wanted = (wanted or PUBLIC_STATUSES) & PUBLIC_STATUSES
    query.statuses = sorted(wanted)
    for key, attr in (("start_date", "since"), ("end_date", "until")):
        if params.get(key):
            try:
                setattr(query, attr, to_local(datetime.fromisoformat(params[key])))
            except ValueError:
                raise InvalidInput(f"{key} {params[key]!r} is not an ISO 8601 date-time "
                                   "(e.g. 2026-11-01T00:00:00+08:00)") from None
    if query.since and query.until and query.since > query.until:
        raise InvalidInput("start_date is after end_date")
    return query


def _service_code(code: str) -> str:
    if code not in issue_categories():
        raise InvalidInput(f"service_code {code!r} not found; see services.json")
    return code


def service_definition(code: str) -> dict[str, Any]:
    """GeoReport's service definition: no extra attributes (every service has metadata
    false); NotFound for an unknown service_code."""
    if code not in issue_categories():
        raise NotFound(f"service_code {code!r} not found; see services.json")
    return {"service_code": code, "attributes": []}


def read_requests(store: Store, params: Mapping[str, str], reader: Reader, offset: int,
                  limit: int) -> tuple[list[dict[str, Any]], int | None]:
    """GET requests: one page of the reader's requests matching the parameters and the number
    that match, or (service_request_id given: it overrides the other filters) those of the ids
    the reader may see, in the order asked, with no count."""
    query = requests_query(params, reader, offset, limit)
    if params.get("service_request_id"):
        ids = [i.strip() for i in params["service_request_id"].split(",") if i.strip()]
        if len(ids) > MAX_IDS:
            raise InvalidInput(f"at most {MAX_IDS} service_request_id values at once")
        found = []
        for rid in ids:
            try:
                found.append(read_request(store, rid, reader))
            except NotFound:
                continue
        return found, None
    rows, matched = store.query_issues(query)
    return [service_request(i, reader.decimals) for i in rows], matched


def read_request(store: Store, request_id: str, reader: Reader) -> dict[str, Any]:
    """GET a request: one the reader may see; NotFound otherwise (an id that is no number,
    or one outside the reader's scope, is not found either)."""
    if not request_id.isdigit() or int(request_id) > MAX_ID:
        raise NotFound(f"service request {request_id} not found")
    issue = store.issue(int(request_id), scope_unit=reader.scope_unit)
    if reader.public and issue.status not in PUBLIC_STATUSES:
        raise NotFound(f"service request {request_id} not found")
    return service_request(issue, reader.decimals)


def throttle(store: Store, client: str, per_minute: int, now: datetime) -> None:
    """Count one anonymous read of `client` (its IP address) in the database, so that every
    server process counts it; TooManyRequests (with retry_after) past per_minute reads in a
    minute. per_minute 0: no limit."""
    if per_minute <= 0:
        return
    minute = timedelta(minutes=1)
    attempts = store.reserve_attempt("open311", client, now, per_minute, minute, minute)
    if attempts.refused(now):
        assert attempts.locked_until is not None
        wait = max(1, int((attempts.locked_until - now).total_seconds() + 0.999))
        raise TooManyRequests(f"too many requests from {client}: at most {per_minute} a minute "
                              f"without an api_key; retry in {wait} s", retry_after=wait)
