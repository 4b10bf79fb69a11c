"""The query parameters routes share, each defined once as an `Annotated` alias or dependency:
bounding box, coordinate system, dates, file formats, pages (limit/offset), the issue filters
and the issue list's pages (page/page_size).

A parameter of one name means the same on every route (tests/server/test_openapi.py holds
the OpenAPI document to it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query

from geo.calendar.office import office_calendar
from geo.layers.geojson import parse_bbox
from geo.ledger.casework import due_cutoff
from geo.model.errors import InvalidInput, LimitExceeded
from geo.ogc.query import DEFAULT_LIMIT, MAX_LIMIT
from geo.store import ISSUE_SORTS, IssueQuery
from server.auth import Reader
from server.deps import MAX_ID, IdQuery, LocalDateTime, SettingsDep, StoreDep
from server.settings import Settings

BBoxQuery = Annotated[str | None, Query(
    description="only what lies in minlon,minlat,maxlon,maxlat (WGS84)")]
CoordsQuery = Annotated[str | None, Query(
    description="coordinate system of the answer (of the file, for an upload): wgs84 "
                "(default), gcj02 (Gaode, Tencent) or bd09 (Baidu)")]
PropertiesQuery = Annotated[str | None, Query(
    description='JSON object of property filters, e.g. {"unit":"…"}')]
FieldsQuery = Annotated[str | None, Query(max_length=500, description=(
    "the properties each feature carries, a comma list (the feature id always; default: all; "
    "empty: the id only). A layer's GeoJSON: any property names, e.g. category or name,unit "
    "(the map asks for what it draws and fetches the rest on a click). A tile: id, kind, "
    "name, category, unit, each for every feature layer or, written as zone:unit, for one "
    "layer only, and issues:id, issues:category, issues:status, issues:overdue for the issue "
    "points (default: all four)"))]
LayersQuery = Annotated[str | None, Query(
    description="layer kinds, comma-separated (default: every layer)")]
PERIOD = ("a week (2026-W47), month (2026-11), quarter (2026-Q4), days (2026-11-01..2026-11-15, "
          "both included) or the current week, month or quarter (week|month|quarter)")
PeriodQuery = Annotated[str | None, Query(description=PERIOD)]
RequiredPeriod = Annotated[str, Query(description=PERIOD)]
SinceQuery = Annotated[LocalDateTime | None, Query(
    alias="from", description="from this time on (ISO 8601; local time when no offset)")]
UntilQuery = Annotated[LocalDateTime | None, Query(
    alias="to", description="before this time (ISO 8601; local time when no offset)")]
LimitQuery = Annotated[int | None, Query(
    ge=1, description="page size (default CCMAP_PAGE_SIZE; more than CCMAP_MAX_PAGE is a 422)")]
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_ID,
                                   description="rows to skip: follow the `next` link instead")]


# OGC API Features (/ogc): the parameters of Part 1 and Part 2 (CRS by reference)
OGC_CRS = ("http://www.opengis.net/def/crs/OGC/1.3/CRS84 (default), "
           "http://www.opengis.net/def/crs/EPSG/0/4326 or "
           "http://www.opengis.net/def/crs/EPSG/0/4490 "
           "(CGCS2000); EPSG:4326 and EPSG:4490 give latitude first")
OgcCrsQuery = Annotated[str | None, Query(
    description=f"CRS of the answer's coordinates: {OGC_CRS}")]
OgcBBoxCrsQuery = Annotated[str | None, Query(
    alias="bbox-crs", description=f"CRS of the bbox's numbers: {OGC_CRS}")]
OgcBBoxQuery = Annotated[str | None, Query(
    description="only features whose box meets this one: 4 numbers (6 with heights) in the "
                "axis order of bbox-crs, e.g. minlon,minlat,maxlon,maxlat in CRS84")]
OgcDatetimeQuery = Annotated[str | None, Query(
    alias="datetime", description="issues reported at this instant, on this date, or in this "
    "interval (RFC 3339; start/end, `..` or nothing for an open end; a time without an "
    "offset is the server's local time)")]
OgcLimitQuery = Annotated[int, Query(
    ge=1, json_schema_extra={"maximum": MAX_LIMIT},
    description=f"features per page (default {DEFAULT_LIMIT}); more than {MAX_LIMIT} is served "
                f"as {MAX_LIMIT} (numberReturned, the next link and a Warning header say so)")]
OgcFormatQuery = Annotated[str | None, Query(
    pattern="^json$", description="answer format: json (GeoJSON for features), the only one")]


def format_query(*formats: str) -> Any:
    """The `format` parameter of a route that answers in one of formats (first: default)."""
    return Query(pattern=f"^({'|'.join(formats)})$",
                 description=f"answer format: {', '.join(formats)}")


@dataclass
class Page:
    """The page a caller asked for."""

    offset: int
    limit: int


def check_limit(limit: int, maximum: int) -> None:
    """LimitExceeded (422) when a caller asks for more than `maximum` rows at once."""
    if limit > maximum:
        raise LimitExceeded(f"每页条数 limit {limit} 超过上限 {maximum}（CCMAP_MAX_PAGE）："
                            "请分页请求，按 next 链接翻页", limit=maximum)


def checked_page(settings: Settings, limit: int | None, offset: int) -> Page:
    """A page from limit/offset, checked against CCMAP_MAX_PAGE (default CCMAP_PAGE_SIZE)."""
    size = settings.page_size if limit is None else limit
    check_limit(size, settings.max_page)
    return Page(offset=offset, limit=size)


async def page_params(settings: SettingsDep, limit: LimitQuery = None,
                      offset: OffsetQuery = 0) -> Page:
    """The limit/offset query parameters (a dependency: async, as it does no I/O)."""
    return checked_page(settings, limit, offset)


PageDep = Annotated[Page, Depends(page_params)]


async def issue_filters(
    user: Reader,
    category: Annotated[list[str] | None, Query(description="issue categories")] = None,
    status: Annotated[list[str] | None, Query(description="issue statuses")] = None,
    source: Annotated[list[str] | None, Query(description="issue sources")] = None,
    unit: Annotated[list[str] | None, Query(description="responsible units")] = None,
    community: Annotated[list[str] | None, Query(description="communities")] = None,
    zone: IdQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    bbox: BBoxQuery = None,
    overdue: bool | None = None,
    recurring: bool | None = None,
    sort: Annotated[str, Query(description=f"one of {', '.join(ISSUE_SORTS)}")]
    = "-reported_at",
) -> IssueQuery:
    """The issue filters shared by the list, GeoJSON, tiles, analyses and exports (no paging:
    all rows), within the caller's scope."""
    if sort not in ISSUE_SORTS:
        raise InvalidInput(f"排序方式 sort 须为以下之一：{', '.join(ISSUE_SORTS)}")
    return IssueQuery(categories=category or [], statuses=status or [], sources=source or [],
                      units=unit or [], communities=community or [], zone_id=zone,
                      since=since, until=until,
                      bbox=parse_bbox(bbox), overdue=overdue, recurring=recurring,
                      scope_unit=user.scope_unit, sort=sort, limit=None)


