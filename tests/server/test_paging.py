"""Nothing cut short silently: GeoJSON and list answers page (numberMatched, next links) and a
limit over CCMAP_MAX_PAGE is a 422; exports take every row (both backends)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point, box

from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.store import IssueQuery, Store, open_store
from server.app import create_app
from server.cli import main
from server.settings import Settings
from tests.conftest import ReducedCity, add_user, bearer

PAGE, MAX = 10, 20  # small pages, so that a few dozen rows span several


@pytest.fixture
def paged(store: Store, db_url: str) -> Iterator[TestClient]:
    """An admin's client on an app with CCMAP_PAGE_SIZE=10 and CCMAP_MAX_PAGE=20."""
    settings = Settings(database_url=db_url, basemap="none", page_size=PAGE, max_page=MAX)
    with TestClient(create_app(settings, store=store)) as c:
        add_user(store, "pager", "admin")
        c.headers.update(bearer(c, "pager"))
        yield c


def _points(store: Store, n: int, unit: str | None = None, x0: float = 121.40) -> list[int]:
    props = {"unit": unit} if unit else {}
    return store.add_features([Feature(Kind.test_point, Point(x0 + i * 1e-4, 31.23),
                                       name=f"点{i}", category="bus_stop", properties=props)
                               for i in range(n)])


def _issues(store: Store, n: int, unit: str, status: str = "reported") -> list[int]:
    start = datetime(2026, 11, 1, 8, 0)
    return store.add_issues([Issue(category="illegal_ads", lon=121.40 + i * 1e-4, lat=31.23,
                                   status=status, unit=unit, reported_at=start + timedelta(
                                       minutes=i)) for i in range(n)])


