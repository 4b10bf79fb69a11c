"""The `ccmap` command line: acts on the database directly as a local administrator."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geo.i18n import DEFAULT, LOCALES, translate, translator
from geo.model.errors import CcmapError, ImportRejected
from geo.model.kinds import Kind
from geo.store import Store, in_memory
from server.cli_casework import add_calendar_commands
from server.cli_export import add_export_commands
from server.cli_notify import add_notify_commands
from server.cli_plan import add_plan_commands
from server.settings import Settings, load_settings

if TYPE_CHECKING:
    from geo.maps.tilecache import DiskTileCache

WORKER_PING_TIMEOUT_S = 120  # see cmd_serve


@contextmanager
def opened(url: str) -> Iterator[Store]:
    """The store at url, closed afterwards."""
    from geo.store import open_store

    store = open_store(url)
    try:
        yield store
    finally:
        store.close()


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "db", None):
        overrides["database_url"] = args.db
    if getattr(args, "port", None):
        overrides["port"] = args.port
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "workers", None):
        overrides["workers"] = args.workers
    return load_settings(**overrides)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _field_map(pairs: Sequence[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        field, sep, column = pair.partition("=")
        if not sep or not field or not column:
            raise CcmapError(f"--map 参数格式应为 FIELD=COLUMN，实际为 {pair!r}")
        out[field.strip()] = column.strip()
    return out


def _emit(args: argparse.Namespace, doc: dict[str, Any], text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(doc, ensure_ascii=False, default=str))
    else:
        print(text)


def _tile_tree(root: Path, settings: Settings, say: bool = True) -> DiskTileCache:
    """The disk tile cache at root, its directories made first (once for a cache): the first
    map moves of a new cache, or a seeding's first tiles, otherwise wait for them."""
    from geo.maps.tilecache import DiskTileCache

    disk = DiskTileCache(root, int(settings.tile_cache_disk_mb * 1e6))
    if not disk.has_tree():
        if say:
            print(f"ccmap: 准备瓦片缓存目录 {root} …", file=sys.stderr, flush=True)
        disk.make_tree()
    return disk


