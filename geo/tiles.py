"""Vector tiles (Mapbox Vector Tile): tile math, the properties each layer carries, the rule
for issue cells, the ETag and a small cache of encoded tiles, and the encoder used on SQLite
(PostGIS encodes the same tiles with ST_AsMVT in the store).

Tiles are XYZ (Web Mercator, y down from the north), `EXTENT` units wide with `BUFFER` units
kept around them. Feature layers carry FEATURE_PROPS, the issues layer ISSUE_PROPS; below
ISSUE_POINTS_MIN_ZOOM (of the map zoom the tile is drawn at), or when a tile would hold more than
MAX_TILE_POINTS issues per 256 pixels square (4 x as many in a 512-pixel tile), the issues
tile holds the layer `issue_cells` instead: one point per grid cell (the base cells written with
each issue, merged by `geo.heatmap.factor_for_zoom`) at the cell's centre, with `count`. A cell
belongs to the one tile holding its centre (west/north edges inclusive), so the counts of the
tiles covering an area add up to the number of matching issues.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import shapely

from geo.errors import NotFound
from geo.heatmap import BASE_CELL_DEG, factor_for_zoom
from geo.kinds import Kind

EXTENT = 4096  # tile coordinate units across a tile
BUFFER = 64  # units kept around a tile, so lines and markers join across tile edges
MAX_ZOOM = 22
ISSUE_LAYER = "issues"
CELL_LAYER = "issue_cells"  # the MVT layer of aggregated issues inside an `issues` tile
TILE_LAYERS: tuple[str, ...] = (*(k.value for k in Kind), ISSUE_LAYER)
FEATURE_PROPS = ("id", "kind", "name", "category", "unit")
ISSUE_PROPS = ("id", "category", "status", "overdue")
CELL_PROPS = ("count", "cell_deg")
ISSUE_POINTS_MIN_ZOOM = 14  # below this, issues come as cells
# a 256-pixel tile that would hold more issues than this gets cells instead (4 x as many in a
# 512-pixel tile): at 1,000 a tile's 6-pixel circles already overlap, and its cells say more
MAX_TILE_POINTS = 1000
# from this map zoom on, 4 x as many: a block's issues are single points a user can click
CLOSE_ZOOM = 16
DETAIL_ZOOM = 14  # below this, lines/areas smaller than MIN_FEATURE_PX are left out
MIN_FEATURE_PX = 2.0  # of a 256-pixel tile
SIMPLIFY_UNITS = 1.0  # Douglas-Peucker tolerance in tile units (SQLite; ST_AsMVTGeom alike)
MERCATOR_HALF = 20037508.342789244  # half the Web Mercator world, metres
MAX_LAT = 85.0511287798066


@dataclass(frozen=True)
class Tile:
    """One XYZ tile, drawn `px` pixels wide (256, or 512: a tile of zoom z shown at z + 1)."""

    z: int
    x: int
    y: int
    px: int = 256

    def check(self) -> Tile:
        """Raise NotFound unless 0 <= z <= MAX_ZOOM and x, y lie inside the zoom's grid."""
        n = 1 << self.z if 0 <= self.z <= MAX_ZOOM else 0
        if not (0 <= self.x < n and 0 <= self.y < n):
            raise NotFound(f"no tile {self.z}/{self.x}/{self.y}: zoom is 0..{MAX_ZOOM} and "
                           f"x, y are 0..2^zoom-1")
        return self

    @property
    def view_zoom(self) -> int:
        """The map zoom the tile is drawn at (z for 256-pixel tiles, z + 1 for 512)."""
        return self.z + (self.px // 256).bit_length() - 1

    def lonlat_bounds(self, buffer_units: float = 0.0) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees, widened by buffer_units tile units."""
        n = 1 << self.z
        pad = buffer_units / EXTENT
        west = (self.x - pad) / n * 360.0 - 180.0
        east = (self.x + 1 + pad) / n * 360.0 - 180.0
        north = _tile_y_to_lat((self.y - pad) / n)
        south = _tile_y_to_lat((self.y + 1 + pad) / n)
        return max(west, -180.0), max(south, -90.0), min(east, 180.0), min(north, 90.0)

    def to_units(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Longitudes/latitudes to tile units (x right, y down; 0..EXTENT inside the tile)."""
        n = 1 << self.z
        fx = (np.asarray(lon, dtype=float) + 180.0) / 360.0
        phi = np.radians(np.clip(np.asarray(lat, dtype=float), -MAX_LAT, MAX_LAT))
        fy = (1.0 - np.log(np.tan(phi) + 1.0 / np.cos(phi)) / math.pi) / 2.0
        return (fx * n - self.x) * EXTENT, (fy * n - self.y) * EXTENT


def _tile_y_to_lat(fy: float) -> float:
    """Latitude of a fractional tile row fy (0 north edge .. 1 south edge of the world)."""
    fy = min(max(fy, 0.0), 1.0)
    return math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * fy))))


