"""All runtime settings in one class; environment variables use the CCMAP_ prefix."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from geo import CHECKOUT, STATIC_DIR
from geo.analytics.indicator_rules import DEFAULT_WEIGHTS, IndicatorRules, check_weights
from geo.calendar.worktime import DEFAULT_OFFICE_HOURS, parse_office_hours
from geo.layers.userfiles import FileLimits
from geo.ledger.casework import CaseRules
from geo.model.errors import CcmapError
from geo.store import DEFAULT_POOL_SIZE, in_memory

# PostgreSQL connections that `ccmap serve`'s processes share when the pool is not set: 80 of
# PostgreSQL's default max_connections (100), the rest left to psql, the CLI and backups
CONNECTION_BUDGET = 80
# the processes `ccmap serve` runs by default at most, however many cores: each loads the GIS
# libraries and keeps its own tile memory cache; more take an explicit --workers N
MAX_DEFAULT_WORKERS = 8


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity, where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# the database and tile caches by default: var/ in a source checkout, else var/ in the
# directory ccmap is started from (an installed wheel)
VAR = (CHECKOUT if CHECKOUT is not None else Path.cwd()) / "var"


class Settings(BaseSettings):
    """ccmap settings (env: CCMAP_DATABASE_URL, CCMAP_BASEMAP, ...)."""

    model_config = SettingsConfigDict(env_prefix="CCMAP_", extra="ignore")

    database_url: str = f"sqlite:///{VAR / 'ccmap.db'}"
    host: str = "127.0.0.1"
    port: int = 8000
    # server processes (`ccmap serve --workers N`), 0: one per CPU core, at most
    # MAX_DEFAULT_WORKERS. State is in the database, so any process can answer any request
    # (README "Serving with several processes"); a cold map tile is CPU-bound Python, which
    # one process runs on one core
    workers: Annotated[int, Field(ge=0)] = 0
    # PostgreSQL connections each process keeps open, as many again while a burst lasts: about
    # the requests it answers at once (a map move asks for 12 tiles). Not set, `ccmap serve`'s
    # processes share CONNECTION_BUDGET (pool_per_process); set, N processes x 2 x this must
    # stay under PostgreSQL's max_connections (100 by default)
    db_pool_size: Annotated[int, Field(ge=1, le=200)] = DEFAULT_POOL_SIZE
    # of them, opened when the process starts and made to plan a query over the issues once
    # (a new PostgreSQL backend's first one takes 30 ms more): a browser's 6 at a time
    db_warm_connections: Annotated[int, Field(ge=0, le=200)] = 8
    # at start-up, before it takes requests, the server has FastAPI make every route's request
    # handling, which FastAPI does for a router when a request first meets it (about 1 s of a
    # new server's first page on a 2-core machine). The tests switch it off: it is the same
    # handling, made later
    warm_routes: bool = True
    # osm | tianditu | amap | none | a custom tile URL template with {z}/{x}/{y}
    basemap: str = "osm"
    tianditu_key: str = ""
    basemap_attribution: str = ""
    # limits on what users send over HTTP (413/422 beyond them); the CLI uses cli_limits()
    max_upload_mb: float = 50.0  # request body, counted while it streams to a temporary file
    max_unpacked_mb: float = 500.0  # everything inside an uploaded archive (.zip, .xlsx)
    max_import_rows: int = 200_000  # rows of one issue ledger or CSV layer upload
    max_layer_features: int = 100_000  # features of one layer upload
    max_geometry_vertices: int = 100_000  # vertices of one geometry (upload or drawn zone)
    max_photo_mb: float = 10.0
    max_photo_pixels: int = 40_000_000  # decoded photo size (decompression bombs)
    max_export_pixels: int = 60_000_000  # PNG/PDF snapshot width × height
    # heavy work (parsing, validation, routing, exports) runs in this many worker threads;
    # an upload larger than job_threshold_mb (or any import over HTTP) becomes a job
    worker_threads: int = 2
    job_threshold_mb: float = 1.0  # a GeoJSON request body up to this is answered at once (201)
    # a queued/running job whose process has not written its heartbeat (at least once a minute)
    # for this long is reported and stored as failed: its process died (kill -9, a crash)
    job_stale_minutes: Annotated[float, Field(ge=2.0)] = 10.0
    # how long the route solver searches for shorter, better balanced rounds made over HTTP
    # (POST /api/plan/rounds; the CLI's --time-limit): it always searches this long
    plan_solver_seconds: Annotated[float, Field(gt=0, le=60)] = 2.0
    # the CLI streams too, with these higher limits
    cli_max_import_rows: int = 20_000_000
    # issue ledgers are read, routed and written this many rows at a time (one transaction
    # each: a killed import leaves whole chunks, a rerun finishes it); HTTP and the CLI
    import_chunk_rows: Annotated[int, Field(ge=1)] = 50_000
    cli_max_layer_features: int = 5_000_000
    cli_max_unpacked_mb: float = 20_000.0
    # list and GeoJSON answers come in pages (limit/offset, numberMatched, a next link):
    # page_size when the caller gives no limit; a limit over max_page is refused (422)
    page_size: int = 1000
    max_page: int = 10_000
    static_dir: Path = STATIC_DIR
    title: str = "创城点位地图"
    # the CLI's language (zh-CN | en): its messages and the files it writes (`--lang` wins);
    # a request over HTTP negotiates its own (geo.i18n.negotiate)
    locale: Literal["zh-CN", "en"] = "zh-CN"
    # zones: the part outside the jurisdiction is clipped or the save refused; overlap with a
    # zone of the same type gives a warning or refuses the save
    zone_outside: Literal["clip", "refuse"] = "clip"
    zone_overlap: Literal["warn", "refuse"] = "warn"
    # accounts
    session_hours: float = 12.0
    access_token_hours: float = 12.0
    lockout_attempts: int = 5
    lockout_window_minutes: float = 15.0
    lockout_minutes: float = 15.0
    password_min_length: int = 10
    password_change_attempts: int = 5  # per user within lockout_window_minutes
    # a claim (认领) on an issue holds it for this long; others' writes get 409 meanwhile
    claim_minutes: Annotated[float, Field(gt=0, le=7 * 24 * 60)] = 30.0
    # Secure flag on cookies: auto = when the request came over HTTPS (run behind TLS in
    # production; plain http is only for 127.0.0.1 and the demo)
    cookie_secure: str = "auto"
    # vector tiles: encoded tiles are cached keyed by their ETag (the layers' versions in the
    # database), so a cached tile is never stale: in memory per process (tile_cache_mb), then
    # on disk, shared by every process of the machine and by `ccmap tiles seed`, bounded to
    # tile_cache_disk_mb (the least recently used tiles go first). tile_cache_dir: a directory,
    # `none` (no disk cache) or `auto`: beside a SQLite file (<file name>.tiles), for
    # PostgreSQL var/tiles/<short hash of the URL without its password>; an in-memory database
    # has none. The directory belongs to its database: delete it when the database is replaced
    tile_cache_mb: float = 64.0
    tile_cache_dir: str = "auto"
    tile_cache_disk_mb: Annotated[float, Field(gt=0)] = 2000.0
    # every tile_reseed_seconds (0: never) the server rebuilds, for up to
    # tile_reseed_budget_seconds, the seeded page tiles that writes changed since the last time
    # (geo.maps.seeding.Reseeder; one process of the machine when there is a disk cache)
    tile_reseed_seconds: Annotated[float, Field(ge=0)] = 10.0
    tile_reseed_budget_seconds: Annotated[float, Field(gt=0, le=600)] = 2.0
    # with a disk cache, the reseeding passes then seed the whole city once per database, as
    # `ccmap tiles seed` does, with what their budget leaves (up to half the disk cache's bound)
    tile_seed_city: bool = True
    # the offline inspection app (/field): photos are downscaled on the device to this long
    # edge before they are stored; the vector tiles of the round's area are cached on the
    # device up to field_tile_cache_mb, at map zooms field_tile_min_zoom..field_tile_max_zoom
    field_photo_max_px: Annotated[int, Field(ge=320, le=8000)] = 1600
    field_tile_cache_mb: Annotated[float, Field(gt=0, le=2000)] = 50.0
    field_tile_min_zoom: Annotated[int, Field(ge=1, le=20)] = 13
    field_tile_max_zoom: Annotated[int, Field(ge=1, le=20)] = 17
    # 考评指标 (geo/analytics/indicators.py): 缓办/挂账 (deferred) cases left out of 应结案数,
    # and the weights of 综合指标值 (JSON, e.g. CCMAP_INDICATOR_WEIGHTS='{"on_time_rate": 0.4,
    # "closure_rate": 0.3, "no_rework_rate": 0.15, "no_extension_rate": 0.15}', the default)
    indicators_exclude_deferred: bool = True
    indicator_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    @field_validator("indicator_weights")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        try:
            return check_weights(value)
        except CcmapError as exc:
            raise ValueError(exc.message) from None

    def indicator_rules(self) -> IndicatorRules:
        """The rules of the evaluation indicators these settings choose."""
        return IndicatorRules(self.indicators_exclude_deferred, self.indicator_weights)
    # the case clock (geo.ledger.casework): office hours in Beijing time (naive times are
    # Beijing time: run the server with TZ=Asia/Shanghai), what a 返工 does to the deadline
    # (restart: a fresh limit from the return | keep), how far past the deadline a 延期 may
    # reach (natural days), and after how many failed verifications a case is 督办
    office_hours: str = DEFAULT_OFFICE_HOURS
    rework_deadline: Literal["restart", "keep"] = "restart"
    extension_max_days: Annotated[float, Field(gt=0, le=366)] = 30.0
    escalate_reworks: Annotated[int, Field(ge=1)] = 3

    @field_validator("office_hours")
    @classmethod
    def _office_hours(cls, value: str) -> str:
        try:
            parse_office_hours(value)
        except CcmapError as exc:
            raise ValueError(exc.message) from None
        return value

    def case_rules(self) -> CaseRules:
        """The clock's rules from these settings."""
        return CaseRules(self.office_hours, self.rework_deadline, self.extension_max_days,
                         self.escalate_reworks)
    # notifications (geo.notify): e-mail over SMTP (off without a host: e-mails wait), the
    # retries of e-mails and webhooks, the deadline scan, and the server's background loop
    # (it sends what is due every notify_send_seconds and scans every notify_scan_minutes;
    # 0: no loop in this process, `ccmap notify send|scan` from cron instead)
    smtp_host: str = ""
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "ccmap@localhost"
    smtp_starttls: bool = False
    notify_due_soon_hours: Annotated[float, Field(gt=0)] = 2.0  # working hours
    notify_max_attempts: Annotated[int, Field(ge=1)] = 6
    notify_retry_minutes: Annotated[float, Field(gt=0)] = 1.0  # doubles after each failure
    notify_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0  # SMTP and webhook calls
    notify_send_seconds: Annotated[float, Field(ge=0)] = 30.0
    notify_scan_minutes: Annotated[float, Field(gt=0)] = 5.0
    # Open311 GeoReport v2 without an api_key (README "Open311 for any client"): the service
    # list, the requests the public may see (立案 onwards, never 上报 or 不予立案; off by
    # default: publishing case data is the city's decision), positions rounded to this many
    # decimals for such readers (none: as stored), and at most this many such reads per client
    # IP a minute, counted in the database for every process (0: no limit). POST always
    # needs an api_key; a key or token reads as before (its unit's scope, exact positions)
    open311_public_services: bool = True
    open311_public_requests: bool = False
    open311_public_decimals: Annotated[int | None, Field(ge=0, le=8)] = None
    open311_public_rate: Annotated[int, Field(ge=0)] = 60

    def tile_cache_path(self) -> Path | None:
        """The disk tile cache's directory (tile_cache_dir resolved), None for no disk cache."""
        from geo.maps.tilecache import disk_cache_dir

        return disk_cache_dir(self.database_url, self.tile_cache_dir, VAR / "tiles")

    def server_processes(self) -> int:
        """The processes `ccmap serve` runs: `workers`, or (0) one per CPU core up to
        MAX_DEFAULT_WORKERS, one for an in-memory SQLite database (each process would have its
        own)."""
        if self.workers:
            return self.workers
        return 1 if in_memory(self.database_url) else min(usable_cores(), MAX_DEFAULT_WORKERS)

    def pool_per_process(self, processes: int) -> int:
        """Each of `processes` processes' PostgreSQL pool: db_pool_size when it was set, else
        the default shrunk so that every process's connections, bursts included (twice the
        pool), stay within CONNECTION_BUDGET."""
        if "db_pool_size" in self.model_fields_set or processes <= 1:
            return self.db_pool_size
        return max(1, min(self.db_pool_size, CONNECTION_BUDGET // (2 * processes)))

    def file_limits(self, cli: bool = False) -> FileLimits:
        """Limits on the content of a user's file: HTTP uploads, or the CLI's higher ones."""
        if cli:
            return FileLimits(max_unpacked_bytes=int(self.cli_max_unpacked_mb * 1e6),
                              max_rows=self.cli_max_import_rows,
                              max_features=self.cli_max_layer_features,
                              max_vertices=self.max_geometry_vertices,
                              setting_prefix="CCMAP_CLI_")
        return FileLimits(max_unpacked_bytes=int(self.max_unpacked_mb * 1e6),
                          max_rows=self.max_import_rows, max_features=self.max_layer_features,
                          max_vertices=self.max_geometry_vertices)


def load_settings(**overrides: Any) -> Settings:
    """The settings (CCMAP_ environment, .env, overrides); a bad value is a CcmapError naming it."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"CCMAP_{'_'.join(str(p) for p in err['loc']).upper()}={err.get('input')!r}: "
            f"{err['msg']}" for err in exc.errors())
        raise CcmapError(f"配置项无效：{problems}") from None
