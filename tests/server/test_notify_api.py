"""The notification API: each user's own notices (paged, read marks), admins' webhooks and
delivery log with retry, users' e-mail addresses, the CLI, and the server's background loop
sending to a real local receiver."""

from __future__ import annotations

import contextlib
import io
import json
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geo.i18n import CJK
from geo.store import Store
from server import cli
from server.app import create_app
from server.notifier import send
from server.settings import Settings
from tests.conftest import bearer
from tests.geo.notify.helpers import NOW, UNIT, case, people
from tests.geo.notify.receivers import free_port, http_receiver


def _dispatch(client: TestClient, store: Store, **fields: Any) -> int:
    issue_id = case(store, **fields)
    r = client.post(f"/api/issues/{issue_id}/transitions",
                    json={"to": "dispatched", "note": "请处置", "version": 1})
    assert r.status_code == 200, r.text
    return issue_id


def test_each_user_sees_only_their_own_notices_paged_with_read_marks(
        client: TestClient, store: Store) -> None:
    people(store)
    ids = [_dispatch(client, store) for _ in range(3)]
    u1, other = bearer(client, "u1"), bearer(client, "other")
    first = client.get("/api/notifications?limit=2", headers=u1).json()
    assert (first["numberMatched"], first["numberReturned"], first["unread"]) == (3, 2, 3)
    assert [n["issue_id"] for n in first["items"]] == [ids[2], ids[1]]  # newest first
    assert first["items"][0]["event_label"] == "派遣" and first["items"][0]["read_at"] is None
    rest = client.get(first["next"], headers=u1).json()
    assert [n["issue_id"] for n in rest["items"]] == [ids[0]] and rest["next"] is None
    assert client.get("/api/notifications", headers=other).json()["numberMatched"] == 0
    assert client.get("/api/notifications").json()["numberMatched"] == 0  # the admin's own
    mine = first["items"][0]["id"]
    assert client.post(f"/api/notifications/{mine}/read", headers=other).status_code == 404
    read = client.post(f"/api/notifications/{mine}/read", headers=u1)
    assert read.status_code == 200 and read.json()["read_at"]
    unread = client.get("/api/notifications?unread=true", headers=u1).json()
    assert unread["numberMatched"] == 2 and unread["unread"] == 2
    assert mine not in [n["id"] for n in unread["items"]]
    done = client.post("/api/notifications/read-all", headers=u1).json()
    assert done == {"marked": 2, "unread": 0}
    assert client.get("/api/notifications", headers=u1).json()["unread"] == 0
    assert client.get("/api/notifications?limit=0", headers=u1).status_code == 422


def _outside_user_data(text: str) -> str:
    """text without the test case's user data (its address, unit and the dispatch note)."""
    for data in ("示范街道福佑路", UNIT, "请处置"):
        text = text.replace(data, "")
    return text


