"""Seeding the tile caches (`ccmap tiles seed`) and the server's background reseeding, on both
backends (geo/maps/seeding.py)."""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from shapely import affinity
from shapely.geometry import LineString, Point

from geo.maps import mapview, seeding
from geo.maps.mapview import MAX_TEST_POINTS
from geo.maps.seeding import (
    PAGE_FIELDS,
    RESEED_STATE,
    Reseeder,
    SeedPlan,
    opening_plans,
    page_plans,
)
from geo.maps.tilecache import (
    TREE_MADE,
    TileCaches,
    TileRequest,
    plain,
    tile_data,
    tile_tags,
)
from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.store import IssueQuery, Store
from geo.tiling.tiles import NextDeadlines, Tile
from server import cli
from server.app import create_app
from tests.conftest import ReducedCity, bearer
from tests.geo.maps.test_tile_cache import BASE, _settings, make_city, tile_files, worker
from tests.geo.tiling.test_tiles import tile_of, tiles_covering


def seed(url: str, root: Path, *args: str) -> dict[str, Any]:
    """`ccmap tiles seed --json` on a database into root; its JSON document."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.MonkeyPatch.context() as mp:
        mp.setenv("CCMAP_TILE_CACHE_DIR", str(root))
        assert cli.main(["tiles", "seed", "--db", url, "--json", *args]) == 0
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


def test_seeded_tiles_are_served_from_disk(reduced_city: ReducedCity, tmp_path: Path) -> None:
    root = tmp_path / "tiles"
    first = seed(reduced_city.url, root, "--min-zoom", "12", "--max-zoom", "15")
    assert first["tiles"] == first["built"] > 0 and first["cached"] == 0
    # the cache's directories were made before the first tile, as `ccmap serve` makes them
    assert (root / TREE_MADE).is_file()
    assert sum(1 for d in root.glob("*/*") if d.is_dir()) == 16 ** 3 > first["directory_files"]
    assert first["directory_files"] > 0 and first["bytes_built"] > 0
    again = seed(reduced_city.url, root, "--min-zoom", "12", "--max-zoom", "15")
    assert again["built"] == 0 and again["cached"] == first["tiles"]
    # what a viewer's and a planner's page ask for over the city, at each map zoom
    settings = _settings(reduced_city.url, root)
    west, south, east, north = reduced_city.extent
    with TestClient(create_app(settings)) as client:
        client.headers.update(bearer(client, "cityplanner"))
        results = []
        for zoom in range(12, 16):
            z = zoom - 1  # the page's 512-pixel tiles of zoom z are drawn at map zoom z + 1
            # the shared grid's tiles carry the properties the page draws with
            page = f"size=512&fields={PAGE_FIELDS}"
            asked = ([(BASE, page)] if zoom < 15 else
                     [(BASE, page), ("subdistrict,community,street,alley", page)])
            if zoom < 14:  # the reduced city's issues come from tiles below zoom 14: a move
                # asks for both grids' tiles in one, a new issue filter for the issues alone
                asked = [(BASE + ",issues", page), ("issues", page)]
            for x, y in tiles_covering(reduced_city.extent, z):
                for layers, query in asked:
                    r = client.get(f"/api/tiles/{layers}/{z}/{x}/{y}.mvt?{query}")
                    assert r.status_code == 200
                    results.append(r.headers["x-tile-cache"])
        # past the city's edge too (a wide window shows some of it)
        x, y = tile_of(west, north, 13)
        r = client.get(f"/api/tiles/{BASE}/13/{x - 1}/{y - 1}.mvt?size=512&fields={PAGE_FIELDS}")
        results.append(r.headers["x-tile-cache"])
        # a zoom that was not seeded is built, and so are other fields than the page's
        x, y = tile_of((west + east) / 2, (south + north) / 2, 16)
        r = client.get(f"/api/tiles/{BASE}/16/{x}/{y}.mvt?size=512&fields={PAGE_FIELDS}")
        assert r.headers["x-tile-cache"] == "miss"
        x, y = tiles_covering(reduced_city.extent, 13)[0]
        r = client.get(f"/api/tiles/{BASE}/13/{x}/{y}.mvt?size=512")
        assert r.headers["x-tile-cache"] == "miss"
    assert set(results) == {"hit-disk"}, results


def test_seeding_in_threads_caches_what_one_thread_does(reduced_city: ReducedCity,
                                                       tmp_path: Path) -> None:
    one = seed(reduced_city.url, tmp_path / "one", "--min-zoom", "12", "--max-zoom", "14",
               "--threads", "1")
    three = seed(reduced_city.url, tmp_path / "three", "--min-zoom", "12", "--max-zoom", "14",
                 "--threads", "3")
    assert one["tiles"] == one["built"] == three["built"] > 0
    assert one["bytes_built"] == three["bytes_built"]
    files = {p.relative_to(tmp_path / "one"): p.read_bytes() for p in tile_files(tmp_path / "one")}
    assert files == {p.relative_to(tmp_path / "three"): p.read_bytes()
                     for p in tile_files(tmp_path / "three")}


class _CityExtent:
    """The three things page_plans asks a store: a city's extent (18 x 11 km), its ledger and
    its test points (a sub-district's few: GeoJSON markers on the page)."""

    test_points = 94

    def extent(self) -> tuple[float, float, float, float]:
        return (115.90, 36.40, 116.10, 36.50)

    def issue_count(self, at_most: int | None = None) -> int:
        return 1_000_000 if at_most is None else min(1_000_000, at_most)

    def count_features(self, kind: Kind) -> int:
        return self.test_points if kind is Kind.test_point else 0


def test_default_seeding_reaches_street_level() -> None:
    """By default a city is seeded from the zoom it opens at in a small window down to map
    zoom 17, where the page shows single issue points: a viewer's and a planner's tiles with
    the issues (the page asks for both grids' tiles in one request) at every one of those
    zooms."""
    plans = {p.layers: p.zooms for p in page_plans(_CityExtent())}  # type: ignore[arg-type]
    viewer = ("subdistrict", "community", "zone", "street", "alley")
    planner = ("subdistrict", "community", "street", "alley")
    assert plans == {(*viewer, "issues"): tuple(range(12, 18)),
                     (*planner, "issues"): (15, 16, 17)}
    # a small ledger: issue tiles below zoom 14 only (GeoJSON points from there on)
    small = _CityExtent()
    small.issue_count = lambda at_most=None: 5_000  # type: ignore[method-assign]
    plans = {p.layers: p.zooms for p in page_plans(small)}  # type: ignore[arg-type]
    assert plans == {(*viewer, "issues"): (12, 13), viewer: (14, 15, 16, 17),
                     planner: (15, 16, 17)}
    plans = {p.layers: p.zooms for p in page_plans(small, issues=False)}  # type: ignore[arg-type]
    assert plans == {viewer: tuple(range(12, 18)), planner: (15, 16, 17)}
    # a city's many test points: in the issue grid's tiles at every zoom, below the issues
    many = _CityExtent()
    many.test_points = MAX_TEST_POINTS + 1
    plans = {p.layers: p.zooms for p in page_plans(many)}  # type: ignore[arg-type]
    assert plans == {(*viewer, "test_point", "issues"): tuple(range(12, 18)),
                     (*planner, "test_point", "issues"): (15, 16, 17)}
    many.issue_count = lambda at_most=None: 5_000  # type: ignore[method-assign]
    plans = {p.layers: p.zooms for p in page_plans(many)}  # type: ignore[arg-type]
    assert plans == {(*viewer, "test_point", "issues"): (12, 13),
                     (*viewer, "test_point"): (14, 15, 16, 17),
                     (*planner, "test_point"): (15, 16, 17)}
    zoom17 = [t for t in SeedPlan(("issues",), (17,), _CityExtent().extent()).tiles()]
    assert {t.z for t in zoom17} == {16} and all(t.px == 512 for t in zoom17)


# --- reseeding what writes changed (Reseeder) -------------------------------------------------
NOW = datetime(2026, 11, 24, 9, 0)


def spread_city(store: Store) -> Store:
    """The city fixture, with a street 15 km away: seeding covers zooms 12-17 over it."""
    make_city(store)
    store.add_features([Feature(Kind.street, LineString([(121.620, 31.300), (121.625, 31.302)]),
                                name="远路")])
    return store


def page_tags(store: Store, plans: list[SeedPlan]) -> dict[tuple[Tile, tuple[str, ...]], str]:
    """The ETag of every seeded tile, as the tile route gives it."""
    deadlines = NextDeadlines()
    return {(tile, plan.layers): tile_tags(store, TileRequest(
        plan.layers, tile, IssueQuery(now=NOW), fields=plan.fields), deadlines).tag
        for plan in plans for tile in plan.tiles()}


def move_zone_and_add_issue(store: Store) -> None:
    """A planner moves the zone 30 m east, an inspector logs an issue by the far street."""
    zone = store.features(Kind.zone, limit=1)[0]
    store.save_feature(replace(zone, geometry=affinity.translate(zone.geometry, 0.0003, 0)),
                       "planner", "update")
    store.add_issues([Issue("litter", 121.622, 31.301)])


def caches_in(root: Path) -> TileCaches:
    return TileCaches.make(64_000_000, root, 256_000_000)


def test_a_pass_rebuilds_exactly_the_seeded_tiles_writes_changed(
        store: Store, tmp_path: Path) -> None:
    spread_city(store)
    caches = caches_in(tmp_path / "tiles")
    reseeder = Reseeder(store, caches, budget_s=600)
    first = reseeder.run_pass()  # a new database: the views the page opens on
    opening = {(tile, p.layers) for p in opening_plans(store) for tile in p.tiles()}
    assert first is not None and first.tiles == first.built == len(opening) > 0
    # 15 km across: the page opens at z12 in an 800 x 450 window, z14 in a 2560 x 1440 one
    assert {z for p in opening_plans(store) for z in p.zooms} == {12, 13, 14}
    plans = page_plans(store)
    assert {z for p in plans for z in p.zooms} >= {12, 13, 17}
    before = page_tags(store, plans)
    move_zone_and_add_issue(store)
    after = page_tags(store, plans)
    changed = {key for key in before if before[key] != after[key]}
    assert 0 < len(changed) < len(before) / 2  # the edits' surroundings, not the city
    report = reseeder.run_pass()
    assert report is not None
    assert (report.tiles, report.built, report.cached) == (len(changed), len(changed), 0)
    assert reseeder.status.pending == 0
    assert reseeder.status.built == first.built + len(changed)
    deadlines = NextDeadlines()
    for (tile, layers), tag in after.items():
        req = TileRequest(layers, tile, IssueQuery(now=NOW), fields=PAGE_FIELDS)
        assert tile_tags(store, req, deadlines).tag == tag
        found = caches.get((tag, tile.z, tile.x, tile.y))
        # cached: what the edits changed and the opening views (those they left as they were)
        assert (found is not None) == ((tile, layers) in changed | opening), (tile, layers)
    # the rebuilt tiles hold the writes: the moved zone, the new issue
    zone = store.features(Kind.zone, limit=1)[0]
    tile = Tile(16, *tile_of(*zone.geometry.centroid.coords[0], 16), 512)
    req = TileRequest(plans[0].layers, tile, IssueQuery(now=NOW), fields=PAGE_FIELDS)
    data, result = tile_data(store, req, tile_tags(store, req, deadlines), caches)
    assert result == "hit-memory"
    assert len(mapbox_vector_tile.decode(plain(data))["zone"]["features"]) == 1
    assert reseeder.run_pass().tiles == 0  # type: ignore[union-attr]  # nothing new


def test_a_moved_test_point_is_reseeded_where_the_page_tiles_the_test_points(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a city whose page draws its test points from tiles (more than MAX_TEST_POINTS), a
    test point's write is one the reseeder follows: the next pass rebuilds exactly the seeded
    tiles it changed, and they hold the point where it now is."""
    monkeypatch.setattr(mapview, "MAX_TEST_POINTS", 0)
    spread_city(store)
    [pid] = store.add_features([Feature(Kind.test_point, Point(121.4741, 31.2339), name="公厕",
                                        category="farmers_market")])
    caches = caches_in(tmp_path / "tiles")
    reseeder = Reseeder(store, caches, budget_s=600)
    reseeder.run_pass()  # the opening views
    plans = page_plans(store)
    assert all(p.layers[-1 - ("issues" in p.layers)] == "test_point" for p in plans)
    before = page_tags(store, plans)
    point = store.feature(pid)
    store.save_feature(replace(point, geometry=Point(121.4764, 31.2361)), "planner", "update")
    after = page_tags(store, plans)
    changed = {key for key in before if before[key] != after[key]}
    assert 0 < len(changed) < len(before) / 2
    report = reseeder.run_pass()
    assert report is not None and (report.tiles, report.built) == (len(changed), len(changed))
    tile = Tile(16, *tile_of(121.4764, 31.2361, 16), 512)
    layers = next(p.layers for p in plans if 17 in p.zooms and "zone" in p.layers)
    req = TileRequest(layers, tile, IssueQuery(now=NOW), fields=PAGE_FIELDS)
    data, result = tile_data(store, req, tile_tags(store, req, NextDeadlines()), caches)
    assert result == "hit-memory"
    [drawn] = mapbox_vector_tile.decode(plain(data))["test_point"]["features"]
    assert drawn["id"] == pid and drawn["properties"] == {"category": "farmers_market"}


def test_passes_share_out_the_work_and_a_restart_catches_up(
        store: Store, tmp_path: Path) -> None:
    spread_city(store)
    root = tmp_path / "tiles"
    leader = Reseeder(store, caches_in(root), budget_s=1e-9)  # one tile a pass
    follower = Reseeder(store, caches_in(root))
    assert leader.run_pass() is not None
    assert follower.run_pass() is None and not follower.status.leader  # one a machine
    while leader.status.pending:  # the opening views
        leader.run_pass()
    opened = leader.status.built
    move_zone_and_add_issue(store)
    first = leader.run_pass()
    assert first is not None and first.built == 1 and first.tiles > 2
    assert leader.status.pending == first.tiles - 1
    while leader.status.pending:
        report = leader.run_pass()
        assert report is not None and report.built == 1
    assert leader.status.built == opened + first.tiles
    leader.close()
    # written while no server ran (an import by the CLI): the next leader catches up
    store.add_issues([Issue("litter", 121.6221, 31.3011)])
    caught_up = follower.run_pass()
    assert caught_up is not None and caught_up.built > 0 and follower.status.leader
    # a database made again under the same cache starts from its own versions, with the
    # opening views (here cached already), not from the other database's
    state = json.loads((root / RESEED_STATE).read_text(encoding="utf-8"))
    (root / RESEED_STATE).write_text(json.dumps({**state, "database": -1}), encoding="utf-8")
    follower.close()
    store.add_issues([Issue("litter", 121.6222, 31.3012)])
    # a budget no machine's load runs out of: the opening views are one pass's work (with
    # the default 2 s, a loaded CI machine left some for a second pass)
    fresh = Reseeder(store, caches_in(root), budget_s=600)
    first_pass = fresh.run_pass()
    assert first_pass is not None
    assert first_pass.tiles == len([t for p in opening_plans(store) for t in p.tiles()])
    assert fresh.run_pass().tiles == 0  # type: ignore[union-attr]


def test_more_blocks_written_than_a_pass_reads_queue_every_tile_of_the_layer(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spread_city(store)
    reseeder = Reseeder(store, caches_in(tmp_path / "tiles"), budget_s=600)
    reseeder.run_pass()  # the opening views
    monkeypatch.setattr(seeding, "MAX_CHANGED_BLOCKS", 1)
    store.add_issues([Issue("litter", 121.4752, 31.2351), Issue("litter", 121.622, 31.301)])
    report = reseeder.run_pass()
    every = {(t, p.layers) for p in page_plans(store) if "issues" in p.layers
             for t in p.tiles()}
    assert report is not None and report.tiles == len(every) > 0


def test_passes_keep_the_page_plans_until_a_feature_layer_is_written(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spread_city(store)
    reseeder = Reseeder(store, caches_in(tmp_path / "tiles"), budget_s=600)
    reseeder.run_pass()  # the opening views
    made: list[int] = []
    real = seeding.page_plans
    monkeypatch.setattr(seeding, "page_plans",
                        lambda *a, **k: made.append(1) or real(*a, **k))

    def rebuilt() -> int:
        report = reseeder.run_pass()
        assert report is not None
        return report.built

    for lon in (121.4752, 121.4753):  # cases logged: the extent stays, so do the plans
        store.add_issues([Issue("litter", lon, 31.2351)])
        assert rebuilt() > 0
    assert len(made) == 1
    move_zone_and_add_issue(store)  # a zone moved: the plans are made again
    assert rebuilt() > 0 and len(made) == 2
    monkeypatch.setattr(seeding, "PLANS_MAX_AGE_S", 0.0)  # and when they are old
    store.add_issues([Issue("litter", 121.4754, 31.2351)])
    assert rebuilt() > 0 and len(made) == 3


def wider_city(store: Store) -> Store:
    """The city fixture, with a street 3 km away: the whole city's tiles are some hundreds."""
    make_city(store)
    store.add_features([Feature(Kind.street, LineString([(121.500, 31.250), (121.503, 31.251)]),
                                name="近路")])
    return store


def cached_page_tiles(store: Store, caches: TileCaches) -> tuple[int, int]:
    """(cached, all) of the tiles `ccmap tiles seed` builds, by their ETags now."""
    tags = page_tags(store, page_plans(store))
    found = sum(caches.get((tag, tile.z, tile.x, tile.y)) is not None
                for (tile, _), tag in tags.items())
    return found, len(tags)


@pytest.mark.parametrize("write_behind", [False, True], ids=["disk-written-at-once",
                                                              "disk-written-behind"])
def test_passes_then_seed_the_whole_city_once(store: Store, tmp_path: Path,
                                              write_behind: bool) -> None:
    wider_city(store)
    root = tmp_path / "tiles"
    opening = len({(t, p.layers) for p in opening_plans(store) for t in p.tiles()})
    # (the server's caches write the disk from a thread of their own: the whole city's fill,
    # which looks on disk only, must still find the opening views built in the same pass)
    caches = TileCaches.make(64_000_000, root, 256_000_000, write_behind=write_behind)
    reseeder = Reseeder(store, caches, budget_s=600, fill_city=True)
    first = reseeder.run_pass()
    assert first is not None and first.tiles == opening  # the opening views first
    cached, every = cached_page_tiles(store, caches_in(root))  # on disk: a new process sees them
    assert cached == every > opening
    assert first.built == every  # the opening views' tiles were not built twice
    assert reseeder.status.city_seeded and reseeder.status.city_pending == 0
    # in this process's memory: the opening views, not the rest of the city (users' tiles)
    in_memory = sum(caches.memory.get((tag, t.z, t.x, t.y)) is not None
                    for (t, _), tag in page_tags(store, page_plans(store)).items())
    assert in_memory == opening
    # a restart knows the city is seeded: it builds what writes changed, nothing else
    reseeder.close()
    again = Reseeder(store, caches_in(root), budget_s=600, fill_city=True)
    assert again.run_pass().built == 0  # type: ignore[union-attr]
    assert again.status.city_seeded
    move_zone_and_add_issue(store)
    report = again.run_pass()
    assert report is not None and 0 < report.built == report.tiles < every / 2
    assert cached_page_tiles(store, caches_in(root)) == (every, every)
    # a database made again under the same cache is seeded again (its own keys)
    again.close()
    state = json.loads((root / RESEED_STATE).read_text(encoding="utf-8"))
    assert state["city"] is True
    (root / RESEED_STATE).write_text(json.dumps({**state, "database": -1}), encoding="utf-8")
    remade = Reseeder(store, caches_in(root), budget_s=600, fill_city=True)
    assert remade.run_pass() is not None
    # (its opening views, then the whole city: each found cached under the same keys)
    assert remade.status.city_seeded and remade.status.cached == opening + every


def test_without_a_disk_cache_the_city_is_not_filled(store: Store) -> None:
    wider_city(store)
    caches = TileCaches.make(64_000_000, None, 0)
    reseeder = Reseeder(store, caches, budget_s=600, fill_city=True)
    reseeder.run_pass()
    reseeder.run_pass()
    assert not reseeder.status.city_seeded and reseeder.status.city_pending == 0
    opening = len({(t, p.layers) for p in opening_plans(store) for t in p.tiles()})
    assert reseeder.status.built == opening  # each process's memory: its opening views only


def test_tiles_writes_changed_come_before_the_rest_of_the_city(
        store: Store, tmp_path: Path) -> None:
    wider_city(store)
    root = tmp_path / "tiles"
    reseeder = Reseeder(store, caches_in(root), budget_s=1e-9, fill_city=True)  # a tile a pass
    opening = {(t, p.layers) for p in opening_plans(store) for t in p.tiles()}
    reseeder.run_pass()
    while reseeder.status.pending:  # the opening views, then the fill is queued
        reseeder.run_pass()
    assert reseeder.status.built == len(opening) and not reseeder.status.city_seeded
    left = reseeder.status.city_pending
    assert left == cached_page_tiles(store, caches_in(root))[1] > len(opening) + 10
    reseeder.run_pass()
    assert reseeder.status.city_pending == left - 1
    move_zone_and_add_issue(store)
    report = reseeder.run_pass()  # the edits' first tile, not the fill's
    assert report is not None and report.tiles > 1 and report.built == 1
    assert reseeder.status.city_pending == left - 1
    while reseeder.status.pending:
        reseeder.run_pass()
    while not reseeder.status.city_seeded:
        reseeder.run_pass()
    cached, every = cached_page_tiles(store, caches_in(root))
    assert cached == every and reseeder.status.city_pending == 0


def test_the_city_fill_stops_short_of_the_disk_cache_bound(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    wider_city(store)
    root = tmp_path / "tiles"
    caches = caches_in(root)
    reseeder = Reseeder(store, caches, budget_s=600, fill_city=True)
    monkeypatch.setattr(seeding, "CITY_SHARE", 0.0)  # whatever the opening views hold
    with caplog.at_level("WARNING", logger="ccmap.tiles"):
        reseeder.run_pass()
        reseeder.run_pass()
    said = [r.getMessage() for r in caplog.records if r.name == "ccmap.tiles"]
    assert len(said) == 1 and "stopped seeding the whole city" in said[0]
    assert "CCMAP_TILE_CACHE_DISK_MB" in said[0]
    cached, every = cached_page_tiles(store, caches)
    opening = len({(t, p.layers) for p in opening_plans(store) for t in p.tiles()})
    assert cached == opening < every  # nothing of the fill
    assert not reseeder.status.city_seeded and reseeder.status.city_pending == 0


def test_the_server_seeds_the_whole_city_in_the_background(
        db_url: str, store: Store, tmp_path: Path) -> None:
    wider_city(store)
    root = tmp_path / "tiles"
    with worker(_settings(db_url, root, tile_reseed_seconds=0.05)) as client:
        def reseeded() -> dict[str, Any]:
            status: dict[str, Any] = client.get("/api/health").json()["tile_reseed"]
            return status

        wait_for(lambda: reseeded()["city_seeded"] is True)
        assert reseeded()["city_pending"] == 0
        opening = {(t, p.layers) for p in opening_plans(store) for t in p.tiles()}
        plan = page_plans(store)[0]  # the shared tile alone, from zoom 14
        tile = next(t for t in plan.tiles() if (t, plan.layers) not in opening)
        url = f"/api/tiles/{','.join(plan.layers)}/{tile.z}/{tile.x}/{tile.y}.mvt" \
              f"?size=512&fields={PAGE_FIELDS}"
        assert client.get(url).headers["x-tile-cache"] in ("hit-memory", "hit-disk")
    cached, every = cached_page_tiles(store, caches_in(root))
    assert cached == every
    # switched off: the opening views only
    other = tmp_path / "other"
    with worker(_settings(db_url, other, tile_reseed_seconds=0.05,
                          tile_seed_city=False)) as client:
        wait_for(lambda: client.get("/api/health").json()["tile_reseed"]["passes"] > 2)
        assert client.get("/api/health").json()["tile_reseed"]["city_seeded"] is False
    cached, every = cached_page_tiles(store, caches_in(other))
    assert 0 < cached < every


def test_a_cache_directory_it_cannot_write_is_said_once(
        store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spread_city(store)
    blocked = tmp_path / "a file, not a directory"
    blocked.write_text("", encoding="utf-8")
    reseeder = Reseeder(store, caches_in(blocked))
    with caplog.at_level("WARNING", logger="ccmap.tiles"):
        assert reseeder.run_pass() is None and reseeder.run_pass() is None
    said = [r.getMessage() for r in caplog.records if r.name == "ccmap.tiles"]
    assert len(said) == 1 and "tile reseeding is off in this process" in said[0]
    assert not reseeder.status.leader


def test_the_server_rebuilds_an_edited_zones_tiles_in_the_background(
        db_url: str, store: Store, tmp_path: Path) -> None:
    spread_city(store)
    settings = _settings(db_url, tmp_path / "tiles", tile_reseed_seconds=0.05,
                         tile_seed_city=False)
    zone = store.features(Kind.zone, limit=1)[0]
    x, y = tile_of(*zone.geometry.centroid.coords[0], 16)
    url = f"/api/tiles/{BASE}/16/{x}/{y}.mvt?size=512&fields={PAGE_FIELDS}"
    with worker(settings) as client:
        def reseeded() -> dict[str, Any]:
            status: dict[str, Any] = client.get("/api/health").json()["tile_reseed"]
            return status

        # its first pass notes the versions and builds the opening views
        wait_for(lambda: reseeded()["passes"] > 0 and reseeded()["pending"] == 0)
        opened = reseeded()["built"]
        move_zone_and_add_issue(store)
        wait_for(lambda: reseeded()["built"] > opened and reseeded()["pending"] == 0)
        r = client.get(url)
        assert r.status_code == 200 and r.headers["x-tile-cache"] == "hit-memory"
        assert reseeded()["leader"] is True


def test_the_server_reseeds_at_every_tick_while_tiles_are_queued(
        db_url: str, store: Store, tmp_path: Path) -> None:
    """A pass every hour and one tile a pass: only the catch-up (a pass at every tick, a tick
    as long as the budget, while tiles are queued) builds the opening views in this test's
    time, starting at the first tick."""
    spread_city(store)
    opening = sum(len(list(plan.tiles())) for plan in opening_plans(store))
    settings = _settings(db_url, tmp_path / "tiles", tile_reseed_seconds=3600,
                         tile_reseed_budget_seconds=0.01, tile_seed_city=False)
    with worker(settings) as client:
        def reseeded() -> dict[str, Any]:
            status: dict[str, Any] = client.get("/api/health").json()["tile_reseed"]
            return status

        wait_for(lambda: reseeded()["built"] == opening and reseeded()["pending"] == 0)
        assert reseeded()["passes"] > 1  # one tick at a time, not one pass an hour


def test_the_server_seeds_the_city_at_every_tick_while_no_request_comes(
        db_url: str, store: Store, tmp_path: Path) -> None:
    """A pass every hour and one tile a pass: only passes at every tick while nobody asks
    anything (the health probes this test polls do not count) seed the whole city in this
    test's time."""
    wider_city(store)
    settings = _settings(db_url, tmp_path / "tiles", tile_reseed_seconds=3600,
                         tile_reseed_budget_seconds=0.01)
    with worker(settings) as client:
        def reseeded() -> dict[str, Any]:
            status: dict[str, Any] = client.get("/api/health").json()["tile_reseed"]
            return status

        wait_for(lambda: reseeded()["city_seeded"] is True)
        assert reseeded()["passes"] > 2  # one tick at a time, not one pass an hour
    cached, every = cached_page_tiles(store, caches_in(tmp_path / "tiles"))
    assert cached == every


def test_the_city_fill_waits_its_interval_while_users_ask(store: Store, tmp_path: Path) -> None:
    wider_city(store)
    reseeder = Reseeder(store, caches_in(tmp_path / "tiles"), budget_s=1e-9, fill_city=True)
    reseeder.run_pass()
    while reseeder.status.pending:  # the opening views (queued: a pass at every tick)
        assert reseeder.behind(quiet=False) and reseeder.behind(quiet=True)
        reseeder.run_pass()
    reseeder.run_pass()  # the fill is queued and under way
    assert reseeder.status.city_pending > 0
    assert reseeder.behind(quiet=True) and not reseeder.behind(quiet=False)
    move_zone_and_add_issue(store)
    reseeder.run_pass()  # what the edits changed is queued: users wait for it whatever comes
    assert reseeder.status.pending > 0 and reseeder.behind(quiet=False)


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Wait until condition() holds (the background loop's work), failing after timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the background reseeding did not get there"
        time.sleep(0.02)
