"""Audit diffs: what a write changed, in a form the JSON `audit.diff` column can hold."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date
from enum import Enum
from typing import Any

MASK = "***"


def jsonable(value: Any) -> Any:
    """A value as JSON can store it: dates as ISO text, enums as their value."""
    if isinstance(value, date):  # datetime is a date too
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def changes(before: Mapping[Any, Any], after: Mapping[str, Any],
            secret: Collection[str] = ()) -> dict[str, dict[str, Any]]:
    """{field: {"from": old, "to": new}} for each field of `after` that differs from `before`.

    Fields named in `secret` (password hashes) appear only as "***", so the audit log shows
    that they changed but never what they are.
    """
    diff: dict[str, dict[str, Any]] = {}
    for key, new in after.items():
        old = before.get(key)
        if jsonable(old) == jsonable(new):
            continue
        if key in secret:
            diff[key] = {"from": MASK, "to": MASK}
        else:
            diff[key] = {"from": jsonable(old), "to": jsonable(new)}
    return diff
