"""Choropleths of zones and communities (issues per zone, per km, per km², open, overdue,
rectification, on-time closure and recurrence rates) with natural-break classes.

A city's zone layer is 5,000 polygons (5 MB of GeoJSON) while its values are 5,000 numbers, so
the answer is assembled from parts kept apart: each area's Feature up to its values (geometry,
id, name, unit) is encoded once per state of the layer (geo.zones.figures.versioned, keyed on
the layer's version stored in the database, so every worker sees an edit on its next request)
and the values are counted in SQL on every call — only what the metric needs — and spliced in.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from geo.analytics.scoring import metrics, unrouted_communities
from geo.layers.coords import convert_geometry
from geo.layers.geojson import geometry_json, parse_coords
from geo.model.errors import InvalidInput
from geo.model.kinds import Kind
from geo.store import IssueQuery, Store
from geo.store.aggregates import merge_stats
from geo.zones import figures as area_figures

METRICS = {
    "issues": "问题数", "per_km": "每公里道路问题数", "per_km2": "每平方公里问题数",
    "open": "未结问题数", "overdue": "超期问题数", "rectification_rate": "整改率",
    "on_time_closure_rate": "按期结案率", "recurrence_rate": "回潮率",
}
# what the database counts for a metric: a bare count of the issues or of the open ones, or
# issue_stats' flags (the rates and overdue)
COUNTED = {"issues": "issues", "per_km": "issues", "per_km2": "issues", "open": "open"}
CLASSES = 5
METHOD = "natural breaks (one-dimensional k-means, best of 10 seeded starts)"
# as JSONResponse encodes (UTF-8, no NaN, compact)
_encode = partial(json.dumps, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _kind(level: str) -> Kind:
    if level == "zone":
        return Kind.zone
    if level == "community":
        return Kind.community
    raise InvalidInput("level 须为 zone 或 community")


@dataclass(frozen=True)
class EncodedAreas:
    """An area layer as the choropleth sends it: per area (by id) its id, name and area in km²
    and its GeoJSON Feature encoded up to the per-request properties (metric, value, class)."""

    ids: list[int]
    names: list[str]
    area_km2: NDArray[np.float64]
    heads: list[bytes]


def encoded_areas(store: Store, kind: Kind, coords: str = "wgs84") -> EncodedAreas:
    """The layer's areas with their Features' fixed part encoded (cached on the layer)."""
    return area_figures.versioned(store, f"choropleth:{kind.value}:{coords}", [kind],
                                  lambda: _encode_areas(area_figures.areas(store, kind), coords))


def _encode_areas(a: area_figures.Areas, coords: str) -> EncodedAreas:
    geoms = [convert_geometry(g, "wgs84", coords) for g in a.geoms]
    heads = [(f'{{"type":"Feature","geometry":{_encode(geometry_json(g))},"properties":'
              f'{{"id":{_encode(i)},"name":{_encode(n)},"unit":{_encode(u)},').encode()
             for i, n, u, g in zip(a.ids, a.names, a.units, geoms, strict=True)]
    return EncodedAreas(a.ids, a.names, a.area_km2, heads)


def choropleth(store: Store, level: str, metric: str, since: datetime | None = None,
               until: datetime | None = None, scope_unit: str | None = None,
               coords: str | None = None) -> bytes:
    """Areas with the metric's value and class, the breaks and a legend, as a GeoJSON
    FeatureCollection encoded in UTF-8 (properties id, name, unit, metric, value, class; the
    document also has metric, label, level, breaks, legend, method). The areas' encoded
    Features, area and street km come from geo.zones.figures (computed again only after their
    layers change); the issues are counted in SQL on every call. coords: wgs84 (default),
    gcj02 or bd09 (for Chinese basemaps)."""
    if metric not in METRICS:
        raise InvalidInput(f"metric 须为 {', '.join(METRICS)} 之一")
    kind = _kind(level)
    areas = encoded_areas(store, kind, parse_coords(coords))
    if not areas.ids:
        return _encode({"type": "FeatureCollection", "features": [], "breaks": [],
                        "legend": []}).encode()
    now = min(until or datetime.now(), datetime.now())
    query = IssueQuery(since=since, until=until, scope_unit=scope_unit, limit=None, now=now)
    values = _values(store, query, areas, kind, level, metric)
    arr = np.array(values, dtype=float)
    bins, classes = natural_breaks(arr, min(CLASSES, len(np.unique(arr))))
    lower = [float(arr.min()), *bins[:-1]]
    legend = [{"class": n, "from": round(lo, 4), "to": round(hi, 4)}
              for n, (lo, hi) in enumerate(zip(lower, bins, strict=True))]
    rest = _encode({"metric": metric, "label": METRICS[metric], "level": level,
                    "breaks": bins, "legend": legend, "method": METHOD})
    tail = f'"metric":{_encode(metric)},"value":%s,"class":%d}}}}'
    features = b",".join([head + (tail % (_number(v), c)).encode()
                          for head, v, c in zip(areas.heads, values, classes, strict=True)])
    return b'{"type":"FeatureCollection","features":[' + features + b"]," + rest[1:].encode()


def natural_breaks(values: NDArray[np.float64], k: int) -> tuple[list[float], list[int]]:
    """Up to k natural-break classes of the values: the upper limit of each and each value's
    class (a value is in the first class whose limit it does not exceed). As
    mapclassify.NaturalBreaks (one-dimensional k-means, the best of 10 starts), but with its
    starts seeded, so the same values always give the same classes (unseeded, a map refreshed
    on unchanged data could change its breaks and colours)."""
    if k < 2:
        return [float(values.max())], [0] * len(values)
    # KMeans (10 starts on a few thousand values) in one OpenMP thread: 0.02 s of CPU
    # instead of 0.4 s spent by the threads of the pool waiting on each other
    with threadpool_limits(1, user_api="openmp"):
        fit = KMeans(n_clusters=k, init="k-means++", n_init=10, random_state=0).fit(
            values.reshape(-1, 1))
    bins = np.sort([values[fit.labels_ == c].max() for c in range(k)])
    return bins.tolist(), np.searchsorted(bins, values, side="left").tolist()


def _number(v: float) -> str:
    """A value rounded to 4 decimals as JSON writes it (an int stays an int)."""
    if isinstance(v, int):
        return str(v)
    if not math.isfinite(v):
        raise ValueError(f"choropleth value {v!r} is not a number JSON can carry")
    return repr(round(float(v), 4))


def _values(store: Store, query: IssueQuery, areas: EncodedAreas, kind: Kind, level: str,
            metric: str) -> list[Any]:
    """The metric's value per area (areas' order)."""
    counted = COUNTED.get(metric)
    if counted is not None:
        n = _counts(store, query, areas, level, counted)
        if metric in ("issues", "open"):
            return n
        if metric == "per_km":
            lines = area_figures.line_km(store, kind)
            size = lines[Kind.street] + lines[Kind.alley]
        else:
            size = areas.area_km2
        return [c / s if s else 0.0 for c, s in zip(n, size.tolist(), strict=True)]
    groups = _group(store, query, areas, level)
    empty = merge_stats([])
    return [metrics(groups.get(k, empty))[metric] for k in range(len(areas.ids))]


def _index(areas: EncodedAreas, level: str) -> dict[Any, int]:
    """The area index of each zone id or community name (a name used twice: the first)."""
    keys = areas.ids if level == "zone" else areas.names
    index: dict[Any, int] = {}
    for k, key in enumerate(keys):
        index.setdefault(key, k)
    return index


def _counts(store: Store, query: IssueQuery, areas: EncodedAreas, level: str,
            counted: str) -> list[int]:
    """Per area, how many issues (counted="issues") or open issues ("open") match: a bare
    count by the zone_id or community stored with each issue, in SQL; in communities, the
    issues stored without one are placed by point in polygon."""
    column = "zone_id" if level == "zone" else "community"
    rows = store.issue_counts(query, column, open_only=counted == "open")
    out = [0] * len(areas.ids)
    for key, k in _index(areas, level).items():
        out[k] = rows.get(key, 0)
    if level == "community" and None in rows:
        index = _index(areas, level)
        for name, counts in unrouted_communities(store, query).items():
            if name in index:
                out[index[name]] += counts[counted]
    return out


def _group(store: Store, query: IssueQuery, areas: EncodedAreas,
           level: str) -> dict[int, dict[str, int]]:
    """Counts (issue_stats) per area index: by the zone_id or community stored with each
    issue, counted in SQL."""
    index = _index(areas, level)
    if level == "zone":
        rows = store.issue_stats(query, by=["zone_id"])
        return {index[r["zone_id"]]: r for r in rows if r["zone_id"] in index}
    out: dict[int, list[dict[str, int]]] = defaultdict(list)
    rows = store.issue_stats(query, by=["community"])
    for r in rows:
        if r["community"] in index:
            out[index[r["community"]]].append(r)
    if any(r["community"] is None for r in rows):
        for name, counts in unrouted_communities(store, query).items():
            if name in index:
                out[index[name]].append(counts)
    return {k: merge_stats(v) for k, v in out.items()}
