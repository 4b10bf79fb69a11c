"""Data exports: GeoPackage (every layer, zones with owners, issues with status and history),
GeoJSON, and the ledger as CSV/.xlsx with Chinese headers; optionally in GCJ-02 for
Gaode-based tools."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from itertools import chain
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import pandas as pd
import shapely

from geo.exports.tables import ISSUE_HEADERS, issue_lines, write_table
from geo.i18n import DEFAULT
from geo.layers.coords import convert_geometry, crs_of
from geo.layers.geojson import collection, feature_json, issue_json
from geo.model.errors import InvalidInput
from geo.model.kinds import Kind
from geo.model.lifecycle import statuses
from geo.model.records import Feature, Issue
from geo.store import BBox, IssueQuery, Store

FORMATS = (".gpkg", ".geojson", ".csv", ".xlsx")
BATCH = 5000  # rows read, converted and written at a time
# the GeoPackage columns whose type a batch could not tell (all empty in it)
COLUMN_TYPES = {"上报时间": "datetime", "整改时限": "datetime", "结案时间": "datetime",
                "回潮自": "float64"}
T = TypeVar("T")


def export_data(store: Store, out: Path, coords: str = "wgs84", bbox: BBox | None = None,
                issues_query: IssueQuery | None = None,
                kinds: Sequence[Kind] | None = None, locale: str = DEFAULT) -> dict[str, int]:
    """Write the store, or a selection of it, to out (format from its suffix); rows per layer.

    The selection: features and issues inside bbox, issues matching issues_query, and only the
    layers in kinds (all by default). CSV/xlsx hold the issue ledger only (its header and
    labels in locale; the GeoPackage's and GeoJSON's field names stay as they are: a schema).
    A GeoPackage in GCJ-02 or BD-09 says so in its layers' CRS (geo.layers.coords.crs_of),
    never EPSG:4326. Rows are read and written BATCH at a time: memory stays flat whatever the
    store's size.
    """
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise InvalidInput(f"导出格式须为以下之一：{', '.join(FORMATS)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    query = replace(issues_query or IssueQuery(), bbox=bbox, offset=0, limit=None, sort="id")
    layers = list(kinds) if kinds is not None else list(Kind)
    counts: dict[str, int] = {}
    if suffix in (".csv", ".xlsx"):
        issues = _counted(store.issue_record_batches(query, BATCH), counts, "issues")
        with out.open("wb") as f:
            write_table(f, chain([ISSUE_HEADERS], issue_lines(chain.from_iterable(issues),
                                                              locale=locale)),
                        suffix[1:], locale)
        return {"issues": counts.get("issues", 0)}
    if suffix == ".geojson":
        _write_geojson(store, out, coords, bbox, query, layers, counts)
        return counts
    if out.exists():
        out.unlink()
    for kind in layers:
        _write_gpkg_layer(out, kind.value, coords, counts, (
            ([_feature_record(f) for f in rows], [f.geometry for f in rows])
            for rows in store.feature_batches(kind, bbox, BATCH)))
    labels = statuses()
    _write_gpkg_layer(out, "issues", coords, counts, (
        _issue_records(store, rows, labels)
        for rows in store.issue_record_batches(query, BATCH)))
    return counts


def _counted(batches: Iterable[list[T]], counts: dict[str, int], name: str
             ) -> Iterator[list[T]]:
    """The batches as they come, their rows added up in counts[name] (left out when none)."""
    for rows in batches:
        if rows:
            counts[name] = counts.get(name, 0) + len(rows)
            yield rows


def _write_geojson(store: Store, out: Path, coords: str, bbox: BBox | None, query: IssueQuery,
                   layers: list[Kind], counts: dict[str, int]) -> None:
    """One FeatureCollection (what json.dumps of it all at once writes), a feature at a time."""
    head, tail = json.dumps(collection([{}]), ensure_ascii=False).split("{}")
    with out.open("w", encoding="utf-8") as f:
        f.write(head)
        sep = ""
        for kind in layers:
            counts[kind.value] = 0
            for rows in store.feature_batches(kind, bbox, BATCH):
                counts[kind.value] += len(rows)
                for feat in rows:
                    f.write(sep + json.dumps(feature_json(feat, coords), ensure_ascii=False))
                    sep = ", "
        counts["issues"] = 0
        for issues in store.issue_record_batches(query, BATCH):
            counts["issues"] += len(issues)
            for i in issues:
                f.write(sep + json.dumps({**issue_json(i, coords), "properties": {
                    **issue_json(i)["properties"], "kind": "issue"}}, ensure_ascii=False))
                sep = ", "
        f.write(tail)


def _write_gpkg_layer(out: Path, layer: str, coords: str, counts: dict[str, int],
                      batches: Iterable[tuple[list[dict[str, Any]], list[Any]]]) -> None:
    """Write a GeoPackage layer batch by batch (appending after the first); none if empty.
    Columns get the types the whole layer at once would have (a batch of empty dates or ids
    must not make them text)."""
    for records, geometries in batches:
        if not records:
            continue
        frame = gpd.GeoDataFrame(records, geometry=[
            convert_geometry(g, "wgs84", coords) for g in geometries], crs=crs_of(coords))
        for column, kind in COLUMN_TYPES.items():
            if column in frame:
                frame[column] = (pd.to_datetime(frame[column]) if kind == "datetime"
                                 else frame[column].astype(kind))
        frame.to_file(out, layer=layer, driver="GPKG", engine="pyogrio",
                      mode="a" if layer in counts else "w")
        counts[layer] = counts.get(layer, 0) + len(records)


def _feature_record(f: Feature) -> dict[str, Any]:
    """A feature's row of its GeoPackage layer."""
    return {"id": f.id, "名称": f.name, "类别": f.category, "责任单位": f.properties.get("unit"),
            "责任人": f.properties.get("responsible_person"), "路长": f.properties.get("cadre"),
            "properties": json.dumps(f.properties, ensure_ascii=False)}


def _issue_records(store: Store, issues: list[Issue], labels: dict[str, str]
                   ) -> tuple[list[dict[str, Any]], list[Any]]:
    """Issues' rows of the GeoPackage's issues layer (with their history) and their points."""
    history = store.histories([i.id for i in issues if i.id is not None])
    records = [{"id": i.id, "类别": i.category, "状态": labels.get(i.status, i.status),
                "status": i.status, "描述": i.description, "地址": i.address,
                "上报时间": i.reported_at, "整改时限": i.deadline, "结案时间": i.closed_at,
                "责任单位": i.unit, "回潮自": i.recurring_of,
                "history": json.dumps([{k: (v.isoformat() if k == "at" else v)
                                        for k, v in h.items() if k not in ("id", "issue_id")}
                                       for h in history.get(i.id or 0, [])],
                                      ensure_ascii=False)} for i in issues]
    return records, [shapely.Point(i.lon, i.lat) for i in issues]
