"""Seeding the tile caches with what the map page asks for: `ccmap tiles seed` (the page's
tiles over the city, SeedPlan, page_plans, seed) and the server's background Reseeder, which
rebuilds the seeded tiles that writes changed, the views the page opens on when a database is
new, and then the whole city."""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from geo.maps.tilecache import DATABASE_ID, TileCaches, TileRequest, tile_data, tile_tags
from geo.model.errors import InvalidInput
from geo.model.kinds import Kind
from geo.store import BBox, IssueQuery, Store
from geo.tiling.tiles import (
    EXTENT,
    ISSUE_LAYER,
    NextDeadlines,
    Tile,
    TileCache,
    block_bounds,
    feature_blocks,
    issue_blocks,
    tile_of,
)

try:  # POSIX: one process of the machine reseeds
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("ccmap.tiles")


# --- seeding ----------------------------------------------------------------------------------
# What the page asks for (static/js/tilegrids.js and loading.js; keep in step with them): the
# tiled layers (TILED) that are on when the page opens share one grid of BASE_TILE_PX tiles, a
# 512-pixel tile of zoom z drawn at map zoom z + 1 from map zoom 1 on; a planner's list drops
# `zone` from ZONE_EDIT_ZOOM on (editable GeoJSON there); the issue grid holds the test points
# at every zoom when there are more than MAX_TEST_POINTS, and the issues below
# ISSUE_TILE_ZOOM, and at every zoom when the ledger holds more than MAX_ISSUE_POINTS.
PAGE_TILED = frozenset({"street", "alley", "community", "subdistrict", "zone"})
PAGE_TILE_PX = 512
# the properties the page draws with (a zone's colour is its unit's, an issue point's its
# status'; a click fetches the feature or issue by its id, which every tile carries): names
# and categories would more than double a city's tiles, a unit on every street took a fifth
# of a street tile's time (json_extract on SQLite) for nothing drawn, and an issue point's id,
# category and overdue flag were two thirds of a street-level issue tile's bytes; a test
# point's colour is its category's
PAGE_FIELDS = "zone:unit,test_point:category,issues:status"
ZONE_EDIT_ZOOM = 15
ISSUE_TILE_ZOOM = 14
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
    from geo.maps.mapview import MAX_ISSUE_POINTS, counted_issues, tiled_test_points

    for given in (min_zoom, max_zoom):
        if given is not None and not 1 <= given <= PAGE_MAX_ZOOM:
            raise InvalidInput(f"地图缩放级别须在 1 到 {PAGE_MAX_ZOOM} 之间，不能是 {given}")
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
        raise InvalidInput(f"起始缩放级别（{min_zoom}）大于结束缩放级别（{max_zoom}）")
    zooms = tuple(range(max(min_zoom, 1), max_zoom + 1))  # the 512-pixel grid starts at 1
    base = page_base_layers()
    planner = tuple(k for k in base if k != Kind.zone.value)
    if tiled_test_points(store):  # the issue grid's own layer, below the issues
        base, planner = (*base, Kind.test_point.value), (*planner, Kind.test_point.value)
    issue_zooms: tuple[int, ...] = ()
    if issues:
        many = counted_issues(store) > MAX_ISSUE_POINTS
        issue_zooms = tuple(z for z in zooms if many or z < ISSUE_TILE_ZOOM)
    lists = [(base, zooms)]
    if planner != base:
        lists.append((planner, tuple(z for z in zooms if z >= ZONE_EDIT_ZOOM)))
    # where the page shows issue tiles, a move asks for one tile of both grids (the layers,
    # then the test points and the issues: static/js/tiles.js, sendQueued), built from each
    # layer's cached tile, which seeding caches too; elsewhere, the shared grid's tile (and the
    # test points)
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
    return (*sorted(PAGE_TILED), Kind.test_point.value, ISSUE_LAYER)


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
        # the city's tiles go to disk only: they would push what users asked for out of memory
        self._fill_caches = TileCaches(TileCache(0), caches.disk)
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

    def behind(self, quiet: bool) -> bool:
        """Whether the next pass should come at the loop's next tick, not at its interval:
        tiles writes changed are queued, or the whole city is being seeded and `quiet` (no
        request came since the loop last asked: the seeding takes the CPU users leave)."""
        return self.status.pending > 0 or (quiet and self.status.city_pending > 0)

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
        # the fill looks on disk only: what the queue built in this pass (the opening views)
        # may still be on its way there from the writer's thread
        if report.built:
            self.caches.flush()
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
            _seed_one(self.store, self._fill_caches, tile, plan, self._deadlines, report)
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
            self._since, self.status.city_seeded = self._saved(database)
            self._database, self._fill = database, None
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

    def _saved(self, database: int) -> tuple[dict[str, int] | None, bool]:
        """Where the last pass on this database left off (None: never, or no disk cache), and
        whether it had seeded the whole city, from the state file (read once)."""
        if self._root is None:
            return None, False
        try:
            doc = json.loads((self._root / RESEED_STATE).read_text(encoding="utf-8"))
            if doc.get("database") != database:
                return None, False
            versions = doc["versions"]
            return ({name: int(versions.get(name, 0)) for name in watched_layers()},
                    doc.get("city") is True)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None, False

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
