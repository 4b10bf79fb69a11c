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
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import mapbox_vector_tile
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
def _encode(layer: str, geoms: np.ndarray, props: Sequence[dict[str, Any]],
            ids: Sequence[int | None]) -> bytes:
    features = [{"geometry": g, "properties": p, **({"id": i} if i is not None else {})}
                for g, p, i in zip(geoms, props, ids, strict=True) if not shapely.is_empty(g)]
    if not features:
        return b""
    return bytes(mapbox_vector_tile.encode(
        {"name": layer, "features": features},
        default_options={"extents": EXTENT, "y_coord_down": True}))


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