def test_an_english_reader_gets_the_notices_in_english(client: TestClient,
                                                     store: Store) -> None:
    """Notices are stored once, in Chinese; the list shows them in the reader's language
    (Accept-Language, or the user's own setting), rows stored before this release too, and
    an English user's e-mail is in English. Only user data (address, unit, note) stays."""
    people(store)
    issue_id = _dispatch(client, store)
    store.add_notifications([{"username": "u1", "at": NOW, "event": "overdue",
                              "issue_id": issue_id, "message": (
                                  f"问题 #{issue_id}「乱贴乱画」（示范街道福佑路）已超过处置期限 "
                                  "2026-11-25 10:00（超期）")}])
    u1 = bearer(client, "u1")
    zh = client.get("/api/notifications", headers=u1).json()["items"]
    assert [n["event_label"] for n in zh] == ["派遣", "超期"]  # newest first
    assert "已派遣至区城管执法局" in zh[0]["message"] and "说明：请处置" in zh[0]["message"]
    def english(items: list[dict[str, Any]]) -> None:
        assert [n["event_label"] for n in items] == ["Dispatched", "Overdue"]
        assert items[1]["message"] == (f"Issue #{issue_id} (Graffiti and fly-posting, "
                                       "示范街道福佑路) is past its deadline 2026-11-25 10:00 "
                                       "(overdue)")
        assert f"was dispatched to {UNIT}; deadline" in items[0]["message"]
        assert items[0]["message"].endswith(". Note: 请处置")
        for n in items:
            assert not CJK.search(_outside_user_data(n["message"])), n["message"]

    english(client.get("/api/notifications",
                       headers={**u1, "Accept-Language": "en"}).json()["items"])
    assert client.put("/api/me/locale", json={"locale": "en"}, headers=u1).status_code == 200
    english(client.get("/api/notifications", headers=u1).json()["items"])
    first = client.get("/api/notifications", headers=u1).json()["items"][0]["id"]
    read = client.post(f"/api/notifications/{first}/read", headers=u1).json()
    assert read["message"].startswith(f"Issue #{issue_id}") and read["event_label"] == "Dispatched"
    # an e-mail goes in its recipient's language: u1 (English now) and other (Chinese)
    store.update_user("other", {"unit": UNIT}, actor="test")
    _dispatch(client, store)
    mails = {d["target"]: d["payload"] for d in store.deliveries() if d["channel"] == "email"
             and d["payload"]["subject"].endswith(f"#{issue_id + 1}")}
    en = mails["u1@example.org"]
    assert en["subject"] == f"[ccmap] Dispatched: issue #{issue_id + 1}"
    assert "Category: Graffiti and fly-posting" in en["body"]
    assert "Responsible unit: " + UNIT in en["body"]
    assert not CJK.search(_outside_user_data(en["body"])), en["body"]
    assert mails["other@example.org"]["subject"] == f"【创城点位地图】派遣：问题 #{issue_id + 1}"
    assert "类别：乱贴乱画" in mails["other@example.org"]["body"]


def test_webhooks_are_for_admins_checked_and_audited(client: TestClient, store: Store) -> None:
    people(store)
    body = {"url": "https://hotline.example/ccmap", "events": ["overdue", "dispatched"]}
    assert client.post("/api/webhooks", json=body, headers=bearer(client, "u1")).status_code == 403
    for bad, reason in (({"url": "ftp://x.example/"}, "http"),
                        ({"url": "https://user:pw@x.example/"}, "用户名或密码"),
                        ({**body, "events": ["closed"]}, "未知的事件 closed"),
                        ({**body, "events": []}, "至少须订阅一个事件"),
                        ({**body, "secret": "short"}, "16 至 200")):
        r = client.post("/api/webhooks", json=bad)
        assert r.status_code == 400 and reason in r.json()["detail"], r.text
    assert client.get("/api/webhooks").json() == []
    made = client.post("/api/webhooks", json=body)
    assert made.status_code == 201
    hook = made.json()
    assert hook["events"] == ["dispatched", "overdue"] and len(hook["secret"]) >= 32
    listed = client.get("/api/webhooks").json()
    assert [w["id"] for w in listed] == [hook["id"]] and "secret" not in listed[0]
    given = client.post("/api/webhooks", json={**body, "secret": "x" * 20}).json()
    assert given["secret"] == "x" * 20 and given["events"] == ["dispatched", "overdue"]
    audit = [a for a in store.audit_log() if a["object_type"] == "webhook"]
    assert audit and all(hook["secret"] not in json.dumps(a["diff"]) for a in audit)
    assert client.delete(f"/api/webhooks/{hook['id']}").json() == {"id": hook["id"],
                                                                   "pending_failed": 0}
    assert client.delete(f"/api/webhooks/{hook['id']}").status_code == 404
    assert [w["id"] for w in client.get("/api/webhooks").json()] == [given["id"]]


