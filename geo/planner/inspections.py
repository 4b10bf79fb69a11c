"""Checklists (检查标准) and inspection records (检查记录): failed items become issues.

An inspector records every standard of a test point's checklist (data/reference/checklists.json)
as pass, fail or not applicable. Each failed item creates an issue in the ledger (category from the
checklist, at the point, source 暗访 or 督导检查), routed like any other issue; the issue's
external id `inspection:<id>:<item>` links it back. Score rate (得分率) = passed / applicable.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from geo import DATA_DIR
from geo.ledger.writes import prepare, validate_issue
from geo.model.clients import DevicePosition, client_key, public_client_id
from geo.model.errors import Conflict, InvalidInput
from geo.model.kinds import LABELS_ZH, Kind, sources, test_point_categories
from geo.model.records import Feature, Issue
from geo.store import Store
from geo.zones.rerouting import routes_at

RESULTS = {"pass": "合格", "fail": "不合格", "na": "不适用"}
INSPECTION_SOURCES = ("unannounced_inspection", "supervision")
LEVELS = ("point", "category", "community", "zone", "unit")


def checklists() -> dict[str, list[dict[str, str]]]:
    """Test point category → its checklist items (code, label, issue_category)."""
    doc = json.loads((DATA_DIR / "reference" / "checklists.json").read_text("utf-8"))
    out: dict[str, list[dict[str, str]]] = doc["checklists"]
    return out


def checklist(category: str | None) -> list[dict[str, str]]:
    """The checklist of one test point category."""
    items = checklists().get(category or "")
    if not items:
        raise InvalidInput(f"测评点位类别「{category}」没有检查标准："
                           "请在 data/reference/checklists.json 中添加")
    return items


def record_inspection(store: Store, feature_id: int, results: dict[str, dict[str, str]],
                      inspector: str, actor: str, round_id: int | None = None,
                      source: str = "unannounced_inspection",
                      at: datetime | None = None,
                      photos: Mapping[str, tuple[str, bytes, str]] | None = None
                      ) -> dict[str, Any]:
    """Validate and store one inspection in one transaction: failed items become issues, and
    `photos` (item code → file name, bytes, media type; failed items only) their
    before-photos. Returns the record."""
    return record_inspection_once(store, feature_id, results, inspector, actor, round_id,
                                  source, at, photos)[0]


def record_inspection_once(store: Store, feature_id: int, results: dict[str, dict[str, str]],
                           inspector: str, actor: str, round_id: int | None = None,
                           source: str = "unannounced_inspection",
                           at: datetime | None = None,
                           photos: Mapping[str, tuple[str, bytes, str]] | None = None,
                           client_id: str | UUID | None = None,
                           device: DevicePosition | None = None
                           ) -> tuple[dict[str, Any], bool]:
    """record_inspection, idempotent by the client's `client_id`: an inspection this actor
    already sent with it is given back as stored (the round or point may have changed since)
    and nothing is written. `device`: where the inspector's device stood. (the record, whether
    it is new)."""
    key = client_key(actor, client_id)
    if key is not None and (done := resent_inspection(store, key)) is not None:
        return done, False
    point = store.feature(feature_id)
    if point.kind is not Kind.test_point:
        raise InvalidInput(f"要素 #{feature_id} 是{LABELS_ZH[point.kind]}（{point.kind.value}），"
                           "不是测评点位")
    if source not in INSPECTION_SOURCES:
        raise InvalidInput(f"source 须为 {', '.join(INSPECTION_SOURCES)} 之一")
    if not inspector.strip():
        raise InvalidInput("检查人（inspector）不能为空")
    if round_id is not None and feature_id not in round_point_ids(store.round(round_id)):
        # the round was planned again, or the point taken out of it, since the inspector left
        raise Conflict(f"测评点位 #{feature_id} 已不在第 {round_id} 轮检查中")
    items = checklist(point.category)
    codes = {i["code"] for i in items}
    unknown = sorted(set(results) - codes)
    missing = sorted(codes - set(results))
    if unknown or missing:
        raise InvalidInput(f"检查结果与类别「{point.category}」的检查标准不符："
                           f"未知检查项 {unknown}，缺少检查项 {missing}")
    bad = {c: r.get("result") for c, r in results.items() if r.get("result") not in RESULTS}
    if bad:
        raise InvalidInput(f"检查项的 result 须为 pass、fail 或 na，收到的是 {bad}")
    photos = photos or {}
    failed = {c for c, r in results.items() if r.get("result") == "fail"}
    if set(photos) - failed:
        raise InvalidInput("只有不合格的检查项才能附照片，以下检查项不能附："
                           f"{', '.join(sorted(set(photos) - failed))}")
    at = at or datetime.now()
    where = point.geometry.centroid
    issues: list[Issue] = []
    rows: list[dict[str, Any]] = []
    for item in items:
        r = results[item["code"]]
        row: dict[str, Any] = {"code": item["code"], "label": item["label"],
                               "result": r["result"], "note": str(r.get("note", ""))[:2000]}
        if r["result"] == "fail":
            row["issue"] = len(issues)
            issues.append(Issue(
                item["issue_category"], where.x, where.y, source=source, reporter=inspector,
                reported_at=at, address=str(point.properties.get("address") or point.name),
                description=f"【{sources()[source]}】{point.name}：{item['label']} 不合格"
                            + (f"。{row['note']}" if row["note"] else "")))
        rows.append(row)
    for i in issues:
        validate_issue(i)
    prepare(store, issues, at)
    [route] = routes_at(store, [where.x], [where.y])
    passed = sum(1 for r in rows if r["result"] == "pass")
    applicable = sum(1 for r in rows if r["result"] != "na")
    record = {"round_id": round_id, "feature_id": feature_id, "category": point.category,
              "inspected_at": at, "inspector": inspector.strip(), "source": source,
              "items": rows, "passed": passed, "failed": len(issues), "applicable": applicable,
              "score_rate": round(passed / applicable, 4) if applicable else None,
              "zone_id": route.zone_id, "unit": route.unit, "community": route.community,
              **device_columns(device)}
    with store.transaction():
        if key is not None:
            store.lock(f"client:{key}")  # a resend racing the first waits for its commit
            if (done := resent_inspection(store, key)) is not None:
                return done, False
        iid, ids = store.add_inspection({**record, "client_key": key}, issues, actor)
        items_out = [{**{k: v for k, v in r.items() if k != "issue"},
                      "issue_id": ids[r["issue"]] if "issue" in r else None} for r in rows]
        for row in rows:
            if row["code"] in photos and "issue" in row:
                name, data, media = photos[row["code"]]
                store.add_photo(ids[row["issue"]], "before", name, media, data, actor)
    return {**record, "id": iid, "items": items_out, "issue_ids": ids, "point": point.name,
            "inspected_at": at.isoformat(timespec="seconds"), "photos": sorted(photos),
            "client_id": public_client_id(key)}, True


def device_columns(device: DevicePosition | None) -> dict[str, float | None]:
    """An inspection's device position as its stored columns (all None without one)."""
    if device is None:
        return {"device_lon": None, "device_lat": None, "accuracy_m": None}
    return {"device_lon": device.lon, "device_lat": device.lat, "accuracy_m": device.accuracy_m}


