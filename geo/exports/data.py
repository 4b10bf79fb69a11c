"""Data exports: GeoPackage (every layer, zones with owners, issues with status and history),
GeoJSON, and the ledger as CSV/.xlsx with Chinese headers; optionally in GCJ-02 for
Gaode-based tools."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely

from geo.exports.tables import issue_rows, table_bytes
from geo.layers.coords import convert_geometry, crs_of
from geo.layers.geojson import collection, feature_json, issue_json
from geo.model.errors import InvalidInput
from geo.model.kinds import Kind
from geo.model.lifecycle import statuses
from geo.store import BBox, IssueQuery, Store

FORMATS = (".gpkg", ".geojson", ".csv", ".xlsx")


def export_data(store: Store, out: Path, coords: str = "wgs84", bbox: BBox | None = None,
                issues_query: IssueQuery | None = None,
                kinds: Sequence[Kind] | None = None) -> dict[str, int]:
    """Write the store, or a selection of it, to out (format from its suffix); rows per layer.

    The selection: features and issues inside bbox, issues matching issues_query, and only the
    layers in kinds (all by default). CSV/xlsx hold the issue ledger only. A GeoPackage in
    GCJ-02 or BD-09 says so in its layers' CRS (geo.layers.coords.crs_of), never EPSG:4326.
    """
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise InvalidInput(f"export format must be one of {', '.join(FORMATS)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if issues_query is None and bbox is None:
        issues = store.issues()
    else:
        query = replace(issues_query or IssueQuery(), bbox=bbox, offset=0, limit=None,
                        sort="id")
        issues, _ = store.query_issues(query)
    layers = list(kinds) if kinds is not None else list(Kind)
    if suffix in (".csv", ".xlsx"):
        data, _ = table_bytes(issue_rows(issues), suffix[1:])
        out.write_bytes(data)
        return {"issues": len(issues)}
    counts: dict[str, int] = {}
    if suffix == ".geojson":
        feats: list[dict[str, Any]] = []
        for kind in layers:
            rows = store.features(kind, bbox=bbox)
            counts[kind.value] = len(rows)
            feats += [feature_json(f, coords) for f in rows]
        feats += [{**issue_json(i, coords), "properties": {**issue_json(i)["properties"],
                                                         "kind": "issue"}} for i in issues]
        counts["issues"] = len(issues)
        out.write_text(json.dumps(collection(feats), ensure_ascii=False), encoding="utf-8")
        return counts
    if out.exists():
        out.unlink()
    for kind in layers:
        rows = store.features(kind, bbox=bbox)
        if not rows:
            continue
        frame = gpd.GeoDataFrame(
            [{"id": f.id, "名称": f.name, "类别": f.category, "责任单位": f.properties.get("unit"),
              "责任人": f.properties.get("responsible_person"),
              "路长": f.properties.get("cadre"), "properties": json.dumps(
                  f.properties, ensure_ascii=False)} for f in rows],
            geometry=[convert_geometry(f.geometry, "wgs84", coords) for f in rows],
            crs=crs_of(coords))
        frame.to_file(out, layer=kind.value, driver="GPKG", engine="pyogrio")
        counts[kind.value] = len(rows)
    if issues:
        labels = statuses()
        history: dict[int, list[dict[str, Any]]] = {}
        for h in store.issue_history(None):
            history.setdefault(h["issue_id"], []).append(
                {k: (v.isoformat() if k == "at" else v) for k, v in h.items()
                 if k not in ("id", "issue_id")})
        frame = gpd.GeoDataFrame(
            [{"id": i.id, "类别": i.category, "状态": labels.get(i.status, i.status),
              "status": i.status, "描述": i.description, "地址": i.address,
              "上报时间": i.reported_at, "整改时限": i.deadline, "结案时间": i.closed_at,
              "责任单位": i.unit, "回潮自": i.recurring_of,
              "history": json.dumps(history.get(i.id or 0, []), ensure_ascii=False)}
             for i in issues],
            geometry=[convert_geometry(shapely.Point(i.lon, i.lat), "wgs84", coords)
                      for i in issues], crs=crs_of(coords))
        frame.to_file(out, layer="issues", driver="GPKG", engine="pyogrio")
        counts["issues"] = len(issues)
    return counts

