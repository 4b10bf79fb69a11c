"""The case clock over HTTP and the CLI, on both databases: the deadline contract, the office's
calendar and time limits, 延期 applications and decisions, 返工 with its photo, and the issue
list's clock filters."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box

from geo.i18n import CJK
from geo.model.kinds import Kind
from geo.model.records import Feature
from geo.store import Store
from server.cli import main
from tests.conftest import add_user, bearer, tiny_png

UNIT = "区城管执法局"
SCHEDULE_2027 = [  # an example schedule (made up for the test, not the official one)
    {"start_date": "2027-01-01", "end_date": "2027-01-03", "kind": "off", "note": "元旦"},
    {"start_date": "2027-02-06", "end_date": "2027-02-13", "kind": "off", "note": "春节"},
    {"start_date": "2027-02-14", "kind": "work", "note": "调休上班"},
    {"start_date": "2027-04-05", "kind": "off", "note": "清明"},
    {"start_date": "2027-05-01", "end_date": "2027-05-05", "kind": "off", "note": "劳动节"},
    {"start_date": "2027-10-01", "end_date": "2027-10-07", "kind": "off", "note": "国庆"},
]


@pytest.fixture
def users(client: TestClient, store: Store) -> dict[str, dict[str, str]]:
    """Headers of an inspector and a unit user of UNIT (the client is an admin); a zone of
    UNIT where issues are reported."""
    store.add_features([Feature(Kind.zone, box(121.470, 31.230, 121.480, 31.240), name="网格",
                                properties={"unit": UNIT})])
    add_user(store, "ins", "inspector")
    add_user(store, "cg", "unit", unit=UNIT)
    return {"ins": bearer(client, "ins"), "cg": bearer(client, "cg")}


def _dispatched(client: TestClient, category: str = "clutter", **extra: Any) -> dict[str, Any]:
    issue = client.post("/api/issues", json={"category": category, "lon": 121.471,
                                             "lat": 31.231, **extra}).json()
    for to in ("accepted", "dispatched"):
        r = client.post(f"/api/issues/{issue['id']}/transitions",
                        json={"to": to, "version": issue["version"]})
        assert r.status_code == 200, r.text
        issue = r.json()
    return issue


def _deadline(client: TestClient, start: str, amount: float, unit: str) -> Any:
    return client.get("/api/calendar/deadline",
                      params={"start": start, "amount": amount, "unit": unit})


def test_the_deadline_contract(client: TestClient) -> None:
    r = _deadline(client, "2026-09-30T16:00", 2, "working_days")
    assert r.status_code == 200
    assert r.json()["deadline"] == "2026-10-09T16:00:00" and r.json()["warnings"] == []
    assert _deadline(client, "2026-10-09T15:00", 4, "working_hours").json()["deadline"] \
        == "2026-10-10T10:00:00"
    # with an offset: converted to Beijing time first
    assert _deadline(client, "2026-10-09T07:00:00Z", 4, "working_hours").json()["deadline"] \
        == "2026-10-10T10:00:00"
    assert _deadline(client, "2026-10-09T15:00:00+08:00", 4, "working_hours").json()[
        "deadline"] == "2026-10-10T10:00:00"
    assert _deadline(client, "2026-10-09T15:00", 1, "days").json()["deadline"] \
        == "2026-10-10T15:00:00"
    for params in (("2026-10-09T15:00", 1, "weeks"), ("yesterday", 1, "hours"),
                   ("2026-10-09T15:00", -1, "hours")):
        assert _deadline(client, *params).status_code == 422
    assert _deadline(client, "0001-01-01T00:00", 1, "hours").status_code == 400
    client.headers.pop("Authorization")
    assert _deadline(client, "2026-10-09T15:00", 1, "hours").status_code == 401


def test_a_2027_schedule_entered_as_data_makes_2027_known(client: TestClient,
                                                         store: Store) -> None:
    before = _deadline(client, "2026-12-31T16:00", 2, "working_days").json()
    assert before["deadline"] == "2027-01-04T16:00:00"
    assert len(before["warnings"]) == 1 and "2027" in before["warnings"][0]
    r = client.post("/api/calendar/days", json={"days": SCHEDULE_2027})
    assert r.status_code == 201 and r.json()["count"] == len(SCHEDULE_2027)
    after = _deadline(client, "2026-12-31T16:00", 2, "working_days").json()
    assert after["deadline"] == "2027-01-05T16:00:00" and after["warnings"] == []
    # a local day off, entered today, moves tomorrow's deadlines
    assert _deadline(client, "2026-11-23T09:00", 1, "working_days").json()["deadline"] \
        == "2026-11-24T09:00:00"
    assert client.post("/api/calendar/days", json={"days": [
        {"start_date": "2026-11-24", "kind": "off", "note": "区运动会"}]}).status_code == 201
    assert _deadline(client, "2026-11-23T09:00", 1, "working_days").json()["deadline"] \
        == "2026-11-25T09:00:00"
    page = client.get("/api/calendar/days", params={"year": 2027, "limit": 4}).json()
    assert page["numberMatched"] == 6 and page["numberReturned"] == 4 and page["next"]
    rest = client.get(page["next"]).json()
    assert [d["note"] for d in page["items"] + rest["items"]] == [
        d["note"] for d in SCHEDULE_2027]
    assert rest["next"] is None and page["items"][2]["kind_label"] == "工作日"
    audit = store.audit_log(object_type="calendar_day")
    assert [a["diff"]["count"] for a in audit] == [1, 6]


def test_overlapping_or_unauthorised_calendar_writes_change_nothing(
        client: TestClient, store: Store, users: dict[str, dict[str, str]]) -> None:
    assert client.post("/api/calendar/days", json={"days": SCHEDULE_2027}).status_code == 201
    listed = client.get("/api/calendar/days").json()
    audits = len(store.audit_log())
    days = {"days": [{"start_date": "2027-03-01", "kind": "off"},
                     {"start_date": "2027-02-13", "end_date": "2027-02-15", "kind": "off"}]}
    r = client.post("/api/calendar/days", json=days)
    assert r.status_code == 422
    assert "日期重叠" in r.json()["detail"] and "未写入任何条目" in r.json()["detail"]
    [problem] = r.json()["problems"]
    assert problem["row"] == 2 and "（2027-02-06 至 2027-02-13）" in problem["reason"]
    assert "（2027-02-14 至 2027-02-14）" in problem["reason"]
    # in English: the summary and each entry's reason, wholly
    en = client.post("/api/calendar/days", json=days, headers={"Accept-Language": "en"})
    assert en.status_code == 422 and not CJK.search(json.dumps(en.json(), ensure_ascii=False))
    [problem] = en.json()["problems"]
    assert en.json()["detail"] == (
        f"1 calendar entries refused, nothing was written: entry 2: {problem['reason']}")
    assert problem["reason"].startswith("2027-02-13..2027-02-15 overlaps stored entry #")
    assert "(2027-02-06..2027-02-13), stored entry #" in problem["reason"]
    bad = client.post("/api/calendar/days", json={"days": [{"start_date": "2027-13-01",
                                                            "kind": "off"}]})
    assert bad.status_code == 422
    r = client.post("/api/calendar/days", headers=users["ins"],
                    json={"days": [{"start_date": "2027-03-01", "kind": "off"}]})
    assert r.status_code == 403
    day_id = listed["items"][0]["id"]
    assert client.delete(f"/api/calendar/days/{day_id}", headers=users["ins"]).status_code \
        == 403
    assert client.get("/api/calendar/days").json() == listed and len(store.audit_log()) == audits
    deleted = client.delete(f"/api/calendar/days/{day_id}")
    assert deleted.status_code == 200 and deleted.json()["note"] == "元旦"
    assert client.delete(f"/api/calendar/days/{day_id}").status_code == 404
    assert client.get("/api/calendar/days").json()["numberMatched"] == len(SCHEDULE_2027) - 1


def test_time_limits_are_read_by_all_and_set_by_an_admin(
        client: TestClient, users: dict[str, dict[str, str]]) -> None:
    rows = client.get("/api/time-limits", headers=users["cg"]).json()
    vending = {r["urgency"]: r for r in rows if r["category"] == "street_vending"}
    assert vending["normal"]["label"] == "2 工作时" and vending["urgent"]["label"] == "1 工作时"
    body = {"limits": [{"category": "street_vending", "urgency": "normal", "amount": 3,
                        "unit": "working_hours"}]}
    assert client.put("/api/time-limits", json=body, headers=users["ins"]).status_code == 403
    r = client.put("/api/time-limits", json=body)
    assert r.status_code == 200
    changed = next(x for x in r.json() if (x["category"], x["urgency"]) == (
        "street_vending", "normal"))
    assert changed["amount"] == 3 and changed["office"]
    assert client.put("/api/time-limits", json={"limits": [
        {"category": "street_vending", "urgency": "normal", "amount": 3, "unit": "weeks"}]}
    ).status_code == 422
    assert client.put("/api/time-limits", json={"limits": [
        {"category": "ufo", "urgency": "normal", "amount": 3, "unit": "hours"}]}
    ).status_code == 400
    issue = _dispatched(client, "street_vending")
    dispatched = datetime.fromisoformat(issue["dispatched_at"])
    assert issue["deadline"] == _deadline(client, dispatched.isoformat(), 3, "working_hours"
                                          ).json()["deadline"]


def test_a_unit_applies_and_a_supervisor_approves_an_extension(
        client: TestClient, store: Store, users: dict[str, dict[str, str]]) -> None:
    issue = _dispatched(client)
    iid, deadline = issue["id"], datetime.fromisoformat(issue["deadline"])
    detail = client.get(f"/api/issues/{iid}", headers=users["cg"]).json()
    assert detail["clock"] == "running" and detail["clock_label"] == "计时中"
    assert detail["may_apply_extension"] and not detail["may_decide_extension"]
    assert detail["due_in_working_hours"] > 0 and detail["urgency_label"] == "一般"
    wanted = (deadline + timedelta(days=3)).isoformat()
    too_far = (deadline + timedelta(days=31)).isoformat()
    r = client.post(f"/api/issues/{iid}/extensions", headers=users["cg"],
                    json={"reason": "需要采购配件", "requested_deadline": too_far})
    assert r.status_code == 422 and "CCMAP_EXTENSION_MAX_DAYS" in r.json()["detail"]
    assert client.post(f"/api/issues/{iid}/extensions", headers=users["ins"], json={
        "reason": "代申请", "requested_deadline": wanted}).status_code == 403
    r = client.post(f"/api/issues/{iid}/extensions", headers=users["cg"],
                    json={"reason": "需要采购配件", "requested_deadline": wanted})
    assert r.status_code == 201, r.text
    ext = r.json()
    assert ext["state"] == "pending" and ext["state_label"] == "待审批"
    again = client.post(f"/api/issues/{iid}/extensions", headers=users["cg"],
                        json={"reason": "再申请", "requested_deadline": wanted})
    assert again.status_code == 422 and "已有待审批的延期申请" in again.json()["detail"]
    detail = client.get(f"/api/issues/{iid}").json()
    assert detail["clock"] == "paused" and detail["paused_at"] and detail["may_decide_extension"]
    assert [e["id"] for e in detail["extensions"]] == [ext["id"]]
    before = (store.extension(ext["id"]), store.issue(iid), len(store.audit_log()))
    r = client.post(f"/api/extensions/{ext['id']}/decision", headers=users["cg"],
                    json={"approve": True})
    assert r.status_code == 403 and "extensions:decide" in r.json()["detail"]
    assert (store.extension(ext["id"]), store.issue(iid), len(store.audit_log())) == before
    r = client.post(f"/api/extensions/{ext['id']}/decision", headers=users["ins"],
                    json={"approve": True, "note": "同意"})
    assert r.status_code == 200 and r.json()["state"] == "approved"
    done = client.get(f"/api/issues/{iid}").json()
    assert done["deadline"] == wanted and done["extension_count"] == 1
    assert done["clock"] == "running" and done["paused_at"] is None
    assert client.post(f"/api/extensions/{ext['id']}/decision", headers=users["ins"],
                       json={"approve": False}).status_code == 409
    mine = client.get("/api/extensions", headers=users["cg"],
                      params={"state": "approved"}).json()
    assert [e["id"] for e in mine["items"]] == [ext["id"]] and mine["numberMatched"] == 1
    assert client.get("/api/extensions", params={"unit": "别的单位"}).json()["items"] == []
    assert client.get("/api/extensions", params={"state": "odd"}).status_code == 422


def test_a_failed_verification_goes_back_with_a_photo_and_three_escalate(
        client: TestClient, users: dict[str, dict[str, str]]) -> None:
    issue = _dispatched(client)
    iid = issue["id"]
    for n in range(1, 4):
        if n > 1:
            issue = client.post(f"/api/issues/{iid}/transitions", json={
                "to": "dispatched", "version": issue["version"]}).json()
        issue = client.post(f"/api/issues/{iid}/transitions", headers=users["cg"], json={
            "to": "handled", "version": issue["version"]}).json()
        assert client.post(f"/api/issues/{iid}/photos", headers=users["cg"], data={
            "stage": "rework"}, files={"file": ("x.png", tiny_png(), "image/png")}
        ).status_code == 403  # the unit does not verify its own work
        r = client.post(f"/api/issues/{iid}/transitions", headers=users["ins"], json={
            "to": "returned", "version": issue["version"], "note": "仍有堆物"})
        assert r.status_code == 400 and "退回返工须附核查照片" in r.json()["detail"]
        photo = client.post(f"/api/issues/{iid}/photos", headers=users["ins"], data={
            "stage": "rework"}, files={"file": ("x.png", tiny_png(), "image/png")}).json()
        r = client.post(f"/api/issues/{iid}/transitions", headers=users["ins"], json={
            "to": "returned", "version": issue["version"], "note": "仍有堆物",
            "photo_id": photo["id"]})
        assert r.status_code == 200, r.text
        issue = r.json()
        assert issue["rework_count"] == n and ("escalated" in issue["flags"]) == (n == 3)
    detail = client.get(f"/api/issues/{iid}").json()
    assert detail["escalated"] and [p["stage"] for p in detail["photos"]] == ["rework"] * 3
    listed = client.get("/api/issues", params={"flag": "escalated"}).json()
    assert [i["id"] for i in listed["items"]] == [iid]
    assert client.get("/api/issues", params={"flag": "Bad Flag"}).status_code == 400


def test_the_list_filters_cases_due_within_working_hours(
        client: TestClient, users: dict[str, dict[str, str]]) -> None:
    urgent = _dispatched(client, "street_vending", urgency="urgent")  # 1 working hour
    slow = _dispatched(client, "illegal_structure")  # 15 working days
    assert urgent["urgency"] == "urgent"
    r = client.get("/api/issues", params={"due_within": 8})
    assert r.status_code == 200 and [i["id"] for i in r.json()["items"]] == [urgent["id"]]
    wide = {i["id"] for i in client.get("/api/issues", params={"due_within": 200}).json()[
        "items"]}
    assert wide == {urgent["id"], slow["id"]}
    assert client.get("/api/issues", params={"due_within": 0}).status_code == 422


def test_cli_calendar_commands(db_url: str, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "2027.csv"
    csv.write_text("start_date,end_date,kind,note\n" + "".join(
        f"{d['start_date']},{d.get('end_date', '')},{d['kind']},{d['note']}\n"
        for d in SCHEDULE_2027), encoding="utf-8")
    assert main(["calendar", "import", str(csv), "--db", db_url]) == 0
    assert "imported 6" in capsys.readouterr().out
    assert main(["calendar", "add", "2027-01-03", "2027-01-04", "--kind", "work",
                 "--db", db_url]) == 2
    assert "日期重叠" in capsys.readouterr().err
    assert main(["calendar", "list", "--year", "2027", "--db", db_url, "--json"]) == 0
    days = json.loads(capsys.readouterr().out)["days"]
    assert len(days) == 6 and days[0]["created_by"].startswith("cli:")
    assert main(["calendar", "deadline", "2026-12-31T16:00", "2", "working_days",
                 "--db", db_url]) == 0
    assert capsys.readouterr().out.strip() == "2027-01-05T16:00:00"
    assert main(["calendar", "delete", str(days[0]["id"]), "--db", db_url]) == 0
    assert main(["calendar", "deadline", "2026-12-31T16:00", "2", "working_days",
                 "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "2027-01-04T16:00:00" in out  # New Year deleted: 1 January counts again
    assert main(["calendar", "deadline", "soon", "2", "hours", "--db", db_url]) == 2
