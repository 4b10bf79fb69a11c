"""The disk tile cache shared by a machine's workers, on both backends (its seeding:
test_seeding.py).

A "worker" is an app made by create_app with its own store, as each `ccmap serve --workers N`
process makes one; two apps with the same settings share the disk cache, not their memory.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import LineString, Polygon
from sqlalchemy.engine import make_url

from geo.maps.tilecache import (
    DATABASE_ID,
    TREE_MADE,
    DiskTileCache,
    DiskWriter,
    TileCaches,
    disk_cache_dir,
)
from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.store import Store, open_store
from server.app import create_app
from server.settings import Settings
from tests.conftest import PG_URL, add_user, bearer
from tests.geo.tiling.test_tiles import tile_of

BASE = "subdistrict,community,zone,street,alley"  # the map page's shared tile (a viewer's)
Z = 14  # a 512-pixel tile of zoom 14 is drawn at map zoom 15
X, Y = tile_of(121.475, 31.235, Z)


def _settings(db_url: str, root: Path | str, **more: Any) -> Settings:
    return Settings(database_url=db_url, basemap="none", tile_cache_dir=str(root), **more)


@contextlib.contextmanager
def worker(settings: Settings) -> Iterator[TestClient]:
    """A new app (a new worker process) on the settings, logged in as a viewer."""
    with TestClient(create_app(settings)) as client:
        client.headers.update(bearer(client, "viewer"))
        yield client


def written(client: TestClient) -> TestClient:
    """The worker with the tiles it built so far on disk (a server writes them from a thread
    of its own, behind the requests)."""
    client.app.state.tile_cache.flush()  # type: ignore[attr-defined]
    return client


@pytest.fixture
def city(store: Store) -> Store:
    """A few streets, a zone and an issue around (121.475, 31.235), and a viewer."""
    return make_city(store)


def make_city(store: Store, streets: tuple[str, str] = ("南京路", "河南路"),
              category: str = "litter") -> Store:
    """The city fixture's writes, in its order, with these street names and issue category."""
    store.add_features([
        Feature(Kind.street, LineString([(121.470, 31.235), (121.480, 31.235)]), name=streets[0]),
        Feature(Kind.street, LineString([(121.475, 31.230), (121.475, 31.240)]), name=streets[1]),
        Feature(Kind.zone, Polygon([(121.472, 31.232), (121.478, 31.232), (121.478, 31.238),
                                    (121.472, 31.238)]), name="一号责任区"),
    ])
    store.add_issues([Issue(category, 121.4752, 31.2351)])
    add_user(store, "viewer", "viewer")
    return store


def names(content: bytes, layer: str) -> set[str]:
    """The names of a decoded tile's features of one MVT layer."""
    tile = mapbox_vector_tile.decode(content)
    return {f["properties"].get("name", "") for f in tile.get(layer, {}).get("features", [])}


def tile_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.tile"))


def test_a_second_worker_serves_the_first_workers_tiles_from_disk(
        db_url: str, city: Store, tmp_path: Path) -> None:
    settings = _settings(db_url, tmp_path / "tiles")
    urls = [f"/api/tiles/{BASE}/{Z}/{X}/{Y}.mvt?size=512",
            f"/api/tiles/issues/{Z}/{X}/{Y}.mvt?size=512", f"/api/tiles/street/{Z}/{X}/{Y}.mvt"]
    with worker(settings) as first:
        built = [first.get(u) for u in urls]
        again = [first.get(u) for u in urls]
    assert [r.headers["x-tile-cache"] for r in built] == ["miss"] * 3
    assert [r.headers["x-tile-cache"] for r in again] == ["hit-memory"] * 3
    assert names(built[0].content, "street") == {"南京路", "河南路"}
    with worker(settings) as second:
        served = [second.get(u) for u in urls]
    for b, s in zip(built, served, strict=True):
        assert s.status_code == 200 and s.headers["x-tile-cache"] == "hit-disk"
        assert s.content == b.content and s.headers["etag"] == b.headers["etag"]
        assert s.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    # If-None-Match still answers 304 (no X-Tile-Cache: nothing was read)
    with worker(settings) as third:
        r = third.get(urls[0], headers={"If-None-Match": built[0].headers["etag"]})
    assert r.status_code == 304 and "x-tile-cache" not in r.headers


