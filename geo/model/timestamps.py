"""Timestamps as ccmap stores them: naive, in the server's local time, within sane years.

Every datetime the app writes or compares is naive local time (datetime.now()), so a timestamp
sent with an offset (2026-01-01T08:00:00+08:00, ...Z) is converted to local time once, here,
instead of being stored aware or with its offset dropped.
"""

from __future__ import annotations

from datetime import datetime

from geo.model.errors import InvalidInput

MIN_YEAR, MAX_YEAR = 1900, 2200  # deadlines and periods are computed from these


def to_local(value: datetime) -> datetime:
    """A naive local datetime (aware ones converted); InvalidInput outside MIN_YEAR..MAX_YEAR."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise InvalidInput(f"时间 {value.isoformat()} 不在 {MIN_YEAR}–{MAX_YEAR} 年之间")
    if value.tzinfo is not None and value.utcoffset() is not None:
        value = value.astimezone().replace(tzinfo=None)
    return value.replace(tzinfo=None)
