"""Vector tiles (Mapbox Vector Tile): tile math, the properties each layer carries, the rule
for issue cells, the ETag and a small cache of encoded tiles, and the encoder used on SQLite
(PostGIS encodes the same tiles with ST_AsMVT in the store).

Tiles are XYZ (Web Mercator, y down from the north), `EXTENT` units wide with `BUFFER` units
kept around them. Feature layers carry their ids and FEATURE_PROPS (or those asked for), the
issues layer ISSUE_PROPS; below ISSUE_POINTS_MIN_ZOOM (of the map zoom the tile is drawn at), or
when a tile would hold more than MAX_TILE_POINTS issues per 256 pixels square (4 x as many in a
512-pixel tile), the issues tile holds the layer `issue_cells` instead: one point per grid cell
(the base cells written with each issue, merged by `geo.tiling.cells.factor_for_zoom` into
cells about CLUSTER_PX pixels wide) at the cell's centre, with `count`. A cell belongs to the
one tile holding its centre (west/north edges inclusive), so the counts of the tiles covering
an area add up to the number of matching issues. The layer `issue_cells_edge` of the same tile
holds the cells around it whose bubbles (up to 0.42 of a cell across) reach into it, which belong
to the neighbouring tiles: a map draws such a bubble on every tile it reaches into, and counts
only `issue_cells`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import struct
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geo.model.errors import InvalidInput, NotFound
from geo.model.kinds import Kind
from geo.tiling.cells import BASE_CELL_DEG, CLUSTER_PX, factor_for_zoom

EXTENT = 4096  # tile coordinate units across a tile
BUFFER = 64  # units kept around a tile, so lines and markers join across tile edges
MAX_ZOOM = 22
ISSUE_LAYER = "issues"
CELL_LAYER = "issue_cells"  # the MVT layer of aggregated issues inside an `issues` tile
EDGE_CELL_LAYER = "issue_cells_edge"  # the neighbouring tiles' cells around it (drawn, not counted)
FEATURE_KINDS: tuple[str, ...] = tuple(k.value for k in Kind)
TILE_LAYERS: tuple[str, ...] = (*FEATURE_KINDS, ISSUE_LAYER)
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
# a feature edit is recorded on the blocks its box covers, up to this many (about 51 km
# square); a larger feature's edit changes every tile of its layer
MAX_FEATURE_BLOCKS = 4096
# issue writes are recorded per block of 16 x 16 base cells (about 800 m): an issue tile's
# version is that of the last write in the blocks it reads (store.layer_versions)
BLOCK_SHIFT = 4
# the issue counts are kept per base cell and, coarser, per 4 x 4, 16 x 16 and 64 x 64 base cells
# (issue_cell_levels, migration 0037): a cell tile reads the coarsest level its cells are
# made of, e.g. a map zoom 14 tile's 8 x 8 cells from 4 x 4 counts, a sixteenth of the rows
CELL_LEVELS = (2, 4, 6)
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
            raise NotFound(f"没有瓦片 {self.z}/{self.x}/{self.y}：缩放级别须为 0–{MAX_ZOOM}，"
                           f"x、y 须在 0 到 2^zoom-1 之间")
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


# how far a cell's bubble reaches past its centre, in cells: its radius is at most 0.42 of the
# cell's width (static/js/tilestyles.js), plus its 1-pixel rim (a cell is 45 pixels or more)
CELL_REACH = 0.45


@dataclass(frozen=True)
class CellGrid:
    """How the issue cells of a tile are queried: base cells shifted right by `shift` (merged
    2^shift x 2^shift cells of size_deg) and the base-cell ranges to read, those of exactly the
    cells whose centre is in the tile (west <= lon < east, south < lat <= north); ring_x and
    ring_y, those ranges grown by the column or row of cells beyond each edge whose bubbles
    reach into the tile (CELL_REACH)."""

    shift: int
    size_deg: float
    cell_x: tuple[int, int]
    cell_y: tuple[int, int]
    ring_x: tuple[int, int]
    ring_y: tuple[int, int]


def cell_grid(tile: Tile) -> CellGrid:
    """The cell grid of an issues tile (see the module docstring)."""
    factor = factor_for_zoom(tile.view_zoom, CLUSTER_PX)
    shift = factor.bit_length() - 1
    size = BASE_CELL_DEG * factor
    west, south, east, north = tile.lonlat_bounds()
    # as the centres are written ((g + 0.5) * size), so the same floats decide
    gx0, gx1 = _first_centre(west, size, False), _first_centre(east, size, False) - 1
    gy0, gy1 = _first_centre(south, size, True), _first_centre(north, size, True) - 1
    # a bubble's reach in degrees of longitude; a degree of latitude is as many pixels or more
    # (Web Mercator), so in latitude it reaches that far at most
    reach = CELL_REACH * size

    def grown(g0: int, g1: int, low: float, high: float) -> tuple[int, int]:
        """Base-cell ranges of cells g0..g1, with the cell before and after where it reaches."""
        r0 = g0 - 1 if low - (g0 - 0.5) * size < reach else g0
        r1 = g1 + 1 if (g1 + 1.5) * size - high < reach else g1
        return r0 * factor, (r1 + 1) * factor - 1

    return CellGrid(shift, size, (gx0 * factor, (gx1 + 1) * factor - 1),
                    (gy0 * factor, (gy1 + 1) * factor - 1),
                    grown(gx0, gx1, west, east), grown(gy0, gy1, south, north))


def _first_centre(bound: float, size: float, past: bool) -> int:
    """The first grid index whose cell centre is at or past bound (only past it if `past`)."""
    g = math.floor(bound / size - 0.5) - 1
    while (g + 0.5) * size < bound or (past and (g + 0.5) * size == bound):
        g += 1
    return g


def ring_grid(grid: CellGrid) -> CellGrid:
    """The grid reading its ring too: the cells a tile draws, its own and those of its
    neighbours whose bubbles reach into it."""
    return replace(grid, cell_x=grid.ring_x, cell_y=grid.ring_y)


def cell_level(grid: CellGrid) -> int:
    """The coarsest kept level (of CELL_LEVELS; 0: the base cells) whose counts merge exactly
    into the grid's cells."""
    return max((lv for lv in CELL_LEVELS if lv <= grid.shift), default=0)


