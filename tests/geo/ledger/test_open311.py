"""Open311 GeoReport v2: services, requests GET/POST, status mapping, errors, api_key."""

from __future__ import annotations

from fastapi.testclient import TestClient

from geo.store import Store
from tests.conftest import add_user, bearer


def test_services_list_every_category(client: TestClient) -> None:
    services = client.get("/open311/v2/services.json").json()
    codes = {s["service_code"]: s for s in services}
    assert codes["street_vending"]["service_name"] == "占道经营"
    assert codes["street_vending"]["type"] == "realtime" and not codes["street_vending"][
        "metadata"]


def test_post_then_get_with_api_key(anon_client: TestClient, client: TestClient,
                                    store: Store) -> None:
    add_user(store, "app", "inspector")
    key = client.post("/api/tokens", json={"name": "随手拍 app", "username": "app"}).json()[
        "token"]
    r = anon_client.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "illegal_ads", "lat": "31.23", "long": "121.47",
        "description": "电线杆上小广告", "address_string": "福佑路 12 号", "phone": "13900000000"})
    assert r.status_code == 200, r.text
    rid = r.json()[0]["service_request_id"]
    [req] = anon_client.get(f"/open311/v2/requests/{rid}.json", params={"api_key": key}).json()
    assert req["status"] == "open" and req["status_notes"] == "上报 (reported)"
    assert (req["lat"], req["long"], req["service_code"]) == (31.23, 121.47, "illegal_ads")
    assert req["address"] == "福佑路 12 号" and req["expected_datetime"]
    issue = store.issue(int(rid))
    assert issue.source == "public_report" and "13900000000" in issue.reporter


def test_status_filter_maps_closed_and_rejected(client: TestClient) -> None:
    ids = []
    for _ in range(2):
        ids.append(client.post("/api/issues", json={"category": "graffiti", "lon": 121.47,
                                                    "lat": 31.23}).json()["id"])
    client.post(f"/api/issues/{ids[1]}/transitions", json={"to": "rejected", "version": 1})
    closed = client.get("/open311/v2/requests.json", params={"status": "closed"}).json()
    opened = client.get("/open311/v2/requests.json", params={"status": "open"}).json()
    assert [r["service_request_id"] for r in closed] == [str(ids[1])]
    assert [r["service_request_id"] for r in opened] == [str(ids[0])]
    assert closed[0]["status_notes"] == "不予立案 (rejected)"
    both = client.get("/open311/v2/requests.json",
                      params={"service_request_id": f"{ids[0]},{ids[1]}"}).json()
    assert len(both) == 2


def test_errors_use_the_open311_shape(anon_client: TestClient, store: Store) -> None:
    r = anon_client.get("/open311/v2/requests.json")
    assert r.status_code == 401 and r.json()[0]["code"] == 401
    add_user(store, "v", "viewer")
    h = bearer(anon_client, "v")
    r = anon_client.post("/open311/v2/requests.json", headers=h,
                         data={"service_code": "graffiti", "lat": "31.2", "long": "121.4"})
    assert r.status_code == 403 and r.json()[0]["code"] == 403  # viewers change nothing
    add_user(store, "i", "inspector")
    h = bearer(anon_client, "i")
    r = anon_client.post("/open311/v2/requests.json", headers=h,
                         data={"service_code": "teleport", "lat": "31.2", "long": "121.4"})
    assert r.status_code == 400 and "service_code" in r.json()[0]["description"]
    r = anon_client.post("/open311/v2/requests.json", headers=h,
                         data={"service_code": "graffiti", "lat": "north"})
    assert r.status_code == 400 and "lat and long" in r.json()[0]["description"]
    r = anon_client.get("/open311/v2/requests/999.json", headers=h)
    assert r.status_code == 404
    assert store.issue_count() == 0
