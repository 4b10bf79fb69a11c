"""emit: who is told of a dispatch, a rework and an extension decision, in app and by e-mail,
which webhooks get the event, and that it is all written in the caller's transaction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from geo.ledger import workflows
from geo.model.errors import InvalidInput
from geo.notify.events import emit
from geo.store import Store
from tests.geo.notify.helpers import (
    INSPECTOR,
    NOW,
    UNIT,
    UNIT_USER,
    case,
    notices,
    people,
)


def test_a_dispatch_tells_the_units_active_users_in_app_and_by_email(store: Store) -> None:
    people(store)
    issue_id = case(store)
    workflows.change_status(store, issue_id, "dispatched", "请今天处置", 1, INSPECTOR, now=NOW)
    assert notices(store, "u1") == notices(store, "u2") == [("dispatched", issue_id)]
    assert notices(store, "u3") == notices(store, "other") == notices(store, "ins") == []
    note = store.notifications("u1")[0]
    assert note["at"] == NOW and note["read_at"] is None
    assert f"#{issue_id}" in note["message"] and f"已派遣至{UNIT}" in note["message"]
    assert "请今天处置" in note["message"]
    [mail] = store.deliveries()  # u1 has an address, u2 has none; no webhook registered
    assert (mail["channel"], mail["target"], mail["state"], mail["attempts"],
            mail["next_attempt_at"]) == ("email", "u1@example.org", "pending", 0, NOW)
    assert mail["payload"]["subject"] == f"【创城点位地图】派遣：问题 #{issue_id}"
    assert note["message"] in mail["payload"]["body"]


def test_rework_tells_the_unit_again_and_other_status_changes_tell_nobody(store: Store) -> None:
    people(store)
    issue_id = case(store)
    workflows.change_status(store, issue_id, "dispatched", "", 1, INSPECTOR, now=NOW)
    workflows.change_status(store, issue_id, "handled", "已清理", 2, UNIT_USER, now=NOW)
    photo = workflows.add_photo(store, issue_id, "rework", "a.jpg", "image/jpeg", b"jpg",
                                INSPECTOR)
    workflows.change_status(store, issue_id, "returned", "现场仍有涂鸦", 3, INSPECTOR, now=NOW,
                            photo_id=photo.id)
    assert notices(store, "u2") == [("dispatched", issue_id), ("rework", issue_id)]
    assert "核查未通过，退回返工（第 1 次返工）" in store.notifications("u2")[0]["message"]
    assert "现场仍有涂鸦" in store.notifications("u2")[0]["message"]
    workflows.change_status(store, issue_id, "dispatched", "", 4, INSPECTOR, now=NOW)
    assert [e for e, _ in notices(store, "u1")] == ["dispatched", "rework", "dispatched"]


def test_the_actor_is_not_told_and_an_applicant_hears_of_the_decision(store: Store) -> None:
    people(store)
    issue_id = case(store, status="dispatched")
    issue = store.issue(issue_id)
    with store.transaction():
        emit(store, "rework", issue, "user:u1", now=NOW)
    assert notices(store, "u1") == [] and notices(store, "u2") == [("rework", issue_id)]
    new = NOW + timedelta(days=3)
    with store.transaction():  # the applicant of another unit, and the unit (u1 once)
        emit(store, "extension_decided", issue, "user:admin", now=NOW, applicant="user:other",
             decision="approved", new_deadline=new, note="同意")
    for user in ("u1", "u2", "other"):
        assert notices(store, user)[-1] == ("extension_decided", issue_id)
    assert len(notices(store, "u1")) == 1
    text = store.notifications("other")[0]["message"]
    assert "延期申请已批准" in text and new.strftime("%Y-%m-%d %H:%M") in text and "同意" in text
    with store.transaction():
        emit(store, "extension_decided", issue, "user:admin", now=NOW, applicant="u1",
             decision="rejected")
    assert "延期申请未获批准" in store.notifications("u1")[0]["message"]


def test_webhooks_get_the_events_they_subscribed_to(store: Store) -> None:
    people(store)
    hook = store.add_webhook("http://127.0.0.1:9/a", "s" * 20, ["dispatched", "rework"],
                             "user:admin", NOW)
    store.add_webhook("http://127.0.0.1:9/b", "s" * 20, ["overdue"], "user:admin", NOW)
    gone = store.add_webhook("http://127.0.0.1:9/c", "s" * 20, ["dispatched"], "user:admin",
                             NOW)
    store.delete_webhook(gone, "user:admin", NOW)
    issue_id = case(store, unit=None)  # no unit: nobody in app, the webhook all the same
    workflows.change_status(store, issue_id, "dispatched", "派往环卫所", 1, INSPECTOR, now=NOW)
    [call] = store.deliveries()
    assert (call["channel"], call["target"], call["webhook_id"]) == (
        "webhook", "http://127.0.0.1:9/a", hook)
    body = call["payload"]
    assert (body["event"], body["event_label"], body["actor"]) == ("dispatched", "派遣", "user:ins")
    assert body["issue"]["id"] == issue_id and body["issue"]["status"] == "dispatched"
    assert body["issue"]["category_label"] == "乱贴乱画"
    assert body["details"] == {"note": "派往环卫所"} and body["at"] == NOW.isoformat()
    assert store.notification_count("u1") == 0


def test_a_status_change_whose_notice_fails_leaves_nothing(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    people(store)
    issue_id = case(store)

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("add_deliveries failed")

    monkeypatch.setattr(store, "add_deliveries", broken)
    with pytest.raises(RuntimeError, match="add_deliveries failed"):
        workflows.change_status(store, issue_id, "dispatched", "", 1, INSPECTOR, now=NOW)
    issue = store.issue(issue_id)
    assert (issue.status, issue.version) == ("accepted", 1)
    assert store.notification_count("u1") == 0 and len(store.issue_history(issue_id)) == 1
    monkeypatch.undo()
    workflows.change_status(store, issue_id, "dispatched", "", 1, INSPECTOR, now=NOW)
    assert store.notification_count("u1") == 1 and store.delivery_count() == 1


def test_an_unknown_event_is_refused(store: Store) -> None:
    issue = store.issue(case(store))
    with pytest.raises(InvalidInput, match="未知的通知事件"):
        emit(store, "closed", issue, "user:x", now=NOW)


def test_emails_and_webhook_calls_of_one_event_keep_their_own_fields(store: Store) -> None:
    people(store)
    hook = store.add_webhook("http://127.0.0.1:9/a", "s" * 20, ["dispatched"], "user:admin",
                             NOW)
    issue_id = case(store)
    workflows.change_status(store, issue_id, "dispatched", "", 1, INSPECTOR, now=NOW)
    rows = sorted(store.deliveries(), key=lambda d: d["channel"])
    assert [(d["channel"], d["webhook_id"], d["issue_id"]) for d in rows] == [
        ("email", None, issue_id), ("webhook", hook, issue_id)]


def test_an_extension_decision_tells_the_applicant_and_the_unit(store: Store) -> None:
    from geo.ledger.casework import apply_extension, decide_extension

    people(store)
    issue_id = case(store)
    issue = workflows.change_status(store, issue_id, "dispatched", "", 1, INSPECTOR, now=NOW)
    assert issue.deadline is not None
    wanted = issue.deadline + timedelta(days=2)
    ext = apply_extension(store, issue_id, "材料未到", wanted, UNIT_USER, now=NOW)
    assert notices(store, "u1") == [("dispatched", issue_id)]  # applying tells nobody
    decide_extension(store, ext["id"], True, "同意", INSPECTOR, now=NOW + timedelta(hours=1))
    assert notices(store, "u1")[-1] == notices(store, "u2")[-1] == (
        "extension_decided", issue_id)
    text = store.notifications("u1")[0]["message"]
    assert "延期申请已批准" in text and wanted.strftime("%Y-%m-%d %H:%M") in text
    assert store.notifications("u1")[0]["at"] == NOW + timedelta(hours=1)