def at_level(grid: CellGrid, level: int) -> CellGrid:
    """The grid in the cells of a kept level (base cells shifted right by `level`): its ranges
    in those cells, and merged by the shift left; merged_cells then gives the same rows from
    that level's counts as from the base cells' (the grid's cells are aligned to 2^shift)."""
    return replace(grid, shift=grid.shift - level,
                   cell_x=(grid.cell_x[0] >> level, grid.cell_x[1] >> level),
                   cell_y=(grid.cell_y[0] >> level, grid.cell_y[1] >> level),
                   ring_x=(grid.ring_x[0] >> level, grid.ring_x[1] >> level),
                   ring_y=(grid.ring_y[0] >> level, grid.ring_y[1] >> level))


def level_counts(counts: Mapping[tuple[int, int], int]) -> Counter[tuple[int, int, int]]:
    """Issue counts per base cell ((x, y) -> n) summed into each cell of each kept level:
    (level, x, y) -> n."""
    out: Counter[tuple[int, int, int]] = Counter()
    for (x, y), n in counts.items():
        for lv in CELL_LEVELS:
            out[lv, x >> lv, y >> lv] += n
    return out


def merged_cells(grid: CellGrid, base: Sequence[Sequence[int]]
                 ) -> tuple[list[tuple[float, float, int, float]],
                            list[tuple[float, float, int, float]]]:
    """A cell tile's rows (lon, lat, count, cell_deg) from issue counts per base cell (cell_x,
    cell_y, n) of ring_grid(grid)'s ranges, merged into the grid's cells, in (x, y) order:
    the tile's own cells, and the ring's (its neighbours')."""
    if not base:
        return [], []
    a = np.asarray(base, dtype=np.int64)
    gx, gy = a[:, 0] >> grid.shift, a[:, 1] >> grid.shift
    key = (gx - gx.min()) * (int(gy.max() - gy.min()) + 1) + (gy - gy.min())
    keys, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    counts = np.bincount(inverse.ravel(), weights=a[:, 2], minlength=len(keys))
    cx, cy = gx[first], gy[first]
    own = ((cx >= grid.cell_x[0] >> grid.shift) & (cx <= grid.cell_x[1] >> grid.shift)
           & (cy >= grid.cell_y[0] >> grid.shift) & (cy <= grid.cell_y[1] >> grid.shift))
    rows = [(x, y, int(k), grid.size_deg) for x, y, k in zip(
        ((cx + 0.5) * grid.size_deg).tolist(), ((cy + 0.5) * grid.size_deg).tolist(),
        counts.tolist(), strict=True)]
    return ([r for r, o in zip(rows, own.tolist(), strict=True) if o],
            [r for r, o in zip(rows, own.tolist(), strict=True) if not o])