def min_feature_deg(z: int) -> float | None:
    """Lines and areas smaller than this (bbox width and height, degrees) are left out of a
    tile drawn at map zoom z (Tile.view_zoom); None at DETAIL_ZOOM and above, where every
    feature is kept."""
    if z >= DETAIL_ZOOM:
        return None
    return 360.0 / (1 << z) * MIN_FEATURE_PX / 256.0


@dataclass(frozen=True)
class CellGrid:
    """How the issue cells of a tile are queried: base cells shifted right by `shift` (merged
    2^shift x 2^shift), the base-cell range to read, and the tile's half-open bounds the cell
    centre must fall in (west <= lon < east, south < lat <= north)."""

    shift: int
    size_deg: float
    cell_x: tuple[int, int]
    cell_y: tuple[int, int]
    west: float
    south: float
    east: float
    north: float


def cell_grid(tile: Tile) -> CellGrid:
    """The cell grid of an issues tile (see the module docstring)."""
    factor = factor_for_zoom(tile.view_zoom)
    shift = factor.bit_length() - 1
    size = BASE_CELL_DEG * factor
    west, south, east, north = tile.lonlat_bounds()
    gx0, gx1 = math.floor(west / size) - 1, math.floor(east / size) + 1
    gy0, gy1 = math.floor(south / size) - 1, math.floor(north / size) + 1
    return CellGrid(shift, size, (gx0 * factor, (gx1 + 1) * factor - 1),
                    (gy0 * factor, (gy1 + 1) * factor - 1), west, south, east, north)


def wants_cells(z: int) -> bool:
    """Whether an issues tile at zoom z holds cells whatever its number of issues."""
    return z < ISSUE_POINTS_MIN_ZOOM


# --- encoding (SQLite) ------------------------------------------------------------------------
# Our own writer of the MVT 2.1 protobuf, byte for byte what mapbox_vector_tile.encode wrote
# (extents=EXTENT, y_coord_down=True, its default check_winding_order), geometry in numpy:
# coordinates rounded half to even; polygons rounded, then oriented (exterior with a positive
# signed area in tile units, i.e. clockwise on screen; holes the other way); repeated points
# dropped; a line or ring left with one point dropped (a polygon with its holes when its
# exterior goes), a feature left with no geometry too; a non-empty GeometryCollection is an
# error; property values str/bool/int/float only (others and None left out), one value entry
# per equal value (bools apart from numbers).
_MOVE_TO, _LINE_TO, _CLOSE_PATH = 1, 2, 7
_POINT, _LINE, _POLYGON = 1, 2, 3
_TYPE_OF_ID = {0: _POINT, 4: _POINT, 1: _LINE, 5: _LINE, 3: _POLYGON, 6: _POLYGON}


def _varint(n: int) -> bytes:
    """A protobuf varint (negative numbers as 64-bit two's complement)."""
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL_VARINTS = [_varint(n) for n in range(1 << 14)]
# the type field, then the key of the geometry field
_TYPE_FIELD = {t: bytes((0x18, t, 0x22)) for t in (_POINT, _LINE, _POLYGON)}


