"""Open311 for any client: off-the-shelf GeoReport v2 clients (the `georeport` package reads,
civicbot's Open311 client posts) against a live server on each backend, every answer checked
against the GeoReport v2 JSON Schemas (tests/fixtures/open311/); public scope, rounding,
rate limit, and bad input answered in GeoReport's error shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema_rs
import pytest
import requests
from civicbot import Endpoint, HttpError, HttpTransport, Open311Client
from civicbot.http import RateLimiter
from fastapi.testclient import TestClient
from georeport import GeoReport

from geo.store import Store
from server.app import create_app
from server.settings import Settings
from tests.browser.conftest import serve_app
from tests.conftest import FIXTURES, TEST_PASSWORD, add_user, bearer

PHONE = "13900000000"
API = "/open311/v2"


def _schema(name: str) -> Any:
    """A validator of the named GeoReport v2 answer (formats such as date-time checked)."""
    doc = json.loads((FIXTURES / "open311" / f"{name}.schema.json").read_text("utf-8"))
    return jsonschema_rs.validator_for(doc, validate_formats=True)


def valid(name: str, answer: Any) -> Any:
    """The answer, after checking it against the named schema (every error listed)."""
    errors = [f"{e.instance_path}: {e.message}" for e in _schema(name).iter_errors(answer)]
    assert not errors, f"{name}: {errors}\n{answer}"
    return answer


def error(response: httpx.Response | Any, status: int) -> str:
    """The description of a GeoReport v2 error answer with this status."""
    assert response.status_code == status, response.text
    [err] = valid("errors", response.json())
    assert err["code"] == status
    description: str = err["description"]
    return description


@dataclass
class Live:
    """A live server with public reads on, an admin's headers and an inspector's API key."""

    url: str
    admin: dict[str, str]
    key: str

    def move(self, issue_id: str, *steps: str) -> None:
        """Walk an issue along the lifecycle as the admin."""
        for version, to in enumerate(steps, start=1):
            r = httpx.post(f"{self.url}/api/issues/{issue_id}/transitions", headers=self.admin,
                           json={"to": to, "version": version})
            assert r.status_code == 200, r.text


def _live(store: Store, db_url: str, **settings: Any) -> Iterator[Live]:
    app = create_app(Settings(database_url=db_url, basemap="none", **settings), store=store)
    add_user(store, "boss", "admin")
    add_user(store, "app", "inspector")
    with serve_app(app) as url:
        r = httpx.post(url + "/api/auth/token",
                       data={"username": "boss", "password": TEST_PASSWORD})
        admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
        key = httpx.post(url + "/api/tokens", headers=admin,
                         json={"name": "随手拍 app", "username": "app"}).json()["token"]
        yield Live(url, admin, key)


@pytest.fixture
def live(store: Store, db_url: str) -> Iterator[Live]:
    """Public requests on, positions rounded to 3 decimals, no rate limit in the way."""
    yield from _live(store, db_url, open311_public_requests=True, open311_public_decimals=3,
                     open311_public_rate=0)


def _poster(live: Live, key_required: bool = True) -> Open311Client:
    """civicbot's client of the live server (no pause between calls); key_required=False
    lets it send a POST without a key, so that the server is the one to refuse it."""
    endpoint = Endpoint(id="ccmap", name="ccmap", base_url=live.url + API, write=True,
                        api_key_required_for_write=key_required)
    return Open311Client(endpoint, HttpTransport(rate_limiter=RateLimiter(min_interval=0)))


def _post(client: Open311Client, key: str, code: str = "illegal_ads", lat: float = 31.23456,
          lng: float = 121.47891) -> str:
    """POST a request through civicbot (sent for real: dry_run off, confirmed); its id."""
    sent = client.create_request(code, lat=lat, lng=lng, description="电线杆上小广告",
                                 address_string="福佑路 12 号", phone=PHONE, first_name="三",
                                 last_name="张", api_key=key, dry_run=False, confirm="SEND")
    [created] = valid("request_created", sent.response)
    rid: str = created["service_request_id"]
    return rid


def test_an_off_the_shelf_client_reads_without_a_key_and_posts_with_one(live: Live) -> None:
    reader = GeoReport(live.url + API)  # no api_key: the georeport package sends none on GET
    services = valid("services", reader.get_service_list())
    codes = {s["service_code"]: s for s in services}
    assert codes["street_vending"]["service_name"] == "占道经营"
    definition = valid("service_definition", reader.get_service_definition("street_vending"))
    assert definition == {"service_code": "street_vending", "attributes": []}

    poster = _poster(live)
    rid = _post(poster, live.key)
    rejected = _post(poster, live.key, "graffiti")
    # a fresh report (上报) is not yet public: the city has not taken it on
    with pytest.raises(requests.HTTPError) as refused:
        reader.get_service_request(rid)
    assert refused.value.response.status_code == 404
    error(refused.value.response, 404)
    live.move(rid, "accepted", "dispatched")
    live.move(rejected, "rejected")

    one = valid("requests", [reader.get_service_request(rid)])[0]
    assert one["status"] == "open" and one["status_notes"] == "派遣 (dispatched)"
    assert (one["lat"], one["long"]) == (31.235, 121.479)  # rounded to 3 decimals
    assert one["service_code"] == "illegal_ads" and one["address"] == "福佑路 12 号"
    listed = valid("requests", reader.get_service_requests())
    assert [r["service_request_id"] for r in listed] == [rid]  # not the rejected one
    assert reader.get_service_requests(status="closed") == []
    assert valid("requests", reader.get_service_requests(service_request_id=f"{rid},{rejected}")
                 ) == [one]
    assert reader.get_service_requests(service_code="graffiti") == []
    everything = json.dumps(listed, ensure_ascii=False)
    assert PHONE not in everything and "张" not in everything  # no reporter contact
    assert not set(one) - set(_schema_fields())  # only the standard's fields

    # a key reads as before: its whole scope, every status, exact positions
    keyed = httpx.get(f"{live.url}{API}/requests.json", params={"api_key": live.key}).json()
    by_id = {r["service_request_id"]: r for r in valid("requests", keyed)}
    assert set(by_id) == {rid, rejected}
    assert (by_id[rid]["lat"], by_id[rid]["long"]) == (31.23456, 121.47891)
    assert by_id[rejected]["status"] == "closed"


def _schema_fields() -> list[str]:
    doc = json.loads((FIXTURES / "open311" / "requests.schema.json").read_text("utf-8"))
    return list(doc["$defs"]["request"]["properties"])


def test_a_post_without_a_key_is_refused_and_creates_nothing(live: Live, store: Store) -> None:
    client = _poster(live, key_required=False)
    with pytest.raises(HttpError) as no_key:
        client.create_request("graffiti", lat=31.2, lng=121.4, dry_run=False, confirm="SEND",
                              api_key=None)
    assert no_key.value.status == 401
    [err] = valid("errors", json.loads(no_key.value.body))
    assert "api_key is required" in err["description"]
    r = httpx.post(f"{live.url}{API}/requests.json",
                   data={"api_key": "not-a-key", "service_code": "graffiti", "lat": "31.2",
                         "long": "121.4"})
    assert "invalid api_key" in error(r, 401)
    assert store.issue_count() == 0


@pytest.fixture
def public(settings: Settings, store: Store) -> Iterator[TestClient]:
    """An app with public requests on, not logged in."""
    on = settings.model_copy(update={"open311_public_requests": True})
    with TestClient(create_app(on, store=store)) as c:
        yield c


@pytest.mark.parametrize(("method", "path", "params", "status", "says"), [
    ("GET", "/requests.json", {"service_code": "teleport"}, 400, "service_code 'teleport'"),
    ("GET", "/services/teleport.json", {}, 404, "service_code 'teleport' not found"),
    ("GET", "/requests.json", {"start_date": "yesterday"}, 400, "start_date 'yesterday'"),
    ("GET", "/requests.json", {"end_date": "2026-13-45"}, 400, "end_date"),
    ("GET", "/requests.json", {"start_date": "9999-01-01T00:00:00"}, 400,
     "时间 9999-01-01T00:00:00 不在 1900–2200 年之间"),
    ("GET", "/requests.json", {"start_date": "2026-02-01", "end_date": "2026-01-01"}, 400,
     "start_date is after end_date"),
    ("GET", "/requests.json", {"status": "pending"}, 400, "status 'pending'"),
    ("GET", "/requests.json", {"service_request_id": ",".join(map(str, range(1, 102)))}, 400,
     "at most 100"),
    ("GET", "/requests.json", {"page_size": "x"}, 400, "whole numbers"),
    ("GET", "/requests/abc.json", {}, 404, "not found"),
    ("GET", "/requests/99999999999999999999.json", {}, 404, "not found"),
    ("POST", "/requests.json", {"service_code": "teleport", "lat": "31.2", "long": "121.4"},
     400, "service_code 'teleport' not found"),
    ("POST", "/requests.json", {"service_code": "graffiti", "lat": "north", "long": "121.4"},
     400, "lat and long are required"),
    ("POST", "/requests.json", {"service_code": "graffiti", "lat": "95", "long": "121.4"},
     400, "out of range"),
    ("POST", "/requests.json", {"service_code": "graffiti", "lat": "nan", "long": "121.4"},
     400, "out of range"),
    ("POST", "/requests.json", {"service_code": "graffiti", "lat": "31.2"}, 400,
     "lat and long are required"),
])
def test_bad_input_is_a_clear_georeport_error(public: TestClient, store: Store, method: str,
                                              path: str, params: dict[str, str], status: int,
                                              says: str) -> None:
    add_user(store, "app", "inspector")
    headers = bearer(public, "app") if method == "POST" else {}
    if method == "POST":
        r = public.post(API + path, data=params, headers=headers)
    else:
        r = public.get(API + path, params=params)
    assert says in error(r, status)
    assert store.issue_count() == 0


def test_requests_are_private_by_default_and_services_public(anon_client: TestClient,
                                                             settings: Settings,
                                                             store: Store) -> None:
    """The defaults: services for anyone, requests only with a key (the city decides to
    publish case data)."""
    assert valid("services", anon_client.get(API + "/services.json").json())
    add_user(store, "boss", "admin")
    h = bearer(anon_client, "boss")
    rid = anon_client.post("/api/issues", headers=h, json={
        "category": "graffiti", "lon": 121.47, "lat": 31.23}).json()["id"]
    anon_client.post(f"/api/issues/{rid}/transitions", headers=h,
                     json={"to": "accepted", "version": 1})
    for path in ("/requests.json", f"/requests/{rid}.json"):
        assert "send an api_key" in error(anon_client.get(API + path), 401)
        assert anon_client.get(API + path, headers=h).status_code == 200
    off = settings.model_copy(update={"open311_public_services": False})
    with TestClient(create_app(off, store=store)) as closed:
        assert "services are not public" in error(closed.get(API + "/services.json"), 401)
        assert "services are not public" in error(
            closed.get(API + "/services/graffiti.json"), 401)


def test_anonymous_reads_are_rate_limited_per_client(settings: Settings, store: Store) -> None:
    limited = settings.model_copy(update={"open311_public_requests": True,
                                          "open311_public_rate": 3})
    add_user(store, "v", "viewer")
    with TestClient(create_app(limited, store=store)) as c:
        for path in ("/services.json", "/requests.json", "/services.json"):
            assert c.get(API + path).status_code == 200
        r = c.get(API + "/requests.json")
        assert "at most 3 a minute" in error(r, 429)
        assert 1 <= int(r.headers["retry-after"]) <= 60
        # a reader with credentials is not counted against the public's limit
        assert c.get(API + "/requests.json", headers=bearer(c, "v")).status_code == 200


def test_an_anonymous_list_never_shows_rejected_or_unvetted_cases(public: TestClient,
                                                                  store: Store) -> None:
    add_user(store, "boss", "admin")
    h = bearer(public, "boss")
    ids = [public.post("/api/issues", headers=h, json={
        "category": "graffiti", "lon": 121.47, "lat": 31.23}).json()["id"] for _ in range(4)]
    public.post(f"/api/issues/{ids[1]}/transitions", headers=h,
                json={"to": "accepted", "version": 1})
    public.post(f"/api/issues/{ids[2]}/transitions", headers=h,
                json={"to": "accepted", "version": 1})
    r = public.post(f"/api/issues/{ids[2]}/merge", headers=h,
                    json={"into": ids[1], "note": "同一处", "version": 2})
    assert r.status_code == 200, r.text
    listed = valid("requests", public.get(API + "/requests.json").json())
    assert [x["service_request_id"] for x in listed] == [str(ids[1])]
    assert public.get(API + "/requests.json",
                      params={"status": "closed"}).json() == []  # the duplicate is rejected
    for hidden in (ids[0], ids[2]):
        error(public.get(f"{API}/requests/{hidden}.json"), 404)
    assert int(public.get(API + "/requests.json").headers["x-total-count"]) == 1