def issue_blocks(tile: Tile) -> tuple[int, int, int, int]:
    """The blocks (bx0, by0, bx1, by1, inclusive) holding every issue an issues tile may read:
    its points with their buffer, or the base cells of its cells and their ring (one base cell
    more each side, for PostGIS's float4 boxes)."""
    minx, miny, maxx, maxy = tile.lonlat_bounds(BUFFER)
    grid = ring_grid(cell_grid(tile))
    x0 = min(math.floor(minx / BASE_CELL_DEG), grid.cell_x[0]) - 1
    y0 = min(math.floor(miny / BASE_CELL_DEG), grid.cell_y[0]) - 1
    x1 = max(math.floor(maxx / BASE_CELL_DEG), grid.cell_x[1]) + 1
    y1 = max(math.floor(maxy / BASE_CELL_DEG), grid.cell_y[1]) + 1
    return x0 >> BLOCK_SHIFT, y0 >> BLOCK_SHIFT, x1 >> BLOCK_SHIFT, y1 >> BLOCK_SHIFT


def bbox_blocks(bbox: tuple[float, float, float, float], margin_cells: int = 0
                ) -> tuple[int, int, int, int]:
    """The blocks (bx0, by0, bx1, by1, inclusive) a lon/lat box covers, with `margin_cells`
    base cells more each side."""
    minx, miny, maxx, maxy = bbox
    x0 = math.floor(minx / BASE_CELL_DEG) - margin_cells
    y0 = math.floor(miny / BASE_CELL_DEG) - margin_cells
    x1 = math.floor(maxx / BASE_CELL_DEG) + margin_cells
    y1 = math.floor(maxy / BASE_CELL_DEG) + margin_cells
    return x0 >> BLOCK_SHIFT, y0 >> BLOCK_SHIFT, x1 >> BLOCK_SHIFT, y1 >> BLOCK_SHIFT


def block_bounds(bx: int, by: int) -> tuple[float, float, float, float]:
    """A block's lon/lat box (west, south, east, north)."""
    size = BASE_CELL_DEG * (1 << BLOCK_SHIFT)
    return bx * size, by * size, (bx + 1) * size, (by + 1) * size


