"""Accounts over HTTP: each role against each endpoint family, tokens, cookies, CSRF, lockout."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point, box

from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.store import Store
from server.app import create_app
from server.settings import Settings
from tests.conftest import TEST_PASSWORD, add_user, bearer

ROLES = ["admin", "planner", "inspector", "unit", "viewer"]
NEW_PASSWORD = "kettle-orbit-42"  # passes the password policy (10+ characters, not common)
ZONE = {"type": "Feature", "properties": {"name": "新责任区", "unit": "区教育局"},
        "geometry": {"type": "Polygon", "coordinates": [[[121.47, 31.23], [121.48, 31.23],
                                                         [121.48, 31.24], [121.47, 31.23]]]}}


@pytest.fixture
def people(store: Store) -> dict[str, str]:
    """One user per role; the unit user belongs to 区教育局."""
    for role in ROLES:
        add_user(store, f"{role}1", role, unit="区教育局" if role == "unit" else None)
    return {role: f"{role}1" for role in ROLES}


def _seed_scoped(store: Store) -> dict[str, int]:
    ids = store.add_features([
        Feature(Kind.zone, box(121.47, 31.23, 121.48, 31.24), name="教育局责任区",
                properties={"unit": "区教育局"}),
        Feature(Kind.zone, box(121.48, 31.23, 121.49, 31.24), name="城管责任区",
                properties={"unit": "区城管执法局"}),
        Feature(Kind.test_point, Point(121.475, 31.235), name="无主点位", category="bus_stop"),
    ])
    store.add_issues([Issue("illegal_ads", 121.475, 31.235, unit="区教育局"),
                      Issue("street_vending", 121.485, 31.235, unit="区城管执法局")])
    return {"own": ids[0], "other": ids[1], "shared": ids[2]}


def test_health_is_public_and_everything_else_needs_login(anon_client: TestClient) -> None:
    assert anon_client.get("/api/health").json()["status"] == "ok"
    for url in ("/api/layers", "/api/layers/street", "/api/issues.geojson", "/api/me",
                "/api/users", "/api/audit"):
        r = anon_client.get(url)
        assert r.status_code == 401, url
        assert r.headers["www-authenticate"] == "Bearer"
    r = anon_client.post("/api/layers/zone", json=ZONE)
    assert r.status_code == 401


@pytest.mark.parametrize("role", ROLES)
def test_each_role_against_each_endpoint_family(anon_client: TestClient, store: Store,
                                                people: dict[str, str], role: str) -> None:
    h = bearer(anon_client, people[role])
    expected_write = role in ("admin", "planner")
    expected_admin = role == "admin"
    assert anon_client.get("/api/layers/street", headers=h).status_code == 200  # reads: all
    assert anon_client.get("/api/units", headers=h).status_code == 200
    r = anon_client.post("/api/layers/zone", json=ZONE, headers=h)
    assert r.status_code == (201 if expected_write else 403), r.text
    assert anon_client.get("/api/users", headers=h).status_code == (
        200 if expected_admin else 403)
    assert anon_client.get("/api/audit", headers=h).status_code == (
        200 if expected_admin else 403)
    r = anon_client.post("/api/units", json={"name": f"{role}新单位"}, headers=h)
    assert r.status_code == (201 if expected_admin else 403)
    r = anon_client.post("/api/users", json={"username": f"x{role}", "password": NEW_PASSWORD,
                                             "role": "viewer"}, headers=h)
    assert r.status_code == (201 if expected_admin else 403)
    assert anon_client.get("/api/me", headers=h).json()["role"] == role
    if not expected_write:
        assert store.layer_counts().get("zone", 0) == 0  # a refused write wrote nothing


def test_unit_user_sees_only_its_own_units_rows(anon_client: TestClient, store: Store,
                                                people: dict[str, str]) -> None:
    ids = _seed_scoped(store)
    unit = bearer(anon_client, people["unit"])
    zones = anon_client.get("/api/layers/zone", headers=unit).json()["features"]
    assert [z["properties"]["name"] for z in zones] == ["教育局责任区"]
    points = anon_client.get("/api/layers/test_point", headers=unit).json()["features"]
    assert len(points) == 1  # features no unit owns stay visible
    assert anon_client.get(f"/api/features/{ids['other']}", headers=unit).status_code == 404
    assert anon_client.get(f"/api/features/{ids['own']}", headers=unit).status_code == 200
    issues = anon_client.get("/api/issues.geojson", headers=unit).json()["features"]
    assert [i["properties"]["unit"] for i in issues] == ["区教育局"]
    viewer = bearer(anon_client, people["viewer"])
    assert len(anon_client.get("/api/layers/zone", headers=viewer).json()["features"]) == 2
    assert len(anon_client.get("/api/issues.geojson", headers=viewer).json()["features"]) == 2


def _cookie_login(client: TestClient, username: str) -> str:
    r = client.post("/api/auth/login", data={"username": username, "password": TEST_PASSWORD})
    assert r.status_code == 200, r.text
    assert "httponly" in r.headers["set-cookie"].lower()
    csrf: str = r.json()["csrf_token"]
    assert client.cookies.get("ccmap_csrf") == csrf
    return csrf


def test_cookie_session_needs_csrf_for_writes(anon_client: TestClient, store: Store,
                                              people: dict[str, str]) -> None:
    csrf = _cookie_login(anon_client, people["planner"])
    assert anon_client.get("/api/layers/zone").status_code == 200  # reads need no CSRF
    r = anon_client.post("/api/layers/zone", json=ZONE)
    assert r.status_code == 403 and "CSRF 令牌缺失或错误" in r.json()["detail"]
    r = anon_client.post("/api/layers/zone", json=ZONE, headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    assert store.layer_counts() == {}
    r = anon_client.post("/api/layers/zone", json=ZONE, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201


def test_logout_ends_the_session_and_the_token(anon_client: TestClient,
                                               people: dict[str, str]) -> None:
    csrf = _cookie_login(anon_client, people["viewer"])
    assert anon_client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert anon_client.get("/api/me").status_code == 401
    h = bearer(anon_client, people["viewer"])
    assert anon_client.post("/api/auth/logout", headers=h).status_code == 200
    assert anon_client.get("/api/me", headers=h).status_code == 401


def test_lockout_after_repeated_failures(store: Store, people: dict[str, str]) -> None:
    settings = Settings(database_url=store.url, basemap="none", lockout_attempts=3)
    with TestClient(create_app(settings, store=store)) as c:
        for _ in range(3):
            r = c.post("/api/auth/token", data={"username": "viewer1", "password": "wrong"})
            assert r.status_code == 401
        r = c.post("/api/auth/token", data={"username": "viewer1", "password": TEST_PASSWORD})
        assert r.status_code == 423 and int(r.headers["retry-after"]) > 0
        other = c.post("/api/auth/token", data={"username": "admin1",
                                                "password": TEST_PASSWORD})
        assert other.status_code == 200  # only the attacked account is locked
    user = store.user("viewer1")
    assert user is not None and user.locked_until is not None


def test_unknown_user_and_wrong_password_look_the_same(anon_client: TestClient,
                                                       people: dict[str, str]) -> None:
    a = anon_client.post("/api/auth/token", data={"username": "nobody", "password": "x"})
    b = anon_client.post("/api/auth/token", data={"username": "admin1", "password": "x"})
    assert a.status_code == b.status_code == 401 and a.json() == b.json()


def test_password_change_revokes_other_sessions(anon_client: TestClient,
                                                people: dict[str, str]) -> None:
    first = bearer(anon_client, people["inspector"])
    second = bearer(anon_client, people["inspector"])
    r = anon_client.post("/api/auth/password", headers=first,
                         json={"current_password": "wrong", "new_password": "n3w-password"})
    assert r.status_code == 400
    r = anon_client.post("/api/auth/password", headers=first,
                         json={"current_password": TEST_PASSWORD, "new_password": "short"})
    assert r.status_code == 400 and "10" in r.json()["detail"]
    r = anon_client.post("/api/auth/password", headers=first,
                         json={"current_password": TEST_PASSWORD,
                               "new_password": "n3w-password"})
    assert r.status_code == 200
    assert anon_client.get("/api/me", headers=first).status_code == 200
    assert anon_client.get("/api/me", headers=second).status_code == 401
    assert bearer(anon_client, people["inspector"], "n3w-password")


def test_api_tokens_for_integrations(client: TestClient, people: dict[str, str]) -> None:
    r = client.post("/api/tokens", json={"name": "12345热线", "username": people["inspector"]})
    assert r.status_code == 201
    token = r.json()["token"]
    me = client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["username"] == people["inspector"]
    r = client.patch(f"/api/users/{people['inspector']}", json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_admin_user_management_validates(client: TestClient, store: Store) -> None:
    r = client.post("/api/users", json={"username": "u2", "password": NEW_PASSWORD,
                                        "role": "unit"})
    assert r.status_code == 400 and "包保单位用户必须指定单位" in r.json()["detail"]
    r = client.post("/api/users", json={"username": "u2", "password": NEW_PASSWORD,
                                        "role": "wizard"})
    assert r.status_code == 400
    r = client.post("/api/users", json={"username": "testadmin", "password": NEW_PASSWORD,
                                        "role": "viewer"})
    assert r.status_code == 409
    users: list[dict[str, Any]] = client.get("/api/users").json()
    assert all("password_hash" not in u for u in users)
    assert client.patch("/api/users/ghost", json={"active": False}).status_code == 404


def test_city_wide_analyses_are_not_for_unit_users(anon_client: TestClient,
                                                   people: dict[str, str]) -> None:
    unit = bearer(anon_client, people["unit"])
    viewer = bearer(anon_client, people["viewer"])
    for url in ("/api/coverage", "/api/coverage.geojson", "/api/workload", "/api/choropleth"):
        assert anon_client.get(url, headers=unit).status_code == 403, url
        assert anon_client.get(url, headers=viewer).status_code == 200, url
    # their own figures stay available, scoped
    assert anon_client.get("/api/heatmap", headers=unit).status_code == 200
    assert anon_client.get("/api/ranking?level=unit", headers=unit).status_code == 200
