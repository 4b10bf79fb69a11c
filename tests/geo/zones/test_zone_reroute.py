"""Zone edits re-route only the issues of the area they changed, and the result is what a full
re-route of the whole city gives; the zone write and the re-route are one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import LineString, box, mapping

import geo.zones.rerouting
from geo.demo.city import build_demo
from geo.layers.projection import grow_bbox
from geo.ledger import writes as ledger
from geo.model.kinds import Kind
from geo.model.records import Issue, IssueRoute
from geo.store import BBox, Store
from geo.zones import workflows
from geo.zones.editing import ZonePolicy
from geo.zones.rerouting import LINE_MARGIN_M, reroute_all
from server.app import create_app
from server.settings import Settings
from tests.conftest import add_user, bearer

Routes = dict[int, tuple[Any, ...]]


@pytest.fixture
def demo(store: Store, settings: Settings) -> Iterator[tuple[TestClient, Store]]:
    """The demo city (5,000 issues, 22 zones with gaps and overlaps, staffed streets) and a
    planner's client."""
    build_demo(store)
    assert reroute_all(store, "test") == 0  # the demo's issues are routed as a full pass would
    add_user(store, "planner1", "planner")
    with TestClient(create_app(settings, store=store)) as c:
        c.headers.update(bearer(c, "planner1"))
        yield c, store


def _routes(store: Store) -> Routes:
    return {i.id: (i.zone_id, i.unit, sorted(i.flags), i.cadre, i.community)
            for i in store.issues() if i.id is not None}