def feature_blocks(tile: Tile) -> tuple[int, int, int, int]:
    """The blocks holding a part of every feature a feature tile may read (those whose box
    meets the tile with its buffer; a base cell more each side, for float rounding)."""
    return bbox_blocks(tile.lonlat_bounds(BUFFER), margin_cells=1)


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
_TYPE_LOOKUP = np.zeros(8, dtype=np.int64)
_TYPE_LOOKUP[list(_TYPE_OF_ID)] = list(_TYPE_OF_ID.values())
_MVT_TYPES = (str, int, float)  # property values MVT holds (bool is an int)
_PLAIN_TYPES = {str, int, float, bool, type(None)}


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
    v = values.astype(np.uint64, copy=False)
    offsets = np.arange(len(v) + 1, dtype=np.int64)
    top = int(v.max()) if len(v) else 0
    if top < 0x80:  # one byte each (most tags, lengths and small tiles' commands)
        return v.astype(np.uint8).tobytes(), offsets
    width = (top.bit_length() + 6) // 7
    size = np.ones(len(v), dtype=np.int64)
    for shift in range(7, 7 * width, 7):
        size += v >= np.uint64(1 << shift)
    shifts = np.arange(width, dtype=np.uint64) * np.uint64(7)
    groups = ((v[:, None] >> shifts[None, :]) & np.uint64(0x7F)).astype(np.uint8)
    cols = np.arange(width)[None, :]
    groups[cols < size[:, None] - 1] |= 0x80
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
    if (shapely.get_type_id(geoms) == (3 if polygons else 1)).all():  # Polygon, LineString
        # no multi-part geometry (the streets of a city): get_parts would copy each one
        parts, part_owner = geoms, np.arange(len(geoms))
    else:
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


def _encode(layer: str, geoms: np.ndarray, columns: Mapping[str, Sequence[Any]],
            ids: Sequence[int | None]) -> bytes:
    """One MVT layer of the non-empty geometries (tile units, y down) with their properties:
    `columns` maps each property name to its values, one per geometry (None: left out)."""
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
    types = _TYPE_LOOKUP[type_ids]
    # each geometry's commands: [start, start + length) in the concatenated varint bytes
    g_start = np.zeros(len(geoms), dtype=np.int64)
    g_len = np.zeros(len(geoms), dtype=np.int64)
    chunks: list[bytes] = []
    base = 0
    for kind in (_POINT, _LINE, _POLYGON):
        which = np.flatnonzero(types == kind)
        if not len(which):
            continue
        group = geoms[which]
        if kind == _POLYGON:
            group = shapely.orient_polygons(shapely.transform(group, np.rint), exterior_cw=False)
        cmds, spans = (_point_commands(group) if kind == _POINT
                       else _path_commands(group, kind == _POLYGON))
        data, offsets = _varints(cmds)
        ends = offsets[spans]
        g_start[which] = base + ends[:, 0]
        g_len[which] = ends[:, 1] - ends[:, 0]
        chunks.append(data)
        base += len(data)
    return _layer(layer, shown, types, g_start, g_len, b"".join(chunks), columns, ids)


def _encode_points(layer: str, xy: np.ndarray, columns: Mapping[str, Sequence[Any]],
                   ids: Sequence[int | None]) -> bytes:
    """_encode of single points given as whole tile units (n x 2, y down), without making
    geometries: each is a MoveTo of one point."""
    if not len(xy):
        return b""
    cmds = np.empty((len(xy), 3), dtype=np.uint64)
    cmds[:, 0] = (1 << 3) | _MOVE_TO
    cmds[:, 1:] = _zigzag(xy.astype(np.int64))
    data, offsets = _varints(cmds.ravel())
    at = offsets[::3]
    n = len(xy)
    return _layer(layer, np.arange(n), np.full(n, _POINT), at[:-1], np.diff(at), data,
                  columns, ids)


