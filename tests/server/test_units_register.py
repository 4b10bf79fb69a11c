"""The units the zones name and the registry lacks: listed for the admin, registered in one
go (HTTP and CLI), so a unit's own users can be made for them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box

from geo.model.kinds import Kind
from geo.model.records import Feature
from geo.model.users import Unit
from geo.store import Store
from server.cli import main
from tests.conftest import TEST_PASSWORD, add_user, bearer


@pytest.fixture
def zones(store: Store) -> None:
    """Zones naming 甲 twice, 乙 (registered) once, 丙 once, and one zone without a unit."""
    units = ["甲", "甲", "乙", "丙", None]
    store.add_features([
        Feature(Kind.zone, box(121.46 + k * 0.01, 31.22, 121.47 + k * 0.01, 31.23),
                name=f"第{k}区", category="grid",
                properties={"zone_type": "grid", **({"unit": u} if u else {})})
        for k, u in enumerate(units)])
    store.add_unit(Unit("乙"))


def _user(unit: str) -> dict[str, Any]:
    return {"username": f"u{ord(unit)}", "password": TEST_PASSWORD, "role": "unit",
            "unit": unit}


def test_the_admin_registers_the_units_the_zones_name(client: TestClient, store: Store,
                                                      zones: None) -> None:
    listed = client.get("/api/units/unregistered")
    assert listed.status_code == 200
    assert listed.json() == [{"name": "甲", "zones": 2}, {"name": "丙", "zones": 1}]
    # a unit's own user cannot be made for a unit the registry lacks ...
    refused = client.post("/api/users", json=_user("甲"))
    assert refused.status_code in (400, 422) and "甲" in refused.json()["detail"], refused.text
    r = client.post("/api/units/register", json={"names": ["丙"]})
    assert r.status_code == 200 and r.json() == {"registered": ["丙"]}
    assert client.get("/api/units/unregistered").json() == [{"name": "甲", "zones": 2}]
    assert client.post("/api/units/register", json={}).json() == {"registered": ["甲"]}
    assert client.get("/api/units/unregistered").json() == []
    assert {(u.name, u.kind) for u in store.units()} == {("甲", "unit"), ("乙", "unit"),
                                                         ("丙", "unit")}
    created = store.audit_log(object_type="unit")
    by_admin = sorted(a["diff"]["name"] for a in created if a["actor"] == "user:testadmin")
    assert by_admin == ["丙", "甲"]
    # ... and can once it is registered
    assert client.post("/api/users", json=_user("甲")).status_code == 201


def test_a_name_no_zone_names_registers_nothing(client: TestClient, store: Store,
                                                zones: None) -> None:
    for names in (["甲", "不存在的单位"], ["乙"]):  # unknown, or registered already
        r = client.post("/api/units/register", json={"names": names})
        assert r.status_code == 400 and names[-1] in r.json()["detail"], r.text
    assert {u.name for u in store.units()} == {"乙"}  # 甲 was not registered either
    assert client.post("/api/units/register", json={"names": [""]}).status_code == 422


def test_only_an_admin_lists_or_registers_units(anon_client: TestClient, store: Store,
                                                zones: None) -> None:
    add_user(store, "planner1", "planner")
    h = bearer(anon_client, "planner1")
    assert anon_client.get("/api/units/unregistered", headers=h).status_code == 403
    assert anon_client.post("/api/units/register", json={}, headers=h).status_code == 403
    assert anon_client.get("/api/units/unregistered").status_code == 401
    assert {u.name for u in store.units()} == {"乙"}


def test_the_cli_lists_and_registers_them(db_url: str, store: Store, zones: None,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["unit", "unregistered", "--json", "--db", db_url]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "units": [{"name": "甲", "zones": 2}, {"name": "丙", "zones": 1}]}
    assert main(["unit", "register", "--db", db_url]) != 0  # neither names nor --all
    assert main(["unit", "register", "甲", "无名", "--db", db_url]) != 0
    assert {u.name for u in store.units()} == {"乙"}
    assert main(["unit", "register", "--all", "--json", "--db", db_url]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {"registered": ["甲", "丙"]}
    assert {u.name for u in store.units()} == {"甲", "乙", "丙"}
