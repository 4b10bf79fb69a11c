"""Recurrence (回潮) and duplicate detection, on metric distances.

* Recurring: a new issue of the same category within ``radius_m`` (default 50 m) of an issue
  closed in the ``days`` (default 30) before it was reported; linked to the nearest such issue.
* Duplicate candidate: a new report within ``radius_m`` of an open (not closed or rejected)
  issue of the same category; offered to the user, never merged automatically.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import shapely

from geo.layers.projection import MetricFrame
from geo.model.lifecycle import OPEN
from geo.model.records import Issue


@dataclass(frozen=True)
class RecurrenceRule:
    """Distance and time window of 回潮 and duplicate detection."""

    radius_m: float = 50.0
    days: int = 30


def _pairs(new: list[Issue], old: list[Issue], radius_m: float) -> list[tuple[int, int, float]]:
    """(new index, old index, metres) for every pair within radius_m."""
    if not new or not old:
        return []
    frame = MetricFrame.around(float(np.mean([i.lon for i in new])),
                               float(np.mean([i.lat for i in new])))
    new_pts = frame.to_metric(shapely.points([i.lon for i in new], [i.lat for i in new]))
    old_pts = frame.to_metric(shapely.points([i.lon for i in old], [i.lat for i in old]))
    tree = shapely.STRtree(old_pts)
    a, b = tree.query(new_pts, predicate="dwithin", distance=radius_m)
    dist = shapely.distance(new_pts[a], old_pts[b])
    return list(zip(a.tolist(), b.tolist(), dist.tolist(), strict=True))


DEFAULT_RULE = RecurrenceRule()


def find_recurrences(new: list[Issue], closed: list[Issue],
                     rule: RecurrenceRule = DEFAULT_RULE) -> dict[int, int]:
    """New issue index → id of the closed issue it repeats (nearest, same category)."""
    window = timedelta(days=rule.days)
    best: dict[int, tuple[float, int]] = {}
    for a, b, d in _pairs(new, closed, rule.radius_m):
        n, c = new[a], closed[b]
        if c.category != n.category or c.closed_at is None or n.reported_at is None:
            continue
        if timedelta(0) <= n.reported_at - c.closed_at <= window and c.id is not None and (
                a not in best or d < best[a][0]):
            best[a] = (d, c.id)
    return {a: cid for a, (_, cid) in best.items()}


def find_duplicates(new: list[Issue], open_issues: list[Issue],
                    rule: RecurrenceRule = DEFAULT_RULE) -> dict[int, list[int]]:
    """New issue index → ids of open issues of the same category nearby, nearest first."""
    found: dict[int, list[tuple[float, int]]] = {}
    for a, b, d in _pairs(new, open_issues, rule.radius_m):
        o = open_issues[b]
        if o.category == new[a].category and o.status in OPEN and o.id is not None:
            found.setdefault(a, []).append((d, o.id))
    return {a: [i for _, i in sorted(v)] for a, v in found.items()}


def near_bbox(issues: list[Issue], radius_m: float) -> tuple[float, float, float, float]:
    """A lon/lat box around the issues, padded by radius_m (generously, in degrees)."""
    pad = radius_m / 90_000.0  # > radius at any latitude below 60°
    lons, lats = [i.lon for i in issues], [i.lat for i in issues]
    return (min(lons) - pad, min(lats) - pad, max(lons) + pad, max(lats) + pad)


def since(days: int, now: datetime) -> datetime:
    """The start of the recurrence window."""
    return now - timedelta(days=days)