IssueFilters = Annotated[IssueQuery, Depends(issue_filters)]


async def issue_query(
    query: IssueFilters,
    page: Annotated[int, Query(ge=1, le=MAX_ID // 1000, description="page number, from 1")]
    = 1,
    page_size: Annotated[int, Query(ge=1, le=1000, description="issues per page")] = 50,
) -> IssueQuery:
    """The issue filters with a page of the issue list (page, page_size)."""
    query.offset, query.limit = (page - 1) * page_size, page_size
    return query


IssueQueryDep = Annotated[IssueQuery, Depends(issue_query)]


FLAG = re.compile(r"^[a-z_]{1,32}$")


def issue_list_query(
    query: IssueQueryDep,
    store: StoreDep,
    settings: SettingsDep,
    due_within: Annotated[float | None, Query(gt=0, le=2000, description=(
        "only open cases whose clock runs and whose deadline falls within this many working "
        "hours from now (the office hours and calendar in force)"))] = None,
    flag: Annotated[list[str] | None, Query(description=(
        "only issues carrying every one of these flags: escalated (督办), recurring, overlap, "
        "uncovered"))] = None,
) -> IssueQuery:
    """The issue list's filters: the shared ones, a page, and the clock's (due_within, flag);
    the cut-off of due_within is worked out with the office's calendar here, then compared
    with the deadline in SQL."""
    for f in flag or []:
        if not FLAG.match(f):
            raise InvalidInput(f"未知的标记 {f!r}：标记须为小写代码（escalated …）")
    query.flags = flag or []
    if due_within is not None:
        calendar = office_calendar(store, settings.office_hours)
        query.due_before = due_cutoff(calendar, query.now, due_within)
    return query


IssueListDep = Annotated[IssueQuery, Depends(issue_list_query)]
