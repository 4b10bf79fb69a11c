"""Streamed import of issue ledgers (CSV/xlsx): read, validate, route and write chunk by chunk.

A file is read `chunk_rows` rows at a time (geo.layers.userfiles.TableChunks). Each chunk is
mapped and
validated as columns (geo.ledger.mapping.parse_frame), routed with one vectorised route_columns call
against the zones, staffed streets and communities (loaded once, again only when one of those
layers changes during the import), checked for recurrence (回潮) against the closed issues stored
before the import began, and written in one transaction (SQLite executemany, PostgreSQL COPY).

So a killed import leaves whole chunks only, and running it again skips every row whose
external_id is stored and writes the rest: the same issues as one uninterrupted run. Rows
without an external_id cannot be recognised: a rerun writes them again. Recurrence links go
only to issues stored before the run started (as the one-transaction import did), so on a rerun
the rows the first run stored count as earlier issues.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geo.layers.projection import MetricFrame
from geo.layers.userfiles import TableChunks
from geo.ledger.mapping import IssueImport, ParseState, parse_frame
from geo.ledger.recurrence import DEFAULT_RULE, RecurrenceRule
from geo.model.kinds import Kind
from geo.model.records import Feature
from geo.store import Store, after_bulk_write
from geo.zones.assignment import route_columns

DEFAULT_CHUNK_ROWS = 50_000
ROUTING_KINDS = (Kind.zone, Kind.street, Kind.alley, Kind.community)
Progress = Callable[[int, int], None]


def _no_progress(done: int, total: int) -> None:
    """Report nothing."""


class _Layers:
    """The features issues are routed against, reloaded when their layers' versions move."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.versions: tuple[int, ...] | None = None
        self.zones: list[Feature] = []
        self.lines: list[Feature] = []
        self.communities: list[Feature] = []

    def current(self) -> tuple[list[Feature], list[Feature], list[Feature]]:
        """Zones, staffed streets/alleys and communities, in the store's order (by id)."""
        versions = tuple(self.store.layer_versions([k.value for k in ROUTING_KINDS]).values())
        if versions != self.versions:
            self.zones = self.store.features(Kind.zone)
            self.lines = [f for kind in (Kind.street, Kind.alley)
                          for f in self.store.features(kind) if f.properties.get("cadre")]
            self.communities = self.store.features(Kind.community)
            self.versions = versions
        return self.zones, self.lines, self.communities


def import_table(store: Store, chunks: TableChunks, actor: str,
                 field_map: dict[str, str] | None = None,
                 category_map: dict[str, str] | None = None, date_format: str | None = None,
                 dry_run: bool = False, progress: Progress = _no_progress,
                 rule: RecurrenceRule = DEFAULT_RULE) -> dict[str, Any]:
    """Import a ledger chunk by chunk (one transaction each); the report (imported, skipped,
    every bad row with its row number and reason, unmapped categories, date formats)."""
    state = ParseState()
    report = IssueImport()
    layers = _Layers(store)
    baseline = store.max_issue_id()  # recurrence looks at what was stored before this run
    imported = done = 0
    progress(0, chunks.total)
    for frame in chunks:
        good, part = parse_frame(frame, field_map, category_map, date_format,
                                 first_row=done + 2, state=state)
        report.errors += part.errors
        report.unmapped_categories, report.date_formats = (part.unmapped_categories,
                                                           part.date_formats)
        done += len(frame)
        del frame
        if dry_run:
            known = _known(store, good)
            report.skipped += int(known.sum())
            imported += int((~known).sum())
        else:
            store.prepare_issue_months(good["reported_at"])  # new months' partitions first
            with store.transaction():  # the chunk is written whole or not at all
                known = _known(store, good)
                fresh = good[~known].reset_index(drop=True)
                report.skipped += int(known.sum())
                _route(fresh, *layers.current())
                if baseline:
                    _recurrences(store, fresh, baseline, rule)
                imported += len(store.write_issue_columns(fresh, actor))
        progress(done, chunks.total)
    if not dry_run:
        after_bulk_write(store, imported)
    report.errors.sort(key=lambda e: e.row)
    doc = report.report(imported)
    doc["dry_run"] = dry_run
    return doc