def _len(n: int) -> bytes:
    """The varint of a length (most are small)."""
    return _SMALL_VARINTS[n] if n < 1 << 14 else _varint(n)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (tag is the already shifted key byte)."""
    return bytes((tag,)) + _varint(len(payload)) + payload


def _zigzag(v: np.ndarray) -> np.ndarray:
    return ((v << 1) ^ (v >> 63)).astype(np.uint64)


def _varints(values: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Varint bytes of unsigned values, and the byte offset of each value (n + 1 offsets)."""
    v = values.astype(np.uint64)
    size = np.ones(len(v), dtype=np.int64)
    for shift in range(7, 64, 7):
        size += v >= (np.uint64(1) << np.uint64(shift))
    width = int(size.max()) if len(v) else 1
    shifts = np.arange(width, dtype=np.uint64) * np.uint64(7)
    groups = ((v[:, None] >> shifts[None, :]) & np.uint64(0x7F)).astype(np.uint8)
    cols = np.arange(width)[None, :]
    groups |= np.where(cols < size[:, None] - 1, 0x80, 0).astype(np.uint8)
    offsets = np.zeros(len(v) + 1, dtype=np.int64)
    np.cumsum(size, out=offsets[1:])
    return groups[cols < size[:, None]].tobytes(), offsets


