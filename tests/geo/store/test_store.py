"""Store behaviour on both backends (SQLite file and PostGIS)."""

from __future__ import annotations

import mapbox_vector_tile
import pytest
from shapely.geometry import LineString, Point, Polygon

from geo.model.errors import NotFound
from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.store import Store
from geo.tiling.tiles import Tile, tile_of

HUANGPU = (121.461, 31.220, 121.486, 31.241)


def _street(name: str, x0: float, y: float) -> Feature:
    return Feature(Kind.street, LineString([(x0, y), (x0 + 0.002, y)]), name=name,
                   properties={"highway": "primary"})


def test_features_round_trip_with_chinese_names_and_properties(store: Store) -> None:
    zone = Polygon([(121.47, 31.23), (121.48, 31.23), (121.48, 31.24), (121.47, 31.24)])
    ids = store.add_features([
        _street("延安东路", 121.47, 31.23),
        Feature(Kind.zone, zone, name="一号责任区", properties={"unit": "区城管局"}),
    ])
    assert len(ids) == 2 and ids[0] != ids[1]
    got = store.feature(ids[1])
    assert got.kind is Kind.zone and got.name == "一号责任区"
    assert got.properties == {"unit": "区城管局"}
    assert got.geometry.equals(zone)


def test_bbox_filter_returns_only_intersecting_features(store: Store) -> None:
    store.add_features([_street("内", 121.470, 31.230), _street("外", 121.600, 31.300)])
    inside = store.features(Kind.street, bbox=HUANGPU)
    assert [f.name for f in inside] == ["内"]
    assert {f.name for f in store.features(Kind.street)} == {"内", "外"}
    assert store.features(Kind.alley, bbox=HUANGPU) == []


def test_a_box_finds_a_long_feature_starting_far_west_of_it(store: Store) -> None:
    """A box's features are read from the kind's index between the box's west edge minus the
    kind's widest feature and its east edge (SQLite): a street starting well west of the box
    that runs into it is found, in a page and in a tile, and one as long added later too, as
    are its short neighbours; one ending just before the box is not."""
    west = HUANGPU[0]
    short = [_street(f"短{i}", west + i * 0.004, 31.23) for i in range(5)]
    long_ = Feature(Kind.street, LineString([(west - 0.3, 31.235), (west + 0.001, 31.235)]),
                    name="长街")
    before = Feature(Kind.street, LineString([(west - 0.3, 31.236), (west - 0.0001, 31.236)]),
                     name="止于西")
    store.add_features([*short, long_, before])
    names = {f.name for f in store.features(Kind.street, bbox=HUANGPU)}
    assert names == {"长街", *(f.name for f in short)}
    assert store.count_features(Kind.street, bbox=HUANGPU) == 6
    longer = Feature(Kind.street, LineString([(west - 0.9, 31.237), (west + 0.002, 31.237)]),
                     name="更长")
    store.add_features([longer])
    assert "更长" in {f.name for f in store.features(Kind.street, bbox=HUANGPU)}
    x, y = tile_of(west + 0.001, 31.236, 14)
    tile = mapbox_vector_tile.decode(store.feature_tile(Kind.street, Tile(14, x, y),
                                                        fields=("name",)))
    assert {"长街", "更长"} <= {f["properties"]["name"] for f in tile["street"]["features"]}


def test_property_filter_and_limit(store: Store) -> None:
    store.add_features([
        Feature(Kind.test_point, Point(121.47 + i * 1e-3, 31.23), name=f"点{i}",
                category="bus_stop" if i % 2 else "hospital", properties={"unit": f"U{i % 3}"})
        for i in range(9)
    ])
    assert len(store.features(Kind.test_point, where={"category": "bus_stop"})) == 4
    assert {f.name for f in store.features(Kind.test_point, where={"unit": "U1"})} == {
        "点1", "点4", "点7"}
    assert len(store.features(Kind.test_point, limit=5)) == 5
    assert store.layer_counts() == {"test_point": 9}


