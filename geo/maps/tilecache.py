"""Encoded vector tiles cached on disk and shared by every process of the machine, behind each
process's memory cache (memory -> disk -> build); the ETag of a tile request, which is also its
cache key; and the seeding of the tiles the map page asks for first (`ccmap tiles seed`).

A tile's key holds the ETag of each of its layers: the layer's version in the database (bumped
by every write to it), the filters, the caller's scope unit and, for issue tiles that depend on
the clock, the time they change. A cached tile is therefore never stale: a write gives new
keys, and the old files are left to the size bound (least recently used go first).

On disk a tile is one file, `<root>/ab/c/<sha256 of the key>.tile`, written to a temporary file
in its directory and renamed over (a reader sees the whole old file or the whole new one). The
file holds the key, the length and a CRC-32, so a truncated or corrupt file (a crash, a full
disk) is a miss, never served. The directory's size is checked every CHECK_EVERY puts of a
process, or sooner when that process's own writes would pass the bound; then the least recently
used files (by mtime, set again when a file is read after TOUCH_AFTER_S) are removed down to
PRUNE_TO of the bound.

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
import itertools
import json
import logging
import math
import os
import secrets
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from isal import igzip
from sqlalchemy.engine import make_url

from geo.model.errors import InvalidInput
from geo.model.kinds import Kind
from geo.store import BBox, IssueQuery, Store
from geo.tiling.tiles import (
    EXTENT,
    FEATURE_PROPS,
    ISSUE_LAYER,
    ISSUE_PROPS,
    NextDeadlines,
    Tile,
    TileCache,
    block_bounds,
    combined_etag,
    etag,
    feature_blocks,
    feature_fields,
    issue_blocks,
    issue_fields,
    split_layers,
    tile_of,
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
CHECK_EVERY = 500  # a process scans the directory's size at least every this many puts
PRUNE_TO = 0.9  # a prune removes the least recently used files down to this part of the bound
TOUCH_AFTER_S = 60.0  # a file read is marked used again (mtime) when older than this
STALE_TEMP_S = 3600.0  # a temporary file this old was left by a killed writer


# --- the disk cache ---------------------------------------------------------------------------
class DiskTileCache:
    """Encoded tiles in files under `root`, shared by every process that opens the same root,
    bounded to about max_bytes of disk (see the module docstring)."""

    def __init__(self, root: Path, max_bytes: int, check_every: int = CHECK_EVERY) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.check_every = check_every
        self._lock = threading.Lock()
        self._estimate = 0  # bytes at the last scan, plus this process's puts since
        self._puts = 0  # puts since the last scan
        self._pruning = False

    def path(self, key: str) -> Path:
        """The file of a key."""
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self.root / digest[:2] / digest[2] / f"{digest}.tile"

    def get(self, key: str) -> bytes | None:
        """The tile stored under key, or None (absent, being replaced, pruned, or corrupt)."""
        path = self.path(key)
        try:
            with open(path, "rb") as f:
                raw = f.read()
                mtime = os.fstat(f.fileno()).st_mtime
        except OSError:  # FileNotFoundError: not there, or pruned meanwhile
            return None
        data = _unpack(raw, key)
        if data is None:  # truncated or damaged: removed, so the next put writes it whole
            with contextlib.suppress(OSError):
                path.unlink()
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
        path = self.path(key)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        try:
            try:
                fd = os.open(tmp, flags, 0o666)
            except FileNotFoundError:  # the first tile of its directory
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(tmp, flags, 0o666)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(blob)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
        except OSError:
            return
        with self._lock:
            self._estimate += _disk_size(len(blob))
            self._puts += 1
            due = (self._puts >= self.check_every or self._estimate > self.max_bytes) \
                and not self._pruning
            if due:
                self._pruning = True
        if due:
            try:
                self.prune()
            finally:
                with self._lock:
                    self._pruning = False

    def prune(self) -> int:
        """Scan the directory; if it holds more than max_bytes, remove the least recently used
        tiles down to PRUNE_TO of it (skipped while another process prunes). The bytes left."""
        with _exclusive(self.root / ".prune.lock") as mine:
            if not mine:
                with self._lock:
                    self._puts = 0
                return self._estimate
            files = sorted(self._scan())  # oldest first
            total = sum(size for _, size, _ in files)
            if total > self.max_bytes:
                goal = self.max_bytes * PRUNE_TO
                for _, size, path in files:
                    if total <= goal:
                        break
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                    total -= size
        with self._lock:
            self._estimate, self._puts = total, 0
        return total

    def estimate(self) -> int:
        """The bytes on disk at the last scan (prune), plus this process's puts since."""
        return self._estimate

    def size(self) -> tuple[int, int]:
        """(files, bytes on disk) of the tiles stored now."""
        files = list(self._scan())
        return len(files), sum(size for _, size, _ in files)

    def _scan(self) -> Iterator[tuple[float, int, Path]]:
        """(mtime, bytes on disk, path) of every tile file; old temporary files are removed."""
        now = time.time()
        for top in _subdirs(self.root):
            for sub in _subdirs(top):
                with contextlib.suppress(FileNotFoundError), os.scandir(sub) as entries:
                    for entry in entries:
                        try:
                            st = entry.stat()
                        except FileNotFoundError:
                            continue
                        if entry.name.endswith(".tile"):
                            size = max(st.st_size, getattr(st, "st_blocks", 0) * 512)
                            yield st.st_mtime, size, Path(entry.path)
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