class Spy:
    """Records the areas the re-route reads issues from."""

    def __init__(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        self.boxes: list[BBox | None] = []
        real = store.issue_batches

        def batches(bbox: BBox | None = None, size: int = 5000
                    ) -> Iterator[list[IssueRoute]]:
            self.boxes.append(bbox)
            return real(bbox, size)

        monkeypatch.setattr(store, "issue_batches", batches)


def _check(store: Store, spy: Spy, before: Routes, answered: int,
           changed_area: Any, margin_m: float = 0.0) -> None:
    """The edit re-routed exactly the issues whose route changed, read issues only in the
    changed area, and left nothing for a full re-route to change."""
    after = _routes(store)
    assert answered == sum(1 for k, v in after.items() if before.get(k) != v)
    [bbox] = spy.boxes
    assert bbox is not None
    expect = changed_area.bounds if not margin_m else grow_bbox(changed_area.bounds, margin_m)
    assert shapely.box(*expect).buffer(1e-9).contains(shapely.box(*bbox))
    assert shapely.box(*bbox).contains(changed_area)
    assert reroute_all(store, "test") == 0  # the area re-route gave what a full one gives
    spy.boxes.clear()


def test_each_zone_edit_reroutes_its_area_as_a_full_reroute_would(
        demo: tuple[TestClient, Store], monkeypatch: pytest.MonkeyPatch) -> None:
    client, store = demo
    spy = Spy(store, monkeypatch)
    zones = {z.name: z for z in store.features(Kind.zone)}
    total = 0

    # draw: a grid zone over parts of four zones and the gap between them
    before = _routes(store)
    drawn = box(121.4720, 31.2280, 121.4770, 31.2320)
    r = client.post("/api/zones", json={"geometry": mapping(drawn), "name": "新画责任区",
                                        "zone_type": "grid", "unit": "新单位"})
    assert r.status_code == 201, r.text
    new_id = r.json()["id"]
    _check(store, spy, before, r.json()["rerouted_issues"], drawn)
    total += r.json()["rerouted_issues"]

    # edit: the drawn zone moved and grown
    before = _routes(store)
    moved = box(121.4700, 31.2270, 121.4790, 31.2330)
    r = client.put(f"/api/zones/{new_id}", json={
        "geometry": mapping(moved), "name": "新画责任区", "zone_type": "grid",
        "unit": "新单位", "version": 1})
    assert r.status_code == 200, r.text
    _check(store, spy, before, r.json()["rerouted_issues"], drawn.union(moved))
    total += r.json()["rerouted_issues"]

    # restore: back to the drawn shape
    before = _routes(store)
    r = client.post(f"/api/zones/{new_id}/restore", json={"version": 1})
    assert r.status_code == 200, r.text
    _check(store, spy, before, r.json()["rerouted_issues"], drawn.union(moved))
    total += r.json()["rerouted_issues"]

    # split: the busiest zone of the demo, cut in two by a north-south line
    target = zones["新天地社区第3责任区"]
    minx, miny, maxx, maxy = target.geometry.bounds
    cut = LineString([((minx + maxx) / 2, miny - 0.001), ((minx + maxx) / 2, maxy + 0.001)])
    before = _routes(store)
    r = client.post(f"/api/zones/{target.id}/split", json={"line": mapping(cut)})
    assert r.status_code == 200, r.text
    assert len(r.json()["zones"]) == 2 and r.json()["rerouted_issues"] > 0
    _check(store, spy, before, r.json()["rerouted_issues"], target.geometry)
    total += r.json()["rerouted_issues"]

    # merge: two neighbouring zones of different units
    a, b = zones["淮海社区第1责任区"], zones["淮海社区第2责任区"]
    assert a.geometry.intersects(b.geometry)
    before = _routes(store)
    r = client.post("/api/zones/merge", json={"ids": [a.id, b.id]})
    assert r.status_code == 201, r.text
    assert r.json()["rerouted_issues"] > 0
    _check(store, spy, before, r.json()["rerouted_issues"], a.geometry.union(b.geometry))
    total += r.json()["rerouted_issues"]

    # delete: the drawn zone
    before = _routes(store)
    r = client.delete(f"/api/zones/{new_id}")
    assert r.status_code == 200, r.text
    _check(store, spy, before, r.json()["rerouted_issues"], drawn)
    total += r.json()["rerouted_issues"]
    assert total > 0

    # a street segment's cadre: the issues within the cadre distance follow it
    cadred = next(i for i in store.issues() if i.cadre)
    here = shapely.Point(cadred.lon, cadred.lat)
    street = min((f for k in (Kind.street, Kind.alley)
                  for f in store.features(k, bbox=grow_bbox(here.bounds, 20))
                  if f.properties.get("cadre") == cadred.cadre),
                 key=lambda f: f.geometry.distance(here))
    before = _routes(store)
    r = client.put(f"/api/features/{street.id}/assignment",
                   json={"values": {"cadre": "新路长"}, "version": street.version})
    assert r.status_code == 200, r.text
    assert r.json()["rerouted_issues"] >= 1
    assert store.issue(cadred.id).cadre == "新路长"  # type: ignore[arg-type]
    _check(store, spy, before, r.json()["rerouted_issues"], street.geometry,
           margin_m=LINE_MARGIN_M)


def test_zone_write_and_reroute_are_one_transaction(demo: tuple[TestClient, Store],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    client, store = demo
    zones = {z.name: z.id for z in store.features(Kind.zone)}
    merged = [zones["淮海社区第1责任区"], zones["淮海社区第2责任区"]]
    zones_before = sorted(z.id for z in store.features(Kind.zone) if z.id is not None)
    routes_before = _routes(store)

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("routing failed")

    monkeypatch.setattr(geo.zones.rerouting, "route_points", broken)
    with pytest.raises(RuntimeError):
        client.post("/api/zones/merge", json={"ids": merged})
    with pytest.raises(RuntimeError):
        client.post("/api/zones", json={"geometry": mapping(box(121.472, 31.228, 121.477,
                                                                31.232)),
                                        "name": "不应保存", "zone_type": "grid"})
    # neither the zones nor the issues changed: the failed re-route undid the zone writes
    assert sorted(z.id for z in store.features(Kind.zone) if z.id is not None) == zones_before
    assert _routes(store) == routes_before
    assert not [v for v in store.feature_versions(merged[0]) if v["action"] == "delete"]


def test_imported_zones_reroute_where_they_lie(store: Store) -> None:
    """A zone file imported from the CLI re-routes the issues inside its zones."""
    from geo.ledger.writes import create_issues
    from geo.model.records import Feature
    from geo.zones.rerouting import rerouting

    create_issues(store, [Issue("graffiti", 121.4705, 31.2305),
                          Issue("graffiti", 121.4805, 31.2305)], actor="test")
    zone = Feature(Kind.zone, box(121.47, 31.23, 121.471, 31.231), name="导入",
                   category="grid", properties={"zone_type": "grid", "unit": "导入单位"})
    with rerouting(store, "test") as change:
        store.add_features([zone])
        change.add_features([zone])
    assert change.rerouted == 1
    inside, outside = sorted(store.issues(), key=lambda i: i.lon)
    assert (inside.unit, inside.flags) == ("导入单位", [])
    assert (outside.zone_id, outside.flags) == (None, ["uncovered"])


def test_store_transaction_is_all_or_nothing(store: Store) -> None:
    from geo.model.records import Feature

    with store.transaction():
        [fid] = store.add_features([Feature(Kind.zone, box(0, 0, 1, 1), name="甲")])
        assert store.feature(fid).name == "甲"  # the transaction reads its own writes
    with pytest.raises(RuntimeError), store.transaction():
        store.add_features([Feature(Kind.zone, box(0, 0, 1, 1), name="乙")])
        store.delete_feature(fid, "test")
        raise RuntimeError("undo")
    assert [f.name for f in store.features(Kind.zone)] == ["甲"]



def _two_zones(store: Store) -> dict[str, int]:
    """Two grid zones side by side, a staffed street in the first, an issue in each."""
    from geo.model.records import Feature

    ids = store.add_features([
        Feature(Kind.zone, box(121.47, 31.23, 121.48, 31.24), name="甲", category="grid",
                properties={"zone_type": "grid", "unit": "甲单位"}),
        Feature(Kind.zone, box(121.48, 31.23, 121.49, 31.24), name="乙", category="grid",
                properties={"zone_type": "grid", "unit": "乙单位"}),
        Feature(Kind.street, LineString([(121.471, 31.235), (121.479, 31.235)]), name="一街",
                properties={"cadre": "老路长"})])
    ledger.create_issues(store, [Issue("graffiti", 121.475, 31.2351),
                                 Issue("graffiti", 121.485, 31.235)], actor="test")
    return dict(zip(("甲", "乙", "street"), ids, strict=True))


def _form(name: str, *bounds: float) -> dict[str, Any]:
    return {"geometry": mapping(box(*bounds)), "name": name, "zone_type": "grid",
            "unit": f"{name}单位"}


WORKFLOWS: dict[str, Any] = {
    "create": lambda s, ids: workflows.create_zone(
        s, _form("丙", 121.474, 31.234, 121.476, 31.236), "test", ZonePolicy()),
    "update": lambda s, ids: workflows.update_zone(
        s, ids["甲"], _form("甲", 121.47, 31.23, 121.486, 31.24), 1, "test", ZonePolicy()),
    "delete": lambda s, ids: workflows.delete_zone(s, ids["甲"], "test"),
    "restore": lambda s, ids: workflows.restore_zone_version(s, ids["甲"], 2, "test", 1000),
    "merge": lambda s, ids: workflows.merge(s, [ids["甲"], ids["乙"]], {}, "test"),
    "split": lambda s, ids: workflows.split(
        s, ids["甲"], mapping(LineString([(121.475, 31.22), (121.475, 31.25)])), "test", 1000),
    "assign": lambda s, ids: workflows.assign_feature(
        s, ids["street"], {"cadre": "新路长"}, "test", 1),
}


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_a_zone_workflow_that_fails_in_its_last_write_leaves_nothing_written(
        store: Store, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each zone workflow (the routes' and the CLI's one function) is one transaction: when the
    write of the re-routed issues fails, the zone and line writes and their audit rows are
    undone too."""
    ids = _two_zones(store)
    if name == "restore":  # version 2 to restore, version 3 current
        for version, east in ((1, 121.478), (2, 121.476)):
            workflows.update_zone(store, ids["甲"], _form("甲", 121.47, 31.23, east, 31.24),
                                  version, "test", ZonePolicy())

    def state() -> tuple[Any, ...]:
        return ([(f.id, f.version, f.name, f.geometry.wkt, sorted(f.properties.items()))
                 for k in (Kind.zone, Kind.street) for f in store.features(k)],
                _routes(store), len(store.audit_log()))

    before = state()

    def broken(*_: Any, **__: Any) -> int:
        raise RuntimeError("issue table unavailable")

    monkeypatch.setattr(store, "update_routes", broken)
    with pytest.raises(RuntimeError, match="issue table unavailable"):
        WORKFLOWS[name](store, ids)
    assert state() == before
    monkeypatch.undo()
    edit = WORKFLOWS[name](store, ids)  # and with the store working, the workflow does its job
    assert state() != before
    assert edit.rerouted >= (0 if name in ("restore", "split") else 1)