def resent_inspection(store: Store, key: str) -> dict[str, Any] | None:
    """The inspection stored with this client key, as record_inspection returned it (the
    photos it came with are on its issues), or None."""
    row = store.inspection_by_client_key(key)
    if row is None:
        return None
    out = public_inspection(row)
    return {**out, "point": store.feature(row["feature_id"]).name, "photos": []}


def public_inspection(row: dict[str, Any]) -> dict[str, Any]:
    """A stored inspection as the API shows it: ISO time, the client_id without its key."""
    out = {k: v for k, v in row.items() if k != "client_key"}
    return {**out, "inspected_at": row["inspected_at"].isoformat(timespec="seconds"),
            "client_id": public_client_id(row.get("client_key"))}


def round_point_ids(round_row: dict[str, Any]) -> set[int]:
    """Ids of the test points a round visits."""
    plan = round_row["plan"]
    return {int(s["id"]) for t in plan["teams"] for s in t["stops"]}


def last_inspections(store: Store) -> dict[int, dict[str, Any]]:
    """The latest inspection of each inspected test point (one read of the records)."""
    return {r["feature_id"]: r for r in store.inspections()}


def revisit_due(latest: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Of the latest inspections, those that failed an item: re-inspect (回头看) next round."""
    return {fid: r for fid, r in latest.items() if r["failed"] > 0}


def inspected_since(latest: dict[int, dict[str, Any]], since: datetime) -> set[int]:
    """Points inspected at or after `since`, from the latest inspection of each."""
    return {fid for fid, r in latest.items() if r["inspected_at"] >= since}


def scores(store: Store, level: str = "point", since: datetime | None = None,
           until: datetime | None = None) -> list[dict[str, Any]]:
    """Score rate (passed / applicable) of the inspections in a period, by level, best first."""
    if level not in LEVELS:
        raise InvalidInput(f"level 须为 {', '.join(LEVELS)} 之一")
    records = store.inspections(since=since, until=until)
    if not records:
        return []
    points: dict[int, Feature] = {f.id: f for f in store.features(Kind.test_point)
                                  if f.id is not None} if level == "point" else {}
    zones = {z["id"]: z["name"] for z in store.feature_labels(Kind.zone)} \
        if level == "zone" else {}
    labels = test_point_categories()

    def key(r: dict[str, Any]) -> str | None:
        if level == "point":
            p = points.get(r["feature_id"])
            return p.name if p else f"#{r['feature_id']}"
        if level == "category":
            return labels.get(r["category"] or "", r["category"])
        if level == "zone":
            return zones.get(r["zone_id"])
        value: str | None = r[level]
        return value

    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if (name := key(r)) is not None:
            groups[name].append(r)
    rows = []
    for name, rs in groups.items():
        passed = sum(r["passed"] for r in rs)
        applicable = sum(r["applicable"] for r in rs)
        row: dict[str, Any] = {
            "name": name, "inspections": len(rs), "passed": passed, "applicable": applicable,
            "failed": sum(r["failed"] for r in rs),
            "score_rate": round(passed / applicable, 4) if applicable else None,
            "last_inspected_at": max(r["inspected_at"] for r in rs).isoformat(
                timespec="seconds")}
        if level == "point":
            row["feature_id"] = rs[0]["feature_id"]
            row["category"] = labels.get(rs[0]["category"] or "", rs[0]["category"])
        rows.append(row)
    rows.sort(key=lambda r: (-(r["score_rate"] if r["score_rate"] is not None else -1),
                             r["name"]))
    for k, r in enumerate(rows, start=1):
        r["rank"] = k
    return rows
