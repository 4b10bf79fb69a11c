"""The offline inspection app's server side: client_id makes a resent report, photo or
inspection create nothing new (on both backends), a client_id is scoped to its sender, a
changed round is a conflict, and the app's round, service worker, manifest and icons."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from shapely.geometry import Point

from geo.model.kinds import Kind
from geo.model.records import Feature
from geo.planner.inspections import checklist
from geo.store import Store
from tests.conftest import TEST_PASSWORD, add_user, bearer, tiny_png

CATEGORY = "public_toilet"


@pytest.fixture
def field(anon_client: TestClient, store: Store) -> dict[str, Any]:
    """Three test points, a round whose team 1 is inspector i1's, and users i1, i2, viewer."""
    ids = store.add_features([
        Feature(Kind.test_point, Point(121.47 + k * 0.001, 31.23), name=f"公厕{k}",
                category=CATEGORY) for k in range(3)])
    stops = [{"id": fid, "name": f"公厕{k}", "category": CATEGORY, "category_label": "公厕",
              "lon": 121.47 + k * 0.001, "lat": 31.23, "seq": k + 1, "leg_m": 100,
              "arrive_min": 5.0 * k} for k, fid in enumerate(ids)]
    plan = {"teams": [
        {"team": 1, "name": "第1组", "inspector": "i1", "stops": stops[:2],
         "distance_m": 200, "duration_min": 30, "path": [[121.47, 31.23], [121.471, 31.23]]},
        {"team": 2, "name": "第2组", "inspector": "张三", "stops": stops[2:],
         "distance_m": 0, "duration_min": 15, "path": []}], "unscheduled": [],
        "mode": "walk", "budget_min": 240, "service_min": 15, "return_to_start": False,
        "start": [121.47, 31.23]}
    rid = store.add_round("外业测试轮次", plan, "test")
    for name, role in (("i1", "inspector"), ("i2", "inspector"), ("v1", "viewer")):
        add_user(store, name, role)
    return {"client": anon_client, "round": rid, "points": ids,
            "i1": bearer(anon_client, "i1"), "i2": bearer(anon_client, "i2")}