def _layer(layer: str, shown: np.ndarray, types: np.ndarray, g_start: np.ndarray,
           g_len: np.ndarray, geometry: bytes, columns: Mapping[str, Sequence[Any]],
           ids: Sequence[int | None]) -> bytes:
    """The MVT layer message of the geometries `shown` (their rows in columns and ids), each
    of a type and with its commands at [start, start + len) in `geometry`."""
    emitted = np.flatnonzero(g_len > 0)  # a geometry that collapsed is left out
    rows = shown[emitted]
    n = len(emitted)
    keys, values, tags, tag_counts = _tags(columns, rows)
    tag_data, tag_offsets = _varints(tags)
    tag_ends = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(tag_counts, out=tag_ends[1:])
    tag_at = tag_offsets[tag_ends]
    tag_len = np.diff(tag_at)
    fids = np.asarray([-1 if f is None else f for f in (ids[i] for i in rows.tolist())],
                      dtype=np.int64)
    has_id = fids >= 0
    id_data, id_at = _varints(np.where(has_id, fids, 0).astype(np.uint64))
    tag_len_data, tag_len_at = _varints(tag_len.astype(np.uint64))
    g_len_e = g_len[emitted]
    g_len_data, g_len_at = _varints(g_len_e.astype(np.uint64))
    # every feature is the same ten pieces (some empty), each a slice of one source buffer
    const = b"\x12\x08" + b"".join(_TYPE_FIELD[t] for t in (_POINT, _LINE, _POLYGON))
    sources = [const, id_data, tag_len_data, tag_data, g_len_data, geometry]
    at = np.cumsum([0] + [len(s) for s in sources])
    starts = np.zeros((n, 10), dtype=np.int64)
    lens = np.zeros((n, 10), dtype=np.int64)
    has_tags = tag_len > 0
    starts[:, 2], lens[:, 2] = 1, has_id  # 0x08: the id field
    starts[:, 3], lens[:, 3] = at[1] + id_at[:-1], np.where(has_id, np.diff(id_at), 0)
    starts[:, 4], lens[:, 4] = 0, has_tags  # 0x12: the tags field
    starts[:, 5] = at[2] + tag_len_at[:-1]
    lens[:, 5] = np.where(has_tags, np.diff(tag_len_at), 0)
    starts[:, 6], lens[:, 6] = at[3] + tag_at[:-1], tag_len
    starts[:, 7], lens[:, 7] = 2 + 3 * (types[emitted] - 1), 3  # type, geometry key
    starts[:, 8], lens[:, 8] = at[4] + g_len_at[:-1], np.diff(g_len_at)
    starts[:, 9], lens[:, 9] = at[5] + g_start[emitted], g_len_e
    body_data, body_at = _varints(lens[:, 2:].sum(axis=1).astype(np.uint64))
    sources.append(body_data)
    starts[:, 0], lens[:, 0] = 0, 1  # 0x12: a feature
    starts[:, 1], lens[:, 1] = at[5] + len(sources[5]) + body_at[:-1], np.diff(body_at)
    features = _gather(b"".join(sources), starts.ravel(), lens.ravel())
    out = [_field(0x0A, layer.encode()), features]
    out.extend(_field(0x1A, k.encode()) for k in keys)
    out.append(_value_fields(values))
    out.append(b"\x28" + _varint(EXTENT) + b"\x78\x02")  # extent, version 2
    return _field(0x1A, b"".join(out))


def _value_fields(values: Sequence[Any]) -> bytes:
    """The layer's values table: one Value message field per value, in order (ids are one per
    feature: the integers are written in numpy, the rest one by one)."""
    if not values:
        return b""
    is_int = np.fromiter((v.__class__ is int and -(1 << 63) <= v < 1 << 63 for v in values),
                         dtype=bool, count=len(values))
    ints = np.flatnonzero(is_int)
    starts = np.zeros(len(values), dtype=np.int64)
    lens = np.zeros(len(values), dtype=np.int64)
    # the integers' fields: 0x22, the message's length, 0x20, the varint (a gather from a
    # source of the constant bytes, a table of lengths and the varints)
    head = b"\x22\x20" + bytes(range(16))
    data, at = _varints(np.asarray([values[i] for i in ints.tolist()], dtype=np.int64)
                        .astype(np.uint64))
    n = np.diff(at)
    parts = np.column_stack([np.zeros_like(n), 2 + 1 + n, np.ones_like(n), len(head) + at[:-1]])
    part_lens = np.column_stack([np.ones_like(n), np.ones_like(n), np.ones_like(n), n])
    int_fields = _gather(head + data, parts.ravel(), part_lens.ravel())
    lens[ints] = 3 + n
    starts[ints] = np.cumsum(lens[ints]) - lens[ints]
    others = []
    at_other = len(int_fields)
    for i in np.flatnonzero(~is_int).tolist():
        v = values[i]
        if v.__class__ is str:
            b = v.encode()
            m = b"\x0a" + _len(len(b)) + b
        else:
            m = _value(v)
        f = b"\x22" + _len(len(m)) + m
        starts[i], lens[i] = at_other, len(f)
        at_other += len(f)
        others.append(f)
    return _gather(int_fields + b"".join(others), starts, lens)