def test_a_tile_is_answered_before_its_files_are_written_and_reaches_the_disk_after(
        db_url: str, city: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cold tile's request does not wait for the disk cache's files (8 for a page tile)."""
    settings = _settings(db_url, tmp_path / "tiles")
    url = f"/api/tiles/{BASE}/{Z}/{X}/{Y}.mvt?size=512"
    answered = threading.Event()
    waited: list[bool] = []
    real_put = DiskTileCache.put

    def slow_put(self: DiskTileCache, key: str, data: bytes) -> None:
        waited.append(answered.wait(timeout=0 if waited else 30))  # in the request: never set
        real_put(self, key, data)

    monkeypatch.setattr(DiskTileCache, "put", slow_put)
    with worker(settings) as a:
        built = a.get(url)
        answered.set()
        assert built.headers["x-tile-cache"] == "miss"
        written(a)
    assert waited and all(waited)  # every file was written after the answer
    assert len(tile_files(tmp_path / "tiles")) == len(BASE.split(",")) + 1  # layers + whole
    with worker(settings) as b:
        again = b.get(url)
    assert again.headers["x-tile-cache"] == "hit-disk" and again.content == built.content


def test_a_stopping_server_writes_its_queued_tiles_before_it_ends(
        db_url: str, city: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next server (a restart, a deployment) finds on disk what the last one built."""
    settings = _settings(db_url, tmp_path / "tiles")
    stopping = threading.Event()
    real_put, real_close = DiskTileCache.put, TileCaches.close

    def held_put(self: DiskTileCache, key: str, data: bytes) -> None:
        stopping.wait(timeout=30)  # the writer holds every tile until the server stops
        real_put(self, key, data)

    def close(self: TileCaches) -> None:
        stopping.set()
        real_close(self)

    monkeypatch.setattr(DiskTileCache, "put", held_put)
    monkeypatch.setattr(TileCaches, "close", close)
    with worker(settings) as a:
        assert a.get(f"/api/tiles/{BASE}/{Z}/{X}/{Y}.mvt?size=512").status_code == 200
    assert len(tile_files(tmp_path / "tiles")) == len(BASE.split(",")) + 1


def test_a_write_gives_a_new_etag_and_a_fresh_tile_in_every_worker(
        db_url: str, city: Store, tmp_path: Path) -> None:
    settings = _settings(db_url, tmp_path / "tiles")
    url = f"/api/tiles/{BASE}/{Z}/{X}/{Y}.mvt?size=512"
    with worker(settings) as a, worker(settings) as b:
        before = a.get(url)
        assert written(a) and b.get(url).headers["x-tile-cache"] == "hit-disk"
        city.add_features([Feature(Kind.street, LineString([(121.471, 31.236),
                                                            (121.479, 31.236)]), name="新路")])
        after_b = b.get(url)  # b had the old tile in memory and on disk: neither is served
        written(b)
        after_a = a.get(url)
    assert after_b.headers["etag"] != before.headers["etag"]
    assert after_b.headers["x-tile-cache"] == "miss"
    assert names(after_b.content, "street") == {"南京路", "河南路", "新路"}
    assert after_a.headers["etag"] == after_b.headers["etag"]
    assert after_a.headers["x-tile-cache"] == "hit-disk"  # the tile b built
    assert after_a.content == after_b.content != before.content


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty"])
def test_a_damaged_cache_file_is_rebuilt_never_served(
        db_url: str, city: Store, tmp_path: Path, damage: str) -> None:
    root = tmp_path / "tiles"
    settings = _settings(db_url, root)
    url = f"/api/tiles/street/{Z}/{X}/{Y}.mvt"
    with worker(settings) as a:
        good = a.get(url)
    (path,) = tile_files(root)
    raw = path.read_bytes()
    path.write_bytes({"truncate": raw[:len(raw) // 2],
                      "flip": raw[:-3] + bytes([raw[-3] ^ 0x40]) + raw[-2:],
                      "empty": b""}[damage])
    with worker(settings) as b:
        r = b.get(url)
    assert r.headers["x-tile-cache"] == "miss" and r.content == good.content
    with worker(settings) as c:  # written whole again
        r = c.get(url)
    assert r.headers["x-tile-cache"] == "hit-disk" and r.content == good.content


def test_the_disk_cache_checks_every_file_it_reads(tmp_path: Path) -> None:
    cache = DiskTileCache(tmp_path, 10_000_000)
    cache.put("a 1/2/3", b"\x1a\x05tile a")
    cache.put("b 1/2/3", b"\x1a\x05tile b" * 100)
    assert cache.get("a 1/2/3") == b"\x1a\x05tile a"
    assert cache.get("b 1/2/3") == b"\x1a\x05tile b" * 100
    assert cache.get("c 1/2/3") is None
    # a file under another key's name (a collision, a copy) is not that key's tile
    cache.path("a 1/2/3").write_bytes(cache.path("b 1/2/3").read_bytes())
    assert cache.get("a 1/2/3") is None and not cache.path("a 1/2/3").exists()
    assert cache.get("b 1/2/3") == b"\x1a\x05tile b" * 100
    # a longer file (two writes run together) is not served either
    path = cache.path("b 1/2/3")
    path.write_bytes(path.read_bytes() + b"\x00")
    assert cache.get("b 1/2/3") is None


def disk_bytes(root: Path) -> int:
    total = 0
    for f in root.rglob("*"):
        if f.is_file():
            st = f.stat()
            total += max(st.st_size, st.st_blocks * 512)
    return total


def test_pruning_keeps_the_directory_under_its_bound_and_the_recently_used(
        tmp_path: Path) -> None:
    bound = 200_000
    cache = DiskTileCache(tmp_path, bound, check_every=1000)

    def put(key: str, blob: bytes, into: DiskTileCache = cache) -> None:
        into.put(key, blob)
        into.settle()  # the size check a put starts runs beside it

    blob = os.urandom(3000)
    for i in range(30):
        put(f"t{i}", blob)
        os.utime(cache.path(f"t{i}"), (1_000_000 + i, 1_000_000 + i))  # t0 the oldest
    assert cache.get("t0") == blob  # read: now the most recently used
    for i in range(30, 60):  # the first prune comes at about 48 files of 4 KB
        put(f"t{i}", blob)
        assert disk_bytes(tmp_path) <= bound
    assert cache.get("t1") is None  # the least recently used went first
    assert cache.get("t0") == blob and cache.get("t59") == blob
    for i in range(60, 200):
        put(f"t{i}", blob)
        assert disk_bytes(tmp_path) <= bound
    # another worker on the same directory: its own writes are counted, and the directory is
    # scanned every check_every puts, so what both wrote stays bounded
    other = DiskTileCache(tmp_path, bound, check_every=10, check_interval_s=0)
    for i in range(200, 260):
        put(f"t{i}", blob, other)
    assert disk_bytes(tmp_path) <= bound


def test_a_put_that_makes_the_size_check_due_does_not_wait_for_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A request's put returns while the directory is scanned (a city's scan took 0.2-0.5 s,
    inside one tile request of a map move)."""
    cache = DiskTileCache(tmp_path, 10_000, check_every=1000)
    put_returned = threading.Event()
    seen: dict[str, bool] = {}

    def slow_prune() -> int:
        seen["put returned first"] = put_returned.wait(timeout=30)  # inline: never set
        return 0

    monkeypatch.setattr(cache, "prune", slow_prune)
    cache.put("t0", os.urandom(6_000))
    assert "put returned first" not in seen  # under the bound: no check yet
    cache.put("t1", os.urandom(6_000))  # past the bound: due
    put_returned.set()
    cache.settle()
    assert seen == {"put returned first": True}


def test_a_closed_writer_has_written_every_tile_queued_and_writes_later_ones_itself(
        tmp_path: Path) -> None:
    """A stopping server leaves every tile it built on disk for the next one, and keeps no
    thread behind."""
    def writers() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "ccmap-tile-writer"}

    disk = DiskTileCache(tmp_path, 10**9)
    writer = DiskWriter(disk)
    others = writers()
    blobs = {f"t{i}": os.urandom(2000 + i) for i in range(50)}
    for key, blob in blobs.items():
        writer.put(key, blob)
    started = writers() - others
    writer.close()
    assert {key: disk.get(key) for key in blobs} == blobs
    assert len(started) == 1 and not any(t.is_alive() for t in started)
    writer.put("late", b"after close")  # written in the caller's thread, at once
    assert disk.get("late") == b"after close"


def test_a_tile_that_fails_to_be_written_does_not_stop_the_writer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = DiskTileCache(tmp_path, 10**9)
    real_put = disk.put

    def failing_put(key: str, data: bytes) -> None:
        if key == "bad":
            raise ValueError("not a tile")
        real_put(key, data)

    monkeypatch.setattr(disk, "put", failing_put)
    writer = DiskWriter(disk)
    for key in ("bad", "good"):
        writer.put(key, key.encode())
    flushing = threading.Thread(target=writer.flush, daemon=True)
    flushing.start()
    flushing.join(timeout=30)  # a bound for the failure (a dead writer: flush never returns)
    assert not flushing.is_alive()
    assert disk.get("bad") is None and disk.get("good") == b"good"
    writer.close()


def test_with_the_queue_full_a_tile_is_written_by_the_request_itself(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk slower than the builds holds the requests back, not an ever longer queue."""
    disk = DiskTileCache(tmp_path, 10**9)
    real_put = disk.put
    release = threading.Event()

    def held_put(key: str, data: bytes) -> None:
        if threading.current_thread().name == "ccmap-tile-writer":
            release.wait(timeout=30)
        real_put(key, data)

    monkeypatch.setattr(disk, "put", held_put)
    writer = DiskWriter(disk, max_waiting=1)
    writer.put("a", b"a")  # queued (the writer takes it and is held)
    writer.put("b", b"b")  # queued, or taken: the writer still holds a
    putting = threading.Thread(target=writer.put, args=("c", b"c"), daemon=True)
    putting.start()
    putting.join(timeout=30)  # a bound for the failure (waiting for room in the queue)
    written_at_once = not putting.is_alive() and disk.get("c") == b"c"
    release.set()
    writer.close()
    assert written_at_once
    assert [disk.get(k) for k in ("a", "b")] == [b"a", b"b"]


def test_the_directory_is_scanned_after_check_every_puts_once_the_interval_has_passed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under the bound, other processes' writes are looked for at most every interval: a
    scan of a city's cache is not repeated every few map moves."""
    scans: list[int] = []
    blob = os.urandom(100)

    def counted(cache: DiskTileCache) -> None:
        real = cache.prune
        monkeypatch.setattr(cache, "prune", lambda: scans.append(1) or real())

    patient = DiskTileCache(tmp_path / "a", 10**9, check_every=5, check_interval_s=3600)
    counted(patient)
    for i in range(20):
        patient.put(f"t{i}", blob)
        patient.settle()
    assert len(scans) == 1  # the first check (no scan yet), none within the hour

    scans.clear()
    eager = DiskTileCache(tmp_path / "b", 10**9, check_every=5, check_interval_s=0)
    counted(eager)
    for i in range(20):
        eager.put(f"t{i}", blob)
        eager.settle()
    assert len(scans) == 4


def remake_database(db_url: str) -> None:
    """Delete the database at db_url and make it again empty under the same URL: the SQLite
    file (and its journal) deleted; the PostgreSQL schema dropped and created again."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{url.database}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    options = parse_qs(urlsplit(db_url).query)["options"][0]  # -csearch_path=<schema>,public
    schema = options.removeprefix("-csearch_path=").split(",")[0]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")


LAYERS = [*BASE.split(","), "issues"]


def test_a_database_made_again_at_the_same_place_never_gets_the_old_tiles(
        db_url: str, city: Store, tmp_path: Path) -> None:
    """A database deleted and imported again (or another database's backup restored) at the
    same path or URL counts its layer versions from the same numbers: the tiles cached for the
    old one, on disk and in browsers (ETags), are never given for it."""
    settings = _settings(db_url, tmp_path / "tiles")
    urls = [f"/api/tiles/{BASE}/{Z}/{X}/{Y}.mvt?size=512",
            "/api/tiles/issues/16/{}/{}.mvt".format(*tile_of(121.4752, 31.2351, 16)),  # points
            f"/api/tiles/street/{Z}/{X}/{Y}.mvt"]
    old_versions = city.layer_versions(LAYERS)
    with worker(settings) as first:
        old = [first.get(u) for u in urls]
    assert [r.headers["x-tile-cache"] for r in old] == ["miss"] * 3
    assert names(old[0].content, "street") == {"南京路", "河南路"}
    city.close()
    remake_database(db_url)
    new_store = open_store(db_url)
    try:
        make_city(new_store, ("北京路", "西藏路"), category="graffiti")
        assert new_store.layer_versions(LAYERS) == old_versions  # the versions repeat
        with worker(settings) as second:
            new = [second.get(u) for u in urls]
            # a browser holding the old database's ETag is given the new tile, not a 304
            revalidated = second.get(urls[0], headers={"If-None-Match": old[0].headers["etag"]})
            again = [second.get(u) for u in urls]
    finally:
        new_store.close()
    for o, n in zip(old, new, strict=True):
        assert n.status_code == 200 and n.headers["x-tile-cache"] == "miss"
        assert n.headers["etag"] != o.headers["etag"] and n.content != o.content
    assert names(new[0].content, "street") == names(new[2].content, "street") == {"北京路",
                                                                                    "西藏路"}
    points = mapbox_vector_tile.decode(new[1].content)["issues"]["features"]
    assert [f["properties"]["category"] for f in points] == ["graffiti"]
    assert revalidated.status_code == 200 and revalidated.content == new[0].content
    assert [r.headers["x-tile-cache"] for r in again] == ["hit-memory"] * 3


def test_every_database_has_its_own_identity(store: Store, tmp_path: Path) -> None:
    """Drawn by the migrations for a new database and for one migrated from before alike,
    different for each database; clearing the store changes it like every version."""
    from tests.geo.store.test_issue_partitions import _migrate

    first = store.layer_version(DATABASE_ID)
    other = open_store(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        assert other.layer_version(DATABASE_ID) not in (0, first)
    finally:
        other.close()
    assert first > 0
    try:
        _migrate(store, "0019", down=True)
        assert store.layer_version(DATABASE_ID) == 0
        _migrate(store, "head", down=False)
    finally:
        store.migrate()  # type: ignore[attr-defined]  # head again whatever happened
    migrated = store.layer_version(DATABASE_ID)
    assert migrated not in (0, first)
    store.clear()
    assert store.layer_version(DATABASE_ID) == migrated + 1


def test_tile_cache_dir_none_and_auto(db_url: str, city: Store, tmp_path: Path) -> None:
    settings = _settings(db_url, "none")
    assert settings.tile_cache_path() is None
    url = f"/api/tiles/street/{Z}/{X}/{Y}.mvt"
    with worker(settings) as a:
        assert a.get(url).headers["x-tile-cache"] == "miss"
    with worker(settings) as b:
        assert b.get(url).headers["x-tile-cache"] == "miss"
    assert not (tmp_path / "ccmap.db.tiles").exists()
    var = tmp_path / "var"
    assert disk_cache_dir("sqlite:////data/city.db", "auto", var) == Path("/data/city.db.tiles")
    assert disk_cache_dir("sqlite://", "auto", var) is None
    assert disk_cache_dir("sqlite:///:memory:", "auto", var) is None
    assert disk_cache_dir("sqlite:///:memory:", "/srv/tiles", var) is None
    assert disk_cache_dir("sqlite:////data/city.db", "/srv/tiles", var) == Path("/srv/tiles")
    a = disk_cache_dir("postgresql://u:secret@db:5432/ccmap", "auto", var)
    b = disk_cache_dir("postgresql://u:other@db:5432/ccmap", "auto", var)
    c = disk_cache_dir("postgresql://u:secret@db:5432/ccmap2", "auto", var)
    assert a == b != c and a is not None and a.parent == var
    assert "secret" not in str(a)


def test_a_new_cache_makes_its_directories_once_and_a_put_still_makes_a_missing_one(
        tmp_path: Path) -> None:
    root = tmp_path / "tiles"
    disk = DiskTileCache(root, 10**7)
    assert disk.make_tree() and (root / TREE_MADE).is_file()
    leaves = {p for p in root.glob("*/*") if p.is_dir()}
    assert len(leaves) == 256 * 16
    assert disk.path("k").parent in leaves
    # done once for the cache: a later start does not walk the tree again
    gone = disk.path("k").parent
    gone.rmdir()
    assert DiskTileCache(root, 10**7).make_tree() and not gone.exists()
    disk.put("k", b"tile")  # the put makes the directory someone removed
    assert disk.get("k") == b"tile"