def _subdirs(path: Path) -> list[Path]:
    try:
        with os.scandir(path) as entries:
            return [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]
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
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        name = (url.database or "").strip()
        if not name or name == ":memory:" or "mode=memory" in str(url):
            return None
    if setting.strip().lower() != "auto":
        return Path(setting).expanduser()
    if url.get_backend_name() == "sqlite":
        db_file = Path(url.database or "").expanduser().resolve()
        return db_file.with_name(db_file.name + ".tiles")
    text = url._replace(password=None).render_as_string(hide_password=False)
    return var_tiles / hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


# --- memory -> disk -> build ------------------------------------------------------------------
@dataclass
class TileCaches:
    """A process's caches of encoded tiles: memory in front of disk (None: memory only)."""

    memory: TileCache
    disk: DiskTileCache | None = None

    @classmethod
    def make(cls, memory_bytes: int, disk_root: Path | None, disk_bytes: int) -> TileCaches:
        """The caches with these bounds (no disk cache when disk_root is None)."""
        disk = DiskTileCache(disk_root, disk_bytes) if disk_root is not None else None
        return cls(TileCache(memory_bytes), disk)

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
        if self.disk is not None:
            self.disk.put(_disk_key(key), data)


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
        raise InvalidInput("size is the tile's width in pixels: 256 or 512")
    tile = Tile(z, x, y, size).check()
    issue_filters = _issue_filters(query)
    given = sorted(k for k, v in issue_filters.items() if v not in (None, []))
    if where and (len(layers) > 1 or layers[0] == ISSUE_LAYER):
        raise InvalidInput("properties filters apply to one feature layer, not to issues or "
                           "to several layers at once")
    if given and ISSUE_LAYER not in layers:
        raise InvalidInput(f"issue filters ({', '.join(given)}) apply to the issues layer "
                           f"only; filter {layer} with properties={{...}}")
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


# --- seeding ----------------------------------------------------------------------------------
# What the page asks for (static/js/tilegrids.js and loading.js; keep in step with them): the
# tiled layers (TILED) that are on when the page opens share one grid of BASE_TILE_PX tiles, a
# 512-pixel tile of zoom z drawn at map zoom z + 1 from map zoom 1 on; a planner's list drops
# `zone` from ZONE_EDIT_ZOOM on (editable GeoJSON there); issues come from tiles below
# ISSUE_TILE_ZOOM, and at every zoom when the ledger holds more than MAX_ISSUE_POINTS.
PAGE_TILED = frozenset({"street", "alley", "community", "subdistrict", "zone"})
PAGE_TILE_PX = 512
# the properties the page draws with (a zone's colour is its unit's, an issue point's its
# status'; a click fetches the feature or issue by its id, which every tile carries): names
# and categories would more than double a city's tiles, a unit on every street took a fifth
# of a street tile's time (json_extract on SQLite) for nothing drawn, and an issue point's id,
# category and overdue flag were two thirds of a street-level issue tile's bytes
PAGE_FIELDS = "zone:unit,issues:status"
ZONE_EDIT_ZOOM = 15
ISSUE_TILE_ZOOM = 14
PAGE_MAX_ISSUE_POINTS = 10_000
# seeding covers the data's extent and this many tiles (of PAGE_TILE_PX) around it: a window
# up to 2 x 1024 pixels wide centred inside the extent asks for nothing beyond
SEED_MARGIN_TILES = 2
# by default seeding runs from the zoom the page opens at in a small window to 17 (street
# level: single issue points, full-width streets), or to the zoom it opens at in a large one if
# that is higher (a small city)
SMALL_VIEW_PX, LARGE_VIEW_PX = (800, 450), (2560, 1440)
DEFAULT_MAX_ZOOM = 17
PAGE_MAX_ZOOM = 19  # the map's own maximum without a basemap (static/js/map.js)