def _gather(source: bytes, starts: np.ndarray, lens: np.ndarray) -> bytes:
    """The slices source[start:start + len] one after another."""
    total = int(lens.sum())
    if not total:
        return b""
    out_start = np.cumsum(lens) - lens
    index = np.arange(total, dtype=np.int64) + np.repeat(starts - out_start, lens)
    return np.frombuffer(source, dtype=np.uint8)[index].tobytes()


class _Bool:
    """A boolean as a values-table key: apart from the numbers 0 and 1 it equals in Python."""

    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Bool) and other.value == self.value

    def __hash__(self) -> int:
        return hash((_Bool, self.value))


_BOOLS = {True: _Bool(True), False: _Bool(False)}


def _tags(columns: Mapping[str, Sequence[Any]], rows: np.ndarray
          ) -> tuple[list[str], list[Any], np.ndarray, np.ndarray]:
    """The keys and values tables of the features `rows` (first seen, first indexed, as
    mapbox-vector-tile writes them: one value entry per equal value, bools apart from numbers;
    str/bool/int/float values only) and each feature's tags (key, value index pairs)."""
    names = list(columns)
    n, width = len(rows), len(names)
    if not names or not n:
        return [], [], np.zeros(0, dtype=np.uint64), np.zeros(n, dtype=np.int64)
    taken = rows.tolist()
    every = n == len(next(iter(columns.values()))) and bool(np.all(rows == np.arange(n)))
    present = np.zeros((n, width), dtype=bool)
    local = np.zeros((n, width), dtype=np.int64)  # each value's code in its column
    firsts: list[np.ndarray] = []  # each column's distinct values' first places, feature-major
    uniques: list[np.ndarray] = []  # and the values, column after column
    offsets = [0]
    bools = False
    for j, name in enumerate(names):
        col = np.empty(n, dtype=object)
        col[:] = columns[name] if every else [columns[name][i] for i in taken]
        types = set(map(type, col))
        ok = (col != None if types <= _PLAIN_TYPES  # noqa: E711 (elementwise)
              else np.fromiter((isinstance(v, _MVT_TYPES) for v in col), dtype=bool, count=n))
        kept = col[ok]
        if bool in types and len(types - {bool, type(None)}):  # True would share 1's code
            kept = np.asarray([_BOOLS[v] if v.__class__ is bool else v for v in kept],
                              dtype=object)
        # equal values share one code (1 and 1.0 too), the first seen kept
        codes, found = pd.factorize(kept, use_na_sentinel=False)
        if bool in types:  # apart from numbers in the other columns too
            bools = True
            found = np.asarray([_BOOLS[v] if v.__class__ is bool else v for v in found],
                               dtype=object)
        present[:, j] = ok
        local[ok, j] = codes
        # codes are numbered as first seen: a code's first place is where the running
        # maximum grows
        seen = np.maximum.accumulate(codes)
        grows = np.ones(len(codes), dtype=bool)
        grows[1:] = seen[1:] > seen[:-1]
        firsts.append(np.flatnonzero(ok)[grows] * width + j)
        uniques.append(np.asarray(found, dtype=object))
        offsets.append(offsets[-1] + len(found))
    # the columns' distinct values in order of first use, equal ones merged (a value may recur
    # in another column: one entry)
    order = np.argsort(np.concatenate(firsts), kind="stable")
    merged_codes, merged = pd.factorize(np.concatenate(uniques)[order], use_na_sentinel=False)
    entry = np.empty(len(order), dtype=np.int64)
    entry[order] = merged_codes
    values = ([v.value if v.__class__ is _Bool else v for v in merged] if bools
              else merged.tolist())
    first_use = np.where(present.any(axis=0), np.argmax(present, axis=0), n)
    order = np.lexsort((np.arange(width), first_use))
    order = order[first_use[order] < n]  # keys by first use; an unused key is left out
    key_index = np.zeros(width, dtype=np.int64)
    key_index[order] = np.arange(len(order))
    # feature by feature, in column order: (key, value) of each value present
    pairs = np.empty((int(present.sum()), 2), dtype=np.uint64)
    pairs[:, 0] = np.broadcast_to(key_index, (n, width))[present]
    pairs[:, 1] = entry[(local + np.asarray(offsets[:-1])[None, :])[present]]
    tags: np.ndarray = pairs.ravel()
    return [names[k] for k in order.tolist()], values, tags, 2 * present.sum(axis=1)