def _known(store: Store, good: pd.DataFrame) -> np.ndarray:
    """Which rows carry an external_id that is already stored."""
    ids = [i for i in good["external_id"].tolist() if isinstance(i, str)]
    if not ids:
        return np.zeros(len(good), dtype=bool)
    stored = store.existing_external_ids(ids)
    return good["external_id"].isin(stored).to_numpy() if stored else \
        np.zeros(len(good), dtype=bool)


def _route(rows: pd.DataFrame, zones: list[Feature], lines: list[Feature],
           communities: list[Feature]) -> None:
    """Add zone_id, unit, flags, cadre and community columns (one vectorised routing)."""
    cols = route_columns(rows["lon"].to_numpy(float), rows["lat"].to_numpy(float), zones,
                         lines, communities)
    ids = np.array([z.id or 0 for z in zones] + [0], dtype=np.int64)
    has_id = np.array([z.id is not None for z in zones] + [False], dtype=bool)
    rows["zone_id"] = pd.arrays.IntegerArray(ids[cols.zone], ~has_id[cols.zone])
    rows["unit"] = cols.units(zones)
    rows["flags"] = cols.flags(zones, shared=True)  # never changed in place (see _recurrences)
    rows["cadre"] = cols.cadre
    rows["community"] = cols.community
    rows["recurring_of"] = pd.array([None] * len(rows), dtype="Int64")


def _recurrences(store: Store, rows: pd.DataFrame, max_id: int, rule: RecurrenceRule) -> None:
    """Link rows to the nearest closed issue of their category within rule.radius_m closed in
    the rule.days before they were reported (geo.ledger.recurrence's rule, on columns)."""
    if rows.empty:
        return
    lon, lat = rows["lon"].to_numpy(float), rows["lat"].to_numpy(float)
    reported = rows["reported_at"].to_numpy(dtype="datetime64[us]")
    pad = rule.radius_m / 90_000.0  # > radius at any latitude below 60° (geo.ledger.recurrence)
    old = store.closed_issue_columns(
        (lon.min() - pad, lat.min() - pad, lon.max() + pad, lat.max() + pad),
        pd.Timestamp(reported.min()).to_pydatetime() - timedelta(days=rule.days),
        pd.Timestamp(reported.max()).to_pydatetime(), max_id)
    if len(old["id"]) == 0:
        return
    frame = MetricFrame.around(float(lon.mean()), float(lat.mean()))
    new_pts: Any = frame.to_metric(shapely.points(lon, lat))
    old_pts: Any = frame.to_metric(shapely.points(old["lon"], old["lat"]))
    a, b = shapely.STRtree(old_pts).query(new_pts, predicate="dwithin", distance=rule.radius_m)
    gap = reported[a] - old["closed_at"][b]
    ok = ((rows["category"].to_numpy(object)[a] == old["category"][b])
          & (gap >= np.timedelta64(0, "us")) & (gap <= np.timedelta64(rule.days, "D")))
    a, b = a[ok], b[ok]
    if len(a) == 0:
        return
    dist = shapely.distance(new_pts[a], old_pts[b])
    order = np.lexsort((old["id"][b], dist, a))  # per row: nearest, then lowest id
    a, b = a[order], b[order]
    first = np.ones(len(a), dtype=bool)
    first[1:] = a[1:] != a[:-1]
    linked = rows["recurring_of"].copy()
    flags = rows["flags"].tolist()
    for k, old_id in zip(a[first].tolist(), old["id"][b[first]].tolist(), strict=True):
        linked.iloc[k] = old_id
        if "recurring" not in flags[k]:
            flags[k] = [*flags[k], "recurring"]
    rows["recurring_of"] = linked
    rows["flags"] = flags
