"""A city-scale benchmark dataset: a seeded synthetic city at ccmap's design size.

    python -m bench.city --out DIR [--seed 2026] [--scale 1.0] [--now YYYY-MM-DD]
    python -m bench.city --out DIR --import --db URL [--fresh] [--timeout S] [--max-rss-mb M]
                         [--no-generate] [--serve-check]

At scale 1 the city (around Liaocheng 聊城, ~18 × 11 km, WGS84) has 50,000 street segments
(a perturbed lattice: a ring road and primary/secondary arterials every ~8 blocks, local
tertiary/residential/unclassified streets whose cross streets are partly dropped; every
segment's end points are shared exactly with its neighbours and the network is connected),
10,000 back alleys hanging off local streets, 6 subdistricts, 100 communities, 5,000
responsibility-zone cells of the four zone types (about 1% left undrawn as gaps, about 1% grown
by 40 m into their neighbours as overlaps), 60 markets, ~2,000 test points of every category
and 1,000,000 issues over the two years before --now, clustered like geo/demo/city.py's (markets,
alleys, lanes, school gates, main streets, 10% anywhere), with every category, status and
source. Everything scales with --scale (0.01: 500 streets, 50 zones, 10,000 issues).

The files are ordinary import files: GeoJSON layers for `ccmap import layer FILE --kind KIND`,
zones.geojson for `ccmap import zones FILE`, issues.csv for `ccmap import issues FILE`, plus
manifest.json (counts, sizes, the import commands in order). The same seed, scale and --now
give byte-identical files. With --import the files are imported in order by the real `ccmap`
CLI in child processes, each step's wall time and peak RSS printed (and written to
import-BACKEND.json); --serve-check then serves the database with `ccmap serve` on 127.0.0.1
and times the map page and the layer and issue API calls.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.dtypes import StringDType
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from shapely.geometry import MultiPoint, box

from bench.serve import add_user, http, served, token
from geo import DATA_DIR
from geo.demo.city import (
    GIVEN,
    HOTSPOTS,
    MARKETS,
    REPORTERS,
    SOURCE_SHARES,
    SOURCES,
    SURNAMES,
    UNITS,
)
from geo.model.kinds import issue_categories, test_point_categories

LON0, LAT0 = 115.985, 36.455  # Liaocheng's main urban area
M_PER_DEG_LON = 111_320.0 * float(np.cos(np.radians(LAT0)))
M_PER_DEG_LAT = 110_574.0
WIDTH_M, HEIGHT_M = 18_000.0, 11_000.0  # at scale 1; both scale with sqrt(scale)
BLOCK = 8  # lattice cells between two arterials
DROP = 0.12  # share of the lattice's edges left out (local cross streets only)
GAP_SHARE, OVERLAP_SHARE, OVERLAP_M = 0.01, 0.01, 40.0
ZONE_TYPES = ["grid", "sponsor_area", "storefront_duty", "district_patch"]
ZONE_TYPE_SHARES = [0.4, 0.25, 0.2, 0.15]
ISSUE_COLUMNS = ["external_id", "category", "description", "lon", "lat", "address",
                 "reported_at", "closed_at", "status", "source", "reporter"]
CHUNK = 50_000  # issue rows formatted and written at a time
NAME_CHARS = list("福寿康宁安乐平和兴隆昌盛永丰泰华新民文明德正义仁礼智信春秋梅兰竹菊松柏桂荷"
                  "光岳柳园花振利湖健育向阳润龙山站前黄河长江嵩胜团结解放人星朝金鼎顺东西南北古楼"
                  "运清凤凰徒骇聚贤崇武望岳湘鲁")
SUBDISTRICTS = ["古楼街道", "柳园街道", "新区街道", "湖西街道", "东城街道", "道口铺街道",
                "蒋官屯街道", "侯营街道", "北城街道", "李海务街道", "许营街道", "阎寺街道"]
COMPOUND_SUFFIXES = ["小区", "新村", "花园", "公寓", "家园", "苑"]
SHOPS = ["小餐馆", "便利店", "理发店", "小旅馆", "洗浴店"]
ROAD_CLASS = {"trunk": "快速路", "primary": "主干道", "secondary": "次干道", "tertiary": "支路",
              "unclassified": "一般道路", "residential": "街坊路"}
CN_DIGITS = "一二三四五六七八九十"
# test points at scale 1: category → (count, where, name pattern); farmers_market and
# civilization_practice_station come from the markets and communities
TEST_POINTS: dict[str, tuple[int, str, str]] = {
    "main_road": (150, "primary", "{street}{label}"),
    "secondary_road": (120, "secondary", "{street}{label}"),
    "commercial_street": (100, "tertiary", "{street}{label}"),
    "back_alley": (200, "alley", "{street}旁小巷"),
    "residential_compound": (300, "near:60", "{compound}"),
    "school_surroundings": (150, "near:30", "{street}小学周边"),
    "hospital": (50, "near:30", "{street}医院"),
    "bus_stop": (400, "near:8", "{street}公交站"),
    "public_toilet": (150, "near:20", "{street}公厕"),
    "service_window": (50, "near:30", "{street}政务服务窗口"),
    "park_square": (50, "near:40", "{street}街心花园"),
    "station": (10, "near:40", "{street}汽车站"),
    "construction_site": (30, "near:50", "{street}建筑工地"),
    "culture_venue": (50, "near:25", "{street}网吧"),
    "small_storefront": (200, "near:10", "{street}{shop}"),
}

Array = NDArray[Any]


@dataclass(frozen=True)
class Sizes:
    """How many of each thing a city of a given scale has."""

    streets: int
    alleys: int
    zones: int
    communities: int
    subdistricts: int
    markets: int
    issues: int
    scale: float

    @classmethod
    def at(cls, scale: float, issues: int | None = None) -> Sizes:
        """The sizes at `scale` (1.0 is the design size), each with a small minimum; `issues`
        overrides the issue count (a province's ledger over the same city)."""
        def n(base: float, least: int) -> int:
            return max(least, round(base * scale))
        return cls(streets=n(50_000, 60), alleys=n(10_000, 10), zones=n(5_000, 8),
                   communities=n(100, 2), subdistricts=n(6, 1), markets=n(60, 2),
                   issues=issues if issues is not None else n(1_000_000, 200), scale=scale)

    def test_points(self, category: str) -> int:
        """How many test points of a POI or road category."""
        return max(1, round(TEST_POINTS[category][0] * self.scale))


@dataclass
class Lines:
    """Polylines of three vertices (start, bend, end) in metres, and their attributes."""

    xy: Array  # (n, 3, 2) unwarped metres
    name: list[str]
    addr: list[str]  # a named street to put in addresses (the line's own name when it has one)
    highway: Array  # str
    props: list[dict[str, Any]] = field(default_factory=list)

    def lengths(self) -> tuple[Array, Array]:
        """Lengths of the two pieces of each line."""
        d = np.diff(self.xy, axis=1)
        piece = np.hypot(d[..., 0], d[..., 1])
        return piece[:, 0], piece[:, 1]

    def sample(self, rng: np.random.Generator, idx: Array, t: Array | None = None
               ) -> tuple[Array, Array]:
        """Points on lines idx (at fraction t of the length, random if None) and the unit
        direction of the piece they lie on."""
        a, b = self.lengths()
        total = a[idx] + b[idx]
        t = rng.uniform(0.05, 0.95, len(idx)) if t is None else t
        along = t * total
        first = along <= a[idx]
        start = np.where(first[:, None], self.xy[idx, 0], self.xy[idx, 1])
        end = np.where(first[:, None], self.xy[idx, 1], self.xy[idx, 2])
        piece = np.where(first, a[idx], b[idx])
        frac = np.where(first, along, along - a[idx]) / np.maximum(piece, 1e-9)
        direction = (end - start) / np.maximum(piece, 1e-9)[:, None]
        return start + (end - start) * frac[:, None], direction

    def pick(self, rng: np.random.Generator, n: int, mask: Array | None = None) -> Array:
        """n line indexes drawn by length (among mask)."""
        a, b = self.lengths()
        weight = (a + b) if mask is None else (a + b) * mask
        if not weight.sum():  # a tiny city may lack the class: any line will do
            weight = a + b
        return rng.choice(len(self.name), size=n, p=weight / weight.sum())


class City:
    """The synthetic city: generated in metres around (0, 0), then warped and put in WGS84."""

    def __init__(self, seed: int, scale: float, now: datetime,
                 issues: int | None = None) -> None:
        self.seed, self.now = seed, now
        self.size = Sizes.at(scale, issues)
        self.rng = np.random.default_rng(seed)
        k = float(np.sqrt(scale))
        self.w, self.h = WIDTH_M * k, HEIGHT_M * k
        self.box = box(-self.w / 2, -self.h / 2, self.w / 2, self.h / 2)
        self.warp_phase = self.rng.uniform(0, 2 * np.pi, 3)
        self.used_names: set[str] = set()
        self._areas()
        self.streets = self._streets()
        self.alleys = self._alleys()

    # --- helpers --------------------------------------------------------------------------
    def warp(self, xy: Array) -> Array:
        """A gentle, invertible bend of the plane, so arterials curve like real roads."""
        x, y = xy[..., 0], xy[..., 1]
        p = self.warp_phase
        out = np.empty_like(xy)
        out[..., 0] = x + 70 * np.sin(2 * np.pi * y / 3700 + p[0]) \
            + 25 * np.sin(2 * np.pi * y / 1300 + p[2])
        out[..., 1] = y + 60 * np.sin(2 * np.pi * x / 4300 + p[1])
        return out

    def lonlat(self, xy: Array) -> Array:
        """Unwarped metres → WGS84 lon/lat."""
        w = self.warp(xy)
        out = np.empty_like(w)
        out[..., 0] = LON0 + w[..., 0] / M_PER_DEG_LON
        out[..., 1] = LAT0 + w[..., 1] / M_PER_DEG_LAT
        return out

    def geoms_lonlat(self, geoms: Array) -> Array:
        """Metric shapely geometries → WGS84 (warped)."""
        return shapely.transform(geoms, self.lonlat)

    def people(self, n: int) -> list[str]:
        """n person names."""
        s = self.rng.integers(0, len(SURNAMES), n)
        g = self.rng.integers(0, len(GIVEN), n)
        return [SURNAMES[a] + GIVEN[b] for a, b in zip(s.tolist(), g.tolist(), strict=True)]

    def phones(self, n: int) -> list[str]:
        """n mobile numbers."""
        prefix = self.rng.choice(["138", "139", "135", "150", "186", "187"], n)
        return [f"{p}{d:08d}" for p, d in zip(prefix.tolist(),
                                              self.rng.integers(0, 10**8, n).tolist(),
                                              strict=True)]

    def names(self, n: int, suffixes: list[str], unique: bool = True) -> list[str]:
        """n two-character names with a suffix (unique across the city when asked)."""
        out: list[str] = []
        while len(out) < n:
            m = 2 * (n - len(out)) + 8
            a, b = self.rng.integers(0, len(NAME_CHARS), (2, m)).tolist()
            s = self.rng.integers(0, len(suffixes), m).tolist()
            for i, j, k in zip(a, b, s, strict=True):
                name = NAME_CHARS[i] + NAME_CHARS[j] + suffixes[k]
                if i == j or (unique and name in self.used_names):
                    continue
                self.used_names.add(name)
                out.append(name)
                if len(out) == n:
                    break
        return out

    def jittered(self, n: int, jitter: float = 0.35) -> Array:
        """n points on a jittered lattice over the city (cells of similar size)."""
        nx = max(1, round(np.sqrt(n * self.w / self.h)))
        ny = -(-n // nx)
        cw, ch = self.w / nx, self.h / ny
        gx, gy = np.meshgrid(np.arange(nx), np.arange(ny))
        pts = np.column_stack([(gx.ravel() + 0.5) * cw - self.w / 2,
                               (gy.ravel() + 0.5) * ch - self.h / 2])
        pts += self.rng.uniform(-jitter, jitter, pts.shape) * [cw, ch]
        keep = np.sort(self.rng.choice(len(pts), n, replace=False))
        return pts[keep]

    # --- areas ----------------------------------------------------------------------------
    def _areas(self) -> None:
        """Zone cells (Voronoi), communities and subdistricts as unions of them, gaps, overlaps."""
        size = self.size
        seeds = self.jittered(size.zones)
        cells = shapely.get_parts(shapely.voronoi_polygons(
            MultiPoint(seeds), extend_to=self.box, ordered=True))
        cells = shapely.set_precision(shapely.intersection(cells, self.box), 0.01)
        self.zone_tree, self.zone_seeds = cKDTree(seeds), seeds
        comm_seeds = self.jittered(size.communities, 0.25)
        _, comm_of = cKDTree(comm_seeds).query(seeds)
        present = np.unique(comm_of)  # a community no zone is nearest to does not exist
        comm_of = np.searchsorted(present, comm_of)
        comm_seeds = comm_seeds[present]
        sub_seeds = self.jittered(size.subdistricts, 0.2)
        _, sub_of = cKDTree(sub_seeds).query(comm_seeds)
        present = np.unique(sub_of)
        sub_of = np.searchsorted(present, sub_of)
        self.zone_comm, self.comm_sub = comm_of, sub_of
        # warp the cells (densified so their edges bend) once; every union is built from
        # these same vertices, so shared borders match exactly
        step = max(15.0, min(self.w, self.h) / 250)
        warped = shapely.transform(np.array([_densify(c, step) for c in cells], dtype=object),
                                   self.warp)
        self.comm_geoms = np.array([shapely.union_all(warped[comm_of == c])
                                    for c in range(len(comm_seeds))], dtype=object)
        self.sub_geoms = np.array([shapely.union_all(self.comm_geoms[sub_of == s])
                                   for s in range(len(present))], dtype=object)
        self.jurisdiction = shapely.union_all(self.sub_geoms)
        self.zone_warped = warped
        n = len(cells)
        order = self.rng.permutation(n)
        n_gap = max(1, round(GAP_SHARE * n))
        n_over = max(1, round(OVERLAP_SHARE * n))
        self.gap = np.zeros(n, dtype=bool)
        self.gap[order[:n_gap]] = True
        self.overlap = np.zeros(n, dtype=bool)
        self.overlap[order[n_gap:n_gap + n_over]] = True
        self.sub_names = [SUBDISTRICTS[k % len(SUBDISTRICTS)] + ("" if k < len(SUBDISTRICTS)
                                                                  else str(k))
                          for k in range(len(self.sub_geoms))]
        self.comm_names = self.names(len(comm_seeds), ["社区"])
        self.zone_type = self.rng.choice(ZONE_TYPES, n, p=ZONE_TYPE_SHARES)
        self.zone_type[self.rng.permutation(n)[:len(ZONE_TYPES)]] = ZONE_TYPES  # all four
        serial = np.zeros(n, dtype=np.int64)  # number of the zone within its community
        counters = np.zeros(len(comm_seeds), dtype=np.int64)
        for z in np.lexsort((seeds[:, 0], -seeds[:, 1])).tolist():  # north-west first
            counters[comm_of[z]] += 1
            serial[z] = counters[comm_of[z]]
        self.zone_names = [f"{self.comm_names[c]}第{s}责任区"
                           for c, s in zip(comm_of.tolist(), serial.tolist(), strict=True)]
        units = self.rng.integers(0, len(UNITS), n).tolist()
        self.zone_unit = [f"{self.comm_names[c]}居委会" if t == "grid" else UNITS[u]
                          for c, t, u in zip(comm_of.tolist(), self.zone_type.tolist(), units,
                                             strict=True)]
        self.zone_person, self.zone_phone = self.people(n), self.phones(n)

    def place(self, xy: Array) -> tuple[Array, Array]:
        """Zone index (-1 in a gap) and community index of unwarped points."""
        _, z = self.zone_tree.query(xy)
        return np.where(self.gap[z], -1, z), self.zone_comm[z]

    def assigned(self, xy: Array) -> list[dict[str, Any]]:
        """Community, zone, unit, responsible person and phone of the features at xy."""
        zones, comms = self.place(xy)
        people, phones = self.people(len(xy)), self.phones(len(xy))
        out = []
        for z, c, p, ph in zip(zones.tolist(), comms.tolist(), people, phones, strict=True):
            props: dict[str, Any] = {"community": self.comm_names[c],
                                     "subdistrict": self.sub_names[self.comm_sub[c]]}
            if z >= 0:
                props.update(zone=self.zone_names[z], unit=self.zone_unit[z],
                             responsible_person=p, phone=ph)
            else:
                props["note"] = "不在任何责任区内（基准数据：覆盖空白）"
            out.append(props)
        return out

    # --- streets --------------------------------------------------------------------------
    def _streets(self) -> Lines:
        """A perturbed lattice: ring road, arterials every BLOCK cells, local streets."""
        target = self.size.streets
        for drop in (DROP, DROP / 2, 0.0):
            plan = self._lattice_plan(target, drop)
            if plan is not None:
                break
        assert plan is not None
        nx, ny, spacing = plan
        rng = self.rng
        art_x = np.zeros(nx, dtype=bool)
        art_x[::BLOCK] = True
        art_x[-1] = True
        art_y = np.zeros(ny, dtype=bool)
        art_y[::BLOCK] = True
        art_y[-1] = True
        gx, gy = np.meshgrid(np.arange(nx) * spacing, np.arange(ny) * spacing)  # [j, i]
        jx = rng.uniform(-0.22, 0.22, gx.shape) * spacing * ~art_x[None, :]
        jy = rng.uniform(-0.22, 0.22, gy.shape) * spacing * ~art_y[:, None]
        ox, oy = (nx - 1) * spacing / 2, (ny - 1) * spacing / 2
        nodes = np.stack([gx + jx - ox, gy + jy - oy], axis=-1)
        blocks_x, blocks_y = -(-(nx - 1) // BLOCK), -(-(ny - 1) // BLOCK)
        vertical_spine = rng.random((blocks_y, blocks_x)) < 0.5
        # edges: horizontal (i, j)-(i+1, j), vertical (i, j)-(i, j+1)
        hj, hi = (g.ravel() for g in np.meshgrid(np.arange(ny), np.arange(nx - 1),
                                                 indexing="ij"))
        vj, vi = (g.ravel() for g in np.meshgrid(np.arange(ny - 1), np.arange(nx),
                                                 indexing="ij"))
        a = np.concatenate([nodes[hj, hi], nodes[vj, vi]])
        b = np.concatenate([nodes[hj, hi + 1], nodes[vj + 1, vi]])
        horizontal = np.concatenate([np.ones(len(hj), bool), np.zeros(len(vj), bool)])
        line_pos = np.concatenate([hj, vi])  # which row / column the edge lies on
        along = np.concatenate([hi, vj])  # position along that row / column
        arterial = np.concatenate([art_y[hj], art_x[vi]])
        border = np.concatenate([(hj == 0) | (hj == ny - 1), (vi == 0) | (vi == nx - 1)])
        by, bx = blocks_y - 1, blocks_x - 1  # the border row/column lies past the last block
        block = np.concatenate([np.minimum(hj // BLOCK, by) * blocks_x + hi // BLOCK,
                                (vj // BLOCK) * blocks_x + np.minimum(vi // BLOCK, bx)])
        collector = ~arterial & (line_pos % BLOCK == BLOCK // 2)
        spine = vertical_spine.ravel()[block]
        cross = np.where(horizontal, spine, ~spine)  # perpendicular to the block's spine
        droppable = np.flatnonzero(~arterial & ~collector & cross)
        excess = len(a) - target
        keep = np.ones(len(a), dtype=bool)
        keep[rng.choice(droppable, size=excess, replace=False)] = False
        # a "run" is one named street: a whole arterial line, or a local line in one block
        run_key = np.where(arterial, line_pos * 2 + horizontal,
                           (block * (nx + ny) + line_pos) * 2 + horizontal + 10**9)
        kept = np.flatnonzero(keep)
        a, b = a[kept], b[kept]
        horizontal, arterial, border = horizontal[kept], arterial[kept], border[kept]
        line_pos, along, collector = line_pos[kept], along[kept], collector[kept]
        runs, run_of = np.unique(run_key[kept], return_inverse=True)
        # highway class per segment
        art_rank = line_pos // BLOCK
        local_kind = np.where(rng.random(len(a)) < 0.08, "unclassified", "residential")
        highway = np.where(border, "trunk", np.where(
            arterial, np.where(art_rank % 2 == 1, "primary", "secondary"),
            np.where(collector, "tertiary", local_kind)))
        # one class per local run: the first segment's decides
        first_of_run = np.unique(run_of, return_index=True)[1]
        run_highway = highway[first_of_run]
        highway = np.where(arterial, highway, run_highway[run_of])
        # names per run
        run_arterial = arterial[first_of_run]
        run_horizontal = horizontal[first_of_run]
        run_border = border[first_of_run]
        run_pos = line_pos[first_of_run]
        n_runs = len(runs)
        art_names = self.names(int(run_arterial.sum()), ["路", "大道", "街"])
        local_names = self.names(int((~run_arterial).sum()), ["街", "路", "巷", "里", "胡同"],
                                 unique=False)
        unnamed = rng.random(n_runs) < 0.15
        run_name: list[str] = []
        ai = li = 0
        for r in range(n_runs):
            if run_arterial[r]:
                nm = art_names[ai]
                ai += 1
                if run_border[r]:
                    side = ("南" if run_pos[r] == 0 else "北") if run_horizontal[r] else \
                        ("西" if run_pos[r] == 0 else "东")
                    nm = f"环城{side}路"
                run_name.append(nm)
            else:
                nm = local_names[li]
                li += 1
                run_name.append("" if unnamed[r] else nm)
        # an unnamed street's address uses the arterial row south of it
        row_name = {int(run_pos[r]): run_name[r] for r in range(n_runs)
                    if run_arterial[r] and run_horizontal[r]}
        art_rows = np.array(sorted(row_name))
        name = [run_name[r] for r in run_of.tolist()]
        mid_y = (a[:, 1] + b[:, 1]) / 2 + oy
        south_row = art_rows[np.clip(np.searchsorted(art_rows * spacing, mid_y) - 1, 0,
                                     len(art_rows) - 1)]
        addr = [nm or row_name[int(r)] for nm, r in zip(name, south_row.tolist(), strict=True)]
        # a slight bend in local streets
        d = b - a
        length = np.hypot(d[:, 0], d[:, 1])
        normal = np.column_stack([-d[:, 1], d[:, 0]]) / np.maximum(length, 1e-9)[:, None]
        bend = np.where(arterial, 0.0, rng.normal(0, 0.03, len(a)) * length)
        mid = (a + b) / 2 + normal * bend[:, None]
        lines = Lines(np.stack([a, mid, b], axis=1), name, addr, highway)
        # attributes
        lanes = np.select([highway == "trunk", highway == "primary", highway == "secondary",
                           highway == "tertiary"], ["6", "6", "4", "2"],
                          np.where(rng.random(len(a)) < 0.3, "1", "2"))
        oneway = (~arterial) & (rng.random(len(a)) < 0.1)
        width = np.round(rng.uniform(4, 9, len(a)), 1)
        mids = lines.xy[:, 1]
        assigned = self.assigned(mids)
        # one cadre (路长) per street name, as in the demo; none in a gap
        cadres = {nm: (p, ph) for nm, p, ph in zip(
            sorted(set(name)), self.people(len(set(name))), self.phones(len(set(name))),
            strict=True)}
        for k, props in enumerate(assigned):
            hw = str(highway[k])
            p: dict[str, Any] = {"name": name[k], "category": hw, "highway": hw,
                                 "road_class": ROAD_CLASS[hw], "lanes": str(lanes[k])}
            if oneway[k]:
                p["oneway"] = "yes"
            if not arterial[k]:
                p["width"] = str(width[k])
            p["ref"] = f"S{k:06d}"
            p.update(props)
            if "zone" in props and name[k]:
                person, phone = cadres[name[k]]
                p.update(cadre=person, responsible_person=person, phone=phone)
            lines.props.append(p)
        return lines

    def _lattice_plan(self, target: int, drop: float) -> tuple[int, int, float] | None:
        """(nx, ny, spacing) of a lattice with target/(1-drop) edges, None if too few of them
        can be dropped to reach target exactly."""
        def dims(d: float) -> tuple[int, int]:
            return max(2, int(self.w // d) + 1), max(2, int(self.h // d) + 1)

        def edges(d: float) -> int:
            nx, ny = dims(d)
            return nx * (ny - 1) + ny * (nx - 1)

        want = target / (1 - drop)
        lo, hi = 1.0, max(self.w, self.h)
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if edges(mid) >= want else (lo, mid)
        nx, ny = dims(lo)
        # droppable: local cross streets; at worst half the local, non-collector edges
        local_rows = sum(1 for j in range(ny) if j % BLOCK and j != ny - 1
                         and j % BLOCK != BLOCK // 2)
        local_cols = sum(1 for i in range(nx) if i % BLOCK and i != nx - 1
                         and i % BLOCK != BLOCK // 2)
        worst = min(local_rows * (nx - 1), local_cols * (ny - 1)) // 2
        return (nx, ny, lo) if edges(lo) - target <= worst else None

    def _alleys(self) -> Lines:
        """Back alleys: short dead ends off local streets, into the blocks."""
        n, rng, streets = self.size.alleys, self.rng, self.streets
        local = np.isin(streets.highway, ["residential", "unclassified", "tertiary"])
        parent = streets.pick(rng, n, local)
        start, direction = streets.sample(rng, parent, rng.uniform(0.2, 0.8, n))
        side = np.where(rng.random(n) < 0.5, 1.0, -1.0)
        normal = np.column_stack([-direction[:, 1], direction[:, 0]]) * side[:, None]
        a, b = streets.lengths()
        length = rng.uniform(0.3, 0.5, n) * (a + b)[parent]
        kink = rng.normal(0, 0.06, n) * length
        mid = start + normal * (length / 2)[:, None] + direction * kink[:, None]
        end = start + normal * length[:, None]
        highway = rng.choice(["service", "living_street", "pedestrian"], n, p=[0.55, 0.25, 0.2])
        width = np.round(rng.uniform(1.5, 3.5, n), 1).tolist()
        named = rng.random(n) < 0.4
        number = rng.integers(0, len(CN_DIGITS), n).tolist()
        parent_l = parent.tolist()
        name = [f"{streets.addr[p]}{CN_DIGITS[k]}巷" if nm else "无名小巷"
                for p, k, nm in zip(parent_l, number, named.tolist(), strict=True)]
        addr = [streets.addr[p] for p in parent_l]
        lines = Lines(np.stack([start, mid, end], axis=1), name, addr, highway)
        assigned = self.assigned(mid)
        cadres = self.people(n), self.phones(n)
        for k, props in enumerate(assigned):
            hw = str(highway[k])
            p: dict[str, Any] = {"name": name[k], "category": hw, "highway": hw,
                                 "road_class": "背街小巷", "width": str(width[k]),
                                 "ref": f"A{k:06d}", "street": addr[k]}
            if hw == "service":
                p["service"] = "alley"
            p.update(props)
            if "zone" in props:  # 巷长
                p.update(cadre=cadres[0][k], responsible_person=cadres[0][k],
                         phone=cadres[1][k])
            lines.props.append(p)
        return lines

    # --- point and area layers ------------------------------------------------------------
    def near_streets(self, n: int, offset: float, mask: Array | None = None
                     ) -> tuple[Array, Array]:
        """n points beside local streets (offset metres off the street), and the streets."""
        s = self.streets
        idx = s.pick(self.rng, n, mask)
        at, direction = s.sample(self.rng, idx)
        side = np.where(self.rng.random(n) < 0.5, 1.0, -1.0) * offset
        normal = np.column_stack([-direction[:, 1], direction[:, 0]])
        return at + normal * side[:, None], idx

    def markets(self) -> tuple[list[tuple[Any, dict[str, Any]]], Array, Array, Array]:
        """Market features (metric box, props), their centres, streets and sizes (w, h)."""
        n, rng = self.size.markets, self.rng
        ground = ~np.isin(self.streets.highway, ["trunk"])
        centres, idx = self.near_streets(n, 45, ground)
        wh = np.column_stack([rng.uniform(40, 80, n), rng.uniform(30, 60, n)])
        names = _unique([self.streets.addr[k] + MARKETS[j % len(MARKETS)]
                         for j, k in enumerate(idx.tolist())])
        polys = shapely.box(centres[:, 0] - wh[:, 0] / 2, centres[:, 1] - wh[:, 1] / 2,
                            centres[:, 0] + wh[:, 0] / 2, centres[:, 1] + wh[:, 1] / 2)
        managers, stalls = self.people(n), rng.integers(40, 300, n).tolist()
        feats = []
        for k, props in enumerate(self.assigned(centres)):
            feats.append((polys[k], {"name": names[k], "category": "farmers_market",
                                     "address": self.streets.addr[idx[k]],
                                     "manager": managers[k], "stalls": stalls[k], **props}))
        self.market_names = names
        return feats, centres, idx, wh

    def test_points(self, market_centres: Array, market_names: list[str]
                    ) -> tuple[list[tuple[Array, dict[str, Any]]], Array, list[str], Array]:
        """Test points (metric xy, props) of every category; school xy, names and streets."""
        labels = test_point_categories()
        s, rng = self.streets, self.rng
        cats: list[str] = []
        xys: list[Array] = []
        names: list[str] = []
        schools: tuple[Array, list[str], Array] = (np.zeros((0, 2)), [], np.zeros(0, int))
        for cat, (_, where, pattern) in TEST_POINTS.items():
            n = self.size.test_points(cat)
            if where == "alley":
                idx = self.alleys.pick(rng, n)
                xy, _ = self.alleys.sample(rng, idx)
                streets = [self.alleys.addr[k] for k in idx.tolist()]
                idx = np.zeros(0, int)
            elif where.startswith("near:"):
                ground = ~np.isin(s.highway, ["trunk"])
                xy, idx = self.near_streets(n, float(where[5:]), ground)
                streets = [s.addr[k] for k in idx.tolist()]
            else:
                mask = s.highway == where
                if not mask.any():
                    mask = s.highway != "residential"
                idx = s.pick(rng, n, mask)
                xy, _ = s.sample(rng, idx)
                streets = [s.addr[k] for k in idx.tolist()]
            compounds = self.names(n, COMPOUND_SUFFIXES) if cat == "residential_compound" \
                else [""] * n
            made = [pattern.format(street=st, label=labels[cat], shop=SHOPS[k % len(SHOPS)],
                                   compound=compounds[k]) for k, st in enumerate(streets)]
            if cat == "school_surroundings":
                schools = (xy, made, idx)
            cats += [cat] * n
            xys.append(xy)
            names += made
        cats += ["farmers_market"] * len(market_names)
        xys.append(market_centres)
        names += market_names
        # each community's station at the seed of one of its zones (inside that zone's cell)
        first_zone = np.unique(self.zone_comm, return_index=True)[1]
        xys.append(self.zone_seeds[first_zone])
        cats += ["civilization_practice_station"] * len(self.comm_names)
        names += [f"{c}新时代文明实践站" for c in self.comm_names]
        xy_all = np.concatenate(xys)
        props = self.assigned(xy_all)
        names = _unique(names)
        out = [(xy_all[k], {"name": names[k], "category": cat, "category_label": labels[cat],
                            **props[k]}) for k, cat in enumerate(cats)]
        school_names = [n.replace("小学周边", "小学") for n in _unique(schools[1])]
        return out, schools[0], school_names, schools[2]

    # --- issues ---------------------------------------------------------------------------
    def issues(self, markets: tuple[Array, Array, Array],
               schools: tuple[Array, list[str], Array]) -> dict[str, Any]:
        """Columns of every issue (numpy arrays, oldest first) and the strings they index."""
        n, rng, s, al = self.size.issues, self.rng, self.streets, self.alleys
        codes = list(issue_categories())
        code_ix = {c: k for k, c in enumerate(codes)}
        groups = list(HOTSPOTS)
        shares = np.array([HOTSPOTS[g][0] for g in groups])
        sizes = rng.multinomial(n, shares / shares.sum()).tolist()
        # strings the issues refer to: street/alley addresses, then market and school places
        n_st, n_al = len(s.addr), len(al.addr)
        m_centres, m_wh, m_streets = markets
        s_xy, s_names, s_streets = schools
        m_names = [f"{nm}周边" for nm in self.market_names]
        text = s.addr + al.addr + m_names + [f"{nm}门口" for nm in s_names]
        m_off, sc_off = n_st + n_al, n_st + n_al + len(m_names)
        addr_of_market, addr_of_school = m_streets, s_streets
        xy_parts, cat_parts, addr_parts, place_parts = [], [], [], []
        main = np.isin(s.highway, ["primary", "secondary"])
        lanes = s.highway == "residential"
        for group, size in zip(groups, sizes, strict=True):
            _, group_cats, spread = HOTSPOTS[group]
            place = np.full(size, -1)
            if group == "any":
                xy = rng.uniform([-self.w / 2, -self.h / 2], [self.w / 2, self.h / 2], (size, 2))
                _, near = cKDTree(s.xy[:, 1]).query(xy)
                addr = near
                # every category (with "other") in turn, so a small city has them all
                cat = np.resize(rng.permutation(len(codes)), size)
            else:
                if group == "market":
                    k = rng.integers(0, len(m_centres), size)
                    w, h = m_wh[k, 0], m_wh[k, 1]
                    u = rng.uniform(0, 2 * (w + h))  # walk around the market's edge
                    x = np.where(u < w, u, np.where(u < w + h, w, np.where(
                        u < 2 * w + h, 2 * w + h - u, 0.0))) - w / 2
                    y = np.where(u < w, 0.0, np.where(u < w + h, u - w, np.where(
                        u < 2 * w + h, h, 2 * (w + h) - u))) - h / 2
                    xy = m_centres[k] + np.column_stack([x, y])
                    addr, place = addr_of_market[k], m_off + k
                elif group == "school":
                    k = rng.integers(0, len(s_xy), size)
                    ang = rng.uniform(0, 2 * np.pi, size)
                    xy = s_xy[k] + 20 * np.column_stack([np.cos(ang), np.sin(ang)])
                    addr, place = addr_of_school[k], sc_off + k
                elif group == "alley":
                    k = al.pick(rng, size)
                    xy, _ = al.sample(rng, k)
                    addr = n_st + k
                else:
                    k = s.pick(rng, size, main if group == "main" else lanes)
                    xy, _ = s.sample(rng, k)
                    addr = k
                xy = xy + rng.uniform(-spread, spread, (size, 2))
                pick = rng.integers(0, len(group_cats), size)
                cat = np.array([code_ix[c] for c in group_cats])[pick]
            xy_parts.append(xy)
            cat_parts.append(cat)
            addr_parts.append(np.asarray(addr))
            place_parts.append(np.asarray(place))
        xy = np.concatenate(xy_parts)
        cat = np.concatenate(cat_parts).astype(np.int16)
        addr = np.concatenate(addr_parts).astype(np.int32)
        place = np.concatenate(place_parts).astype(np.int32)
        # two years of reports before now, 07:00–19:59
        now = np.datetime64(self.now, "s")
        day = rng.integers(0, 730, n)
        sec = rng.integers(7 * 3600, 20 * 3600, n) // 60 * 60
        midnight = now.astype("datetime64[D]").astype("datetime64[s]")
        reported = midnight - day.astype("timedelta64[D]") + sec.astype("timedelta64[s]")
        reported = np.where(reported > now, reported - np.timedelta64(1, "D"), reported)
        order = np.argsort(reported, kind="stable")
        xy, cat, addr, place, reported = xy[order], cat[order], addr[order], place[order], \
            reported[order]
        age = (now - reported).astype("timedelta64[D]").astype(np.int64)
        status = _statuses(age, rng.random(n))
        limit_h = np.array([float(issue_categories()[c]["time_limit_hours"]) for c in codes])
        stretch = rng.uniform(0.2, 1.6, n)
        closed = reported + (limit_h[cat] * 3600 * stretch).astype("timedelta64[s]")
        closed = np.minimum(closed, now)
        source = rng.choice(len(SOURCES), n, p=SOURCE_SHARES)
        _, comms = self.place(xy)
        templates = _templates()
        flat = [t for c in codes for t in templates[c]]
        first = np.cumsum([0] + [len(templates[c]) for c in codes])[:-1]
        count = np.array([len(templates[c]) for c in codes])
        tmpl = first[cat] + rng.integers(0, 1000, n) % count[cat]
        return {"lonlat": self.lonlat(xy), "cat": cat, "codes": codes, "addr": addr,
                "place": place, "text": text, "reported": reported, "closed": closed,
                "status": status, "source": source, "sub": self.comm_sub[comms],
                "sub_names": self.sub_names,
                "tmpl": tmpl, "templates": flat, "surname": rng.integers(0, len(SURNAMES), n),
                "given": rng.integers(0, len(GIVEN), n)}


STATUS_CODES = ["reported", "accepted", "dispatched", "handled", "verified", "closed",
                "returned", "deferred", "rejected"]
# geo.demo.city._status as cumulative thresholds: age band → [(upper bound of r, status)]
STATUS_BANDS: list[list[tuple[float, str]]] = [
    [(0.25, "reported"), (0.45, "accepted"), (0.7, "dispatched"), (0.85, "handled"),
     (0.9, "returned"), (1.0, "closed")],  # 0–7 days old
    [(0.55, "closed"), (0.65, "verified"), (0.75, "handled"), (0.88, "dispatched"),
     (0.93, "returned"), (1.0, "deferred")],  # 8–30 days
    [(0.86, "closed"), (0.91, "deferred"), (0.95, "rejected"), (0.97, "verified"),
     (1.0, "dispatched")],  # older: mostly closed
]


def _statuses(age_days: Array, r: Array) -> Array:
    """Status index (into STATUS_CODES) by age, as geo.demo.city gives them."""
    band = np.where(age_days > 30, 2, np.where(age_days > 7, 1, 0))
    out = np.zeros(len(r), dtype=np.int8)
    for b, cuts in enumerate(STATUS_BANDS):
        bounds = np.array([c for c, _ in cuts])
        codes = np.array([STATUS_CODES.index(st) for _, st in cuts])
        sel = band == b
        out[sel] = codes[np.minimum(np.searchsorted(bounds, r[sel], side="right"),
                                    len(codes) - 1)]
    return out


def _densify(poly: Any, step: float) -> Any:
    """poly with points every `step` metres along its edges, each edge divided from its
    lexicographically smaller end, so two cells sharing an edge get the same points."""
    ring = shapely.get_coordinates(poly.exterior)
    out = []
    for p, q in itertools.pairwise(ring):
        out.append(p)
        swap = tuple(q) < tuple(p)
        a, b = (q, p) if swap else (p, q)
        n = int(np.ceil(np.hypot(*(b - a)) / step))
        if n > 1:
            pts = a + (b - a) * (np.arange(1, n) / n)[:, None]
            out.extend(pts[::-1] if swap else pts)
    return shapely.Polygon(np.array(out))


def _templates() -> dict[str, list[str]]:
    with open(DATA_DIR / "demo" / "issue_templates.json", encoding="utf-8") as fh:
        return {k: v for k, v in json.load(fh).items() if not k.startswith("_")}


def _unique(names: list[str]) -> list[str]:
    """Names made unique by a number after the second and later copies."""
    seen: dict[str, int] = {}
    out = []
    for nm in names:
        seen[nm] = seen.get(nm, 0) + 1
        out.append(nm if seen[nm] == 1 else f"{nm}{seen[nm]}")
    return out


# --- writing --------------------------------------------------------------------------------
def _coords(xy: Array) -> str:
    return "[" + ",".join(f"[{x:.7f},{y:.7f}]" for x, y in xy.tolist()) + "]"


def write_geojson(path: Path, features: Iterable[tuple[str, dict[str, Any]]]) -> int:
    """Write (geometry JSON, properties) pairs as a GeoJSON FeatureCollection; the count."""
    n = 0
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write('{"type":"FeatureCollection","features":[\n')
        for geometry, props in features:
            if n:
                fh.write(",\n")
            fh.write('{"type":"Feature","properties":')
            fh.write(json.dumps(props, ensure_ascii=False, separators=(",", ":")))
            fh.write(',"geometry":')
            fh.write(geometry)
            fh.write("}")
            n += 1
        fh.write("\n]}\n")
    return n


def _line_features(city: City, lines: Lines) -> Iterator[tuple[str, dict[str, Any]]]:
    lonlat = city.lonlat(lines.xy)
    for k, props in enumerate(lines.props):
        yield '{"type":"LineString","coordinates":' + _coords(lonlat[k]) + "}", props


def _area_features(geoms: Array, props: list[dict[str, Any]]
                   ) -> Iterator[tuple[str, dict[str, Any]]]:
    yield from zip(shapely.to_geojson(geoms).tolist(), props, strict=True)


def _to_wgs84(city: City, warped: Array) -> Array:
    """Already-warped metric geometries → lon/lat."""
    return shapely.transform(warped, _to_wgs84_xy)


def _strings(values: Iterable[str]) -> Array:
    """A numpy string array of CSV-safe values (no quoting needed, so rows are plain joins)."""
    arr = np.array(list(values), dtype=StringDType())
    if any(c in v for v in arr.tolist() for c in ',"\r\n'):
        raise ValueError("a benchmark text contains a comma, quote or line break")
    return arr


def _decimal(v: Array, places: int) -> Array:
    """Floats as fixed-point text, vectorised (numpy's own formatting is slow per element)."""
    scaled = np.rint(np.abs(v) * 10**places).astype(np.int64)
    whole, frac = np.divmod(scaled, 10**places)
    sign = np.where(v < 0, "-", "").astype(StringDType())
    return np.strings.add(np.strings.add(np.strings.add(sign, whole.astype(StringDType())), "."),
                          np.strings.zfill(frac.astype(StringDType()), places))


def write_issues(path: Path, cols: dict[str, Any], seed: int) -> int:
    """The issue ledger as CSV (the documented columns), written CHUNK rows at a time; every
    column is built with numpy string operations."""
    n = len(cols["cat"])
    codes = _strings(cols["codes"])
    text = _strings(cols["text"])
    pre, post = (_strings(t.split("{place}")[i] + ("，请及时整改。" if i else "")
                          for t in cols["templates"]) for i in (0, 1))
    sub_names = _strings(cols["sub_names"])
    statuses, sources = _strings(STATUS_CODES), _strings(SOURCES)
    by_source = _strings(REPORTERS.get(src, "") for src in SOURCES)
    surnames, given = _strings(SURNAMES), _strings(GIVEN)
    closed_status = STATUS_CODES.index("closed")
    add = np.strings.add
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(ISSUE_COLUMNS) + "\n")
        for lo in range(0, n, CHUNK):
            sl = slice(lo, min(n, lo + CHUNK))
            ext = add(f"C{seed}-", np.strings.zfill(
                np.arange(sl.start, sl.stop).astype(StringDType()), 7))
            street = text[cols["addr"][sl]]
            place = cols["place"][sl]
            where = np.where(place >= 0, text[np.maximum(place, 0)], street)
            tmpl = cols["tmpl"][sl]
            status = cols["status"][sl]
            closed = np.where(status == closed_status,
                              np.datetime_as_string(cols["closed"][sl], unit="s"), "")
            src = cols["source"][sl]
            reporter = np.where(by_source[src] != "", by_source[src],
                                add(surnames[cols["surname"][sl]], given[cols["given"][sl]]))
            fields = [ext, codes[cols["cat"][sl]], add(add(pre[tmpl], where), post[tmpl]),
                      _decimal(cols["lonlat"][sl, 0], 6), _decimal(cols["lonlat"][sl, 1], 6),
                      add(sub_names[cols["sub"][sl]], street),
                      np.datetime_as_string(cols["reported"][sl], unit="s"),
                      closed.astype(StringDType()), statuses[status], sources[src], reporter]
            line = fields[0]
            for f in fields[1:]:
                line = add(add(line, ","), f.astype(StringDType()))
            fh.write("\n".join(line.tolist()))
            fh.write("\n")
    return n


def generate(out: Path, seed: int = 2026, scale: float = 1.0,
             now: datetime | None = None, issues: int | None = None) -> dict[str, Any]:
    """Write the city's import files into out (`issues`: that many issues instead of the
    scale's); returns the manifest (also manifest.json)."""
    now = now or datetime.combine(date.today(), datetime.min.time())
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    city = City(seed, scale, now, issues)
    files: dict[str, dict[str, Any]] = {}

    def wrote(name: str, kind: str, count: int) -> None:
        files[name] = {"kind": kind, "count": count, "bytes": (out / name).stat().st_size}

    gaps: dict[int, list[str]] = {}
    for z in np.flatnonzero(city.gap).tolist():
        gaps.setdefault(int(city.comm_sub[city.zone_comm[z]]), []).append(city.zone_names[z])
    sub_props = []
    people, phones = city.people(len(city.sub_geoms)), city.phones(len(city.sub_geoms))
    for k, nm in enumerate(city.sub_names):
        sub_props.append({"name": nm, "unit": nm, "responsible_person": people[k],
                          "phone": phones[k], "note": "基准数据：虚构城市。有意留下的责任区空白："
                          + "、".join(gaps.get(k, []))})
    wrote("subdistricts.geojson", "subdistrict", write_geojson(
        out / "subdistricts.geojson", _area_features(_to_wgs84(city, city.sub_geoms),
                                                     sub_props)))
    comm_props = []
    secretaries, phones = city.people(len(city.comm_names)), city.phones(len(city.comm_names))
    population = city.rng.integers(6000, 30000, len(city.comm_names)).tolist()
    for k, nm in enumerate(city.comm_names):
        comm_props.append({"name": nm, "subdistrict": city.sub_names[city.comm_sub[k]],
                           "unit": f"{nm}居委会", "secretary": secretaries[k],
                           "responsible_person": secretaries[k], "phone": phones[k],
                           "population": population[k],
                           "area_m2": round(float(shapely.area(city.comm_geoms[k])))})
    wrote("communities.geojson", "community", write_geojson(
        out / "communities.geojson", _area_features(_to_wgs84(city, city.comm_geoms),
                                                    comm_props)))
    wrote("streets.geojson", "street",
          write_geojson(out / "streets.geojson", _line_features(city, city.streets)))
    wrote("alleys.geojson", "alley",
          write_geojson(out / "alleys.geojson", _line_features(city, city.alleys)))
    market_feats, m_centres, m_streets, m_wh = city.markets()
    market_geoms = np.array([g for g, _ in market_feats], dtype=object)
    wrote("markets.geojson", "market", write_geojson(
        out / "markets.geojson", _area_features(city.geoms_lonlat(market_geoms),
                                                [p for _, p in market_feats])))
    points, s_xy, s_names, s_streets = city.test_points(m_centres, city.market_names)
    pt_lonlat = city.lonlat(np.array([xy for xy, _ in points]))
    wrote("test_points.geojson", "test_point", write_geojson(
        out / "test_points.geojson",
        ((f'{{"type":"Point","coordinates":[{x:.7f},{y:.7f}]}}', p)
         for (x, y), (_, p) in zip(pt_lonlat.tolist(), points, strict=True))))
    drawn = np.flatnonzero(~city.gap)
    zone_geoms = city.zone_warped.copy()
    grown = np.flatnonzero(city.overlap)
    zone_geoms[grown] = shapely.intersection(shapely.buffer(zone_geoms[grown], OVERLAP_M),
                                             city.jurisdiction)
    zone_props = []
    for z in drawn.tolist():
        note = (f"基准数据：向外扩展 {OVERLAP_M:.0f} 米，与相邻责任区重叠" if city.overlap[z]
                else "")
        zone_props.append({"name": city.zone_names[z], "zone_type": str(city.zone_type[z]),
                           "unit": city.zone_unit[z], "responsible_person": city.zone_person[z],
                           "phone": city.zone_phone[z],
                           "community": city.comm_names[city.zone_comm[z]], "note": note})
    wrote("zones.geojson", "zone", write_geojson(
        out / "zones.geojson", _area_features(_to_wgs84(city, zone_geoms[drawn]), zone_props)))
    cols = city.issues((m_centres, m_wh, m_streets), (s_xy, s_names, s_streets))
    wrote("issues.csv", "issues", write_issues(out / "issues.csv", cols, seed))
    manifest = {"seed": seed, "scale": scale, "now": now.isoformat(), "files": files,
                "zone_cells": len(city.zone_names), "gap_zones": int(city.gap.sum()),
                "overlap_zones": int(city.overlap.sum()),
                "extent_wgs84": [round(v, 6) for v in shapely.bounds(
                    _to_wgs84(city, np.array([city.jurisdiction], dtype=object))[0]).tolist()],
                "import_order": [name for name, _ in import_steps(out, "URL")]}
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n",
                                       encoding="utf-8")
    manifest["seconds"] = round(time.perf_counter() - t0, 1)
    return manifest


def _to_wgs84_xy(xy: Array) -> Array:
    """Already-warped metres → lon/lat."""
    return np.column_stack([LON0 + xy[:, 0] / M_PER_DEG_LON, LAT0 + xy[:, 1] / M_PER_DEG_LAT])


# --- importing ------------------------------------------------------------------------------
LAYER_FILES = [("subdistricts.geojson", "subdistrict"), ("communities.geojson", "community"),
               ("streets.geojson", "street"), ("alleys.geojson", "alley"),
               ("markets.geojson", "market"), ("test_points.geojson", "test_point")]


def import_steps(out: Path, db_url: str) -> list[tuple[str, list[str]]]:
    """The `ccmap` arguments that import the files in order: layers, zones, issues."""
    steps = [(name, ["import", "layer", str(out / name), "--kind", kind, "--db", db_url,
                     "--json"]) for name, kind in LAYER_FILES]
    steps.append(("zones.geojson", ["import", "zones", str(out / "zones.geojson"),
                                    "--db", db_url, "--json"]))
    steps.append(("issues.csv", ["import", "issues", str(out / "issues.csv"), "--db", db_url,
                                 "--json"]))
    return steps


@dataclass
class StepResult:
    """One import step: what ran, how long, its peak memory and what it said."""

    name: str
    seconds: float
    max_rss_mb: float
    returncode: int | None  # None: killed at the time limit
    imported: int | None
    message: str


def _rss_mb(pid: int) -> float:
    """The current resident set of a live process, from /proc (0 where there is none)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_step(name: str, args: list[str], timeout: float | None, log: Path,
             max_rss_mb: float | None = None, module: str = "server.cli") -> StepResult:
    """Run `python -m server.cli ARGS` as a child; wall time and the child's own peak RSS
    (os.wait4's rusage). The child is killed past `timeout` seconds or `max_rss_mb`."""
    why = ""
    with log.open("wb") as out:
        t0 = time.perf_counter()
        command = [sys.executable, *(["-m", module] if module else []), *args]
        proc = subprocess.Popen(command, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if timeout is not None and time.perf_counter() - t0 > timeout:
                    why = f"killed at the time limit ({timeout:g} s)"
                elif max_rss_mb is not None and _rss_mb(proc.pid) > max_rss_mb:
                    why = f"killed at the memory limit ({max_rss_mb:g} MB RSS)"
                if why:
                    os.killpg(proc.pid, 9)  # our own child's process group
                    pid, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.1)
        except BaseException:  # interrupted: leave no import running behind us
            os.killpg(proc.pid, 9)
            os.wait4(proc.pid, 0)
            raise
        seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(encoding="utf-8", errors="replace").strip()
    imported = None
    with contextlib.suppress(ValueError, KeyError, IndexError, TypeError):
        imported = int(json.loads(text.splitlines()[-1])["imported"])
    return StepResult(name, round(seconds, 2), round(usage.ru_maxrss / 1024, 1),
                      None if why else proc.returncode, imported, why or text[-400:])


def _backend(db_url: str) -> str:
    """sqlite or postgresql: names the log files of a run, so two backends can run at once."""
    return "sqlite" if db_url.startswith("sqlite") else "postgresql"


def fresh_database(db_url: str, schema: str) -> str:
    """An empty database at db_url: SQLite's file removed, or a new PostgreSQL schema (its
    URL, with the search_path, is returned)."""
    if db_url.startswith("sqlite:///"):
        Path(db_url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        return db_url
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in db_url else "?"
    return f"{db_url}{sep}options=-csearch_path%3D{schema},public"


def run_import(out: Path, db_url: str, timeout: float | None = None,
               max_rss_mb: float | None = None) -> list[StepResult]:
    """Import the files in out with the real CLI, step by step, printing each step; first
    the cost of starting a CLI process that loads the import modules, for reference."""
    results = []
    startup = ["-c", "import server.cli, geo.layers.reading, geo.ledger.mapping, "
               "geo.ledger.writes, geo.zones.editing"]
    steps = [("start-up only", startup), *import_steps(out, db_url)]
    backend = _backend(db_url)
    for name, args in steps:
        log = out / f"import-{backend}-{name.replace(' ', '-')}.log"
        r = run_step(name, args, timeout, log, max_rss_mb,
                     module="server.cli" if args is not startup else "")
        results.append(r)
        print(f"  {name:22s} {r.seconds:9.2f} s  peak RSS {r.max_rss_mb:8.1f} MB  "
              f"imported {r.imported if r.imported is not None else '-':>8}  "
              + ("ok" if r.returncode == 0 else f"FAILED: {r.message}"), flush=True)
        if r.returncode != 0:
            break
    return results


# pages and API calls timed by --serve-check (the first screen of the map, then the layers)
SERVE_PATHS = ["/", "/api/layers", "/api/layers/zone", "/api/layers/street",
               "/api/layers/test_point", "/api/issues", "/api/issues.geojson"]


def serve_check(db_url: str, log: Path, timeout: float = 600) -> list[dict[str, Any]]:
    """Serve db_url with `ccmap serve` on 127.0.0.1 and time the map page and layer/issue
    calls as a freshly created admin; the server is stopped afterwards."""
    username, password = add_user(db_url, "admin")
    rows: list[dict[str, Any]] = []
    with served(db_url, log, timeout) as server:
        base = server.base
        rows.append({"path": "(serve start-up)", "status": 200, "bytes": 0,
                     "seconds": server.startup_s})
        print(f"  serve start-up {rows[-1]['seconds']:.2f} s", flush=True)
        bearer = token(base, username, password)
        for path in SERVE_PATHS:
            t = time.perf_counter()
            try:
                status, body = http(base + path, bearer, timeout=timeout)
            except OSError as exc:  # a timeout: say so and go on
                status, body = 0, str(exc).encode()
            rows.append({"path": path, "status": status, "bytes": len(body),
                         "seconds": round(time.perf_counter() - t, 2)})
            print(f"  GET {path:28s} {rows[-1]['seconds']:8.2f} s  HTTP {status}  "
                  f"{len(body) / 1e6:8.2f} MB", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command line: generate the city, and optionally import it."""
    ap = argparse.ArgumentParser(prog="python -m bench.city", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for the files")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--scale", type=float, default=1.0, help="1.0 = design size; 0.01 for CI")
    ap.add_argument("--issues", type=int, default=None,
                    help="issues to generate instead of the scale's (10000000: a province's "
                         "ledger over the same streets and zones)")
    ap.add_argument("--now", type=date.fromisoformat, default=None,
                    help="the day the two years of issues end (default: today)")
    ap.add_argument("--import", dest="do_import", action="store_true",
                    help="import the files with the ccmap CLI and time each step")
    ap.add_argument("--db", help="database URL for --import (sqlite:///… or postgresql://…)")
    ap.add_argument("--fresh", action="store_true",
                    help="start from an empty database: delete the SQLite file, or (PostgreSQL) "
                         "drop and create --schema and import into it")
    ap.add_argument("--schema", default="bench_city", help="PostgreSQL schema for --fresh")
    ap.add_argument("--no-generate", action="store_true", help="import existing files")
    ap.add_argument("--timeout", type=float, help="seconds allowed per import step")
    ap.add_argument("--serve-check", action="store_true",
                    help="after importing (or on --db as it is), serve it and time the map "
                         "page and the layer/issue API calls")
    ap.add_argument("--max-rss-mb", type=float,
                    help="kill an import step whose resident memory grows past this")
    args = ap.parse_args(argv)
    if (args.do_import or args.serve_check) and not args.db:
        ap.error("--import and --serve-check need --db")
    if not args.no_generate:
        now = datetime.combine(args.now, datetime.min.time()) if args.now else None
        m = generate(args.out, args.seed, args.scale, now, args.issues)
        print(f"bench.city: seed {m['seed']}, scale {m['scale']}, issues up to {m['now']}, "
              f"{m['seconds']} s; extent {m['extent_wgs84']}")
        for name, f in m["files"].items():
            print(f"  {name:22s} {f['kind']:12s} {f['count']:>9} rows  "
                  f"{f['bytes'] / 1e6:9.1f} MB")
        print(f"  zones: {m['zone_cells']} cells, {m['gap_zones']} left undrawn (gaps), "
              f"{m['overlap_zones']} grown {OVERLAP_M:.0f} m (overlaps)")
    if args.do_import:
        url = fresh_database(args.db, args.schema) if args.fresh else args.db
        print(f"importing into {url}")
        t0 = time.perf_counter()
        results = run_import(args.out, url, args.timeout, args.max_rss_mb)
        total = time.perf_counter() - t0
        print(f"  total {total:.1f} s")
        (args.out / f"import-{_backend(url)}.json").write_text(json.dumps(
            {"db": url, "total_s": round(total, 1), "steps": [r.__dict__ for r in results]},
            ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        if any(r.returncode != 0 for r in results):
            return 1
        args.db = url
    if args.serve_check:
        print(f"serving {args.db}")
        backend = _backend(args.db)
        rows = serve_check(args.db, args.out / f"serve-{backend}.log", args.timeout or 600)
        (args.out / f"serve-{backend}.json").write_text(json.dumps(rows, indent=1) + "\n",
                                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