def test_the_delivery_log_shows_failures_and_a_retry_delivers(
        client: TestClient, store: Store, settings: Settings) -> None:
    people(store)
    port = free_port()
    client.post("/api/webhooks", json={"url": f"http://127.0.0.1:{port}/h",
                                       "events": ["dispatched"]})
    _dispatch(client, store, unit=None)
    pending = client.get("/api/deliveries?state=pending").json()
    assert pending["numberMatched"] == 1 and pending["items"][0]["attempts"] == 0
    report = send(store, settings.model_copy(update={"notify_max_attempts": 1}))
    assert report.failed == 1
    [failed] = client.get("/api/deliveries?state=failed").json()["items"]
    assert failed["state"] == "failed" and failed["attempts"] == 1 and failed["last_error"]
    assert client.get("/api/deliveries?state=bogus").status_code == 422
    assert client.get("/api/deliveries", headers=bearer(client, "u1")).status_code == 403
    retried = client.post(f"/api/deliveries/{failed['id']}/retry")
    assert retried.status_code == 200 and retried.json()["state"] == "pending"
    with http_receiver(port) as (_, got):
        assert send(store, settings).sent == 1
    assert len(got) == 1
    assert client.post(f"/api/deliveries/{failed['id']}/retry").status_code == 409
    assert client.post("/api/deliveries/999999/retry").status_code == 404
    assert client.get("/api/deliveries").json()["items"][0]["state"] == "sent"


def test_a_users_email_address_is_checked_and_used(client: TestClient, store: Store) -> None:
    people(store)
    r = client.patch("/api/users/u2", json={"email": "not an address"})
    assert r.status_code == 400 and "邮箱格式不正确" in r.json()["detail"]
    r = client.patch("/api/users/u2", json={"email": " u2@example.org "})
    assert r.status_code == 200 and r.json()["email"] == "u2@example.org"
    _dispatch(client, store)
    assert sorted(d["target"] for d in store.deliveries()) == ["u1@example.org",
                                                               "u2@example.org"]
    assert client.patch("/api/users/u2", json={"email": ""}).json()["email"] is None
    made = client.post("/api/users", json={"username": "unit9", "password": "Kx7-Qm2-zR9-vL4p-w",
                                           "role": "unit", "unit": "区城管执法局",
                                           "email": "u9@example.org"})
    assert made.status_code == 201, made.text
    assert made.json()["email"] == "u9@example.org"
    assert store.user("unit9").email == "u9@example.org"  # type: ignore[union-attr]


def _cli(*argv: str) -> dict[str, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main([*argv, "--json"]) == 0
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


def test_the_cli_scans_and_sends(store: Store, db_url: str) -> None:
    people(store)
    case(store, status="dispatched", deadline=NOW - timedelta(hours=1))
    case(store, status="dispatched", deadline=NOW + timedelta(hours=1))
    with http_receiver() as (url, got):
        store.add_webhook(url, "s" * 20, ["overdue"], "user:admin", NOW)
        at = NOW.isoformat()
        early = (NOW - timedelta(hours=3)).isoformat()  # the first case is due soon then
        assert _cli("notify", "scan", "--db", db_url, "--now", early, "--record-only") == {
            "overdue": 0, "due_soon": 1}
        assert store.notification_count("u1") == 0
        assert _cli("notify", "scan", "--db", db_url, "--now", at) == {"overdue": 1,
                                                                       "due_soon": 1}
        assert _cli("notify", "scan", "--db", db_url, "--now", at)["overdue"] == 0
        assert _cli("notify", "send", "--db", db_url, "--now", at)["sent"] == 1
    assert [json.loads(r.body)["event"] for r in got] == ["overdue"]
    assert store.notification_count("u1") == 2
    _cli("user", "set", "u2", "--email", "u2@example.org", "--db", db_url)
    assert store.user("u2").email == "u2@example.org"  # type: ignore[union-attr]
    with pytest.raises(SystemExit):  # argparse refuses a --now that is not a time
        cli.main(["notify", "scan", "--db", db_url, "--now", "yesterday"])


def test_the_server_loop_scans_and_sends_by_itself(settings: Settings, store: Store) -> None:
    people(store)
    now = datetime.now()
    overdue = case(store, status="dispatched", deadline=now - timedelta(hours=1))
    with http_receiver() as (url, got):
        store.add_webhook(url, "s" * 20, ["overdue"], "user:admin", now)
        fast = settings.model_copy(update={"notify_send_seconds": 0.05})
        with TestClient(create_app(fast, store=store)):
            for _ in range(400):  # the loop's own pace: wait for the delivery, bounded
                if store.delivery_count("sent"):
                    break
                time.sleep(0.05)
    assert store.delivery_count("sent") == 1
    assert [json.loads(r.body)["issue"]["id"] for r in got] == [overdue]
    assert [n["event"] for n in store.notifications("u1")] == ["overdue"]
