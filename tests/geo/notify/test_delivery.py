"""Sending: a dispatch e-mail through a real SMTP server, a signed webhook POST to a real HTTP
receiver, and a receiver that is down: nothing is lost, attempts back off, the delivery fails
visibly after the last one, and a retry delivers once the receiver is back."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from typing import Any

import pytest

from geo.i18n import translate
from geo.ledger import workflows
from geo.model.errors import Conflict
from geo.notify.delivery import DeliveryPolicy, SmtpConfig, send_all_due, send_due
from geo.store import Store
from tests.geo.notify.helpers import INSPECTOR, NOW, case, people
from tests.geo.notify.receivers import free_port, http_receiver, smtp_server

SECRET = "a-webhook-secret-of-the-12345-platform"


def _dispatch(store: Store, **fields: object) -> int:
    issue_id = case(store, **fields)  # type: ignore[arg-type]
    workflows.change_status(store, issue_id, "dispatched", "请处置", 1, INSPECTOR, now=NOW)
    return issue_id


def test_the_dispatch_email_reaches_a_real_smtp_server(store: Store) -> None:
    people(store)
    with smtp_server() as (port, inbox):
        issue_id = _dispatch(store)
        smtp = SmtpConfig(host="127.0.0.1", port=port, sender="ccmap@city.example")
        report = send_due(store, NOW, smtp)
    assert report.as_dict() == {"sent": 1, "retrying": 0, "failed": 0}
    [(sender, recipients, message)] = inbox.messages
    assert (sender, recipients) == ("ccmap@city.example", ["u1@example.org"])
    assert message["To"] == "u1@example.org"
    assert message["Subject"] == f"【创城点位地图】派遣：问题 #{issue_id}"
    text = message.get_content()
    assert f"问题 #{issue_id}「乱贴乱画」" in text and "区城管执法局" in text
    [sent] = store.deliveries()
    assert (sent["state"], sent["attempts"], sent["sent_at"], sent["last_error"]) == (
        "sent", 1, NOW, None)
    assert send_due(store, NOW + timedelta(hours=1), smtp).as_dict()["sent"] == 0  # once


def test_emails_wait_while_no_smtp_server_is_configured(store: Store) -> None:
    people(store)
    _dispatch(store)
    assert send_due(store, NOW, SmtpConfig()).as_dict() == {"sent": 0, "retrying": 0,
                                                             "failed": 0}
    [mail] = store.deliveries()
    assert (mail["state"], mail["attempts"]) == ("pending", 0)


def test_a_webhook_receiver_gets_signed_json(store: Store) -> None:
    people(store)
    with http_receiver() as (url, got):
        hook = store.add_webhook(url + "/ccmap", SECRET, ["dispatched"], "user:admin", NOW)
        issue_id = _dispatch(store, unit=None)
        assert send_due(store, NOW).sent == 1
    [request] = got
    assert request.path == "/ccmap"
    [delivery] = store.deliveries()
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-Ccmap-Signature"], expected)
    assert request.headers["X-Ccmap-Event"] == "dispatched"
    assert request.headers["X-Ccmap-Delivery"] == str(delivery["id"])
    assert request.headers["Content-Type"].startswith("application/json")
    body = json.loads(request.body)
    assert (body["delivery_id"], body["event"], body["issue"]["id"]) == (
        delivery["id"], "dispatched", issue_id)
    assert body["details"]["note"] == "请处置"
    assert (delivery["state"], delivery["webhook_id"]) == ("sent", hook)
    wrong = hmac.new(b"another secret", request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Ccmap-Signature"] != "sha256=" + wrong


def test_a_down_receiver_loses_nothing_and_a_retry_delivers(store: Store) -> None:
    people(store)
    port = free_port()  # nobody listens: connection refused
    store.add_webhook(f"http://127.0.0.1:{port}/hook", SECRET, ["dispatched"], "user:admin", NOW)
    _dispatch(store, unit=None)
    policy = DeliveryPolicy(max_attempts=6, retry_minutes=1.0, timeout=5.0)
    at, waits = NOW, []
    for attempt in range(1, 6):
        assert send_due(store, at, policy=policy).retrying == 1
        [d] = store.deliveries()
        assert (d["state"], d["attempts"]) == ("pending", attempt)
        assert "refused" in d["last_error"].lower()
        waits.append(d["next_attempt_at"] - at)
        # not due before its time: an early round sends nothing and counts no attempt
        assert send_due(store, d["next_attempt_at"] - timedelta(seconds=1),
                        policy=policy).as_dict() == {"sent": 0, "retrying": 0, "failed": 0}
        at = d["next_attempt_at"]
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16)]
    assert send_due(store, at, policy=policy).failed == 1
    [d] = store.deliveries()
    assert (d["state"], d["attempts"], d["next_attempt_at"]) == ("failed", 6, None)
    assert store.delivery_count("failed") == 1 and store.delivery_count("pending") == 0
    assert send_due(store, at + timedelta(days=1), policy=policy).failed == 0  # stays failed
    with http_receiver(port) as (_, got):  # the receiver is back
        later = at + timedelta(hours=1)
        retried = store.retry_delivery(d["id"], later, "user:admin")
        assert (retried["state"], retried["attempts"]) == ("pending", 0)
        assert send_due(store, later, policy=policy).sent == 1
    assert len(got) == 1 and json.loads(got[0].body)["delivery_id"] == d["id"]
    assert store.delivery(d["id"])["state"] == "sent"
    assert any(a["action"] == "retry" and a["object_type"] == "delivery"
               for a in store.audit_log())
    with pytest.raises(Conflict, match=r"已于 \S+ \S+ 发送成功，无需重试"):
        store.retry_delivery(d["id"], later, "user:admin")


def test_an_error_answer_is_retried_and_a_deleted_webhook_gets_nothing(store: Store) -> None:
    people(store)
    with http_receiver(status=500) as (url, got):
        hook = store.add_webhook(url, SECRET, ["dispatched"], "user:admin", NOW)
        _dispatch(store, unit=None)
        assert send_due(store, NOW).retrying == 1
        assert len(got) == 1
    [d] = store.deliveries()
    assert d["state"] == "pending" and d["last_error"].startswith("HTTP 500")
    assert store.delete_webhook(hook, "user:admin", NOW) == 1
    d = store.delivery(d["id"])
    assert d["state"] == "failed"
    assert d["last_error"] == f"推送已删除（user:admin 于 {NOW:%Y-%m-%d %H:%M} 删除）"
    assert translate(d["last_error"], "en") == \
        f"webhook deleted (by user:admin at {NOW:%Y-%m-%d %H:%M})"
    with pytest.raises(Conflict, match="所属的推送已删除，不能重试"):
        store.retry_delivery(d["id"], NOW, "user:admin")


def test_two_senders_never_take_the_same_delivery(store: Store) -> None:
    row: dict[str, Any] = {"channel": "webhook", "target": "http://127.0.0.1:9/",
                           "event": "overdue", "issue_id": None, "payload": {},
                           "created_at": NOW, "next_attempt_at": NOW}
    store.add_deliveries([dict(row) for _ in range(60)])
    taken: list[list[int]] = []
    lock = threading.Lock()

    def claim() -> None:
        got = store.claim_deliveries(NOW, NOW + timedelta(minutes=5), ["webhook"], 40)
        with lock:
            taken.append([d["id"] for d in got])

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    first, second = taken
    assert not set(first) & set(second) and len(first) + len(second) == 60
    assert store.claim_deliveries(NOW, NOW, ["webhook"], 10) == []  # held until the lease ends
    assert len(store.claim_deliveries(NOW + timedelta(minutes=5), NOW, ["webhook"], 100)) == 60


def test_a_backlog_drains_a_batch_at_a_time(store: Store) -> None:
    with http_receiver() as (url, got):
        hook = store.add_webhook(url, SECRET, ["overdue"], "user:admin", NOW)
        row: dict[str, Any] = {"channel": "webhook", "target": url, "webhook_id": hook,
                               "event": "overdue", "payload": {}, "created_at": NOW,
                               "next_attempt_at": NOW}
        store.add_deliveries([dict(row) for _ in range(25)])
        policy = DeliveryPolicy(batch=10)
        assert send_due(store, NOW, policy=policy).sent == 10  # one round: one batch
        assert send_all_due(store, NOW, policy=policy).sent == 15  # the rest, in two rounds
    assert len(got) == 25 and store.delivery_count("sent") == 25
    assert len({json.loads(r.body)["delivery_id"] for r in got}) == 25  # each once
