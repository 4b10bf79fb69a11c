"""`ccmap export map|data` and `ccmap report`: snapshots, data exports and bulletins."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from geo.model.errors import CcmapError
from geo.store import IssueQuery, Store

Command = Callable[[argparse.Namespace, Store], tuple[dict[str, Any], str]]


def _issue_query(args: argparse.Namespace) -> IssueQuery:
    """The issue filter given by --category/--status/--source/--community/--from/--to."""
    def day(flag: str, text: str | None) -> datetime | None:
        try:
            return datetime.fromisoformat(text) if text else None
        except ValueError as exc:
            raise CcmapError(f"{flag} 须为日期，格式如 2026-01-05，不能是 {text!r}") from exc

    since, until = day("--from", args.since), day("--to", args.until)
    return IssueQuery(categories=args.category or [], statuses=args.status or [],
                      sources=args.source or [], communities=args.community or [],
                      since=since, until=until)


def _issue_filter_args(sp: argparse.ArgumentParser) -> None:
    for flag in ("category", "status", "source", "community"):
        sp.add_argument(f"--{flag}", action="append", help=f"issue filter (repeatable): {flag}")
    sp.add_argument("--from", dest="since", help="issues reported from YYYY-MM-DD")
    sp.add_argument("--to", dest="until", help="issues reported before YYYY-MM-DD")


def cmd_export_map(args: argparse.Namespace, store: Store) -> tuple[dict[str, Any], str]:
    """A map snapshot: offline HTML, PNG or PDF."""
    from geo.exports.snapshot import export_map
    from geo.layers.geojson import parse_bbox

    options: dict[str, Any] = {}
    if Path(args.out).suffix.lower() == ".png":
        options = {"width": args.width, "height": args.height, "scale": args.scale}
    elif Path(args.out).suffix.lower() == ".pdf":
        options = {"paper": args.paper, "landscape": not args.portrait}
    layers = [x for x in args.layers.split(",") if x] if args.layers else None
    doc = export_map(store, Path(args.out), args.view, parse_bbox(args.bbox),
                     issues=_issue_query(args), layers=layers, locale=args.locale, **options)
    return doc, f"wrote {doc['out']} ({doc['bytes'] / 1e3:.0f} kB)"


def cmd_export_data(args: argparse.Namespace, store: Store) -> tuple[dict[str, Any], str]:
    """Export the layers and the issue ledger (GeoPackage, GeoJSON, CSV, xlsx)."""
    from geo.exports.data import export_data
    from geo.layers.geojson import parse_bbox
    from geo.model.kinds import parse_kind

    kinds = [parse_kind(k) for k in args.layers.split(",") if k] if args.layers else None
    counts = export_data(store, Path(args.out), coords=args.coords, bbox=parse_bbox(args.bbox),
                         issues_query=_issue_query(args), kinds=kinds, locale=args.locale)
    return ({"out": args.out, "layers": counts},
            f"wrote {args.out}: " + ", ".join(f"{k} {n}" for k, n in counts.items()))


def cmd_report(args: argparse.Namespace, store: Store) -> tuple[dict[str, Any], str]:
    """Weekly (2026-W47) or monthly (2026-11) bulletin as PDF or HTML."""
    from geo.exports.bulletin import write_bulletin
    from server.settings import load_settings

    doc = write_bulletin(store, args.period, Path(args.out), load_settings().indicator_rules(),
                         args.locale)
    return doc, f"wrote {doc['out']} ({doc['period']}, {doc['bytes'] / 1e3:.0f} kB)"


def add_export_commands(sub: Any, db: Callable[[argparse.ArgumentParser], None],
                        run: Callable[[Command], Callable[[argparse.Namespace], int]]) -> None:
    """Register `ccmap export map|data` and `ccmap report` under the top-level subparsers."""
    exports = sub.add_parser("export", help="export data").add_subparsers(dest="command",
                                                                          required=True)
    sp = exports.add_parser("map", help="map snapshot: .html (offline) .png .pdf")
    sp.add_argument("--out", required=True)
    sp.add_argument("--view", default="main", choices=["main", "zones", "issues"])
    sp.add_argument("--bbox", help="minlon,minlat,maxlon,maxlat (default: all data)")
    sp.add_argument("--width", type=int, default=1600)
    sp.add_argument("--height", type=int, default=1100)
    sp.add_argument("--scale", type=float, default=1.0, help="PNG pixel ratio")
    sp.add_argument("--paper", default="A4", choices=["A4", "A3"])
    sp.add_argument("--portrait", action="store_true", help="PDF portrait (default landscape)")
    sp.add_argument("--layers", help="layers to show instead of --view, e.g. zone,street,issues")
    _issue_filter_args(sp)
    db(sp)
    sp.set_defaults(func=run(cmd_export_map))

    sp = exports.add_parser("data", help="every layer and the ledger: .gpkg .geojson .csv .xlsx")
    sp.add_argument("--out", required=True)
    sp.add_argument("--coords", default="wgs84", choices=["wgs84", "gcj02"],
                    help="gcj02 for Gaode-based tools")
    sp.add_argument("--bbox", help="only what lies in minlon,minlat,maxlon,maxlat")
    sp.add_argument("--layers", help="only these layer kinds, e.g. zone,test_point")
    _issue_filter_args(sp)
    db(sp)
    sp.set_defaults(func=run(cmd_export_data))

    sp = sub.add_parser("report", help="weekly or monthly bulletin (周通报) as .pdf or .html")
    sp.add_argument("--period", required=True,
                    help="2026-W47 (week), 2026-11 (month) or 2026-Q4 (quarter)")
    sp.add_argument("--out", required=True)
    db(sp)
    sp.set_defaults(func=run(cmd_report))
