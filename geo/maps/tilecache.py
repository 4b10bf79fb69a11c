"""Encoded vector tiles cached on disk and shared by every process of the machine, behind each
process's memory cache (memory -> disk -> build), and the ETag of a tile request, which is also
its cache key (seeding the cache: geo.maps.seeding).

A tile's key holds the ETag of each of its layers: the layer's version in the database (bumped
by every write to it), the filters, the caller's scope unit and, for issue tiles that depend on
the clock, the time they change. A cached tile is therefore never stale: a write gives new
keys, and the old files are left to the size bound (least recently used go first).

On disk a tile is one file, `<root>/ab/c/<sha256 of the key>.tile`, written to a temporary file
in its directory and renamed over (a reader sees the whole old file or the whole new one). The
file holds the key, the length and a CRC-32, so a truncated or corrupt file (a crash, a full
disk) is a miss, never served. The directory's size is checked when a process's own writes
since it last looked would pass the bound, and otherwise, since other processes write there too,
after CHECK_EVERY puts once CHECK_INTERVAL_S have passed. The check runs in a thread of its own,
not in the request whose put made it due (a scan of a city's 16,000 files and 4,096 directories
takes 0.2-0.5 s of CPU), and removes the least recently used files (by mtime, set again when a
file is read after TOUCH_AFTER_S) down to PRUNE_TO of the bound.

Every key also holds the database's identity, a random number drawn when the database was made
(layer_versions "database", migration 0020): a database replaced by another at the same path or
URL (a file deleted and imported again, a schema made again, another database's backup) counts
its versions from the same numbers, and its tiles must not meet the old database's files or the
browsers' ETags. A backup of the same database restored over it keeps its identity and goes back
to older versions, which its next writes number again: delete the cache directory with it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import queue
import secrets
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from isal import igzip
from sqlalchemy.engine import make_url

from geo.model.errors import InvalidInput
from geo.model.kinds import Kind
from geo.store import IssueQuery, Store, in_memory
from geo.tiling.cells import CLUSTER_PX
from geo.tiling.tiles import (
    FEATURE_PROPS,
    ISSUE_LAYER,
    ISSUE_PROPS,
    NextDeadlines,
    Tile,
    TileCache,
    combined_etag,
    etag,
    feature_fields,
    issue_fields,
    split_layers,
    wants_cells,
)

try:  # POSIX: one process prunes at a time
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


log = logging.getLogger("ccmap.tiles")

# the issue filters a tile's ETag holds (those of GET /api/issues)
ISSUE_FILTERS = ("categories", "statuses", "sources", "units", "communities", "zone_id",
                 "since", "until", "bbox", "overdue", "recurring")
TILE_GZIP_LEVEL = 3  # of ISA-L's 0-3
GZIP_MIN = 1000  # smaller tiles are kept as they are (like the app's GZip middleware)
GZIP_MAGIC = b"\x1f\x8b"  # an MVT starts with 0x1a (layers), never with this
CacheResult = Literal["hit-memory", "hit-disk", "miss"]
DATABASE_ID = "database"  # layer_versions: the database's random identity (migration 0020)

_HEADER = struct.Struct("<4sIII")  # magic, key length, data length, CRC-32 of key and data
_MAGIC = b"CCT1"
CHECK_EVERY = 500  # a process scans the directory's size after this many puts …
CHECK_INTERVAL_S = 60.0  # … once this long has passed since its last scan
PRUNE_TO = 0.9  # a prune removes the least recently used files down to this part of the bound
TOUCH_AFTER_S = 60.0  # a file read is marked used again (mtime) when older than this
STALE_TEMP_S = 3600.0  # a temporary file this old was left by a killed writer
TREE_MADE = ".tree"  # in the cache: every directory a tile file goes to has been made
WRITE_BEHIND_TILES = 256  # tiles a server's DiskWriter holds for the disk before it waits


# --- the disk cache ---------------------------------------------------------------------------
class DiskTileCache:
    """Encoded tiles in files under `root`, shared by every process that opens the same root,
    bounded to about max_bytes of disk (see the module docstring)."""

    def __init__(self, root: Path, max_bytes: int, check_every: int = CHECK_EVERY,
                 check_interval_s: float = CHECK_INTERVAL_S) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.check_every = check_every
        self.check_interval_s = check_interval_s
        self._root = str(self.root)
        self._lock = threading.Lock()
        self._estimate = 0  # bytes at the last scan, plus this process's puts since
        self._puts = 0  # puts since the last scan
        self._scanned_at = -math.inf  # time.monotonic() of the last scan
        self._pruning: threading.Thread | None = None

    def _folder(self, digest: str) -> str:
        """The directory of the files whose key's sha256 (hex) starts like digest."""
        # a string, not a Path (os functions take it as it is; pathlib parses every name)
        return f"{self._root}/{digest[:2]}/{digest[2]}"

    def _file(self, key: str) -> str:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return f"{self._folder(digest)}/{digest}.tile"

    def path(self, key: str) -> Path:
        """The file of a key."""
        return Path(self._file(key))

    def has_tree(self) -> bool:
        """Whether make_tree has made every directory of this cache."""
        return (self.root / TREE_MADE).exists()

    def make_tree(self) -> bool:
        """Make every directory a tile file can go to, once for the cache (TREE_MADE says it
        was done); False if the directory cannot be written. A new cache made its 4,096
        directories one by one as its first tiles came, and on this 2-core machine's file
        system a put that made one took 1-10 ms: a new server's cold map move waited 30-120 ms
        for them."""
        if self.has_tree():
            return True
        try:
            for prefix in range(16 ** 3):
                os.makedirs(self._folder(f"{prefix:03x}"), exist_ok=True)
            (self.root / TREE_MADE).touch()
        except OSError:  # read-only or full: the puts make what they need (or skip)
            return False
        return True

    def get(self, key: str) -> bytes | None:
        """The tile stored under key, or None (absent, being replaced, pruned, or corrupt)."""
        path = self._file(key)
        try:
            with open(path, "rb") as f:
                raw = f.read()
                mtime = os.fstat(f.fileno()).st_mtime
        except OSError:  # FileNotFoundError: not there, or pruned meanwhile
            return None
        data = _unpack(raw, key)
        if data is None:  # truncated or damaged: removed, so the next put writes it whole
            with contextlib.suppress(OSError):
                os.unlink(path)
            return None
        if time.time() - mtime > TOUCH_AFTER_S:
            with contextlib.suppress(OSError):
                os.utime(path)
        return data

    def put(self, key: str, data: bytes) -> None:
        """Store a tile (best effort: a full disk or a read-only directory only skips it)."""
        blob = _pack(key, data)
        if len(blob) > self.max_bytes:
            return
        path = self._file(key)
        tmp = f"{path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        try:
            try:
                fd = os.open(tmp, flags, 0o666)
            except FileNotFoundError:  # the first tile of its directory
                os.makedirs(os.path.dirname(path), exist_ok=True)
                fd = os.open(tmp, flags, 0o666)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(blob)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError:
            return
        with self._lock:
            self._estimate += _disk_size(len(blob))
            self._puts += 1
            due = self._pruning is None and (
                self._estimate > self.max_bytes or (
                    self._puts >= self.check_every
                    and time.monotonic() - self._scanned_at >= self.check_interval_s))
            if due:
                self._pruning = threading.Thread(target=self._prune_due, daemon=True,
                                                 name="ccmap-tile-prune")
                self._pruning.start()

    def _prune_due(self) -> None:
        try:
            self.prune()
        finally:
            with self._lock:
                self._pruning = None

    def settle(self) -> None:
        """Wait for a size check under way (started by a put) to finish."""
        pruning = self._pruning
        if pruning is not None:
            pruning.join()

    def prune(self) -> int:
        """Scan the directory; if it holds more than max_bytes, remove the least recently used
        tiles down to PRUNE_TO of it (skipped while another process prunes). The bytes left."""
        with _exclusive(self.root / ".prune.lock") as mine:
            if not mine:
                with self._lock:
                    self._puts, self._scanned_at = 0, time.monotonic()
                return self._estimate
            files = sorted(self._scan())  # oldest first
            total = sum(size for _, size, _ in files)
            if total > self.max_bytes:
                goal = self.max_bytes * PRUNE_TO
                for _, size, path in files:
                    if total <= goal:
                        break
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
                    total -= size
        with self._lock:
            self._estimate, self._puts, self._scanned_at = total, 0, time.monotonic()
        return total

    def estimate(self) -> int:
        """The bytes on disk at the last scan (prune), plus this process's puts since."""
        return self._estimate

    def size(self) -> tuple[int, int]:
        """(files, bytes on disk) of the tiles stored now."""
        files = list(self._scan())
        return len(files), sum(size for _, size, _ in files)

    def _scan(self) -> Iterator[tuple[float, int, str]]:
        """(mtime, bytes on disk, path) of every tile file; old temporary files are removed."""
        now = time.time()
        for top in _subdirs(self._root):
            for sub in _subdirs(top):
                with contextlib.suppress(FileNotFoundError), os.scandir(sub) as entries:
                    for entry in entries:
                        try:
                            st = entry.stat()
                        except FileNotFoundError:
                            continue
                        if entry.name.endswith(".tile"):
                            size = max(st.st_size, getattr(st, "st_blocks", 0) * 512)
                            yield st.st_mtime, size, entry.path
                        elif entry.name.endswith(".tmp") and now - st.st_mtime > STALE_TEMP_S:
                            with contextlib.suppress(OSError):
                                os.unlink(entry.path)