def test_features_with_keys_read_only_those_properties(store: Store) -> None:
    props = [{"cadre": "王伟 \"组长\"", "unit": "区城管局", "note": "长"},
             {"cadre": "", "lanes": 2}, {"cadre": None, "unit": 7},
             {"unit": True, "nested": {"cadre": "x"}}, {}]
    store.add_features([Feature(Kind.street, LineString([(121.47 + i * 1e-3, 31.23),
                                                         (121.471 + i * 1e-3, 31.23)]),
                                name=f"路{i}", properties=p) for i, p in enumerate(props)])
    full = store.features(Kind.street)
    some = store.features(Kind.street, keys=["cadre", "unit", "absent"])
    assert [f.id for f in some] == [f.id for f in full]
    assert [(f.name, f.geometry.wkb) for f in some] == [(f.name, f.geometry.wkb) for f in full]
    assert [f.properties for f in some] == [
        {k: v for k, v in f.properties.items() if k in ("cadre", "unit") and v is not None}
        for f in full]
    assert [f.properties for f in store.features(Kind.street, keys=())] == [{}] * 5


def test_chinese_and_dotted_property_names_are_found(store: Store) -> None:
    """A property named in Chinese (as a city office's own files name them) or with a dot is
    found by a property filter and read by `keys`, on both backends."""
    store.add_features([
        Feature(Kind.market, Point(121.47, 31.23), name="菜场",
                properties={"责任单位": "区商务委", "a.b": 1, "name:en": "Market"}),
        Feature(Kind.market, Point(121.48, 31.23), name="别的菜场",
                properties={"责任单位": "区城管局"})])
    found = store.features(Kind.market, where={"责任单位": "区商务委"})
    assert [f.name for f in found] == ["菜场"]
    assert [f.name for f in store.features(Kind.market, where={"a.b": 1})] == ["菜场"]
    [first, _] = store.features(Kind.market, keys=("责任单位", "a.b", "name:en"))
    assert first.properties == {"责任单位": "区商务委", "a.b": 1, "name:en": "Market"}


def test_a_deleted_features_id_is_never_given_again(store: Store) -> None:
    """A zone drawn after the newest zone was deleted gets an id of its own, so the deleted
    zone's versions are not listed (nor offered for restoring) as the new zone's."""
    square = Point(121.47, 31.23).buffer(0.001)
    old = store.save_feature(Feature(Kind.zone, square, name="旧责任区"), "planner", "create")
    store.delete_feature(old.id or 0, "planner")
    new = store.save_feature(Feature(Kind.zone, square, name="新责任区"), "planner", "create")
    assert new.id != old.id
    assert [(v["version"], v["action"]) for v in store.feature_versions(new.id or 0)] == [
        (1, "create")]
    assert [v["action"] for v in store.feature_versions(old.id or 0)] == ["create", "delete"]


def test_missing_feature_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.feature(12345)


def test_failed_batch_writes_nothing(store: Store) -> None:
    store.add_issues([Issue("illegal_ads", 121.47, 31.23, external_id="A-1")])
    batch = [Issue("graffiti", 121.471, 31.231, external_id="A-2"),
             Issue("clutter", 121.472, 31.232, external_id="A-1")]  # duplicate external id
    with pytest.raises(Exception):  # noqa: B017 - the driver's IntegrityError differs per backend
        store.add_issues(batch)
    assert store.issue_count() == 1
    assert [i.external_id for i in store.issues()] == ["A-1"]


def test_issue_filters(store: Store) -> None:
    store.add_issues([
        Issue("illegal_ads", 121.47, 31.23, status="closed"),
        Issue("illegal_ads", 121.60, 31.30, status="reported"),
        Issue("street_vending", 121.475, 31.235, status="reported"),
    ])
    assert len(store.issues(bbox=HUANGPU)) == 2
    assert [i.category for i in store.issues(status="reported", bbox=HUANGPU)] == [
        "street_vending"]
    assert len(store.issues(category="illegal_ads")) == 2