def _make_tile_tree(settings: Settings) -> None:
    """Make the disk tile cache's directories before serving (see _tile_tree)."""
    root = settings.tile_cache_path()
    if root is not None:
        _tile_tree(root, settings)


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the map and API with uvicorn: in this process, or in several (--workers N, or by
    default one per CPU core)."""
    import os

    import uvicorn

    from server.app import create_app
    from server.security import uvicorn_log_config

    settings = _settings(args)
    workers, url = settings.server_processes(), settings.database_url
    if workers > 1 and in_memory(url):
        raise CcmapError("使用 --workers 时，数据库须能被每个工作进程打开：内存 SQLite "
                         "数据库在各进程中互不相同")
    _make_tile_tree(settings)
    pool = settings.pool_per_process(workers)
    print(f"ccmap: serving {url} at http://{settings.host}:{settings.port}/"
          + (f" with {workers} worker processes" if workers > 1 else "")
          + (f" ({pool} PostgreSQL connections each)" if url.startswith("postgresql") else ""))
    # the access log would otherwise print Open311 clients' ?api_key=… in full
    log_config = uvicorn_log_config()
    if workers == 1:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                    log_level="info", log_config=log_config)
        return 0
    from geo.maps.basemaps import resolve_basemap

    resolve_basemap(settings.basemap, settings.tianditu_key)  # say it once, before forking
    with opened(url):  # migrate once here, not in N processes at once
        pass
    # each worker process builds its own app (server.app:app_from_env) from the environment
    os.environ.update({"CCMAP_DATABASE_URL": url, "CCMAP_HOST": settings.host,
                       "CCMAP_PORT": str(settings.port), "CCMAP_WORKERS": str(workers),
                       "CCMAP_DB_POOL_SIZE": str(pool)})
    # uvicorn kills a worker that does not answer its ping within this many seconds: a cold
    # start (loading the GIS libraries) or a long C call holding the GIL may take more than
    # its default 5 s, and killing then would lose the worker's requests and jobs
    uvicorn.run("server.app:app_from_env", factory=True, workers=workers, host=settings.host,
                port=settings.port, log_level="info", log_config=log_config,
                timeout_worker_healthcheck=WORKER_PING_TIMEOUT_S)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Build the demo database (replacing its contents), then serve it unless --no-serve."""
    from tqdm import tqdm

    from geo.demo.city import DEMO_STEPS, build_demo, build_demo_plan

    settings = _settings(args)
    # building takes minutes: one step of the bar (stderr) per stage, named as it starts
    with opened(settings.database_url) as store, tqdm(
            total=len(DEMO_STEPS), desc="ccmap demo", unit=" steps", file=sys.stderr,
            disable=args.json and not args.progress,
            bar_format="{desc} {n_fmt}/{total_fmt} {bar} {elapsed}") as bar:
        def step(name: str) -> None:
            if bar.n or name != DEMO_STEPS[0]:
                bar.update(1)
            bar.set_description(f"ccmap demo: {name}")

        summary = build_demo(store, step=step)
        summary.update(build_demo_plan(store, step=step))
        bar.update(1)
        bar.set_description("ccmap demo: done")
        summary["issues"] = store.issue_count()  # failed inspection items became issues
    _emit(args, summary, "ccmap demo: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    if args.no_serve:
        return 0
    return cmd_serve(args)


def cmd_import_layer(args: argparse.Namespace) -> int:
    """Import a GeoJSON / GeoPackage / zipped Shapefile / CSV file as one layer kind."""
    from geo.jobs.uploads import LayerUpload, import_layer
    from geo.zones.editing import ZonePolicy

    kind = Kind.zone if args.command == "zones" else Kind(args.kind)
    settings = _settings(args)
    path = Path(args.file)
    upload = LayerUpload(path, path.name, kind, coords=args.coords,
                         field_map=_field_map(args.map),
                         policy=ZonePolicy(settings.zone_outside, settings.zone_overlap),
                         limits=settings.file_limits(cli=True), progress_bar=not args.json)
    with opened(settings.database_url) as store:
        report = import_layer(store, upload, _cli_actor())
    doc = {"imported": report["imported"], "skipped": 0, "errors": 0, "kind": kind.value,
           "warnings": report["warnings"], "rerouted_issues": report.get("rerouted_issues", 0)}
    lines = [f"imported {report['imported']} {kind.value} features from {args.file}"]
    lines += [f"  row {p['row']}: {p['reason']}" for p in report["warnings"]]
    _emit(args, doc, "\n".join(lines))
    return 0


def cmd_import_osm(args: argparse.Namespace) -> int:
    """Import streets, alleys, markets and candidate test points from an OSM file."""
    from geo.layers.osm import read_osm

    result = read_osm(Path(args.file), limits=_settings(args).file_limits(cli=True))
    with opened(_settings(args).database_url) as store:
        ids = store.add_features(result.features, actor=_cli_actor())
    counts = result.counts()
    doc = {"imported": len(ids), "skipped": result.skipped, "errors": 0, "by_kind": counts}
    _emit(args, doc, f"imported {len(ids)} features from {args.file}: "
          + ", ".join(f"{k} {n}" for k, n in counts.items()))
    return 0


def cmd_import_issues(args: argparse.Namespace) -> int:
    """Import an issue ledger (CSV/.xlsx) chunk by chunk; bad rows are reported, the good rows
    of each chunk written in one transaction (a rerun skips the stored external ids)."""
    from tqdm import tqdm

    from geo.ledger.mapping import load_category_map, open_table
    from geo.ledger.streamed_import import import_table

    path = Path(args.file)
    if not path.exists():
        raise CcmapError(f"找不到文件：{path}")
    settings = _settings(args)
    category_map = load_category_map(Path(args.category_map) if args.category_map else None)
    chunks = open_table(path, path.name, settings.file_limits(cli=True),
                        settings.import_chunk_rows)
    # the bar goes to stderr: on a terminal, or always with --progress (never into --json)
    show = args.progress or (not args.json and sys.stderr.isatty())
    with opened(settings.database_url) as store, tqdm(
            total=chunks.total, desc="importing issues", unit=" rows", unit_scale=True,
            disable=not show, file=sys.stderr, mininterval=0.5) as bar:
        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        report = import_table(store, chunks, _cli_actor(), _field_map(args.map), category_map,
                              args.date_format, args.dry_run, progress)
    verb = "would import" if args.dry_run else "imported"
    lines = [f"{verb} {report['imported']} issues, skipped {report['skipped']} already "
             f"imported, {report['errors']} rows with errors"]
    lines += [f"  row {e['row']} [{e['column']}]: {e['reason']}"
              for e in report["row_errors"][:50]]
    if report["unmapped_categories"]:
        lines.append(f"  unmapped categories → {report['fallback_category']}: "
                     + ", ".join(f"{k} ({v})" for k, v in report["unmapped_categories"].items()))
    _emit(args, report, "\n".join(lines))
    return 0


def cmd_tiles_seed(args: argparse.Namespace) -> int:
    """Build the map page's first-view and pan tiles into the disk tile cache."""
    import time

    from tqdm import tqdm

    from geo.maps.seeding import page_plans, seed
    from geo.maps.tilecache import TileCaches
    from geo.tiling.tiles import TileCache

    settings = _settings(args)
    root = settings.tile_cache_path()
    if root is None:
        raise CcmapError("没有可预生成的磁盘瓦片缓存：CCMAP_TILE_CACHE_DIR 为 none，"
                         "或数据库在内存中")
    show = args.progress or (not args.json and sys.stderr.isatty())
    disk = _tile_tree(root, settings, say=show)
    caches = TileCaches(TileCache(int(settings.tile_cache_mb * 1e6)), disk)
    started = time.perf_counter()
    with opened(settings.database_url) as store:
        plans = page_plans(store, args.min_zoom, args.max_zoom, issues=args.issues)
        zooms = sorted({z for p in plans for z in p.zooms})
        with tqdm(total=0, desc="seeding tiles", unit=" tiles", disable=not show,
                  file=sys.stderr, mininterval=0.5) as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            report = seed(store, caches, plans, progress, threads=args.threads)
    files, size = disk.size()
    seconds = time.perf_counter() - started
    doc = {"tiles": report.tiles, "built": report.built, "cached": report.cached,
           "bytes_built": report.bytes_built, "seconds": round(seconds, 1),
           "zooms": [zooms[0], zooms[-1]] if zooms else [], "directory": str(root),
           "directory_files": files, "directory_bytes": size,
           "plans": [{"layers": ",".join(p.layers), "zooms": [p.zooms[0], p.zooms[-1]]}
                     for p in plans]}
    text = (f"seeded {report.tiles} tiles at map zooms {zooms[0]}-{zooms[-1]}: "
            f"{report.built} built ({report.bytes_built / 1e6:.1f} MB), {report.cached} "
            f"already cached, in {seconds:.1f} s; {root} holds {files} tiles, "
            f"{size / 1e6:.1f} MB" if zooms else "nothing to seed: the database is empty")
    _emit(args, doc, text)
    return 0


def cmd_gaps(args: argparse.Namespace) -> int:
    """Coverage-gap analysis of the zones against the jurisdiction, totals first."""
    from datetime import datetime

    from geo.layers.geojson import parse_bbox
    from geo.zones.gaps import analyse, load_input

    bbox, now = parse_bbox(args.bbox), datetime.now()
    with opened(_settings(args).database_url) as store, _collector_paused():
        report = analyse(load_input(store, bbox, now, args.days), now, args.days,
                         with_geometry=args.json, limit=args.limit)
    t = report["totals"]
    where = "jurisdiction" if bbox is None else f"bbox {args.bbox}"
    lines = [f"totals ({where}): jurisdiction {t['jurisdiction_km2']:.3f} km², "
             f"{report.get('zones', 0)} zones",
             f"  uncovered area {t['uncovered_km2']:.3f} km² ({t['uncovered_percent']}%) in "
             f"{t['parts']['uncovered_pieces']} pieces",
             f"  overlap area {t['overlap_km2']:.3f} km² (union) in "
             f"{t['parts']['overlap_pairs']} overlapping pairs",
             f"  unassigned street/alley {t['unassigned_km']:.2f} km (street "
             f"{t['unassigned_street_km']:.2f}, alley {t['unassigned_alley_km']:.2f}) in "
             f"{t['parts']['line_pieces']} pieces",
             f"  orphan points {t['orphan_points']} (markets {t['orphan_markets']}, test "
             f"points {t['orphan_test_points']}); issues in uncovered area "
             f"{t['uncovered_issues']}"]
    ua = report.get("uncovered_area", {})
    if ua:
        lines.append("parts:")
        for o in report["overlaps"][:10]:
            lines.append(f"  overlap {o['names'][0]} / {o['names'][1]}: {o['area_m2']:.0f} m² "
                         f"({o['units'][0]} / {o['units'][1]})")
        for kind, row in report["lines"]["by_kind"].items():
            lines.append(f"  {kind}: {row['uncovered_m']:.0f} of {row['total_m']:.0f} m "
                         f"uncovered ({row['percent']}%)")
        f = report["forgotten"]
        lines.append(f"  no activity in {f['days']} days: "
                     f"{t['parts']['forgotten_zones']} zones, "
                     f"{t['parts']['forgotten_test_points']} test points")
        left = {k: n for k, n in t["left_out"].items() if n}
        if left:
            lines.append("left out of the lists: "
                         + ", ".join(f"{k} {n}" for k, n in left.items()))
    _emit(args, report, "\n".join(lines))
    return 0


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused: the layers read (60,000 features) live to
    the end of the command, and each full collection would walk them and every module again
    (a third of the time to read a city's layers); it runs again afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _reroute(args: argparse.Namespace, store: Store) -> tuple[dict[str, Any], str]:
    """Re-route every issue to its zone, unit, cadre and community (a full rebuild)."""
    from geo.zones.rerouting import reroute_all

    n = reroute_all(store, args.actor)
    return {"rerouted_issues": n}, f"re-routed every issue: {n} changed"


def _with_store(fn: Callable[[argparse.Namespace, Store], tuple[dict[str, Any], str]]
                ) -> Callable[[argparse.Namespace], int]:
    """A command that opens the store, runs fn (args.actor names the CLI user in the audit
    log) and prints its document or text."""
    def command(args: argparse.Namespace) -> int:
        args.actor = _cli_actor()
        with opened(_settings(args).database_url) as store:
            doc, text = fn(args, store)
        _emit(args, doc, text)
        return 0

    return command


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise CcmapError("没有可输入密码的终端：请使用 --password-stdin")
    import getpass

    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise CcmapError("两次输入的密码不一致")
    return first


def _cli_actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


def cmd_user_add(args: argparse.Namespace) -> int:
    """Create a user (the first admin of a fresh install is made this way)."""
    from geo.accounts.logins import PasswordPolicy, check_username, choose_password
    from geo.model.users import User, check_email, parse_role

    role = parse_role(args.role)
    if role.value == "unit" and not args.unit:
        raise CcmapError("包保单位用户必须用 --unit 指定单位")
    settings = _settings(args)
    username = check_username(args.username)
    digest = choose_password(_password(args), username,
                             PasswordPolicy(min_length=settings.password_min_length),
                             (args.name or "",))
    user = User(username, role, unit=args.unit, display_name=args.name or "",
                password_hash=digest, email=check_email(args.email))
    with opened(settings.database_url) as store:
        if args.unit and args.unit not in {u.name for u in store.units()}:
            raise CcmapError(f"未知的单位 {args.unit!r}：请先用 ccmap 的 unit add 命令创建")
        store.add_user(user, actor=_cli_actor())
    _emit(args, {"username": user.username, "role": role.value, "unit": user.unit},
          f"created user {user.username} ({role.value})")
    return 0


def _user_set(args: argparse.Namespace, store: Store) -> tuple[dict[str, Any], str]:
    """Change a user's role or active flag (the last active admin stays: 409-like refusal)."""
    from geo.model.users import check_email, parse_role

    changes: dict[str, Any] = {}
    if args.role:
        changes["role"] = parse_role(args.role).value
    if args.email is not None:  # "": no address
        changes["email"] = check_email(args.email)
    if args.active is not None:
        changes["active"] = args.active
    if not changes:
        raise CcmapError("没有要修改的内容：请给出 --role、--email、--activate 或 "
                         "--deactivate")
    user = store.update_user(args.username, changes, actor=args.actor)
    if not user.active:
        assert user.id is not None
        store.revoke_tokens(user_id=user.id)
    doc = {"username": user.username, "role": user.role.value, "active": user.active}
    return doc, f"{user.username}: {user.role.value}, {'active' if user.active else 'inactive'}"


def _token_list(args: argparse.Namespace, store: Store) -> tuple[dict[str, Any], str]:
    """Live tokens (metadata only) of one user or everyone."""
    from datetime import datetime

    user_id = None
    if args.username:
        user = store.user(args.username)
        if user is None:
            raise CcmapError(f"用户 {args.username!r} 不存在")
        user_id = user.id
    rows = store.tokens(user_id, datetime.now())
    lines = [f"{t['id']}\t{t['username']}\t{t['kind']}\t{t['name']}\t"
             f"{t['created_at']:%Y-%m-%d %H:%M}\t"
             + (f"{t['expires_at']:%Y-%m-%d %H:%M}" if t["expires_at"] else "never")
             for t in rows]
    return ({"tokens": [{k: v for k, v in t.items() if k != "current"} for t in rows]},
            "\n".join(["id\tuser\tkind\tname\tcreated\texpires", *lines]))


def _token_revoke(args: argparse.Namespace, store: Store) -> tuple[dict[str, Any], str]:
    """Revoke one token by id; it stops working at once."""
    revoked = store.revoke_token(args.id, actor=args.actor)
    if revoked is None:
        raise CcmapError(f"令牌 {args.id} 不存在")
    return revoked, f"revoked token {args.id} of {revoked['username']} ({revoked['kind']})"


def cmd_unit_add(args: argparse.Namespace) -> int:
    """Create a unit, community or sub-district."""
    from geo.model.users import Unit

    with opened(_settings(args).database_url) as store:
        store.add_unit(Unit(args.name, args.kind, args.parent), actor=_cli_actor())
    _emit(args, {"name": args.name, "kind": args.kind, "parent": args.parent},
          f"created {args.kind} {args.name}")
    return 0


def _unit_unregistered(args: argparse.Namespace, store: Store) -> tuple[dict[str, Any], str]:
    """The units the zones name that are not registered."""
    from geo.accounts.units import unregistered_units

    rows = unregistered_units(store)
    lines = [f"{r['name']}\t{r['zones']}" for r in rows]
    return {"units": rows}, "\n".join([f"{len(rows)} unregistered unit(s)\tzones", *lines])


def _unit_register(args: argparse.Namespace, store: Store) -> tuple[dict[str, Any], str]:
    """Register units the zones name: those given, or every one (--all)."""
    from geo.accounts.units import register_zone_units

    if bool(args.names) == bool(args.all):
        raise CcmapError("请列出要登记的单位，或使用 --all（二者只能选其一）")
    done = register_zone_units(store, None if args.all else args.names, args.actor)
    return {"registered": done}, f"registered {len(done)} unit(s)" + (
        ": " + ", ".join(done[:10]) + (" …" if len(done) > 10 else "") if done else "")


def cmd_token_create(args: argparse.Namespace) -> int:
    """Create a long-lived API token for an integration; prints it once."""
    from geo.model.users import new_secret

    with opened(_settings(args).database_url) as store:
        user = store.user(args.username)
        if user is None or user.id is None:
            raise CcmapError(f"用户 {args.username!r} 不存在")
        token, digest = new_secret()
        store.add_token(user.id, digest, "api", None, name=args.name)
        store.record_audit(_cli_actor(), "create", "api_token", args.name,
                           {"owner": user.username})
    _emit(args, {"token": token, "username": args.username, "name": args.name}, token)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of every ccmap command."""
    p = argparse.ArgumentParser(prog="ccmap", description="创城点位地图 ccmap")
    sub = p.add_subparsers(dest="cmd", required=True)

    def db(sp: argparse.ArgumentParser, progress: bool = False) -> None:
        sp.add_argument("--db", help="sqlite:///PATH or postgresql://… (env CCMAP_DATABASE_URL)")
        sp.add_argument("--json", action="store_true", help="print one JSON document")
        sp.add_argument("--lang", choices=LOCALES, help="language of the messages and of the "
                        "files written (env CCMAP_LOCALE; default zh-CN)")
        if progress:
            sp.add_argument("--progress", action="store_true", help="show the progress bar "
                            "on stderr even when it is not a terminal")

    sp = sub.add_parser("serve", help="serve the map and API")
    db(sp)
    sp.add_argument("--host")
    sp.add_argument("--port", type=int)
    sp.add_argument("--workers", type=_positive, metavar="N",
                    help="serve from N processes (env CCMAP_WORKERS; default: one per CPU "
                    "core)")
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("demo", help="build the demo city database, then serve it")
    db(sp)
    sp.add_argument("--host")
    sp.add_argument("--port", type=int)
    sp.add_argument("--no-serve", action="store_true", help="build the database only")
    sp.add_argument("--progress", action="store_true",
                    help="show the progress bar (stderr) with --json too")
    sp.set_defaults(func=cmd_demo)

    imp = sub.add_parser("import", help="import data files").add_subparsers(
        dest="command", required=True)
    for name in ("layer", "zones"):
        sp = imp.add_parser(name, help=f"import a {name} file (GeoJSON, GPKG, zipped SHP, CSV)")
        sp.add_argument("file")
        if name == "layer":
            sp.add_argument("--kind", required=True, choices=[k.value for k in Kind])
        sp.add_argument("--coords", default="wgs84", choices=["wgs84", "gcj02", "bd09"],
                        help="coordinate system of lon/lat input (Chinese offset systems)")
        sp.add_argument("--map", action="append", metavar="FIELD=COLUMN",
                        help="map a column onto name/category/unit/responsible_person/phone")
        db(sp)
        sp.set_defaults(func=cmd_import_layer)
    sp = imp.add_parser("issues", help="import an issue ledger (CSV or .xlsx)")
    sp.add_argument("file")
    sp.add_argument("--map", action="append", metavar="FIELD=COLUMN",
                    help="map a column onto external_id, category, description, lon, lat, "
                         "address, reported_at, closed_at, status, source, reporter")
    sp.add_argument("--category-map", metavar="FILE",
                    help="JSON object: the file's category names → category codes")
    sp.add_argument("--date-format", help="strftime format of the dates (default: detected)")
    sp.add_argument("--dry-run", action="store_true", help="report only; write nothing")
    db(sp, progress=True)
    sp.set_defaults(func=cmd_import_issues)
    sp = imp.add_parser("osm", help="import an OSM extract (.osm XML or .osm.pbf)")
    sp.add_argument("file")
    db(sp)
    sp.set_defaults(func=cmd_import_osm)

    add_export_commands(sub, db, _with_store)
    add_plan_commands(sub, db, _with_store)
    add_calendar_commands(sub, db, _with_store)
    add_notify_commands(sub, db, _with_store)

    sp = sub.add_parser("gaps", help="coverage-gap analysis (覆盖缺口)")
    sp.add_argument("--days", type=int, default=30,
                    help="a zone or test point with no issue for this many days is forgotten")
    sp.add_argument("--bbox", help="only the part of the jurisdiction in "
                    "minlon,minlat,maxlon,maxlat (the totals are then of that area)")
    sp.add_argument("--limit", type=int, help="list at most this many parts of each kind, "
                    "largest first (the totals still count all; totals.left_out says how many "
                    "were left out)")
    db(sp)
    sp.set_defaults(func=cmd_gaps)

    tiles = sub.add_parser("tiles", help="vector tiles").add_subparsers(dest="command",
                                                                     required=True)
    sp = tiles.add_parser("seed", help="build the map page's tiles into the disk tile cache "
                          "(run after an import and on deploy)")
    sp.add_argument("--min-zoom", type=int, metavar="Z",
                    help="first map zoom (default: the zoom the page opens at in a small "
                         "window)")
    sp.add_argument("--max-zoom", type=int, metavar="Z",
                    help="last map zoom (default: 17, or the zoom the page opens at in a "
                         "large window if higher)")
    sp.add_argument("--issues", action=argparse.BooleanOptionalAction, default=True,
                    help="the issue tiles too (default: yes)")
    sp.add_argument("--threads", type=_positive, default=2, metavar="N",
                    help="tiles built at once (default: 2; on PostgreSQL the database does "
                         "much of the work)")
    db(sp, progress=True)
    sp.set_defaults(func=cmd_tiles_seed)

    sp = sub.add_parser("reroute", help="re-route every issue to its zone, unit and cadre "
                        "(a full rebuild; edits re-route their own area already)")
    db(sp)
    sp.set_defaults(func=_with_store(_reroute))

    users = sub.add_parser("user", help="user accounts").add_subparsers(dest="command",
                                                                        required=True)
    sp = users.add_parser("add", help="create a user")
    sp.add_argument("username")
    sp.add_argument("--role", required=True,
                    choices=["admin", "planner", "inspector", "unit", "viewer"])
    sp.add_argument("--unit", help="the unit of a unit user (包保单位)")
    sp.add_argument("--name", help="display name")
    sp.add_argument("--email", help="where the user's notices go by e-mail")
    sp.add_argument("--password-stdin", action="store_true",
                    help="read the password from the first line of standard input")
    db(sp)
    sp.set_defaults(func=cmd_user_add)
    sp = users.add_parser("set", help="change a user's role or active flag")
    sp.add_argument("username")
    sp.add_argument("--role", choices=["admin", "planner", "inspector", "unit", "viewer"])
    sp.add_argument("--email", help="where the user's notices go by e-mail (\"\": none)")
    sp.add_argument("--activate", dest="active", action="store_const", const=True)
    sp.add_argument("--deactivate", dest="active", action="store_const", const=False,
                    help="disable the account and revoke its tokens")
    db(sp)
    sp.set_defaults(func=_with_store(_user_set))
    units = sub.add_parser("unit", help="units, communities, sub-districts").add_subparsers(
        dest="command", required=True)
    sp = units.add_parser("add", help="create a unit")
    sp.add_argument("name")
    sp.add_argument("--kind", default="unit", choices=["unit", "community", "subdistrict"])
    sp.add_argument("--parent", help="the community or sub-district it belongs to")
    db(sp)
    sp.set_defaults(func=cmd_unit_add)
    sp = units.add_parser("unregistered", help="the units the zones name that are not "
                          "registered, with how many zones name each")
    db(sp)
    sp.set_defaults(func=_with_store(_unit_unregistered))
    sp = units.add_parser("register", help="register units the zones name (as 包保单位): "
                          "those given, or with --all every one not registered")
    sp.add_argument("names", nargs="*", help="unit names (as the zones write them)")
    sp.add_argument("--all", action="store_true", help="every unit the zones name that is not "
                    "registered")
    db(sp)
    sp.set_defaults(func=_with_store(_unit_register))
    tokens = sub.add_parser("token", help="API tokens").add_subparsers(dest="command",
                                                                       required=True)
    sp = tokens.add_parser("create", help="create a long-lived API token for a user")
    sp.add_argument("username")
    sp.add_argument("--name", required=True, help="what the token is for, e.g. 12345热线")
    db(sp)
    sp.set_defaults(func=cmd_token_create)
    sp = tokens.add_parser("list", help="live tokens (metadata only) of a user or everyone")
    sp.add_argument("username", nargs="?")
    db(sp)
    sp.set_defaults(func=_with_store(_token_list))
    sp = tokens.add_parser("revoke", help="revoke a token by its id (from `token list`)")
    sp.add_argument("id", type=int)
    db(sp)
    sp.set_defaults(func=_with_store(_token_revoke))
    return p


def cli_locale(args: argparse.Namespace) -> str:
    """The language of a command: --lang, else CCMAP_LOCALE, else zh-CN."""
    return str(getattr(args, "lang", None) or load_settings().locale)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ccmap` console script."""
    args = build_parser().parse_args(argv)
    try:
        args.locale = cli_locale(args)
        code: int = args.func(args)
    except ImportRejected as exc:
        _ = translator(getattr(args, "locale", DEFAULT))
        doc = {"imported": 0, "skipped": 0, "errors": len(exc.problems),
               "message": _(exc.message), "row_errors": [
                   {**d, **{k: _(d[k]) for k in ("reason", "hint") if k in d}}
                   for d in (p.as_dict() for p in exc.problems)]}
        # every ImportRejected message says that nothing was imported (未导入任何数据)
        lines = [f"ccmap: {_(exc.message)}"]
        lines += ["  " + (_("第 {row} 行 [{column}]：{reason}", column=p.column, row=p.row,
                             reason=_(p.reason)) if p.column else
                          _("第 {row} 行：{reason}", row=p.row, reason=_(p.reason)))
                  + (f" — {_(p.hint)}" if p.hint else "") for p in exc.problems[:50]]
        if getattr(args, "json", False):
            print(json.dumps(doc, ensure_ascii=False))
        else:
            print("\n".join(lines), file=sys.stderr)
        return 2
    except CcmapError as exc:
        print(f"ccmap: {translate(exc.message, getattr(args, 'locale', DEFAULT))}",
              file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