def _pack(key: str, data: bytes) -> bytes:
    k = key.encode("utf-8")
    crc = zlib.crc32(data, zlib.crc32(k))
    return _HEADER.pack(_MAGIC, len(k), len(data), crc) + k + data


def _unpack(raw: bytes, key: str) -> bytes | None:
    """The data of a cache file if it is whole and holds `key`, else None."""
    if len(raw) < _HEADER.size:
        return None
    magic, klen, dlen, crc = _HEADER.unpack_from(raw)
    k = key.encode("utf-8")
    start = _HEADER.size + klen
    if magic != _MAGIC or len(raw) != start + dlen or raw[_HEADER.size:start] != k:
        return None
    data = raw[start:]
    return data if zlib.crc32(data, zlib.crc32(k)) == crc else None


def _disk_size(n: int) -> int:
    return -(-n // 4096) * 4096  # whole file-system blocks


def _subdirs(path: str) -> list[str]:
    try:
        with os.scandir(path) as entries:
            return [e.path for e in entries if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[bool]:
    """Hold an exclusive lock on lock_path if no other process does (yields whether held)."""
    if fcntl is None:  # pragma: no cover
        yield True
        return
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        f = open(lock_path, "a+b")  # noqa: SIM115 - closed below
    except OSError:
        yield False
        return
    with f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def disk_cache_dir(database_url: str, setting: str, var_tiles: Path) -> Path | None:
    """Where the disk tile cache of a database lives: `setting` is a directory, `none` (no
    disk cache) or `auto`: beside a SQLite file (`<file>.tiles`), under var_tiles for
    PostgreSQL (a short hash of the URL without its password); an in-memory database has
    none."""
    if setting.strip().lower() == "none":
        return None
    if in_memory(database_url):
        return None
    url = make_url(database_url)
    if setting.strip().lower() != "auto":
        return Path(setting).expanduser()
    if url.get_backend_name() == "sqlite":
        db_file = Path(url.database or "").expanduser().resolve()
        return db_file.with_name(db_file.name + ".tiles")
    text = url._replace(password=None).render_as_string(hide_password=False)
    return var_tiles / hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


class DiskWriter:
    """Writes tiles into a disk cache from a thread of its own, so that a request answers
    without waiting for its files (a cold page tile writes 8, each layer's and the whole: 1-1.4
    ms each on this machine's ext4, a tenth of the tile's time). The tile is in the process's
    memory cache meanwhile; another process may build it once more. With WRITE_BEHIND_TILES
    waiting, a put writes in the caller's thread (a disk slower than the builds)."""

    def __init__(self, disk: DiskTileCache, max_waiting: int = WRITE_BEHIND_TILES) -> None:
        self.disk = disk
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue(max_waiting)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def put(self, key: str, data: bytes) -> None:
        """Queue a tile for the disk (or write it now: the queue full, the writer closed)."""
        with self._lock:
            queued = not self._closed
            if queued:
                try:
                    self._queue.put_nowait((key, data))
                except queue.Full:
                    queued = False
            if queued and self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                 name="ccmap-tile-writer")
                self._thread.start()
        if not queued:
            self.disk.put(key, data)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:  # closed
                    return
                self.disk.put(*item)
            except Exception:  # a cache write is best effort; the thread goes on
                log.exception("tile cache: a tile could not be written to %s", self.disk.root)
            finally:
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until every tile queued so far is on disk."""
        self._queue.join()

    def close(self) -> None:
        """Write what is queued and stop the thread (later puts write in the caller's)."""
        with self._lock:
            self._closed, thread = True, self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join()


# --- memory -> disk -> build ------------------------------------------------------------------
@dataclass
class TileCaches:
    """A process's caches of encoded tiles: memory in front of disk (None: memory only),
    written to through `writer` when the disk is written behind the requests."""

    memory: TileCache
    disk: DiskTileCache | None = None
    writer: DiskWriter | None = None

    @classmethod
    def make(cls, memory_bytes: int, disk_root: Path | None, disk_bytes: int,
             write_behind: bool = False) -> TileCaches:
        """The caches with these bounds (no disk cache when disk_root is None), the disk
        written from a thread of its own with write_behind (a server's: see DiskWriter)."""
        disk = DiskTileCache(disk_root, disk_bytes) if disk_root is not None else None
        writer = DiskWriter(disk) if disk is not None and write_behind else None
        return cls(TileCache(memory_bytes), disk, writer)

    def get(self, key: tuple[str, int, int, int]) -> tuple[bytes, CacheResult] | None:
        """A cached tile and where it was found (a disk hit is kept in memory too)."""
        data = self.memory.get(key)
        if data is not None:
            return data, "hit-memory"
        if self.disk is None:
            return None
        data = self.disk.get(_disk_key(key))
        if data is None:
            return None
        self.memory.put(key, data)
        return data, "hit-disk"

    def put(self, key: tuple[str, int, int, int], data: bytes) -> None:
        """Cache a tile just built, in memory and on disk."""
        self.memory.put(key, data)
        if self.writer is not None:
            self.writer.put(_disk_key(key), data)
        elif self.disk is not None:
            self.disk.put(_disk_key(key), data)

    def flush(self) -> None:
        """Wait until the tiles put so far are on disk (written behind: see DiskWriter)."""
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        """Write the tiles put so far to disk and stop the writer's thread."""
        if self.writer is not None:
            self.writer.close()


def _disk_key(key: tuple[str, int, int, int]) -> str:
    tag, z, x, y = key
    return f"{tag} {z}/{x}/{y}"


# --- a tile request: its ETag (the cache key) and its bytes ----------------------------------
@dataclass(frozen=True)
class TileRequest:
    """What a tile's bytes depend on: its layers (in order), the tile, the issue filters, the
    feature layer's property filter, the caller's scope unit and the properties the layers'
    features carry."""

    layers: tuple[str, ...]
    tile: Tile
    query: IssueQuery = field(default_factory=IssueQuery)
    where: dict[str, Any] = field(default_factory=dict)
    scope_unit: str | None = None
    fields: str | None = None  # the `fields` spec, checked (None: every property)

    def fields_of(self, layer: str) -> tuple[str, ...]:
        """The properties a layer's features carry (the issues': their points')."""
        if layer == ISSUE_LAYER:
            return issue_fields(self.fields)
        return feature_fields(self.fields, layer)


TILE_SIZES = (256, 512)


def _issue_filters(query: IssueQuery) -> dict[str, Any]:
    # not dataclasses.asdict: its deep copy of every field was a tenth of a cached tile's time
    return {k: getattr(query, k) for k in ISSUE_FILTERS}


def tile_request(layer: str, z: int, x: int, y: int, size: int, query: IssueQuery,
                 where: dict[str, Any], scope_unit: str | None,
                 fields: str | None = None) -> TileRequest:
    """A tile request checked: a known layer or comma list of layers, a tile inside its zoom,
    256 or 512 pixels, property filters for one feature layer only, issue filters only with
    the issues layer, known fields (InvalidInput otherwise)."""
    layers = split_layers(layer)
    if size not in TILE_SIZES:
        raise InvalidInput("size 为瓦片的像素宽度，只能是 256 或 512")
    tile = Tile(z, x, y, size).check()
    issue_filters = _issue_filters(query)
    given = sorted(k for k, v in issue_filters.items() if v not in (None, []))
    if where and (len(layers) > 1 or layers[0] == ISSUE_LAYER):
        raise InvalidInput("properties 筛选只适用于单个要素图层，不适用于问题图层或同时"
                           "请求的多个图层")
    if given and ISSUE_LAYER not in layers:
        raise InvalidInput(f"问题筛选条件（{', '.join(given)}）只适用于问题图层；"
                           f"筛选 {layer} 请用 properties={{...}}")
    feature_fields(fields, layers[0])  # InvalidInput for an unknown name or layer
    return TileRequest(tuple(layers), tile, query, where, scope_unit, fields)


@dataclass(frozen=True)
class TileTags:
    """A tile's ETag and the ETag of each of its layers (each layer is cached under its own)."""

    tag: str
    parts: tuple[tuple[str, str], ...]  # (layer, its ETag)


def tile_tags(store: Store, req: TileRequest, deadlines: NextDeadlines) -> TileTags:
    """The ETag of a tile request (one query for the layers' versions and the database's
    identity; for issue tiles, when they next change by the clock, kept per process in
    `deadlines`)."""
    tile, query = req.tile, req.query
    issue_filters = _issue_filters(query)
    parts: list[tuple[str, str]] = []
    # one query for the five layers of the page and the database's identity; an issues tile
    # has the version of the last write of issues it may show (a case written elsewhere keeps
    # its ETag and cache)
    versions = store.layer_versions((*req.layers, DATABASE_ID), tile)
    database = versions[DATABASE_ID]
    for name in req.layers:
        if name == ISSUE_LAYER:
            filters: dict[str, Any] = issue_filters
            chosen = req.fields_of(name)
            # `overdue` depends on the clock: a tile that shows or filters by it holds until an
            # open issue in it passes its deadline, a time read from the database (the same in
            # every worker, known before the tile is built); other tiles (cells, points without
            # it: the page's) hold until a write (kept per worker while exact: see
            # geo.tiling.tiles.NextDeadlines)
            until = None
            if "overdue" in chosen or query.overdue is not None:
                asked = (database, versions[name], tile.z, tile.x, tile.y, tile.px,
                         repr({f.name: getattr(query, f.name) for f in fields(query)
                               if f.name != "now"}))
                until = deadlines.lookup(asked, query.now,
                                         lambda: store.issue_tile_valid_until(query, tile))
            extra = until.isoformat() if until is not None else ""
            # the default's keys as before issue fields existed; cells carry none of them
            if chosen != ISSUE_PROPS and not wants_cells(tile.view_zoom):
                filters = {**filters, "fields": chosen}
            # the cells' size and their ring (issue_cells_edge): tiles of another grid (10-pixel
            # cells before) or without the ring never share a key
            filters = {**filters, "cell_px": CLUSTER_PX, "cell_ring": 1}
        else:
            filters, extra = {"properties": req.where}, ""
            chosen = req.fields_of(name)
            if chosen != FEATURE_PROPS:  # the default's keys as before fields existed
                filters["fields"] = chosen
        if tile.px != 256:
            filters = {**filters, "size": tile.px}
        extra = f"{database} {extra}"  # another database's tiles never share a key
        parts.append((name, etag(name, versions[name], filters, req.scope_unit, extra)))
    tag = parts[0][1] if len(parts) == 1 else combined_etag([t for _, t in parts])
    return TileTags(tag, tuple(parts))


def tile_data(store: Store, req: TileRequest, tags: TileTags,
              caches: TileCaches) -> tuple[bytes, CacheResult]:
    """The tile as cached (gzipped when GZIP_MIN bytes or more) and where it came from:
    hit-memory, hit-disk, or miss (built now, then cached in memory and on disk). A tile of
    several layers is cached whole, and each of its layers under its own key too."""
    tile = req.tile

    def layer_tile(name: str, part_tag: str) -> tuple[bytes, CacheResult]:
        key = (part_tag, tile.z, tile.x, tile.y)
        found = caches.get(key)
        if found is not None:
            return found
        if name == ISSUE_LAYER:
            data = store.issue_tile(req.query, tile, fields=req.fields_of(name))
        else:
            data = store.feature_tile(Kind(name), tile, req.where, scope_unit=req.scope_unit,
                                      fields=req.fields_of(name))
        data = _compressed(data)
        caches.put(key, data)
        return data, "miss"

    if len(tags.parts) == 1:
        return layer_tile(*tags.parts[0])
    key = (tags.tag, tile.z, tile.x, tile.y)
    found = caches.get(key)
    if found is not None:
        return found
    # an MVT is a list of layers: the layers' tiles one after another are one tile
    data = _compressed(b"".join(plain(layer_tile(name, t)[0]) for name, t in tags.parts))
    caches.put(key, data)
    return data, "miss"


def _compressed(data: bytes) -> bytes:
    """A tile as cached: gzipped when large (compressed once for every hit)."""
    # ISA-L's gzip (isal): zlib's level 5 took 10-15 % of a cold tile's request (a page tile is
    # compressed twice: each layer's part, then the whole), ISA-L's level 3 a tenth of that for
    # 5 % more bytes. mtime 0: the same tile is the same bytes, whoever built it when
    return igzip.compress(data, TILE_GZIP_LEVEL, mtime=0) if len(data) >= GZIP_MIN else data


def plain(data: bytes) -> bytes:
    """A cached tile's MVT bytes (cached tiles may be gzipped)."""
    return igzip.decompress(data) if data[:2] == GZIP_MAGIC else data
