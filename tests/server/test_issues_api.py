"""The issue ledger over HTTP and the CLI, on both databases."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from shapely.geometry import box

from geo.i18n import CJK, translate
from geo.model.kinds import Kind
from geo.model.records import Feature
from geo.store import IssueQuery, Store, open_store
from server.cli import main
from tests.conftest import FIXTURES, add_user, bearer, tiny_png, wait_for_job

ISSUES = FIXTURES / "issues"
PNG = tiny_png()
LA_MAP = ["--map", "external_id=srnumber", "--map", "category=requesttype", "--map",
          "lon=longitude", "--map", "lat=latitude", "--map", "reported_at=createddate",
          "--map", "closed_at=closeddate", "--map", "status=status", "--map",
          "source=requestsource", "--map", "address=address",
          "--category-map", str(ISSUES / "la311_category_map.json")]


@pytest.fixture
def zones(store: Store) -> list[int]:
    """A big grid zone and a small overlapping storefront zone."""
    return store.add_features([
        Feature(Kind.zone, box(121.470, 31.230, 121.480, 31.240), name="大网格",
                properties={"unit": "区城管执法局"}),
        Feature(Kind.zone, box(121.474, 31.234, 121.476, 31.236), name="门前三包",
                properties={"unit": "区市场监管局"}),
    ])


def _report(client: TestClient, lon: float = 121.471, lat: float = 31.231,
            category: str = "street_vending", **extra: object) -> dict[str, object]:
    r = client.post("/api/issues", json={"category": category, "lon": lon, "lat": lat,
                                         "description": "占道经营", **extra})
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


def test_create_routes_sets_deadline_and_history(client: TestClient, zones: list[int]) -> None:
    issue = _report(client, reported_at="2026-11-24T08:00:00")
    assert issue["zone_id"] == zones[0] and issue["unit"] == "区城管执法局"
    assert issue["deadline"] == "2026-11-24T12:00:00"  # 占道经营: 4 h
    assert issue["status"] == "reported" and issue["allowed_next"] == ["accepted", "rejected"]
    overlap = _report(client, 121.475, 31.235)
    assert overlap["unit"] == "区市场监管局" and "overlap" in overlap["flags"]  # type: ignore
    outside = _report(client, 121.50, 31.25)
    assert outside["zone_id"] is None and outside["flags"] == ["uncovered"]
    detail = client.get(f"/api/issues/{issue['id']}").json()
    assert [h["to_status"] for h in detail["history"]] == ["reported"]
    bad = client.post("/api/issues", json={"category": "ufo", "lon": 121.47, "lat": 31.23})
    assert bad.status_code == 400 and "未知的问题类别 'ufo'，可选类别：" in bad.json()["detail"]
    bad = client.post("/api/issues", json={"category": "graffiti", "lon": 200, "lat": 31.23})
    assert bad.status_code == 422


def test_full_lifecycle_with_history_and_illegal_moves(client: TestClient, store: Store,
                                                       zones: list[int]) -> None:
    issue = _report(client)
    iid, version = issue["id"], issue["version"]
    for to in ("accepted", "dispatched", "handled", "verified", "closed"):
        r = client.post(f"/api/issues/{iid}/transitions",
                        json={"to": to, "version": version, "note": f"到{to}"})
        assert r.status_code == 200, r.text
        version = r.json()["version"]
    detail = client.get(f"/api/issues/{iid}").json()
    assert detail["status"] == "closed" and detail["closed_at"]
    assert [h["to_status"] for h in detail["history"]] == [
        "reported", "accepted", "dispatched", "handled", "verified", "closed"]
    assert all(h["actor"] == "user:testadmin" for h in detail["history"][1:])
    r = client.post(f"/api/issues/{iid}/transitions", json={"to": "dispatched",
                                                            "version": version})
    assert r.status_code == 409 and ("不允许从「结案」变为「派遣」（closed → dispatched）："
                                     "当前状态已终结") in r.json()["detail"]
    assert store.issue(iid).status == "closed"  # type: ignore[arg-type]
    audit = store.audit_log(object_type="issue")
    assert sum(a["action"] == "transition" for a in audit) == 5


def test_stale_version_cannot_overwrite(client: TestClient, zones: list[int]) -> None:
    issue = _report(client)
    iid = issue["id"]
    first = client.post(f"/api/issues/{iid}/transitions", json={"to": "accepted", "version": 1})
    assert first.status_code == 200
    second = client.post(f"/api/issues/{iid}/transitions", json={"to": "rejected",
                                                                 "version": 1})
    assert second.status_code == 409 and second.json()["detail"] == (
        f"问题 #{iid} 已被他人修改（当前版本 2，提交的版本 1），请刷新后重试")
    r = client.patch(f"/api/issues/{iid}", json={"version": 1, "description": "旧"})
    assert r.status_code == 409
    r = client.patch(f"/api/issues/{iid}", json={"version": 2, "deadline": "2026-12-01T00:00"})
    assert r.status_code == 200 and r.json()["deadline"] == "2026-12-01T00:00:00"


def test_unit_moves_its_own_dispatched_issue_and_nothing_else(
        anon_client: TestClient, client: TestClient, store: Store, zones: list[int]) -> None:
    add_user(store, "cg", "unit", unit="区城管执法局")
    own = _report(client)
    other = _report(client, 121.475, 31.235)  # routed to 区市场监管局
    for iid in (own["id"], other["id"]):
        v = 1
        for to in ("accepted", "dispatched"):
            v = client.post(f"/api/issues/{iid}/transitions",
                            json={"to": to, "version": v}).json()["version"]
    unit = bearer(anon_client, "cg")
    listed = anon_client.get("/api/issues", headers=unit).json()
    assert [i["id"] for i in listed["items"]] == [own["id"]]
    assert anon_client.get(f"/api/issues/{other['id']}", headers=unit).status_code == 404
    r = anon_client.post(f"/api/issues/{other['id']}/transitions", headers=unit,
                         json={"to": "handled", "version": 3})
    assert r.status_code == 404
    r = anon_client.post(f"/api/issues/{own['id']}/photos", headers=unit,
                         files={"file": ("after.png", PNG, "image/png")}, data={"stage": "after"})
    assert r.status_code == 201
    r = anon_client.post(f"/api/issues/{own['id']}/transitions", headers=unit,
                         json={"to": "handled", "version": 3, "note": "已清理"})
    assert r.status_code == 200 and r.json()["status"] == "handled"
    r = anon_client.post(f"/api/issues/{own['id']}/transitions", headers=unit,
                         json={"to": "verified", "version": 4})
    assert r.status_code == 403 and "角色 unit 不能将问题从 handled 改为 verified" in r.json()[
        "detail"]  # inspectors verify
    assert store.issue(own["id"]).status == "handled"
    r = anon_client.post(f"/api/issues/{own['id']}/transitions", headers=unit,
                         json={"to": "closed", "version": 4})
    assert r.status_code == 409 and "不允许从「处置」变为「结案」（handled → closed）" in r.json()[
        "detail"]
    r = anon_client.post("/api/issues", headers=unit, json={"category": "graffiti",
                                                            "lon": 121.47, "lat": 31.23})
    assert r.status_code == 403


def test_photos_are_checked(client: TestClient, zones: list[int]) -> None:
    iid = _report(client)["id"]
    r = client.post(f"/api/issues/{iid}/photos", files={"file": ("x.png", PNG, "image/png")})
    assert r.status_code == 201
    served = client.get(r.json()["url"])
    assert served.headers["content-type"] == "image/jpeg"  # re-encoded (no alpha): JPEG
    assert served.headers["x-content-type-options"] == "nosniff"
    r = client.post(f"/api/issues/{iid}/photos",
                    files={"file": ("x.png", b"<svg onload=alert(1)>", "image/png")})
    assert r.status_code == 422
    assert "照片格式无效：须为可解码的 JPEG、PNG 或 WebP 图像" in r.json()["detail"]
    detail = client.get(f"/api/issues/{iid}").json()
    assert len(detail["photos"]) == 1 and "照片" in detail["history"][-1]["note"]


def test_recurrence_and_duplicates_on_intake(client: TestClient, zones: list[int]) -> None:
    first = _report(client, category="illegal_ads", reported_at="2026-11-01T09:00:00")
    v = 1
    for to in ("accepted", "dispatched", "handled", "verified", "closed"):
        v = client.post(f"/api/issues/{first['id']}/transitions",
                        json={"to": to, "version": v}).json()["version"]
    again = _report(client, category="illegal_ads")
    assert again["recurring_of"] == first["id"] and "recurring" in again["flags"]  # type: ignore
    a = _report(client, 121.4712, 31.2312, category="clutter")
    b = _report(client, 121.4713, 31.2313, category="clutter")
    assert b["duplicate_candidates"] == [a["id"]]
    r = client.post(f"/api/issues/{b['id']}/merge", json={"into": a["id"], "version": 1})
    assert r.status_code == 200 and r.json()["duplicate_of"] == a["id"]
    assert r.json()["status"] == "rejected"
    notes = [h["note"] for h in client.get(f"/api/issues/{a['id']}").json()["history"]]
    assert any(f"#{b['id']}" in n for n in notes)  # both histories keep the merge


def test_reinspection_records_held_or_came_back(client: TestClient, zones: list[int]) -> None:
    iid = _report(client)["id"]
    r = client.post(f"/api/issues/{iid}/reinspections", json={"due": "2026-12-01T09:00"})
    assert r.status_code == 400  # not closed yet
    v = 1
    for to in ("accepted", "dispatched", "handled", "verified", "closed"):
        v = client.post(f"/api/issues/{iid}/transitions",
                        json={"to": to, "version": v}).json()["version"]
    rid = client.post(f"/api/issues/{iid}/reinspections",
                      json={"due": "2026-12-01T09:00"}).json()["id"]
    r = client.post(f"/api/reinspections/{rid}", json={"result": "came_back", "note": "又有"})
    assert r.status_code == 200 and r.json()["result"] == "came_back"
    assert client.post(f"/api/reinspections/{rid}", json={"result": "held"}).status_code == 409


def test_list_filters_sort_and_pages(client: TestClient, zones: list[int]) -> None:
    for k in range(5):
        _report(client, 121.471 + k * 1e-3, 31.231, category="graffiti",
                reported_at=f"2026-11-0{k + 1}T09:00:00")
    _report(client, 121.50, 31.25, category="clutter", reported_at="2026-11-20T09:00:00")
    page = client.get("/api/issues", params={"category": "graffiti", "page_size": 2,
                                             "page": 2, "sort": "reported_at"}).json()
    assert page["total"] == 5 and [i["reported_at"][:10] for i in page["items"]] == [
        "2026-11-03", "2026-11-04"]
    overdue = client.get("/api/issues", params={"overdue": "true"}).json()
    assert overdue["total"] == 6  # all are reported and long past their deadline
    r = client.get("/api/issues", params={"from": "2026-11-04", "to": "2026-11-30",
                                          "unit": "区城管执法局"}).json()
    assert r["total"] == 2
    assert client.get("/api/issues", params={"sort": "password"}).status_code == 400
    assert client.get("/api/issues", params={"bbox": "121.49,31.24,121.51,31.26"}).json()[
        "total"] == 1


def test_export_csv_and_xlsx_with_chinese_headers(client: TestClient, zones: list[int]) -> None:
    _report(client, description="水果摊占道")
    csv_text = client.get("/api/issues/export", params={"format": "csv"}).content.decode(
        "utf-8-sig")
    assert csv_text.splitlines()[0].startswith("编号,外部编号,问题类型,状态")
    assert "水果摊占道" in csv_text and "占道经营" in csv_text
    xlsx = client.get("/api/issues/export", params={"format": "xlsx"}).content
    ws = load_workbook(io.BytesIO(xlsx)).active
    rows = list(ws.values)
    assert rows[0][2] == "问题类型" and rows[1][3] == "上报"


def test_cli_import_la311_is_reported_and_idempotent(
        db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["import", "issues", str(ISSUES / "la311_2020-01_sample.csv"), *LA_MAP,
            "--db", db_url, "--json"]
    assert main([*args, "--dry-run"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] and dry["imported"] == 9989
    store = open_store(db_url)
    try:
        assert store.issue_count() == 0  # a dry run writes nothing
        assert main(args) == 0
        doc = json.loads(capsys.readouterr().out)
        assert (doc["imported"], doc["skipped"]) == (9989, 0)
        assert doc["errors"] == 11  # 11 rows without coordinates, each named
        assert {e["column"] for e in doc["row_errors"]} == {"longitude"}
        assert doc["unmapped_categories"] == {"Homeless Encampment": 405, "Other": 115}
        assert doc["date_formats"]["reported_at"] == "%m/%d/%y %H:%M"
        assert main(args) == 0
        again = json.loads(capsys.readouterr().out)
        assert (again["imported"], again["skipped"]) == (0, 9989)  # idempotent
        assert store.issue_count() == 9989
        first = store.query_issues(IssueQuery(sort="id", limit=1))[0][0]
        assert first.external_id == "1-1523590121" and first.category == "sanitation_blackspot"
        assert first.status == "closed" and str(first.closed_at) == "2020-01-02 08:43:00"
    finally:
        store.close()


def test_upload_import_reports_row_errors(client: TestClient, store: Store) -> None:
    csv_bytes = ("编号,问题类型,经度,纬度,上报时间,状态\n"
                 "A1,小广告/牛皮癣,121.47,31.23,2026/11/20 08:30,上报\n"
                 "A2,占道经营,abc,31.23,2026/11/20 09:00,上报\n"
                 "A3,乱堆乱放,121.47,31.23,昨天,上报\n"
                 "A4,乱堆乱放,121.47,31.23,2026/11/21 10:00,飞走了\n").encode("gbk")
    r = client.post("/api/issues/import", files={"file": ("台账.csv", csv_bytes, "text/csv")})
    job = wait_for_job(client, r)
    assert job["state"] == "done" and job["kind"] == "issue_import", job
    assert (job["done"], job["total"]) == (4, 4)
    doc = job["result"]
    assert doc["imported"] == 1 and doc["errors"] == 3
    assert [(e["row"], e["column"]) for e in doc["row_errors"]] == [
        (3, "经度"), (4, "上报时间"), (5, "状态")]
    assert [e["reason"] for e in doc["row_errors"]] == [
        "坐标缺失或不是数字", "日期无法识别",
        "状态无法识别（请使用本系统的状态代码、中文名称或 Open、Closed、Pending 等）"]
    # an English reader of the job gets the reasons in English (the page shows them as sent)
    en = client.get(f"/api/jobs/{job['id']}", headers={"Accept-Language": "en"}).json()
    assert [e["reason"] for e in en["result"]["row_errors"]] == [
        "missing or non-numeric coordinate", "unparsable date",
        translate(doc["row_errors"][2]["reason"], "en")]
    assert not any(CJK.search(e["reason"]) for e in en["result"]["row_errors"])
    [issue] = store.issues()
    assert (issue.category, issue.external_id) == ("illegal_ads", "A1")


def test_xlsx_ledger_import_with_excel_dates(client: TestClient, store: Store,
                                             tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["编号", "问题类型", "问题描述", "经度", "纬度", "上报时间", "状态", "来源"])
    ws.append(["X-1", "占道经营", "早市占道", 121.471, 31.231, 46345.375, "派遣", "网格巡查"])
    ws.append(["X-2", "乱堆乱放", "楼道堆物", 121.472, 31.232, 46346.5, "结案", "督导检查"])
    path = tmp_path / "台账.xlsx"
    wb.save(path)
    r = client.post("/api/issues/import", files={"file": ("台账.xlsx", path.read_bytes(),
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})
    doc = wait_for_job(client, r)["result"]
    assert doc["imported"] == 2 and doc["errors"] == 0
    assert doc["date_formats"]["reported_at"] == "excel-serial"
    issues = {i.external_id: i for i in store.issues()}
    assert issues["X-1"].status == "dispatched" and issues["X-1"].source == "grid_patrol"
    assert str(issues["X-1"].reported_at) == "2026-11-19 09:00:00"  # Excel serial 46345.375
    assert issues["X-2"].category == "clutter" and issues["X-2"].status == "closed"


def test_issues_know_their_community_and_filter_by_it(client: TestClient, store: Store,
                                                      zones: list[int]) -> None:
    store.add_features([Feature(Kind.community, box(121.46, 31.22, 121.4725, 31.25),
                                name="西社区"),
                        Feature(Kind.community, box(121.4725, 31.22, 121.49, 31.25),
                                name="东社区")])
    west = _report(client, 121.471, 31.231)
    east = _report(client, 121.475, 31.235)
    assert (west["community"], east["community"]) == ("西社区", "东社区")
    listed = client.get("/api/issues", params={"community": "东社区"}).json()
    assert [i["id"] for i in listed["items"]] == [east["id"]]
    heat = client.get("/api/heatmap", params={"community": "西社区"}).json()
    assert heat["total"] == 1