def _follow(client: TestClient, url: str, headers: dict[str, str] | None = None
            ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every page from url on, following rel=next; the pages and all their features."""
    pages, features = [], []
    while url:
        r = client.get(url, headers=headers)
        assert r.status_code == 200, r.text
        doc = r.json()
        pages.append(doc)
        features += doc["features"]
        assert doc["numberReturned"] == len(doc["features"])
        nxt = [link for link in doc["links"] if link["rel"] == "next"]
        assert all(link["type"] == "application/geo+json" for link in doc["links"])
        url = nxt[0]["href"] if nxt else ""
        assert len(pages) < 50
    return pages, features


def test_layer_pages_follow_next_to_every_feature_once(paged: TestClient, store: Store) -> None:
    ids = _points(store, 47)
    first = paged.get("/api/layers/test_point").json()
    assert first["numberReturned"] == PAGE and first["numberMatched"] == 47  # default page
    assert {link["rel"] for link in first["links"]} == {"self", "next"}
    pages, features = _follow(paged, "/api/layers/test_point?limit=20")
    assert [p["numberReturned"] for p in pages] == [20, 20, 7]
    assert {p["numberMatched"] for p in pages} == {47}
    got = [f["id"] for f in features]
    assert sorted(got) == sorted(ids) and len(set(got)) == len(got)
    assert "prev" in {link["rel"] for link in pages[1]["links"]}
    assert "next" not in {link["rel"] for link in pages[-1]["links"]}
    prev = next(link for link in pages[2]["links"] if link["rel"] == "prev")
    assert "offset=20" in prev["href"]
    # past the end: an empty page that still says how many match
    beyond = paged.get("/api/layers/test_point", params={"offset": 1000}).json()
    assert beyond["features"] == [] and beyond["numberMatched"] == 47


def test_limit_over_the_maximum_is_refused_not_reduced(paged: TestClient, store: Store) -> None:
    _points(store, 3)
    for url in ("/api/layers/test_point", "/api/issues.geojson", "/api/coverage.geojson",
                "/api/audit"):
        r = paged.get(url, params={"limit": MAX + 1})
        assert r.status_code == 422, (url, r.text)
        assert str(MAX) in r.json()["detail"] and "CCMAP_MAX_PAGE" in r.json()["detail"]
        assert paged.get(url, params={"limit": MAX}).status_code == 200
        assert paged.get(url, params={"limit": 0}).status_code == 422
        assert paged.get(url, params={"offset": -1}).status_code == 422


def test_filters_and_scope_keep_number_matched_right(paged: TestClient, store: Store) -> None:
    _points(store, 13, unit="甲")
    _points(store, 8, unit="乙", x0=121.50)
    _points(store, 5)  # no unit: every unit user sees them
    _issues(store, 12, "甲")
    _issues(store, 9, "乙", status="closed")
    doc = paged.get("/api/layers/test_point", params={"properties": '{"unit":"乙"}'}).json()
    assert doc["numberMatched"] == 8 and len(doc["features"]) == 8
    doc = paged.get("/api/layers/test_point", params={"bbox": "121.45,31.0,121.6,31.5"}).json()
    assert doc["numberMatched"] == 8
    pages, _ = _follow(paged, "/api/issues.geojson?status=closed")
    assert pages[0]["numberMatched"] == 9
    assert paged.get("/api/issues.geojson").json()["numberMatched"] == 21
    add_user(store, "unit-yi", "unit", unit="乙")
    unit = bearer(paged, "unit-yi")
    pages, features = _follow(paged, "/api/layers/test_point", headers=unit)
    assert pages[0]["numberMatched"] == 13 == len(features)  # 8 of 乙 and 5 of nobody
    assert {f["properties"].get("unit") for f in features} == {"乙", None}
    pages, issues = _follow(paged, "/api/issues.geojson", headers=unit)
    assert pages[0]["numberMatched"] == 9 == len(issues)
    assert {f["properties"]["unit"] for f in issues} == {"乙"}


def test_issue_geojson_pages_keep_their_filters(paged: TestClient, store: Store) -> None:
    ids = _issues(store, 25, "甲")
    pages, features = _follow(paged, "/api/issues.geojson?unit=甲&sort=id&limit=7")
    assert [f["id"] for f in features] == ids  # in the order asked for, each once
    assert all("unit=" in link["href"] and "sort=id" in link["href"]
               for p in pages for link in p["links"])
    assert paged.get("/api/issues.geojson", params={"page_size": 5000}).status_code == 200


def test_issue_list_reports_total_and_next(paged: TestClient, store: Store) -> None:
    _issues(store, 12, "甲")
    doc = paged.get("/api/issues", params={"page_size": 5}).json()
    assert doc["total"] == 12 and len(doc["items"]) == 5 and "page=2" in doc["next"]
    seen = [i["id"] for i in doc["items"]]
    while doc["next"]:
        doc = paged.get(doc["next"]).json()
        seen += [i["id"] for i in doc["items"]]
    assert len(seen) == len(set(seen)) == 12 and doc["page"] == 3


def test_coverage_layer_pages_its_gaps(paged: TestClient, store: Store) -> None:
    store.add_features([Feature(Kind.subdistrict, box(121.39, 31.2, 121.6, 31.3), name="街道")])
    _points(store, 4)  # test points with no unit and no zone: one gap each
    whole = paged.get("/api/coverage.geojson", params={"limit": MAX}).json()
    assert whole["numberMatched"] == len(whole["features"]) >= 5
    pages, features = _follow(paged, "/api/coverage.geojson?limit=2")
    assert {p["numberMatched"] for p in pages} == {whole["numberMatched"]}
    assert features == whole["features"]


def test_audit_pages_with_headers_and_csv_has_every_row(paged: TestClient, store: Store) -> None:
    for i in range(25):
        store.record_audit("user:x", "note", "thing", str(i), {})
    total = store.audit_count()
    r = paged.get("/api/audit")
    assert len(r.json()) == PAGE and r.headers["x-total-count"] == str(total)
    assert 'rel="next"' in r.headers["link"]
    seen: list[int] = []
    url = "/api/audit?object_type=thing&limit=7"
    while url:
        r = paged.get(url)
        assert r.headers["x-total-count"] == "25"
        seen += [row["id"] for row in r.json()]
        nxt = [p for p in r.headers.get("link", "").split(", ") if 'rel="next"' in p]
        url = nxt[0].split(">")[0].lstrip("<") if nxt else ""
    assert len(seen) == len(set(seen)) == 25 and seen == sorted(seen, reverse=True)
    csv = paged.get("/api/audit", params={"format": "csv", "object_type": "thing"}).text
    assert len(csv.strip().splitlines()) == 26  # header + every row, more than a page


def test_open311_pages_and_refuses_a_page_over_the_maximum(paged: TestClient,
                                                            store: Store) -> None:
    _issues(store, 23, "甲")
    r = paged.get("/open311/v2/requests.json")
    assert len(r.json()) == PAGE and r.headers["x-total-count"] == "23"
    assert "page=2" in r.headers["link"] and "page_size=10" in r.headers["link"]
    last = paged.get("/open311/v2/requests.json", params={"page": 3})
    assert len(last.json()) == 3 and 'rel="next"' not in last.headers.get("link", "")
    ids = {row["service_request_id"] for p in (1, 2, 3) for row in paged.get(
        "/open311/v2/requests.json", params={"page": p}).json()}
    assert len(ids) == 23
    r = paged.get("/open311/v2/requests.json", params={"page_size": MAX + 1})
    assert r.status_code == 422 and r.json()[0]["code"] == 422
    assert str(MAX) in r.json()[0]["description"]
    assert paged.get("/open311/v2/requests.json", params={"page": "x"}).status_code == 400


def test_exports_ask_the_store_for_every_row(paged: TestClient, store: Store, db_url: str,
                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _issues(store, 3 * MAX, "甲")
    _points(store, 3 * MAX)
    limits: list[int | None] = []
    original = type(store).query_issues

    def spy(self: Store, query: IssueQuery) -> tuple[list[Issue], int]:
        limits.append(query.limit)
        return original(self, query)  # type: ignore[arg-type]

    monkeypatch.setattr(type(store), "query_issues", spy)
    r = paged.get("/api/issues/export", params={"format": "csv", "unit": "甲"})
    assert len(r.text.strip().splitlines()) == 3 * MAX + 1
    doc = paged.get("/api/export/data", params={"format": "geojson", "unit": "甲"}).json()
    kinds = [f["properties"]["kind"] for f in doc["features"]]
    assert kinds.count("issue") == 3 * MAX and kinds.count("test_point") == 3 * MAX
    assert limits and all(limit is None for limit in limits)  # no hidden cap at any size
    monkeypatch.setenv("CCMAP_PAGE_SIZE", "5")
    monkeypatch.setenv("CCMAP_MAX_PAGE", "5")
    out = tmp_path / "all.geojson"
    assert main(["export", "data", "--out", str(out), "--db", db_url, "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)["layers"]
    assert counts["issues"] == 3 * MAX and counts["test_point"] == 3 * MAX


def test_round_layer_pages_every_stop(paged: TestClient, store: Store) -> None:
    stops = [{"id": 1000 + k, "seq": k + 1, "name": f"点{k}", "category": "bus_stop",
              "category_label": "公交站点", "lon": 121.40 + k * 1e-4, "lat": 31.23,
              "arrive_min": k * 5} for k in range(25)]
    plan = {"start": [121.40, 31.23], "unscheduled": [],
            "teams": [{"team": 1, "name": "一组", "inspector": "张三", "distance_m": 900,
                       "duration_min": 120, "stops": stops,
                       "path": [[s["lon"], s["lat"]] for s in stops]}]}
    rid = store.add_round("大轮次", plan, "user:p")
    pages, features = _follow(paged, f"/api/plan/rounds/{rid}/geojson")
    assert len(pages) == 3 and {p["numberMatched"] for p in pages} == {27}
    roles = [f["properties"]["role"] for f in features]
    assert roles.count("stop") == 25 and roles.count("route") == 1 and roles.count("start") == 1
    assert paged.get(f"/api/plan/rounds/{rid}/geojson",
                     params={"limit": MAX + 1}).status_code == 422


def test_reduced_city_pages_reach_every_feature_and_issue(city_client: TestClient,
                                                          reduced_city: ReducedCity) -> None:
    west, south, east, north = reduced_city.extent
    half = (west, south, (west + east) / 2, north)
    store = open_store(reduced_city.url)
    try:
        kinds = ["street", "alley", "market", "test_point", "zone", "community", "subdistrict"]
        want = {kind: {f.id for f in store.features(Kind(kind))} for kind in kinds}
        in_half = {kind: store.count_features(Kind(kind), bbox=half) for kind in kinds}
        issue_ids = {i.id for batch in store.issue_batches() for i in batch}
    finally:
        store.close()
    for kind in kinds:
        limit = max(1, -(-len(want[kind]) // 4))  # about four pages
        pages, features = _follow(city_client, f"/api/layers/{kind}?limit={limit}")
        assert {p["numberMatched"] for p in pages} == {len(want[kind])}, kind
        got = [f["id"] for f in features]
        assert len(got) == len(set(got)) and set(got) == want[kind], kind
        bbox = ",".join(f"{v:.6f}" for v in half)  # as the map asks: the view's bbox
        pages, features = _follow(city_client, f"/api/layers/{kind}?bbox={bbox}&limit={limit}")
        assert pages[0]["numberMatched"] == len(features) == in_half[kind], kind
    pages, features = _follow(city_client, "/api/issues.geojson?limit=2500")
    assert {p["numberMatched"] for p in pages} == {len(issue_ids)}
    got = [f["id"] for f in features]
    assert len(got) == len(set(got)) and set(got) == issue_ids
    # a filter: the pages hold exactly what the issue list counts for it
    total = city_client.get("/api/issues", params={"category": "street_vending",
                                                   "page_size": 1}).json()["total"]
    pages, features = _follow(city_client,
                              "/api/issues.geojson?category=street_vending&limit=500")
    assert 0 < total < len(issue_ids) and pages[0]["numberMatched"] == len(features) == total
    assert {f["properties"]["category"] for f in features} == {"street_vending"}
    doc = city_client.get("/api/issues", params={"page_size": 1000}).json()
    seen = [i["id"] for i in doc["items"]]
    while doc["next"]:
        doc = city_client.get(doc["next"]).json()
        seen += [i["id"] for i in doc["items"]]
    assert doc["total"] == len(seen) == len(set(seen)) == len(issue_ids)
