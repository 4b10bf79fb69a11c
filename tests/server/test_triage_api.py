"""The triage queue (受理), claims (认领) and reply templates (回复模板) over HTTP, on both
databases: pages, the four actions, 409 while someone else holds a case, and bad input
answered 4xx with the reason and nothing written."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geo.model.records import Issue
from geo.model.users import Role, User
from geo.store import Store
from tests.conftest import add_user, bearer, tiny_png

PNG = tiny_png()


@pytest.fixture
def desk(anon_client: TestClient, client: TestClient, store: Store) -> dict[str, Any]:
    """Two inspectors, a unit user and a viewer (their headers) beside the admin client."""
    for name, role, unit in (("wang", "inspector", None), ("li", "inspector", None),
                             ("cg", "unit", "区城管执法局"), ("lead", "viewer", None)):
        add_user(store, name, role, unit)
    return {name: bearer(anon_client, name) for name in ("wang", "li", "cg", "lead")}


def _report(client: TestClient, dx: float = 0.0, category: str = "graffiti",
            source: str = "public_report", hours: int = 1, reporter: str = "12345热线",
            headers: dict[str, str] | None = None) -> dict[str, Any]:
    at = (datetime.now() - timedelta(hours=hours)).isoformat(timespec="seconds")
    r = client.post("/api/issues", headers=headers, json={
        "category": category, "lon": 121.47 + dx, "lat": 31.23, "source": source,
        "reporter": reporter, "reported_at": at, "description": "描述"})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _snapshot(store: Store, iid: int) -> tuple[Any, ...]:
    i = store.issue(iid)
    return (i.status, i.category, i.urgency, i.version, i.claimed_by,
            len(store.issue_history(iid)), store.audit_count())


def test_the_queue_pages_oldest_first(client: TestClient, desk: dict[str, Any]) -> None:
    old = _report(client, hours=30, source="grid_patrol", reporter="网格员")
    ids = [old["id"]] + [_report(client, dx=0.01 * k, hours=10 - k)["id"] for k in range(3)]
    first = client.get("/api/triage", params={"limit": 3}).json()
    assert (first["numberMatched"], first["numberReturned"]) == (4, 3)
    assert [i["id"] for i in first["items"]] == ids[:3]
    assert first["items"][0]["source_label"] == "网格巡查"
    second = client.get(first["next"]).json()
    assert [i["id"] for i in second["items"]] == ids[3:] and second["next"] is None
    patrol = client.get("/api/triage", params={"source": "grid_patrol"}).json()
    assert [i["id"] for i in patrol["items"]] == [old["id"]]
    r = client.get("/api/triage", params={"category": "nope"})
    assert r.status_code == 400 and "未知的问题类别 'nope'" in r.json()["detail"]
    for who in ("cg", "lead"):  # only the roles that accept reports
        assert client.get("/api/triage", headers=desk[who]).status_code == 403
    assert client.get("/api/triage", params={"limit": 10**6}).status_code == 422


def test_accept_reject_and_recategorise(client: TestClient, store: Store) -> None:
    a, b, c = (_report(client, dx=0.01 * k) for k in range(3))
    r = client.post(f"/api/triage/{a['id']}/accept",
                    json={"version": 1, "urgency": "urgent", "category": "clutter"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["urgency"], r.json()["category"]) == (
        "accepted", "urgent", "clutter")
    r = client.post(f"/api/triage/{b['id']}/reject", json={"version": 1, "reason": "非城管问题"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert store.issue_history(b["id"])[-1]["note"] == "不予立案：非城管问题"
    r = client.post(f"/api/triage/{c['id']}/category", json={"version": 1,
                                                              "category": "illegal_ads"})
    assert r.status_code == 200 and r.json()["category_label"] == "小广告/牛皮癣"
    assert [i["id"] for i in client.get("/api/triage").json()["items"]] == [c["id"]]
    r = client.post(f"/api/triage/{a['id']}/accept", json={"version": 4})
    assert r.status_code == 409 and "不在受理队列" in r.json()["detail"]


def test_bad_triage_input_is_refused_with_the_reason_and_writes_nothing(
        client: TestClient, store: Store) -> None:
    iid = _report(client)["id"]
    before = _snapshot(store, iid)
    for action, body, reason in [
        ("category", {"version": 1, "category": "graffitti"}, "未知的问题类别 'graffitti'"),
        ("accept", {"version": 1, "category": "nope"}, "未知的问题类别 'nope'"),
        ("accept", {"version": 1, "urgency": "asap"}, "urgency"),
        ("reject", {"version": 1, "reason": ""}, "reason"),
        ("reject", {"version": 1, "reason": "   "}, "reason"),
        ("reject", {"version": 1}, "reason"),
        ("duplicate", {"version": 1}, "into"),
    ]:
        r = client.post(f"/api/triage/{iid}/{action}", json=body)
        assert r.status_code == 422, (action, body, r.text)
        assert reason in r.text
    r = client.post(f"/api/triage/{iid}/accept", json={"version": 9})
    assert r.status_code == 409 and "已被他人修改（当前版本 1，提交的版本 9）" in r.json()["detail"]
    assert client.post("/api/triage/999999/accept", json={"version": 1}).status_code == 404
    assert _snapshot(store, iid) == before


def test_a_duplicate_links_its_reporter_to_the_kept_case(client: TestClient,
                                                         store: Store) -> None:
    kept = _report(client, category="clutter", reporter="网格员王芳", source="grid_patrol")
    client.post(f"/api/triage/{kept['id']}/accept", json={"version": 1})
    dup = _report(client, dx=0.0001, category="clutter", reporter="张先生")
    near = client.get(f"/api/triage/{dup['id']}/nearby", params={"radius": 100}).json()
    assert near["center"]["id"] == dup["id"] and near["radius_m"] == 100
    assert [f["id"] for f in near["features"]] == [kept["id"]]
    props = near["features"][0]["properties"]
    assert props["same_category"] and 8 < props["distance_m"] < 11
    assert props["status_label"] == "立案"
    gcj = client.get(f"/api/triage/{dup['id']}/nearby", params={"coords": "gcj02"}).json()
    assert gcj["center"]["geometry"]["coordinates"][0] != pytest.approx(121.4701, abs=1e-5)
    r = client.post(f"/api/triage/{dup['id']}/duplicate",
                    json={"version": 1, "into": kept["id"], "note": "同一堆物"})
    assert r.status_code == 200 and r.json()["duplicate_of"] == kept["id"]
    detail = client.get(f"/api/issues/{kept['id']}").json()
    assert [(d["id"], d["reporter"], d["source_label"]) for d in detail["linked_reports"]] == [
        (dup["id"], "张先生", "群众举报/12345")]
    assert "上报人：张先生" in detail["history"][-1]["note"]
    closed = _report(client, dx=0.02)
    _close(client, closed["id"])
    other = _report(client, dx=0.0201)
    r = client.post(f"/api/triage/{other['id']}/duplicate",
                    json={"version": 1, "into": closed["id"]})
    assert r.status_code == 409 and (
        f"问题 #{closed['id']} 已结案（closed），不能作为重复合并的目标" in r.json()["detail"])


def _close(client: TestClient, iid: int) -> None:
    v = 1
    for to in ("accepted", "dispatched", "handled", "verified", "closed"):
        r = client.post(f"/api/issues/{iid}/transitions", json={"to": to, "version": v})
        assert r.status_code == 200, r.text
        v = r.json()["version"]


def test_a_claim_refuses_the_writes_of_others_with_409(client: TestClient, store: Store,
                                                       desk: dict[str, Any]) -> None:
    iid = _report(client)["id"]
    r = client.post(f"/api/issues/{iid}/claim", headers=desk["wang"])
    assert r.status_code == 200 and r.json()["claimed_by"] == "wang"
    until = r.json()["claimed_until"]
    assert datetime.fromisoformat(until) - datetime.now() > timedelta(minutes=29)
    before = _snapshot(store, iid)
    li = desk["li"]
    for method, url, body in [
        ("POST", f"/api/issues/{iid}/transitions", {"to": "accepted", "version": 1}),
        ("PATCH", f"/api/issues/{iid}", {"version": 1, "description": "改"}),
        ("POST", f"/api/triage/{iid}/accept", {"version": 1}),
        ("POST", f"/api/triage/{iid}/reject", {"version": 1, "reason": "无"}),
        ("POST", f"/api/triage/{iid}/category", {"version": 1, "category": "clutter"}),
        ("POST", f"/api/issues/{iid}/claim", None),
        ("DELETE", f"/api/issues/{iid}/claim", None),
    ]:
        r = client.request(method, url, json=body, headers=li)
        assert r.status_code == 409, (method, url, r.text)
        assert "已被 wang 认领" in r.json()["detail"] and r.json()["claimed_by"] == "wang"
        assert r.json()["claimed_until"] == until
    r = client.post(f"/api/issues/{iid}/photos", headers=li,
                    files={"file": ("a.png", PNG, "image/png")}, data={"stage": "before"})
    assert r.status_code == 409 and "wang" in r.json()["detail"]
    assert _snapshot(store, iid) == before and store.photos(iid) == []
    # everyone sees who holds it
    seen = client.get(f"/api/issues/{iid}", headers=desk["lead"]).json()
    assert (seen["claimed_by"], seen["claimed_until"]) == ("wang", until)
    assert client.get("/api/triage", headers=li).json()["items"][0]["claimed_by"] == "wang"
    # the holder works; then releases, and the others may write again
    r = client.post(f"/api/triage/{iid}/category", headers=desk["wang"],
                    json={"version": 1, "category": "clutter"})
    assert r.status_code == 200
    r = client.delete(f"/api/issues/{iid}/claim", headers=desk["wang"])
    assert r.status_code == 200 and r.json()["claimed_by"] is None
    r = client.post(f"/api/triage/{iid}/accept", headers=li, json={"version": 2})
    assert r.status_code == 200 and r.json()["claimed_by"] is None


def test_an_expired_claim_counts_as_none(client: TestClient, store: Store,
                                         desk: dict[str, Any]) -> None:
    iid = _report(client)["id"]
    past = datetime.now() - timedelta(minutes=1)
    store.set_claim(iid, User("wang", Role.inspector), past, past - timedelta(minutes=30))
    assert store.issue(iid).claimed_by == "wang"
    assert client.get(f"/api/issues/{iid}").json()["claimed_by"] is None
    r = client.post(f"/api/issues/{iid}/transitions", headers=desk["li"],
                    json={"to": "accepted", "version": 1})
    assert r.status_code == 200


def test_claims_follow_the_settings_roles_and_scope(anon_client: TestClient, client: TestClient,
                                                    store: Store, desk: dict[str, Any]) -> None:
    anon_client.app.state.settings.claim_minutes = 5  # type: ignore[attr-defined]
    iid = _report(client)["id"]
    r = client.post(f"/api/issues/{iid}/claim")
    until = datetime.fromisoformat(r.json()["claimed_until"])
    assert timedelta(minutes=4) < until - datetime.now() <= timedelta(minutes=5)
    assert client.post(f"/api/issues/{iid}/claim", headers=desk["lead"]).status_code == 403
    assert client.post(f"/api/issues/{iid}/claim", headers=desk["cg"]).status_code == 404
    # an admin may release anyone's claim
    client.delete(f"/api/issues/{iid}/claim")
    client.post(f"/api/issues/{iid}/claim", headers=desk["wang"])
    assert client.delete(f"/api/issues/{iid}/claim").json()["claimed_by"] is None
    done = _report(client, dx=0.01)["id"]
    client.post(f"/api/triage/{done}/reject", json={"version": 1, "reason": "不是问题"})
    audits = store.audit_count()
    r = client.post(f"/api/issues/{done}/claim", headers=desk["wang"])
    assert r.status_code == 409 and "不能认领" in r.json()["detail"]
    assert store.audit_count() == audits


def test_reply_templates_crud_and_filled_for_an_issue(client: TestClient, store: Store,
                                                      desk: dict[str, Any]) -> None:
    r = client.post("/api/reply-templates", json={
        "category": "graffiti", "status": "closed", "title": "涂鸦已清除",
        "text": "您反映的{category}（编号 {id}）已于结案前清除。"})
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    generic = client.post("/api/reply-templates", json={
        "status": "closed", "title": "办结", "text": "编号 {id} 已办结"}).json()
    iid = _report(client)["id"]
    found = client.get(f"/api/issues/{iid}/reply-templates",
                       params={"next_status": "closed"}, headers=desk["wang"]).json()
    assert [t["id"] for t in found] == [tid, generic["id"]]
    assert found[0]["filled"] == f"您反映的乱贴乱画（编号 {iid}）已于结案前清除。"
    assert client.get(f"/api/issues/{iid}/reply-templates").json() == []  # reported: none
    r = client.put(f"/api/reply-templates/{tid}", json={"title": "通用", "text": "谢谢"})
    assert r.status_code == 200 and r.json()["category"] is None
    page = client.get("/api/reply-templates", params={"limit": 1}).json()
    assert (page["numberMatched"], page["numberReturned"]) == (2, 1) and page["next"]
    r = client.delete(f"/api/reply-templates/{tid}")
    assert r.status_code == 200 and r.json()["title"] == "通用"
    assert client.delete(f"/api/reply-templates/{tid}").status_code == 404


def test_bad_templates_are_refused_with_the_reason_and_nothing_is_stored(
        client: TestClient, store: Store, desk: dict[str, Any]) -> None:
    for body, reason in [
        ({"title": "t", "text": "您好 {name}"}, "不允许使用占位符 {name}"),
        ({"title": "t", "text": "{id.__class__}"}, "不允许使用占位符 {id.__class__}"),
        ({"title": "t", "text": "{id"}, "模板正文的花括号不配对"),
        ({"title": "t", "text": "x", "category": "nope"}, "未知的问题类别 'nope'"),
        ({"title": "t", "text": "x", "status": "done"}, "未知的状态 'done'"),
        ({"title": "", "text": "x"}, "title"),
    ]:
        r = client.post("/api/reply-templates", json=body)
        assert r.status_code == 422, (body, r.text)
        assert reason in r.text
    for who in ("wang", "cg"):
        r = client.post("/api/reply-templates", headers=desk[who], json={"title": "t",
                                                                          "text": "x"})
        assert r.status_code == 403
    assert client.get("/api/reply-templates", headers=desk["wang"]).status_code == 403
    assert store.reply_template_count() == 0


def test_the_triage_page_is_for_the_roles_that_accept(client: TestClient,
                                                      desk: dict[str, Any]) -> None:
    with TestClient(client.app) as anonymous:
        r = anonymous.get("/triage", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    for who in ("lead", "cg"):
        assert client.get("/triage", headers=desk[who]).status_code == 403
    r = client.get("/triage", headers=desk["wang"])
    assert r.status_code == 200 and "快捷键" in r.text and 'id="triage-config"' in r.text
    assert '"user": "wang"' in r.text and '"radius": 200.0' in r.text
    assert '<script src="/vendor/leaflet/dist/leaflet.js">' in r.text


def test_the_issue_detail_shows_urgency_and_claims(client: TestClient, store: Store) -> None:
    issue = Issue("graffiti", 121.47, 31.23, urgency="urgent")
    iid = store.add_issues([issue])[0]
    detail = client.get(f"/api/issues/{iid}").json()
    assert (detail["urgency"], detail["claimed_by"], detail["linked_reports"]) == (
        "urgent", None, [])