def _report(client_id: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {"category": "illegal_ads", "lon": 121.4705, "lat": 31.2302,
            "description": "电线杆上的小广告", "reported_at": "2026-11-20T09:30:00+08:00",
            **extra}
    return {**body, "client_id": client_id} if client_id else body


def _results(fail: str | None = None) -> dict[str, dict[str, str]]:
    return {i["code"]: {"result": "fail" if i["code"] == fail else "pass", "note": ""}
            for i in checklist(CATEGORY)}


def test_a_resent_report_answers_200_with_the_first_and_creates_nothing(
        field: dict[str, Any], store: Store) -> None:
    client, cid = field["client"], str(uuid.uuid4())
    first = client.post("/api/issues", json=_report(cid), headers=field["i1"])
    assert first.status_code == 201, first.text
    assert first.json()["client_id"] == cid
    again = client.post("/api/issues", json=_report(cid, description="再发一次"),
                        headers=field["i1"])
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["description"] == "电线杆上的小广告"  # the first report, unchanged
    assert store.issue_count() == 1
    assert len(store.issue_history(first.json()["id"])) == 1
    # without a client_id every POST is a new report, as before
    assert client.post("/api/issues", json=_report(), headers=field["i1"]).status_code == 201
    assert store.issue_count() == 2


def test_another_users_client_id_never_finds_their_record(field: dict[str, Any],
                                                           store: Store) -> None:
    """Scoped to the sender: i2 sending i1's client_id gets a report of its own (201), never
    i1's issue; each resends and finds its own."""
    client, cid = field["client"], str(uuid.uuid4())
    mine = client.post("/api/issues", json=_report(cid), headers=field["i1"]).json()
    theirs = client.post("/api/issues", json=_report(cid, description="另一人的"),
                         headers=field["i2"])
    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine["id"]
    assert theirs.json()["description"] == "另一人的"
    again = client.post("/api/issues", json=_report(cid), headers=field["i2"])
    assert again.status_code == 200 and again.json()["id"] == theirs.json()["id"]
    assert store.issue_count() == 2


@pytest.mark.parametrize("bad", ["not-a-uuid", "123", "g" * 36])
def test_a_client_id_that_is_not_a_uuid_is_refused(field: dict[str, Any], store: Store,
                                                   bad: str) -> None:
    r = field["client"].post("/api/issues", json=_report(bad), headers=field["i1"])
    assert r.status_code == 422
    assert store.issue_count() == 0


def test_a_resent_photo_stores_nothing_new(field: dict[str, Any], store: Store) -> None:
    client = field["client"]
    issue = client.post("/api/issues", json=_report(str(uuid.uuid4())),
                        headers=field["i1"]).json()
    pid = str(uuid.uuid4())

    def upload(issue_id: int, how: str = "query") -> Any:
        png = io.BytesIO(tiny_png())
        if how == "query":
            return client.post(f"/api/issues/{issue_id}/photos?client_id={pid}",
                               files={"file": ("a.png", png, "image/png")},
                               headers=field["i1"])
        return client.post(f"/api/issues/{issue_id}/photos", data={"client_id": pid},
                           files={"file": ("a.png", png, "image/png")}, headers=field["i1"])

    first = upload(issue["id"], "form")
    assert first.status_code == 201, first.text
    for how in ("query", "form"):
        again = upload(issue["id"], how)
        assert again.status_code == 200, again.text
        assert again.json()["id"] == first.json()["id"]
    assert len(store.photos(issue["id"])) == 1
    notes = [h["note"] for h in store.issue_history(issue["id"])]
    assert sum("照片" in n for n in notes) == 1
    other = client.post("/api/issues", json=_report(), headers=field["i1"]).json()
    clash = upload(other["id"])
    assert clash.status_code == 409  # the client_id names another issue's photo
    assert store.photos(other["id"]) == []


def test_a_resent_inspection_answers_200_and_creates_nothing(field: dict[str, Any],
                                                             store: Store) -> None:
    client, cid = field["client"], str(uuid.uuid4())
    body = {"feature_id": field["points"][0], "round_id": field["round"],
            "results": _results(fail="clean"), "client_id": cid}
    first = client.post("/api/inspections", json=body, headers=field["i1"])
    assert first.status_code == 201, first.text
    assert first.json()["client_id"] == cid and len(first.json()["issue_ids"]) == 1
    again = client.post("/api/inspections", json=body, headers=field["i1"])
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["issue_ids"] == first.json()["issue_ids"]
    assert store.inspection_count() == 1 and store.issue_count() == 1
    listed = client.get(f"/api/inspections?round={field['round']}", headers=field["i1"])
    assert [r["client_id"] for r in listed.json()] == [cid]
    assert "client_key" not in listed.json()[0]  # the sender's name stays in the database
    # another inspector's same client_id is an inspection of its own
    theirs = client.post("/api/inspections", json=body, headers=field["i2"])
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    assert store.inspection_count() == 2


def test_a_resend_after_the_round_changed_still_finds_the_first(field: dict[str, Any],
                                                                store: Store) -> None:
    """An inspection of a point that is no longer a stop of the round is a conflict (409),
    but one that was stored before the change answers as stored."""
    client, cid = field["client"], str(uuid.uuid4())
    body = {"feature_id": field["points"][0], "round_id": field["round"],
            "results": _results(), "client_id": cid}
    assert client.post("/api/inspections", json=body, headers=field["i1"]).status_code == 201
    outside = store.add_features([Feature(Kind.test_point, Point(121.5, 31.25), name="外点",
                                          category=CATEGORY)])[0]
    moved = client.post("/api/inspections", headers=field["i1"], json={
        **body, "feature_id": outside, "client_id": str(uuid.uuid4())})
    assert moved.status_code == 409, moved.text
    assert "不在" in moved.json()["detail"]
    assert client.post("/api/inspections", json=body, headers=field["i1"]).status_code == 200
    assert store.inspection_count() == 1


def test_the_gps_accuracy_of_a_report_and_an_inspection_is_kept(field: dict[str, Any],
                                                                 store: Store) -> None:
    """A field report keeps its position's accuracy radius; an inspection keeps where the
    device stood and how accurately (the office can see the inspector was at the point)."""
    client = field["client"]
    made = client.post("/api/issues", json=_report(str(uuid.uuid4()), accuracy_m=12.5),
                       headers=field["i1"])
    assert made.status_code == 201, made.text
    assert made.json()["accuracy_m"] == 12.5
    assert client.get(f"/api/issues/{made.json()['id']}",
                      headers=field["i1"]).json()["accuracy_m"] == 12.5
    plain = client.post("/api/issues", json=_report(), headers=field["i1"]).json()
    assert plain["accuracy_m"] is None  # the map page sends none
    body = {"feature_id": field["points"][0], "round_id": field["round"],
            "results": _results(), "lon": 121.47003, "lat": 31.23002, "accuracy_m": 8}
    done = client.post("/api/inspections", json=body, headers=field["i1"])
    assert done.status_code == 201, done.text
    [listed] = client.get(f"/api/inspections?round={field['round']}",
                          headers=field["i1"]).json()
    assert (listed["device_lon"], listed["device_lat"], listed["accuracy_m"]) == (
        121.47003, 31.23002, 8)


@pytest.mark.parametrize("bad", [{"accuracy_m": -1}, {"accuracy_m": 20_000},
                                 {"accuracy_m": "near"}])
def test_an_accuracy_that_is_no_radius_is_refused(field: dict[str, Any], store: Store,
                                                  bad: dict[str, Any]) -> None:
    client = field["client"]
    answer = client.post("/api/issues", json=_report(**bad), headers=field["i1"])
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"][-1] == "accuracy_m"
    assert store.issue_count() == 0


def test_an_inspection_accuracy_needs_its_position(field: dict[str, Any], store: Store) -> None:
    body = {"feature_id": field["points"][0], "round_id": field["round"],
            "results": _results(), "accuracy_m": 8}
    for extra in ({}, {"lon": 121.47}):
        answer = field["client"].post(
            "/api/inspections", json={**body, **extra}, headers=field["i1"])
        assert answer.status_code == 400, answer.text
        assert "lon" in answer.json()["detail"]
    assert store.inspection_count() == 0


def test_the_field_round_is_the_inspectors_team(field: dict[str, Any]) -> None:
    client = field["client"]
    doc = client.get("/api/field/round", headers=field["i1"]).json()
    assert doc["round"]["id"] == field["round"] and doc["team"]["inspector"] == "i1"
    assert [s["id"] for s in doc["stops"]] == field["points"][:2]
    assert [i["code"] for i in doc["checklists"][CATEGORY]] == \
        [i["code"] for i in checklist(CATEGORY)]
    minx, miny, maxx, maxy = doc["bbox"]
    assert minx < 121.47 < 121.471 < maxx and miny < 31.23 < maxy
    assert doc["settings"] == {"photo_max_px": 1600, "tile_cache_mb": 50.0}
    assert any(c["code"] == "illegal_ads" for c in doc["categories"])
    # i2 has no team: 404 saying so; a round and team asked for by id
    none = client.get("/api/field/round", headers=field["i2"])
    assert none.status_code == 404 and "轮次" in none.json()["detail"]
    two = client.get(f"/api/field/round?round={field['round']}&team=2", headers=field["i2"])
    assert [s["id"] for s in two.json()["stops"]] == field["points"][2:]
    assert client.get(f"/api/field/round?round={field['round']}&team=7",
                      headers=field["i2"]).status_code == 404
    viewer = bearer(client, "v1")
    assert client.get("/api/field/round", headers=viewer).status_code == 403


def test_the_app_installs_service_worker_manifest_and_icons(field: dict[str, Any]) -> None:
    client = field["client"]
    sw = client.get("/field/sw.js")
    assert sw.status_code == 200 and "javascript" in sw.headers["content-type"]
    assert sw.headers["service-worker-allowed"] == "/field"
    assert "default-src 'self'" in sw.headers["content-security-policy"]
    doc = client.get("/field/manifest.webmanifest")
    assert doc.headers["content-type"].startswith("application/manifest+json")
    manifest = doc.json()
    assert manifest["start_url"] == manifest["scope"] == "/field"
    assert manifest["display"] == "standalone"
    for icon in manifest["icons"]:
        png = client.get(icon["src"])
        assert png.status_code == 200
        w, h = Image.open(io.BytesIO(png.content)).size
        assert f"{w}x{h}" == icon["sizes"]
    assert client.get("/field/icons/64.png").status_code == 422
    # the page itself needs a login; logged in it names its settings and the manifest
    assert client.get("/field", follow_redirects=False).status_code == 303
    login = client.post("/api/auth/login", data={"username": "i1", "password": TEST_PASSWORD})
    assert login.status_code == 200, login.text
    page = client.get("/field")
    assert page.status_code == 200
    assert 'rel="manifest"' in page.text and 'data-photo-px="1600"' in page.text
    assert '<script type="module" src="/static/js/field.js">' in page.text
