"""The records ccmap stores: layer features and issue records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shapely.geometry.base import BaseGeometry

from geo.model.kinds import Kind


@dataclass
class Feature:
    """One feature of a layer; geometry in WGS84 (EPSG:4326), lon/lat order."""

    kind: Kind
    geometry: BaseGeometry
    name: str = ""
    category: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    source_id: str | None = None
    id: int | None = None
    version: int = 1


@dataclass
class Issue:
    """One issue record (问题台账 row); location is a WGS84 point."""

    category: str
    lon: float
    lat: float
    status: str = "reported"
    description: str = ""
    address: str = ""
    reported_at: datetime | None = None
    deadline: datetime | None = None
    closed_at: datetime | None = None
    source: str = "grid_patrol"
    reporter: str = ""
    external_id: str | None = None
    zone_id: int | None = None
    unit: str | None = None
    recurring_of: int | None = None
    flags: list[str] = field(default_factory=list)  # overlap, uncovered, recurring, ...
    cadre: str | None = None  # 路长/街长 of the street segment it lies on
    community: str | None = None  # 社区 containing it
    duplicate_of: int | None = None
    urgency: str = "normal"  # normal 一般 | urgent 紧急: an urgent case has a shorter limit
    dispatched_at: datetime | None = None  # 派遣: the deadline clock starts here
    paused_at: datetime | None = None  # the clock stopped (挂账/缓办, or a 延期 awaiting decision)
    rework_count: int = 0  # failed verifications (返工)
    extension_count: int = 0  # approved extensions (延期)
    claimed_by: str | None = None  # the user who holds the case, until claimed_until
    claimed_until: datetime | None = None
    client_key: str | None = None  # an offline client's id and sender (geo.model.clients)
    accuracy_m: float | None = None  # the reporting device's GPS accuracy radius (metres)
    version: int = 1
    id: int | None = None


@dataclass
class IssueRoute:
    """An issue's location and the routing stored with it: what a re-route reads and writes."""

    id: int
    lon: float
    lat: float
    zone_id: int | None = None
    unit: str | None = None
    flags: list[str] = field(default_factory=list)
    cadre: str | None = None
    community: str | None = None
    reported_at: datetime | None = None  # PostgreSQL's partition key: finds the row's month
