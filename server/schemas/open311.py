"""Response bodies of the Open311 GeoReport v2 routes (JSON), in the standard's own field
names; GeoReport answers are lists, even of one request."""

from __future__ import annotations

from pydantic import BaseModel


class Service(BaseModel):
    """An issue category as a GeoReport service."""

    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class ServiceDefinition(BaseModel):
    """A service's extra form fields: none in ccmap (every service has metadata false)."""

    service_code: str
    attributes: list[dict[str, str]]


class ServiceRequest(BaseModel):
    """An issue as a GeoReport service request (status open or closed)."""

    service_request_id: str
    status: str
    status_notes: str
    service_name: str
    service_code: str
    description: str | None
    agency_responsible: str
    service_notice: str
    requested_datetime: str | None
    updated_datetime: str | None
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float
    long: float
    media_url: str | None


class ServiceRequestCreated(BaseModel):
    """A created service request: its id and a notice for the reporter."""

    service_request_id: str
    service_notice: str
    account_id: str | None