def _point_commands(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MVT geometry commands of points and multipoints (every point kept): the commands, and
    each geometry's [start, end) in them."""
    xy, owner = shapely.get_coordinates(geoms, return_index=True)
    xy = np.rint(xy).astype(np.int64)
    n = np.bincount(owner, minlength=len(geoms))
    first = np.zeros(len(geoms) + 1, dtype=np.int64)
    np.cumsum(n, out=first[1:])
    prev = np.zeros_like(xy)
    prev[1:] = xy[:-1]
    prev[first[:-1][n > 0]] = 0  # each geometry's first point is relative to 0, 0
    start = first[:-1] * 2 + np.arange(len(geoms))
    cmds = np.empty(len(xy) * 2 + len(geoms), dtype=np.uint64)
    cmds[start] = (n.astype(np.uint64) << np.uint64(3)) | np.uint64(_MOVE_TO)
    pos = np.arange(len(xy)) * 2 + owner + 1
    zz = _zigzag(xy - prev)
    cmds[pos], cmds[pos + 1] = zz[:, 0], zz[:, 1]
    return cmds, np.column_stack([start, np.append(start[1:], len(cmds))])


def _path_commands(geoms: np.ndarray, polygons: bool) -> tuple[np.ndarray, np.ndarray]:
    """MVT geometry commands of (multi)lines or (multi)polygons, as _point_commands."""
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    if polygons:
        arcs, arc_part = shapely.get_rings(parts, return_index=True)
        exterior = np.ones(len(arcs), dtype=bool)
        exterior[1:] = arc_part[1:] != arc_part[:-1]
    else:
        arcs, arc_part = parts, np.arange(len(parts))
    arc_owner = part_owner[arc_part]
    xy, arc_of = shapely.get_coordinates(arcs, return_index=True)
    xy = np.rint(xy).astype(np.int64)
    arc_first = np.ones(len(xy), dtype=bool)
    arc_first[1:] = arc_of[1:] != arc_of[:-1]
    keep = arc_first.copy()
    keep[1:] |= np.any(xy[1:] != xy[:-1], axis=1)
    if polygons:  # a ring's closing point is not written
        last = np.ones(len(xy), dtype=bool)
        last[:-1] = arc_first[1:]
        keep &= ~last
    kept = np.bincount(arc_of[keep], minlength=len(arcs))
    ok = kept >= 2
    if polygons:  # a polygon whose exterior goes loses its holes too
        ok &= ok[np.flatnonzero(exterior)[np.cumsum(exterior) - 1]]
    keep &= ok[arc_of]
    xy, arc_of, arc_first = xy[keep], arc_of[keep], arc_first[keep]
    arcs_kept = np.flatnonzero(ok)
    k = kept[arcs_kept]
    owner = arc_owner[arc_of]
    prev = np.zeros_like(xy)
    prev[1:] = xy[:-1]
    feature_first = np.ones(len(xy), dtype=bool)
    feature_first[1:] = owner[1:] != owner[:-1]
    prev[feature_first] = 0  # the cursor starts at 0, 0 in each feature
    zz = _zigzag(xy - prev)
    close = int(polygons)
    size = 2 * k + 2 + close
    arc_start = np.zeros(len(k) + 1, dtype=np.int64)
    np.cumsum(size, out=arc_start[1:])
    cmds = np.empty(int(arc_start[-1]), dtype=np.uint64)
    s = arc_start[:-1]
    cmds[s] = np.uint64((1 << 3) | _MOVE_TO)
    cmds[s + 3] = ((k - 1).astype(np.uint64) << np.uint64(3)) | np.uint64(_LINE_TO)
    if close:
        cmds[arc_start[1:] - 1] = np.uint64((1 << 3) | _CLOSE_PATH)
    # point j of an arc goes to start + 1 + 2j, one further along after the LineTo command
    j = np.arange(len(xy)) - np.repeat(np.cumsum(k) - k, k)
    pos = np.repeat(s, k) + 1 + 2 * j + (j > 0)
    cmds[pos], cmds[pos + 1] = zz[:, 0], zz[:, 1]
    owners = arc_owner[arcs_kept]
    counts = np.bincount(owners, minlength=len(geoms))
    firsts = np.searchsorted(owners, np.arange(len(geoms)))
    return cmds, np.column_stack([arc_start[firsts], arc_start[firsts + counts]])


def _value(v: str | bool | int | float) -> bytes:
    """One Value message."""
    if isinstance(v, bool):
        return b"\x38" + (b"\x01" if v else b"\x00")
    if isinstance(v, str):
        return _field(0x0A, v.encode())
    if isinstance(v, int):
        return b"\x20" + _varint(v)
    return b"\x19" + struct.pack("<d", v)


def _encode(layer: str, geoms: np.ndarray, props: Sequence[dict[str, Any]],
            ids: Sequence[int | None]) -> bytes:
    """One MVT layer of the non-empty geometries (tile units, y down) with their properties."""
    geoms = np.asarray(geoms, dtype=object)
    shown = np.flatnonzero(~shapely.is_empty(geoms))
    if not len(shown):
        return b""
    geoms = geoms[shown]
    type_ids = shapely.get_type_id(geoms)
    if np.any(type_ids == 7):
        raise ValueError("Encoding geometry collections not supported")
    if not np.all(np.isin(type_ids, list(_TYPE_OF_ID))):
        raise NotImplementedError("Can't encode geometries of type id "
                                  f"{sorted(set(type_ids.tolist()) - set(_TYPE_OF_ID))}")
    types = [_TYPE_OF_ID[t] for t in type_ids.tolist()]
    geometry: list[bytes | None] = [None] * len(geoms)
    for kind in (_POINT, _LINE, _POLYGON):
        which = np.flatnonzero(np.asarray(types) == kind)
        if not len(which):
            continue
        group = geoms[which]
        if kind == _POLYGON:
            group = shapely.orient_polygons(shapely.transform(group, np.rint), exterior_cw=False)
        cmds, spans = (_point_commands(group) if kind == _POINT
                       else _path_commands(group, kind == _POLYGON))
        data, offsets = _varints(cmds)
        for i, (a, b) in zip(which.tolist(), offsets[spans].tolist(), strict=True):
            if b > a:
                geometry[i] = data[a:b]
    table = _Tags()
    emitted: list[int] = []
    tag_ends = [0]
    tags: list[int] = []
    for i, g in enumerate(geometry):
        if g is None:
            continue
        emitted.append(i)
        table.add(props[shown[i]], tags)
        tag_ends.append(len(tags))
    tag_data, tag_offsets = _varints(np.asarray(tags, dtype=np.uint64))
    tag_at = tag_offsets[tag_ends].tolist()
    fids = [ids[shown[i]] for i in emitted]
    has_id = [f is not None and f >= 0 for f in fids]
    id_data, id_offsets = _varints(np.asarray([f if h else 0 for f, h in zip(fids, has_id,
                                                                           strict=True)],
                                              dtype=np.uint64))
    id_at = id_offsets.tolist()
    out = [_field(0x0A, layer.encode())]
    for j, i in enumerate(emitted):
        g = geometry[i]
        assert g is not None
        head = b"\x08" + id_data[id_at[j]:id_at[j + 1]] if has_id[j] else b""
        a, b = tag_at[j], tag_at[j + 1]
        if b > a:
            head += b"\x12" + _len(b - a) + tag_data[a:b]
        body = head + _TYPE_FIELD[types[i]] + _len(len(g)) + g
        out.append(b"\x12" + _len(len(body)) + body)
    out.extend(_field(0x1A, k.encode()) for k in table.keys)
    out.extend(_field(0x22, v) for v in table.values)
    out.append(b"\x28" + _varint(EXTENT) + b"\x78\x02")  # extent, version 2
    return _field(0x1A, b"".join(out))


class _Tags:
    """A layer's keys and values tables (first seen, first indexed) and features' tags into
    them: str/bool/int/float values only, one entry per equal value (bools apart)."""

    def __init__(self) -> None:
        self.keys: dict[str, int] = {}
        self.values: list[bytes] = []
        self._index: dict[Any, int] = {}
        self._bool_index: dict[Any, int] = {}  # apart: True == 1 as a dict key
        self._pairs: dict[tuple[Any, type, Any], tuple[int, ...]] = {}

    def add(self, props: dict[str, Any], tags: list[int]) -> None:
        """Append the tags of one feature's properties to tags."""
        pairs = self._pairs
        for k, v in props.items():
            key = (k, v.__class__, v)
            try:
                pair = pairs[key]
            except KeyError:
                pair = pairs[key] = self._pair(k, v)
            except TypeError:  # unhashable: not a value MVT holds
                continue
            tags.extend(pair)

    def _pair(self, k: Any, v: Any) -> tuple[int, ...]:
        if not (isinstance(k, str) and isinstance(v, (str, bool, int, float))):
            return ()
        key = self.keys.setdefault(k, len(self.keys))
        index = self._bool_index if isinstance(v, bool) else self._index
        if v not in index:
            index[v] = len(self.values)
            self.values.append(_value(v))
        return key, index[v]


def encode_features(tile: Tile, layer: str, rows: Sequence[Sequence[Any]]) -> bytes:
    """Encode feature rows (FEATURE_PROPS..., wkb) into an MVT with one layer `layer`:
    projected, clipped to the tile and its buffer, simplified to a tile unit."""
    if not rows:
        return b""
    geoms = shapely.from_wkb([r[-1] for r in rows])

    def to_units(coords: np.ndarray) -> np.ndarray:
        ux, uy = tile.to_units(coords[:, 0], coords[:, 1])
        return np.column_stack([ux, uy])

    geoms = shapely.transform(geoms, to_units)
    geoms = shapely.clip_by_rect(geoms, -BUFFER, -BUFFER, EXTENT + BUFFER, EXTENT + BUFFER)
    geoms = shapely.simplify(geoms, SIMPLIFY_UNITS)
    props = [_props(FEATURE_PROPS, r) for r in rows]
    return _encode(layer, geoms, props, [int(r[0]) for r in rows])


def encode_points(tile: Tile, layer: str, names: Sequence[str], rows: Sequence[Sequence[Any]],
                  with_id: bool) -> bytes:
    """Encode point rows (lon, lat, then the values of `names`) into an MVT layer; the first
    name is the feature id when with_id."""
    if not rows:
        return b""
    arr = np.asarray([(r[0], r[1]) for r in rows], dtype=float)
    ux, uy = tile.to_units(arr[:, 0], arr[:, 1])
    geoms = np.asarray(shapely.points(np.round(ux), np.round(uy)))
    props = [_props(names, r[2:]) for r in rows]
    ids = [int(r[2]) for r in rows] if with_id else [None] * len(rows)
    return _encode(layer, geoms, props, ids)


def _props(names: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    """Properties as both encoders write them: nulls left out, booleans as booleans."""
    out: dict[str, Any] = {}
    for name, value in zip(names, values, strict=False):
        if value is None:
            continue
        out[name] = bool(value) if name == "overdue" else value
    return out


# --- ETags and the cache ------------------------------------------------------------------
def etag(layer: str, version: int, filters: dict[str, Any], scope_unit: str | None,
         extra: str = "") -> str:
    """A weak ETag from the layer's version, the filters, the caller's scope and `extra`."""
    text = json.dumps([layer, version, filters, scope_unit, extra], sort_keys=True,
                      ensure_ascii=False, default=str)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]
    return f'W/"{layer}.{version}.{digest}"'


def split_layers(spec: str) -> list[str]:
    """The tile layers of a path's comma list (`street` or `subdistrict,community,street`),
    in order; NotFound for an unknown or repeated name."""
    names = spec.split(",")
    for name in names:
        if name not in TILE_LAYERS:
            raise NotFound(f"unknown tile layer {name!r}; layers: {', '.join(TILE_LAYERS)} "
                           f"(several: a comma list)")
    if len(set(names)) != len(names):
        raise NotFound(f"tile layers listed twice in {spec!r}")
    return names


def combined_etag(tags: Sequence[str]) -> str:
    """The ETag of a tile holding several layers: made from each layer's ETag (so it changes
    when any one of them does)."""
    digest = hashlib.sha256("\n".join(tags).encode("utf-8")).hexdigest()[:20]
    return f'W/"combined.{len(tags)}.{digest}"'


def etag_matches(if_none_match: str | None, tag: str) -> bool:
    """Whether an If-None-Match header names this ETag (weak comparison, or *)."""
    if not if_none_match:
        return False
    bare = tag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == bare:
            return True
    return False


class TileCache:
    """A thread-safe LRU of encoded tiles bounded in bytes; keys hold the ETag (so the DB
    version), so a hit is current in every process."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, int, int, int], bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, int, int]) -> bytes | None:
        """The cached tile, or None."""
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: tuple[str, int, int, int], data: bytes) -> None:
        """Remember a tile, dropping the least recently used beyond max_bytes."""
        if len(data) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._items[key] = data
            self._bytes += len(data)
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)


class NextDeadlines:
    """Answers of store.issue_tile_valid_until kept per process, exactly: an answer found at
    time t for version v of the issues layer (the earliest deadline at or after t of an open
    issue the tile reads, or None) stays the answer at every later time up to that deadline
    while the version stays v (no deadline lies in between, and any write bumps the version).
    Keys hold the version and the query's filters; a bounded LRU."""

    def __init__(self, max_items: int = 50_000) -> None:
        self.max_items = max_items
        self._items: OrderedDict[Any, tuple[datetime, datetime | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, now: datetime) -> tuple[bool, datetime | None]:
        """(True, the answer at `now`) if a kept answer holds then, else (False, None)."""
        with self._lock:
            kept = self._items.get(key)
            if kept is None:
                return False, None
            found_at, until = kept
            if found_at <= now and (until is None or now <= until):
                self._items.move_to_end(key)
                return True, until
            return False, None

    def lookup(self, key: Any, now: datetime,
               find: Callable[[], datetime | None]) -> datetime | None:
        """The answer at `now`: the kept one while it holds, else find() (then kept)."""
        known, until = self.get(key, now)
        if not known:
            until = find()
            self.put(key, now, until)
        return until

    def put(self, key: Any, found_at: datetime, until: datetime | None) -> None:
        """Keep the answer found at `found_at`."""
        with self._lock:
            self._items[key] = (found_at, until)
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)


def covering_tiles(bbox: Iterable[float], z: int) -> list[Tile]:
    """Every tile at zoom z that covers part of bbox (west, south, east, north)."""
    west, south, east, north = bbox
    n = 1 << z
    x0, y0 = tile_of(west, north, z)
    x1, y1 = tile_of(east, south, z)
    return [Tile(z, x, y) for x in range(x0, min(x1, n - 1) + 1)
            for y in range(y0, min(y1, n - 1) + 1)]


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The (x, y) of the tile at zoom z holding a point."""
    tile = Tile(z, 0, 0)
    ux, uy = tile.to_units(np.array([lon]), np.array([lat]))
    n = (1 << z) - 1
    return (min(max(int(ux[0] // EXTENT), 0), n), min(max(int(uy[0] // EXTENT), 0), n))