def encode_features(tile: Tile, layer: str, rows: Sequence[Sequence[Any]],
                    names: Sequence[str] = FEATURE_PROPS) -> bytes:
    """Encode feature rows (id, the values of `names`..., wkb) into an MVT with one layer
    `layer` (the id as each feature's id): projected, clipped to the tile and its buffer,
    simplified to a tile unit."""
    if not rows:
        return b""
    geoms = shapely.from_wkb([r[-1] for r in rows])

    def to_units(coords: np.ndarray) -> np.ndarray:
        ux, uy = tile.to_units(coords[:, 0], coords[:, 1])
        return np.column_stack([ux, uy])

    geoms = shapely.transform(geoms, to_units)
    # only what crosses the tile's buffered edge is clipped: GEOS copies a geometry inside it
    # all the same, 2-3 us each (a city z13 tile's 3,400 streets, 96 % inside: 9 -> 0.5 ms)
    lo, hi = -BUFFER, EXTENT + BUFFER
    b = shapely.bounds(geoms)
    crossing = ~((b[:, 0] >= lo) & (b[:, 1] >= lo) & (b[:, 2] <= hi) & (b[:, 3] <= hi))
    if crossing.any():
        geoms[crossing] = shapely.clip_by_rect(geoms[crossing], lo, lo, hi, hi)
    # plain Douglas-Peucker, as ST_AsMVTGeom's ST_Simplify: the topology-preserving one took
    # 3-4 times as long (a city's z13 tile: streets 7.9 -> 2.7 ms, zones 9.7 -> 2.2 ms) to
    # avoid crossings a tenth of a pixel wide
    geoms = shapely.simplify(geoms, SIMPLIFY_UNITS, preserve_topology=False)
    columns = {name: [r[j] for r in rows] for j, name in enumerate(names, start=1)}
    return _encode(layer, geoms, columns, [r[0] for r in rows])


def encode_points(tile: Tile, layer: str, names: Sequence[str], rows: Sequence[Sequence[Any]],
                  with_id: bool) -> bytes:
    """Encode point rows (lon, lat, the feature id when with_id, then the values of `names`)
    into an MVT layer."""
    if not rows:
        return b""
    arr = np.asarray([(r[0], r[1]) for r in rows], dtype=float)
    ux, uy = tile.to_units(arr[:, 0], arr[:, 1])
    xy = np.rint(np.column_stack([ux, uy]))  # half to even, as the geometries' writer rounds
    first = 3 if with_id else 2
    columns = {name: [r[j] for r in rows] for j, name in enumerate(names, start=first)}
    if "overdue" in columns:  # a boolean, whatever the database returns for it
        columns["overdue"] = [None if v is None else bool(v) for v in columns["overdue"]]
    return _encode_points(layer, xy, columns,
                          [r[2] for r in rows] if with_id else [None] * len(rows))