def test_issues_counted_up_to_a_bound(store: Store) -> None:
    """The map page asks only whether the ledger holds more issues than it draws as points."""
    assert store.issue_count(at_most=3) == 0
    store.add_issues([Issue("illegal_ads", 121.47 + i * 1e-3, 31.23) for i in range(5)])
    assert store.issue_count() == 5
    assert store.issue_count(at_most=3) == 3
    assert store.issue_count(at_most=10) == 5


def test_clear_empties_the_store(store: Store) -> None:
    store.add_features([_street("路", 121.47, 31.23)])
    store.add_issues([Issue("littering", 121.47, 31.23)])
    store.clear()
    assert store.layer_counts() == {} and store.issue_count() == 0


def test_extent_of_every_feature_of_a_kind_and_of_a_unit_scope(store: Store) -> None:
    assert store.extent() is None and store.extent(Kind.zone) is None
    store.add_features([
        _street("延安东路", 121.47, 31.23),
        Feature(Kind.zone, Polygon([(121.40, 31.20), (121.41, 31.20), (121.41, 31.21)]),
                name="一号", properties={"unit": "区城管局"}),
        Feature(Kind.zone, Polygon([(121.50, 31.25), (121.51, 31.25), (121.51, 31.26)]),
                name="二号", properties={"unit": "区市场监管局"}),
    ])
    assert store.extent() == (121.40, 31.20, 121.51, 31.26)
    assert store.extent(Kind.street) == (121.47, 31.23, 121.472, 31.23)
    assert store.extent(Kind.zone, scope_unit="区城管局") == (121.40, 31.20, 121.41, 31.21)
    # a unit sees its own zones and the features no unit owns (the street)
    assert store.extent(scope_unit="区城管局") == (121.40, 31.20, 121.472, 31.23)
    assert store.extent(Kind.market) is None


@pytest.mark.postgis
def test_a_burst_of_requests_keeps_its_postgresql_connections_open() -> None:
    """A map move asks for 12 tiles at once: a server process keeps that many connections to
    PostgreSQL open for the next move, instead of closing each one past the pool's fifth (a
    new backend plans its first query over the month partitions from cold caches); the size
    comes from CCMAP_DB_POOL_SIZE."""
    from sqlalchemy import event, text

    from server.app import create_app
    from server.settings import Settings
    from tests.conftest import _postgis_schema

    with _postgis_schema() as url:
        app = create_app(Settings(database_url=url, db_pool_size=12))
        store = app.state.store
        closed: list[object] = []
        event.listen(store.engine, "close", lambda *_: closed.append(1))
        for _ in range(3):  # three moves
            burst = [store.engine.connect() for _ in range(12)]
            for conn in burst:
                conn.execute(text("SELECT 1"))
                conn.close()
        assert closed == [] and store.engine.pool.checkedin() == 12
        burst = [store.engine.connect() for _ in range(13)]  # past the pool, as many again
        for conn in burst:
            conn.close()
        assert len(closed) == 1
        store.close()


@pytest.mark.postgis
def test_a_server_warms_its_postgresql_connections_up_when_it_starts() -> None:
    """A new PostgreSQL backend plans its first query over the issues' month partitions from
    cold caches (30 ms of a request): the server opens CCMAP_DB_WARM_CONNECTIONS connections as
    it starts, each planning such a query once, and keeps them for its first requests."""
    from fastapi.testclient import TestClient
    from sqlalchemy import event

    from server.app import create_app
    from server.settings import Settings
    from tests.conftest import _postgis_schema

    with _postgis_schema() as url:
        app = create_app(Settings(database_url=url, db_warm_connections=3))
        engine = app.state.store.engine
        planned: list[str] = []
        event.listen(engine, "before_cursor_execute",
                     lambda _c, _cur, sql, *_: planned.append(sql) if "issues" in sql else None)
        with TestClient(app):
            app.state.warm_up.join(timeout=60)
            assert not app.state.warm_up.is_alive()
            assert len([s for s in planned if s.startswith("EXPLAIN")]) == 3
            assert engine.pool.checkedin() == 3
