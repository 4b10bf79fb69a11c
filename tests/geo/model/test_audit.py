"""The audit trail (留痕): diffs, same-transaction writes, and the admin's log and export."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import LineString

import geo.store.accounts
import geo.store.audit
import geo.store.calendar
import geo.store.casework
import geo.store.jobs
import geo.store.plans
import geo.store.rows
import geo.store.sql
from geo.accounts.logins import hash_password
from geo.model.audit import changes
from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.model.users import Role, Unit, User
from geo.store import Store
from tests.conftest import TEST_PASSWORD, add_user, bearer

ZONE = {"type": "Feature", "properties": {"name": "审计责任区", "unit": "区教育局"},
        "geometry": {"type": "Polygon", "coordinates": [[[121.47, 31.23], [121.48, 31.23],
                                                         [121.48, 31.24], [121.47, 31.23]]]}}


def test_diff_keeps_only_changed_fields_and_masks_secrets() -> None:
    at = datetime(2026, 11, 2, 9, 30)
    diff = changes({"role": Role.viewer, "unit": None, "deadline": at, "password_hash": "$a"},
                   {"role": "viewer", "unit": "区教育局", "deadline": at + timedelta(hours=4),
                    "password_hash": "$b"}, secret={"password_hash"})
    assert diff == {"unit": {"from": None, "to": "区教育局"},
                    "deadline": {"from": "2026-11-02T09:30:00", "to": "2026-11-02T13:30:00"},
                    "password_hash": {"from": "***", "to": "***"}}
    json.dumps(diff)  # storable as it is


def _street() -> Feature:
    return Feature(Kind.street, LineString([(121.47, 31.23), (121.48, 31.23)]), name="人民路")


WRITES: dict[str, Callable[[Store], Any]] = {
    "add_features": lambda s: s.add_features([_street()], actor="user:p"),
    "add_issues": lambda s: s.add_issues([Issue("graffiti", 121.47, 31.23)], actor="user:i"),
    "add_unit": lambda s: s.add_unit(Unit("区城管执法局"), actor="user:a"),
    "update_user": lambda s: s.update_user("v", {"role": "planner"}, actor="user:a"),
    "clear": lambda s: s.clear(actor="user:a"),
    "add_calendar_days": lambda s: s.add_calendar_days(
        [{"start_date": date(2027, 1, 1), "end_date": date(2027, 1, 3), "kind": "off"}],
        actor="user:a"),
    "set_time_limits": lambda s: s.set_time_limits(
        [{"category": "clutter", "urgency": "normal", "amount": 2, "unit": "hours"}],
        actor="user:a"),
    "add_extension": lambda s: s.add_extension(1, None, "理由", datetime(2026, 12, 1), None,
                                               "user:u", datetime(2026, 11, 30)),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_write_whose_audit_row_fails_is_rolled_back(store: Store, write: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    store.add_features([_street()])
    store.add_issues([Issue("littering", 121.47, 31.23)])
    store.add_user(User("v", Role.viewer, password_hash=hash_password("abcdefgh")))
    before = (store.layer_counts(), store.issue_count(), [u.name for u in store.units()],
              [(u.username, u.role) for u in store.users()], len(store.audit_log()),
              store.calendar_days(), store.time_limits(), store.extensions())

    def broken(*_: Any) -> None:
        raise RuntimeError("audit table unavailable")

    for module in (geo.store.sql, geo.store.accounts, geo.store.audit, geo.store.jobs,
                   geo.store.plans, geo.store.rows, geo.store.calendar,
                   geo.store.casework):  # the store's modules, and their helpers
        if hasattr(module, "_audit"):
            monkeypatch.setattr(module, "_audit", broken)
    with pytest.raises(RuntimeError):
        WRITES[write](store)
    after = (store.layer_counts(), store.issue_count(), [u.name for u in store.units()],
             [(u.username, u.role) for u in store.users()], len(store.audit_log()),
             store.calendar_days(), store.time_limits(), store.extensions())
    assert after == before  # no write without its audit row


@pytest.fixture
def people(store: Store) -> None:
    add_user(store, "admin1", "admin")
    add_user(store, "planner1", "planner")
    add_user(store, "viewer1", "viewer")


def test_a_browser_write_is_logged_with_its_actor(anon_client: TestClient, store: Store,
                                                  people: None) -> None:
    r = anon_client.post("/api/auth/login", data={"username": "planner1",
                                                  "password": TEST_PASSWORD})
    csrf = r.json()["csrf_token"]
    r = anon_client.post("/api/layers/zone", json=ZONE, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    anon_client.cookies.clear()
    admin = bearer(anon_client, "admin1")
    rows = anon_client.get("/api/audit", params={"actor": "user:planner1",
                                                 "object_type": "feature"},
                           headers=admin).json()
    assert len(rows) == 1
    assert rows[0]["action"] == "create" and rows[0]["diff"]["ids"] == r.json()["ids"]
    assert datetime.fromisoformat(rows[0]["at"]) <= datetime.now()
    logins = anon_client.get("/api/audit", params={"actor": "user:planner1",
                                                   "object_type": "session"},
                             headers=admin).json()
    assert [x["action"] for x in logins] == ["login"]


def test_a_refused_upload_leaves_no_feature_and_no_audit_row(client: TestClient,
                                                             store: Store) -> None:
    point = {**ZONE, "geometry": {"type": "Point", "coordinates": [121.47, 31.23]}}
    r = client.post("/api/layers/zone", json=point)
    assert r.status_code == 422
    assert store.layer_counts() == {}
    assert store.audit_log(object_type="feature") == []


def test_password_change_is_logged_without_the_hash(anon_client: TestClient, store: Store,
                                                    people: None) -> None:
    h = bearer(anon_client, "viewer1")
    r = anon_client.post("/api/auth/password", headers=h,
                         json={"current_password": TEST_PASSWORD, "new_password": "n3w-secret"})
    assert r.status_code == 200
    row = store.audit_log(actor="user:viewer1", object_type="user")[0]
    assert row["diff"] == {"password_hash": {"from": "***", "to": "***"}}
    user = store.user("viewer1")
    assert user is not None
    assert user.password_hash not in json.dumps([r["diff"] for r in store.audit_log()])


def test_admin_filters_and_exports_the_log(client: TestClient, store: Store) -> None:
    store.add_features([_street()], actor="user:planner1")
    store.add_unit(Unit("区教育局"), actor="cli:root")
    rows = client.get("/api/audit", params={"object_type": "unit"}).json()
    assert [(r["actor"], r["diff"]["name"]) for r in rows] == [("cli:root", "区教育局")]
    future = (datetime.now() + timedelta(hours=1)).isoformat(timespec="seconds")
    assert client.get("/api/audit", params={"from": future}).json() == []
    assert len(client.get("/api/audit", params={"to": future}).json()) == len(
        store.audit_log())
    assert client.get("/api/audit", params={"limit": 1}).json()[0]["id"] == max(
        r["id"] for r in store.audit_log())
    r = client.get("/api/audit", params={"format": "csv", "actor": "user:planner1"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.lstrip("\ufeff").splitlines()
    assert lines[0] == "编号,时间,操作人,操作,对象类型,对象,变更内容"
    assert len(lines) == 2 and ",user:planner1,create,feature," in lines[1]
    assert client.get("/api/audit", params={"format": "xml"}).status_code == 422
