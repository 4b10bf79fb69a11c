"""What an items request asks for: bbox (in bbox-crs), datetime and the page, checked."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from geo.model.errors import InvalidInput
from geo.model.timestamps import to_local
from geo.ogc.crs import OgcCrs
from geo.store import BBox

DEFAULT_LIMIT = 10  # Part 1's limit default, when a request names none
MAX_LIMIT = 10_000  # a larger limit is served as this many (Part 1: no error), said so
TICK = timedelta(microseconds=1)  # an inclusive end as the store's exclusive `until`
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Limit:
    """The page size asked for and the one served (at most MAX_LIMIT)."""

    asked: int
    served: int

    @property
    def clamped(self) -> bool:
        """Whether the caller asked for more than one page may hold."""
        return self.served < self.asked


def parse_limit(value: int | None) -> Limit:
    """The page size: DEFAULT_LIMIT when not given, at most MAX_LIMIT (a larger one is served
    as MAX_LIMIT, as Part 1 asks, and the answer says so)."""
    asked = DEFAULT_LIMIT if value is None else value
    if asked < 1:
        raise InvalidInput(f"limit must be at least 1, got {asked}")
    return Limit(asked, min(asked, MAX_LIMIT))


def parse_bbox(text: str | None, crs: OgcCrs) -> BBox | None:
    """A bbox parameter (4 numbers, or 6 with heights, in the axis order of bbox-crs) as WGS 84
    minlon,minlat,maxlon,maxlat; InvalidInput saying why it is not one."""
    if text is None or text == "":
        return None
    parts = text.split(",")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (4, 6) or not all(math.isfinite(v) for v in numbers):
        raise InvalidInput(f"bbox must be 4 numbers {crs.axis_names} (or 6 with heights) in "
                           f"bbox-crs {crs.uri}, got {text!r} (bbox 格式错误)")
    if len(numbers) == 6:  # heights are ignored: every feature lies on the ground
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    a0, b0, a1, b1 = numbers
    if a0 > a1 or b0 > b1:
        raise InvalidInput(f"bbox {text!r}: the minimum of an axis is above its maximum "
                           f"(order {crs.axis_names}; a box across the antimeridian is not "
                           "supported)")
    lat = (a0, a1) if crs.lat_first else (b0, b1)
    lon = (b0, b1) if crs.lat_first else (a0, a1)
    if not (lon[0] >= -180 and lon[1] <= 180 and lat[0] >= -90 and lat[1] <= 90):
        raise InvalidInput(f"bbox {text!r} is not degrees in {crs.uri} (order "
                           f"{crs.axis_names}: longitude -180..180, latitude -90..90)")
    return crs.bbox_to_crs84((a0, b0, a1, b1))


def parse_datetime(text: str | None) -> tuple[datetime | None, datetime | None]:
    """A datetime parameter (an instant, a date, or an interval start/end with `..` or an
    empty side for open ends) as (since, until): since inclusive, until exclusive, in the
    server's local time like every stored time; (None, None) when not given."""
    if text is None or text == "":
        return None, None
    if "/" not in text:
        start, end = _bounds(text)
        return start, end
    if text.count("/") != 1:
        raise InvalidInput(f"datetime {text!r} is an instant or one interval start/end")
    first, last = text.split("/")
    since = None if first in ("", "..") else _bounds(first)[0]
    until = None if last in ("", "..") else _bounds(last)[1]
    if since is not None and until is not None and since >= until:
        raise InvalidInput(f"datetime {text!r}: the interval ends before it starts")
    return since, until


def _bounds(text: str) -> tuple[datetime, datetime]:
    """[start, end) of an instant (a single tick) or of a date (the whole day)."""
    try:
        if DATE.match(text):
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day)
            return to_local(start), to_local(start) + timedelta(days=1)
        if "T" not in text.upper():
            raise ValueError
        instant = to_local(datetime.fromisoformat(text))
    except ValueError:
        raise InvalidInput(
            f"datetime {text!r} is not RFC 3339: give an instant (2026-11-01T08:00:00Z), a "
            "date (2026-11-01), or an interval (2026-11-01T00:00:00Z/2026-11-30T00:00:00Z, "
            "../2026-11-30, 2026-11-01/..) (时间格式错误)") from None
    return instant, instant + TICK
