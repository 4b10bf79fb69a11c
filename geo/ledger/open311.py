"""Open311 GeoReport v2 mapping: our categories are services, our issues are requests.

Our statuses map onto Open311's two: closed and rejected → ``closed``, every other → ``open``;
``status_notes`` carries the exact status in Chinese and English (e.g. "派遣 (dispatched)").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from geo.model.errors import InvalidInput
from geo.model.kinds import issue_categories
from geo.model.lifecycle import FINAL, OPEN, statuses
from geo.model.records import Issue
from geo.model.timestamps import to_local
from geo.store import IssueQuery


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
    return value.isoformat(timespec="seconds") if value else None


def service_request(issue: Issue) -> dict[str, Any]:
    """An issue as an Open311 service request."""
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
        "address_id": "",
        "zipcode": "",
        "lat": issue.lat,
        "long": issue.lon,
        "media_url": "",
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


def requests_query(params: Mapping[str, str], scope_unit: str | None, offset: int,
                   limit: int) -> IssueQuery:
    """The issue query of GeoReport v2's GET requests parameters: service_code (comma list),
    status open|closed, start_date and end_date (ISO 8601), newest first."""
    query = IssueQuery(scope_unit=scope_unit, sort="-reported_at", offset=offset, limit=limit)
    if params.get("service_code"):
        query.categories = params["service_code"].split(",")
    if params.get("status") == "open":
        query.statuses = sorted(OPEN)
    elif params.get("status") == "closed":
        query.statuses = sorted(FINAL)
    elif params.get("status"):
        raise InvalidInput("status must be open or closed")
    for key, attr in (("start_date", "since"), ("end_date", "until")):
        if params.get(key):
            try:
                setattr(query, attr, to_local(datetime.fromisoformat(params[key])))
            except ValueError:
                raise InvalidInput(f"{key} must be an ISO 8601 date") from None
    return query