@dataclass(frozen=True)
class SeedPlan:
    """Tiles to build: `layers` in `px`-pixel tiles at each of the map zooms `zooms`, over
    bbox and `margin` tiles around it, the feature layers carrying `fields`."""

    layers: tuple[str, ...]
    zooms: tuple[int, ...]
    bbox: BBox
    px: int = PAGE_TILE_PX
    margin: int = SEED_MARGIN_TILES
    fields: str | None = PAGE_FIELDS

    def tiles(self) -> Iterator[Tile]:
        """Every tile of the plan, zoom by zoom."""
        for z, xs, ys in self._ranges(self.bbox, self.margin):
            for x in xs:
                for y in ys:
                    yield Tile(z, x, y, self.px)

    def tiles_near(self, bbox: BBox) -> Iterator[Tile]:
        """The plan's tiles over bbox and one tile around it, zoom by zoom."""
        for (z, xs, ys), (_, near_x, near_y) in zip(
                self._ranges(self.bbox, self.margin), self._ranges(bbox, 1), strict=True):
            for x in range(max(xs.start, near_x.start), min(xs.stop, near_x.stop)):
                for y in range(max(ys.start, near_y.start), min(ys.stop, near_y.stop)):
                    yield Tile(z, x, y, self.px)

    def _ranges(self, bbox: BBox, margin: int) -> Iterator[tuple[int, range, range]]:
        """Per zoom of the plan: the tile zoom, and the columns and rows of its tiles over
        bbox and `margin` tiles around it."""
        shift = (self.px // 256).bit_length() - 1  # a 512-pixel tile of z is drawn at z + 1
        west, south, east, north = bbox
        for zoom in self.zooms:
            z = zoom - shift
            if z < 0:
                continue
            n = 1 << z
            x0, y0 = tile_of(west, north, z)
            x1, y1 = tile_of(east, south, z)
            yield (z, range(max(x0 - margin, 0), min(x1 + margin, n - 1) + 1),
                   range(max(y0 - margin, 0), min(y1 + margin, n - 1) + 1))


@dataclass
class SeedReport:
    """What a seeding run did."""

    tiles: int = 0
    built: int = 0  # not cached before: built now (a tile of several layers may reuse some)
    cached: int = 0  # found in the cache already
    bytes_built: int = 0  # of the tiles built, as cached (gzipped when large)
    seconds: float = 0.0


def fit_zoom(bbox: BBox, width_px: int, height_px: int) -> int:
    """The map zoom at which the page opens on bbox in a window of this size (Leaflet's
    fitBounds: the highest whole zoom at which bbox fits)."""
    west, south, east, north = bbox
    ux, uy = Tile(0, 0, 0).to_units(np.array([west, east]), np.array([north, south]))
    w = max(float(ux[1] - ux[0]) / EXTENT * 256, 1e-9)
    h = max(float(uy[1] - uy[0]) / EXTENT * 256, 1e-9)
    return max(0, min(22, math.floor(math.log2(min(width_px / w, height_px / h)))))


def page_base_layers() -> tuple[str, ...]:
    """The layers of the page's shared tile when it opens, bottom to top (a viewer's)."""
    from geo.maps.mapview import LAYERS

    return tuple(str(k) for k, on in LAYERS if on and str(k) in PAGE_TILED)


def page_plans(store: Store, min_zoom: int | None = None, max_zoom: int | None = None,
               issues: bool = True) -> list[SeedPlan]:
    """The tiles the map page asks for a city-wide user (no scope unit, no filters) at map
    zooms min_zoom..max_zoom over the database's extent: the shared tile of a viewer and of a
    planner, and the issue tiles. By default from the zoom the page opens at in a small
    window to DEFAULT_MAX_ZOOM or the zoom it opens at in a large one. No plans for an empty
    database; InvalidInput for zooms out of 1..PAGE_MAX_ZOOM or in the wrong order."""
    for given in (min_zoom, max_zoom):
        if given is not None and not 1 <= given <= PAGE_MAX_ZOOM:
            raise InvalidInput(f"map zooms are 1..{PAGE_MAX_ZOOM}, not {given}")
    bbox = store.extent()
    if bbox is None:
        return []
    if max_zoom is None:
        max_zoom = min(max(DEFAULT_MAX_ZOOM, fit_zoom(bbox, *LARGE_VIEW_PX)), PAGE_MAX_ZOOM)
        if min_zoom is not None:
            max_zoom = max(max_zoom, min_zoom)
    if min_zoom is None:
        min_zoom = min(fit_zoom(bbox, *SMALL_VIEW_PX), max_zoom)
    if min_zoom > max_zoom:
        raise InvalidInput(f"the first zoom ({min_zoom}) is above the last ({max_zoom})")
    zooms = tuple(range(max(min_zoom, 1), max_zoom + 1))  # the 512-pixel grid starts at 1
    base = page_base_layers()
    planner = tuple(k for k in base if k != Kind.zone.value)
    issue_zooms: tuple[int, ...] = ()
    if issues:
        many = store.issue_count() > PAGE_MAX_ISSUE_POINTS
        issue_zooms = tuple(z for z in zooms if many or z < ISSUE_TILE_ZOOM)
    lists = [(base, zooms)]
    if planner != base:
        lists.append((planner, tuple(z for z in zooms if z >= ZONE_EDIT_ZOOM)))
    # where the page shows issue tiles, a move asks for one tile of both grids (the layers
    # and the issues: static/js/tiles.js, sendQueued), built from each layer's cached tile,
    # which seeding caches too; elsewhere, the shared grid's tile alone
    plans = [plan for layers, at in lists for plan in (
        SeedPlan(layers, tuple(z for z in at if z not in issue_zooms), bbox),
        SeedPlan((*layers, ISSUE_LAYER), tuple(z for z in at if z in issue_zooms), bbox))]
    return [p for p in plans if p.layers and p.zooms]


def opening_plans(store: Store, min_zoom: int | None = None, max_zoom: int | None = None
                  ) -> list[SeedPlan]:
    """The page_plans of the views the page opens on: from the zoom it opens at in a small
    window (or min_zoom) to that of a large one (at most max_zoom)."""
    bbox = store.extent()
    if bbox is None:
        return []
    last = min(fit_zoom(bbox, *LARGE_VIEW_PX), max_zoom or PAGE_MAX_ZOOM, PAGE_MAX_ZOOM)
    first = max(min_zoom or fit_zoom(bbox, *SMALL_VIEW_PX), 1)
    return page_plans(store, first, last) if first <= last else []


def seed(store: Store, caches: TileCaches, plans: Sequence[SeedPlan],
         progress: Callable[[int, int], None] | None = None, threads: int = 1) -> SeedReport:
    """Build every tile of the plans that is not cached yet, as the tile route would for a
    city-wide user with no filters (same keys, same bytes), in `threads` threads (a tile's
    plans in one); progress(done, total) as tiles are done."""
    started = time.perf_counter()
    jobs = [(tile, plan) for plan in plans for tile in plan.tiles()]
    # the plans of one tile one after another: their layers are then still in memory
    jobs.sort(key=lambda job: (job[0].z, job[0].x, job[0].y))
    report = SeedReport(tiles=len(jobs))
    deadlines = NextDeadlines()
    lock = threading.Lock()
    done = 0

    def build(group: list[tuple[Tile, SeedPlan]]) -> None:
        nonlocal done
        part = SeedReport()
        for tile, plan in group:
            _seed_one(store, caches, tile, plan, deadlines, part)
        with lock:
            report.built += part.built
            report.cached += part.cached
            report.bytes_built += part.bytes_built
            done += len(group)
            if progress is not None:
                progress(done, len(jobs))

    groups = [list(g) for _, g in itertools.groupby(jobs, key=lambda job: job[0])]
    if threads <= 1:
        for group in groups:
            build(group)
    else:  # on PostgreSQL a tile's time is mostly the database's, on the other core
        with ThreadPoolExecutor(threads, thread_name_prefix="ccmap-seed") as pool:
            for _ in pool.map(build, groups):
                pass
    report.seconds = time.perf_counter() - started
    return report


def _seed_one(store: Store, caches: TileCaches, tile: Tile, plan: SeedPlan,
              deadlines: NextDeadlines, report: SeedReport) -> None:
    """Build one tile of a plan unless cached, and count it in report."""
    req = TileRequest(plan.layers, tile, IssueQuery(now=datetime.now()), fields=plan.fields)
    data, result = tile_data(store, req, tile_tags(store, req, deadlines), caches)
    if result == "miss":
        report.built += 1
        report.bytes_built += len(data)
    else:
        report.cached += 1


# --- reseeding what writes changed ------------------------------------------------------------
# a pass reads the blocks written since the last; more than this many of a layer are taken as
# "every tile of the layer" (a pass then queues the layer's whole plan)
MAX_CHANGED_BLOCKS = 2000
PLANS_MAX_AGE_S = 300.0  # the reseeder's page_plans are made again at least this often
RESEED_STATE = "reseed.json"  # in the disk cache: where the last pass left off
RESEED_LOCK = ".reseed.lock"  # held by the process that reseeds for the machine
# the whole-city fill stops (and says so) when the disk cache would hold more than this part of
# its bound: the least recently used tiles must not be pruned to make room for seeded ones
CITY_SHARE = 0.5


def watched_layers() -> tuple[str, ...]:
    """The layers whose writes change the tiles seeding builds."""
    return (*sorted(PAGE_TILED), ISSUE_LAYER)


def changed_jobs(plans: Sequence[SeedPlan], changed: dict[str, list[tuple[int, int]] | None]
                 ) -> list[tuple[Tile, SeedPlan]]:
    """The tiles of the plans whose ETag the changes made new (changed: per layer, the blocks
    written, or None for all its tiles), lowest zoom first."""
    jobs: dict[tuple[Tile, tuple[str, ...]], SeedPlan] = {}
    for plan in plans:
        for layer in plan.layers:
            if layer not in changed:
                continue
            blocks = changed[layer]
            found: Iterable[Tile] = plan.tiles() if blocks is None else (
                tile for block in blocks for tile in plan.tiles_near(block_bounds(*block))
                if _reads_block(layer, tile, block))
            for tile in found:
                jobs[tile, plan.layers] = plan
    return sorted(((tile, plan) for (tile, _), plan in jobs.items()),
                  key=lambda job: (job[0].z, job[0].x, job[0].y))


def _reads_block(layer: str, tile: Tile, block: tuple[int, int]) -> bool:
    """Whether a tile's version of a layer includes that of the block (what it may read)."""
    bx0, by0, bx1, by1 = issue_blocks(tile) if layer == ISSUE_LAYER else feature_blocks(tile)
    return bx0 <= block[0] <= bx1 and by0 <= block[1] <= by1


@dataclass
class ReseedStatus:
    """What the reseeding of a process has done (for /api/health and the log)."""

    passes: int = 0
    built: int = 0  # tiles built since the process started
    cached: int = 0  # tiles queued that were cached already (built by a request meanwhile)
    pending: int = 0  # tiles queued and not built yet
    last_pass: datetime | None = None
    leader: bool = False  # whether this process reseeds for the machine
    city_pending: int = 0  # tiles of the whole-city fill not built yet
    city_seeded: bool = False  # every tile `ccmap tiles seed` builds is cached (the fill is done)


class Reseeder:
    """Keeps the map page's seeded tiles warm after writes: each pass reads the blocks written
    since the last (Store.changed_blocks), queues the seeded tiles (page_plans) whose ETag they
    changed, and builds queued tiles for up to budget_s seconds, lowest zoom first.

    With a disk cache one process of the machine reseeds (it holds a lock file in the cache) and
    records where it left off there, so that a restart catches up with the writes made while
    it was down (an import by the CLI included). Without one each process reseeds its memory
    cache. The first pass on a database (never reseeded, or made again) queues the views the
    page opens on (opening_plans) and starts from its versions then.

    With fill_city and a disk cache, the passes then seed the whole city, as `ccmap tiles seed`
    would (page_plans, lowest zoom first), with what their budget leaves after the queued
    tiles, once per database: the state file records when it is done. The fill stops when the
    disk cache would pass CITY_SHARE of its bound."""

    def __init__(self, store: Store, caches: TileCaches, budget_s: float = 2.0,
                 min_zoom: int | None = None, max_zoom: int | None = None,
                 fill_city: bool = False) -> None:
        self.store = store
        self.caches = caches
        self.budget_s = budget_s
        self.zooms = min_zoom, max_zoom  # of page_plans: those `ccmap tiles seed` seeds
        self.status = ReseedStatus()
        self._since: dict[str, int] | None = None
        self._database: int | None = None
        self._queue: dict[tuple[Tile, tuple[str, ...]], SeedPlan] = {}
        self._plans: tuple[tuple[int, ...], float, list[SeedPlan]] | None = None
        self._deadlines = NextDeadlines()
        self._lock_file: Any = None
        self._warned = False
        self._root = caches.disk.root if caches.disk is not None else None
        self._fill_city = fill_city and self._root is not None
        self._fill: deque[tuple[Tile, SeedPlan]] | None = None  # None: not queued yet
        self._fill_stopped = False  # the disk cache's bound stopped it in this process

    def run_pass(self) -> SeedReport | None:
        """Queue what was written since the last pass and build for up to budget_s seconds;
        None if another process of the machine reseeds."""
        if not self._lead():
            return None
        started = time.perf_counter()
        self._queue_changes()
        report = SeedReport(tiles=len(self._queue))
        jobs = sorted(self._queue.items(), key=lambda job: (job[0][0].z, job[0][0].x,
                                                            job[0][0].y))
        for key, plan in jobs:  # at least one a pass, whatever the budget
            _seed_one(self.store, self.caches, key[0], plan, self._deadlines, report)
            del self._queue[key]
            if time.perf_counter() - started > self.budget_s:
                break
        if self._fill_city and not self._queue:
            self._fill_pass(started, report, first=not jobs)
        report.seconds = time.perf_counter() - started
        s = self.status  # pending first: a reader who sees the new counts sees it too
        s.pending = len(self._queue)
        s.city_pending = len(self._fill or ())
        s.built += report.built
        s.cached += report.cached
        s.passes += 1
        s.last_pass = datetime.now()
        return report

    def _fill_pass(self, started: float, report: SeedReport, first: bool) -> None:
        """Build the whole city's tiles, lowest zoom first, for what is left of the budget
        (first: at least one, the pass having built nothing else)."""
        disk = self.caches.disk
        if self._fill is None:
            if self.status.city_seeded or self._fill_stopped or self._since is None or \
                    disk is None:
                return
            disk.prune()  # its size now, not this process's puts since it started
            jobs = [(tile, plan) for plan in self._page_plans(self._since)
                    for tile in plan.tiles()]
            jobs.sort(key=lambda job: (job[0].z, job[0].x, job[0].y))
            self._fill = deque(jobs)
        while self._fill and (first or time.perf_counter() - started <= self.budget_s):
            first = False
            if disk is not None and disk.estimate() > disk.max_bytes * CITY_SHARE:
                log.warning("tile reseeding stopped seeding the whole city with %d tiles left: "
                            "the disk tile cache holds %.0f MB of its %.0f MB "
                            "(CCMAP_TILE_CACHE_DISK_MB)", len(self._fill),
                            disk.estimate() / 1e6, disk.max_bytes / 1e6)
                self._fill, self._fill_stopped = None, True
                return
            tile, plan = self._fill.popleft()
            _seed_one(self.store, self.caches, tile, plan, self._deadlines, report)
        if not self._fill:
            self._fill = None
            self.status.city_seeded = True
            self._save()

    def close(self) -> None:
        """Give the lead up (another process of the machine takes it at its next pass)."""
        if self._lock_file is not None:
            self._lock_file.close()  # releases the flock
            self._lock_file = None
        self.status.leader = False

    def _queue_changes(self) -> None:
        """Read the blocks written since the last pass and queue the tiles they changed."""
        database = self.store.layer_versions([DATABASE_ID])[DATABASE_ID]
        if self._since is None or database != self._database:
            self._database, self._since = database, self._saved(database)
            self._fill = None
            self.status.city_seeded = self._since is not None and self._saved_city()
        if self._since is None:  # a database never reseeded: its opening views, then writes
            self._since = self.store.layer_versions(watched_layers())
            for plan in opening_plans(self.store, *self.zooms):
                for tile in plan.tiles():
                    self._queue[tile, plan.layers] = plan
            self._save()
            return
        now, changed = self.store.changed_blocks(self._since, MAX_CHANGED_BLOCKS)
        if changed:
            for tile, plan in changed_jobs(self._page_plans(now), changed):
                self._queue[tile, plan.layers] = plan
        if now != self._since:
            self._since = now
            self._save()

    def _page_plans(self, versions: Mapping[str, int]) -> list[SeedPlan]:
        """page_plans, kept while no feature layer is written (the extent is theirs) for up to
        PLANS_MAX_AGE_S (the issue count, which sets the zooms of issue tiles, and the layers
        outside the page's can move them too): a busy centre's writes of cases, every pass,
        no longer read the extent and count the issues each time."""
        key = (self._database or 0, *(versions[name] for name in sorted(versions)
                                      if name != ISSUE_LAYER))
        kept = self._plans
        if kept is None or kept[0] != key or time.monotonic() - kept[1] > PLANS_MAX_AGE_S:
            kept = self._plans = (key, time.monotonic(), page_plans(self.store, *self.zooms))
        return kept[2]

    def _lead(self) -> bool:
        """Whether this process reseeds (taking the machine's lock if free)."""
        if self._root is None or fcntl is None:
            self.status.leader = True
            return True
        if self._lock_file is None:
            try:
                self._root.mkdir(parents=True, exist_ok=True)
                f = open(self._root / RESEED_LOCK, "a+b")  # noqa: SIM115 - kept while leading
            except OSError as e:
                if not self._warned:  # once: the directory stays as it is
                    log.warning("tile reseeding is off in this process: cannot open %s (%s)",
                                self._root / RESEED_LOCK, e)
                    self._warned = True
                return False
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.close()
                return False
            self._lock_file = f
        self.status.leader = True
        return True

    def _saved(self, database: int) -> dict[str, int] | None:
        """Where the last pass on this database left off (None: never, or no disk cache)."""
        if self._root is None:
            return None
        try:
            doc = json.loads((self._root / RESEED_STATE).read_text(encoding="utf-8"))
            if doc.get("database") != database:
                return None
            versions = doc["versions"]
            return {name: int(versions.get(name, 0)) for name in watched_layers()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def _saved_city(self) -> bool:
        """Whether the state file says the whole city of this database was seeded."""
        try:
            doc = json.loads((self._root / RESEED_STATE).read_text(encoding="utf-8")) \
                if self._root is not None else {}
        except (OSError, ValueError):
            return False
        return isinstance(doc, dict) and doc.get("city") is True

    def _save(self) -> None:
        """Record where this pass left off (written whole: a temporary file renamed over)."""
        if self._root is None:
            return
        tmp = self._root / f"{RESEED_STATE}.{os.getpid()}.tmp"
        try:
            tmp.write_text(json.dumps({"database": self._database, "versions": self._since,
                                       "city": self.status.city_seeded}),
                           encoding="utf-8")
            os.replace(tmp, self._root / RESEED_STATE)
        except OSError:  # a full disk: the next pass tries again
            log.warning("could not record the tile reseeding state in %s", self._root,
                        exc_info=True)
