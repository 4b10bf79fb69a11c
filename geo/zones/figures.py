"""Figures of zones and communities that change only when their layers change: names, owners,
geometry, area and the km of street and alley inside each area.

Computing them reads and cuts every street and alley (60,000 lines at city scale, seconds),
so they are kept per process and database, keyed on store.layer_stamp of the layers they
derive from: every write of a feature bumps its layer's version in the database (in the
write's transaction), so any process sees an edit — its own or another's — on its next
request and computes the figures again. The choropleths (geo/analytics/choropleth.py, which
also keeps
its areas' GeoJSON encoded here) and the workload table (geo/zones/editing.py) share them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import shapely
from numpy.typing import NDArray

from geo.layers.projection import MetricFrame
from geo.model.kinds import Kind
from geo.store import Store

T = TypeVar("T")
MAX_ENTRIES = 16  # (database, figure) pairs kept per process
LINE_KINDS = (Kind.street, Kind.alley)
_cache: OrderedDict[tuple[str, str], tuple[tuple[Any, ...], Any]] = OrderedDict()
_lock = threading.Lock()
stats = {"computed": 0, "reused": 0}  # for tests and benchmarks


def versioned(store: Store, name: str, kinds: Sequence[Kind], compute: Callable[[], T]) -> T:
    """compute() once per state of the layers `kinds` of this database (store.layer_stamp is
    read before computing: a write during the computation makes the next call compute
    again)."""
    stamp = store.layer_stamp([k.value for k in kinds])
    key = (store.url, name)
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] == stamp:
            _cache.move_to_end(key)
            stats["reused"] += 1
            return hit[1]
    value = compute()
    with _lock:
        _cache[key] = (stamp, value)
        _cache.move_to_end(key)
        while len(_cache) > MAX_ENTRIES:
            _cache.popitem(last=False)
        stats["computed"] += 1
    return value


def clear() -> None:
    """Forget every cached figure (tests)."""
    with _lock:
        _cache.clear()


@dataclass(frozen=True)
class Areas:
    """The features of an area layer, by id: names, owning units, shapely geometry (WGS84,
    and in MetricFrame.for_geometries of them all) and area in km²."""

    ids: list[int]
    names: list[str]
    units: list[str | None]
    geoms: NDArray[np.object_]
    m_geoms: NDArray[np.object_]
    area_km2: NDArray[np.float64]


def areas(store: Store, kind: Kind) -> Areas:
    """The zones or communities with their geometry and area (cached on the layer)."""
    return versioned(store, f"areas:{kind.value}", [kind], lambda: _areas(store, kind))


def _areas(store: Store, kind: Kind) -> Areas:
    labels = store.feature_labels(kind)
    ids, geoms = store.feature_geometries(kind)
    by_id = {r["id"]: r for r in labels}
    if not ids:
        empty = np.empty(0, dtype=object)
        return Areas([], [], [], empty, empty, np.zeros(0))
    m_geoms = MetricFrame.for_geometries(geoms).to_metric(geoms)
    return Areas(ids, [by_id[i]["name"] for i in ids], [by_id[i]["unit"] for i in ids],
                 geoms, m_geoms, shapely.area(m_geoms) / 1e6)


def line_km(store: Store, kind: Kind) -> dict[Kind, NDArray[np.float64]]:
    """Km of street and of alley inside each area of the layer (in areas' order; a line in
    two overlapping areas counts in both), cached on the area, street and alley layers."""
    return versioned(store, f"line_km:{kind.value}", [kind, *LINE_KINDS],
                     lambda: _line_km(store, areas(store, kind)))


def _line_km(store: Store, a: Areas) -> dict[Kind, NDArray[np.float64]]:
    """Only the pairs an STRtree finds intersecting are cut, in one vectorised call a kind."""
    out = {k: np.zeros(len(a.ids)) for k in LINE_KINDS}
    if not a.ids:
        return out
    frame = MetricFrame.for_geometries(a.geoms)  # this thread's transformer (never shared)
    tree = shapely.STRtree(a.geoms)
    for kind in LINE_KINDS:
        _, lines = store.feature_geometries(kind)
        if not len(lines):
            continue
        l_idx, a_idx = tree.query(lines, predicate="intersects")
        lengths = shapely.length(shapely.intersection(frame.to_metric(lines[l_idx]),
                                                      a.m_geoms[a_idx]))
        np.add.at(out[kind], a_idx, lengths / 1000)
    return out