# --- ETags and the cache ------------------------------------------------------------------
def etag(layer: str, version: int, filters: dict[str, Any], scope_unit: str | None,
         extra: str = "") -> str:
    """A weak ETag from the layer's version, the filters, the caller's scope and `extra`."""
    text = json.dumps([layer, version, filters, scope_unit, extra], sort_keys=True,
                      ensure_ascii=False, default=str)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]
    return f'W/"{layer}.{version}.{digest}"'


def _field_items(spec: str) -> Iterator[tuple[str | None, str]]:
    """The (layer or None: every feature layer, name) items of a `fields` spec, checked."""
    for item in spec.split(","):
        kind, colon, name = (part.strip() for part in item.rpartition(":"))
        if not name and not colon:
            continue
        if colon and kind not in TILE_LAYERS:
            raise InvalidInput(f"未知图层 {kind!r}（fields 参数 {item.strip()!r}），"
                               f"可选图层：{', '.join(TILE_LAYERS)}")
        if colon and kind == ISSUE_LAYER:
            if name not in ISSUE_PROPS:
                raise InvalidInput(f"未知字段 {item.strip()!r}：问题图层的字段为 "
                                   f"{', '.join(ISSUE_PROPS)}（写作 issues:status）")
        elif name not in FEATURE_PROPS:
            raise InvalidInput(f"未知字段 {name!r}：fields 为逗号分隔的列表，要素图层的字段有 "
                               f"{', '.join(FEATURE_PROPS)}（适用于所有要素图层，写作 zone:unit "
                               f"则只适用于该图层；为空时只含要素编号），问题图层的字段写作 "
                               f"issues:<{'|'.join(ISSUE_PROPS)}>")
        yield (kind if colon else None), name


@functools.lru_cache(maxsize=256)  # a request asks for each layer's, twice (ETag, bytes)
def feature_fields(spec: str | None, layer: str) -> tuple[str, ...]:
    """The properties a feature layer's tiles carry for a `fields` spec, a comma list of
    FEATURE_PROPS names (for every feature layer) and `<layer>:<name>` items (for that layer
    only); None: all of them; "" or no item for the layer: none, the feature id only.
    InvalidInput for an unknown name or layer."""
    if spec is None:
        return FEATURE_PROPS
    names = {name for kind, name in _field_items(spec) if kind is None or kind == layer}
    return tuple(n for n in FEATURE_PROPS if n in names)  # in one order: one cache key


@functools.lru_cache(maxsize=256)
def issue_fields(spec: str | None) -> tuple[str, ...]:
    """The properties issue points carry for a `fields` spec: those of its `issues:<name>`
    items (the feature id always), all of ISSUE_PROPS when it has none."""
    names = {name for kind, name in _field_items(spec or "") if kind == ISSUE_LAYER}
    return tuple(n for n in ISSUE_PROPS if n in names) if names else ISSUE_PROPS


def split_layers(spec: str) -> list[str]:
    """The tile layers of a path's comma list (`street` or `subdistrict,community,street`),
    in order; NotFound for an unknown or repeated name."""
    names = spec.split(",")
    for name in names:
        if name not in TILE_LAYERS:
            raise NotFound(f"未知瓦片图层 {name!r}，可选图层：{', '.join(TILE_LAYERS)}"
                           f"（多个图层用逗号分隔）")
    if len(set(names)) != len(names):
        raise NotFound(f"瓦片图层重复：{spec!r}")
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
        """Remember a tile, dropping the least recently used beyond max_bytes (none: 0)."""
        if len(data) > self.max_bytes or self.max_bytes <= 0:
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
