"""Importing a layer file or an issue ledger from disk: read, validate, store — the one
workflow that an upload job (HTTP) and the `ccmap import` commands run.

Both return the report the HTTP routes have always returned, and call `progress` with rows or
features done so far. The file readers sit behind `_read_layer` and `_read_ledger` only, so a
change of reader touches one line each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geo.jobs.runner import Progress
from geo.layers.reading import ImportResult, read_layer_file
from geo.layers.userfiles import FileLimits, TableChunks
from geo.ledger.mapping import load_category_map_data, open_table
from geo.ledger.streamed_import import DEFAULT_CHUNK_ROWS, import_table
from geo.model.kinds import Kind
from geo.store import Store, after_bulk_write
from geo.zones.editing import ZonePolicy, validate_zone_import
from geo.zones.rerouting import rerouting


def _no_progress(done: int, total: int | None = None) -> None:
    """A Progress that records nothing (synchronous imports)."""


@dataclass
class LayerUpload:
    """What to do with an uploaded layer file."""

    path: Path
    filename: str
    kind: Kind
    coords: str = "wgs84"
    field_map: dict[str, str] = field(default_factory=dict)
    policy: ZonePolicy = field(default_factory=ZonePolicy)
    limits: FileLimits = field(default_factory=FileLimits)
    progress_bar: bool = False  # a progress bar on the terminal while the file is read (CLI)


@dataclass
class LedgerUpload:
    """What to do with an uploaded issue ledger (CSV/xlsx)."""

    path: Path
    filename: str
    field_map: dict[str, str] = field(default_factory=dict)
    category_map: str | None = None
    dry_run: bool = False
    limits: FileLimits = field(default_factory=FileLimits)
    chunk_rows: int = DEFAULT_CHUNK_ROWS  # rows read, routed and written per transaction


def _read_layer(up: LayerUpload) -> ImportResult:
    """Read and validate the layer file (the one place that names the reader)."""
    return read_layer_file(up.path, up.kind, up.coords, up.field_map, limits=up.limits,
                           filename=up.filename, progress=up.progress_bar)


def _read_ledger(up: LedgerUpload) -> TableChunks:
    """Open the ledger table in chunks (the one place that names the reader)."""
    return open_table(up.path, up.filename, up.limits, up.chunk_rows)


def import_layer(store: Store, up: LayerUpload, actor: str,
                 progress: Progress = _no_progress) -> dict[str, Any]:
    """Import a layer file all or nothing; the report (imported, ids, warnings, rerouted)."""
    result = _read_layer(up)
    progress(0, len(result.features))
    if up.kind is Kind.zone:  # the same rules as zones drawn on the map
        result.features, extra = validate_zone_import(store, result.features, up.policy)
        result.problems += extra
    with rerouting(store, actor) as change:  # zones or cadres changed: where they lie
        ids = store.add_features(result.features, actor=actor)
        change.add_features(result.features)
    after_bulk_write(store, len(ids))
    progress(len(ids), len(result.features))
    doc: dict[str, Any] = {"imported": len(ids), "ids": ids,
                           "warnings": [p.as_dict() for p in result.problems]}
    if up.kind in (Kind.zone, Kind.street, Kind.alley):
        doc["rerouted_issues"] = change.rerouted
    return doc


def import_ledger(store: Store, up: LedgerUpload, actor: str,
                  progress: Progress = _no_progress) -> dict[str, Any]:
    """Import an issue ledger chunk by chunk (progress after each): bad rows reported, the
    good rows of each chunk written in one transaction; the report."""
    category_map = load_category_map_data(up.category_map)
    chunks = _read_ledger(up)
    return import_table(store, chunks, actor, up.field_map, category_map, dry_run=up.dry_run,
                        progress=progress)
