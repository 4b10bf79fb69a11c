"""`ccmap plan …`: sampling, routed rounds, route sheets, inspections, scores, post siting."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from geo.i18n import translate, translator
from geo.model.errors import CcmapError

Emit = Callable[[argparse.Namespace, dict[str, Any], str], None]


def _lonlat(text: str | None) -> tuple[float, float] | None:
    if not text:
        return None
    try:
        lon, lat = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise CcmapError(f"--start 参数格式应为 LON,LAT（经度,纬度），实际为 {text!r}") from exc
    return lon, lat


def cmd_plan_sample(args: argparse.Namespace, store: Any) -> tuple[dict[str, Any], str]:
    """Draw a reproducible sample of test points for an assessment round."""
    from geo.planner.sampling import draw_sample

    doc = draw_sample(store, args.seed, risk=args.risk, exclude_days=args.exclude_days,
                      revisit=not args.no_revisit)
    if args.out:
        _write_points(doc["points"], Path(args.out), args.locale)
    _ = translator(args.locale)
    lines = [f"sample of {doc['size']} test points (seed {args.seed}):"]
    lines += [f"  {_(p['category_label'])}  {p['name']}  [{p['community']}]"
              + ("  " + _("回头看") if p["revisit"] else "") for p in doc["points"]]
    if doc["shortfall"]:
        lines.append("  not enough points for: " + ", ".join(
            f"{k} (-{v})" for k, v in doc["shortfall"].items()))
    return doc, "\n".join(lines)


def _write_points(points: list[dict[str, Any]], out: Path, locale: str) -> None:
    """Sample points or round stops to .csv/.xlsx (headers in locale) or .geojson."""
    from geo.exports.tables import table_bytes
    from geo.planner.rounds import stop_rows

    fmt = out.suffix.lower().lstrip(".")
    if fmt == "geojson":
        doc = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [p["lon"], p["lat"]]},
             "properties": {k: v for k, v in p.items() if k not in ("lon", "lat")}}
            for p in points]}
        out.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        return
    if fmt not in ("csv", "xlsx"):
        raise CcmapError("--out 须为 .csv、.xlsx 或 .geojson 文件")
    out.write_bytes(table_bytes(stop_rows(points), fmt, locale)[0])


def cmd_plan_rounds(args: argparse.Namespace, store: Any) -> tuple[dict[str, Any], str]:
    """Draw a sample and split it into balanced, routed team rounds; store the round."""
    from geo.planner.rounds import RoundSpec, create_round

    spec = RoundSpec(teams=args.teams, mode=args.mode, budget_min=args.budget_min,
                     service_min=args.service_min, start=_lonlat(args.start),
                     return_to_start=args.return_to_start, inspectors=args.inspector or [],
                     time_limit_s=args.time_limit)
    row = create_round(store, args.seed, spec, actor=args.actor, name=args.name or "",
                       risk=args.risk, exclude_days=args.exclude_days)
    plan = row["plan"]
    if args.out:
        from geo.planner.rounds import round_stops

        _write_points(round_stops(row), Path(args.out), args.locale)
    _ = translator(args.locale)
    lines = [f"round {row['id']}: {_(row['name'])} ({_(plan['mode_label'])}, "
             f"{'street network' if plan['distance'] == 'network' else 'straight line × 1.3'})"]
    for t in plan["teams"]:
        lines.append(f"  {_(t['name'])} {t['inspector']}: {len(t['stops'])} stops, "
                     f"{t['distance_m'] / 1000:.1f} km, {t['duration_min']:.0f} min")
        lines += [f"    {s['seq']:>2}. {s['name']} ({_(s['category_label'])})"
                  + ("  " + _("回头看") if s.get("revisit") else "") for s in t["stops"]]
    if plan["unscheduled"]:
        lines.append(f"  not scheduled (over the {spec.budget_min:g}-minute budget): "
                     + ", ".join(s["name"] for s in plan["unscheduled"]))
    return {**row, "created_at": row["created_at"].isoformat()}, "\n".join(lines)


def cmd_plan_list(args: argparse.Namespace, store: Any) -> tuple[dict[str, Any], str]:
    """The stored rounds."""
    rows = [{"id": r["id"], "name": r["name"], "created_at": r["created_at"].isoformat(),
             "teams": len(r["plan"]["teams"]),
             "stops": sum(len(t["stops"]) for t in r["plan"]["teams"])} for r in store.rounds()]
    return {"rounds": rows}, "\n".join(
        f"{r['id']:>4}  {translate(r['name'], args.locale)}  {r['teams']} teams, "
        f"{r['stops']} stops" for r in rows) \
        or "no rounds yet: ccmap plan rounds --seed N"


def cmd_plan_sheet(args: argparse.Namespace, store: Any) -> tuple[dict[str, Any], str]:
    """Printable route sheet of a round (.html or .pdf)."""
    from geo.exports.route_sheet import write_sheet

    doc = write_sheet(store, args.round, Path(args.out), team=args.team, locale=args.locale)
    return doc, f"wrote {doc['out']} ({doc['teams']} teams, {doc['stops']} stops)"


def _results(args: argparse.Namespace, category: str | None) -> dict[str, dict[str, str]]:
    from geo.planner.inspections import checklist

    results = {i["code"]: {"result": "pass", "note": ""} for i in checklist(category)}
    for value, result in [(v, "fail") for v in args.fail or []] + [(v, "na")
                                                                   for v in args.na or []]:
        code, _, note = value.partition(":")
        if code not in results:
            raise CcmapError(f"{code!r} 不在 {category} 的检查清单中，清单项目："
                             + ", ".join(results))
        results[code] = {"result": result, "note": note}
    return results


def cmd_plan_inspect(args: argparse.Namespace, store: Any) -> tuple[dict[str, Any], str]:
    """Record an inspection of a test point: unnamed checklist items pass."""
    from geo.model.kinds import Kind
    from geo.planner.inspections import record_inspection

    point = store.feature(args.point)
    results = _results(args, point.category) if point.kind is Kind.test_point else {}
    doc = record_inspection(store, args.point, results, args.inspector,
                            actor=args.actor, round_id=args.round, source=args.source)
    rate = "—" if doc["score_rate"] is None else f"{doc['score_rate']:.0%}"
    return doc, (f"inspection {doc['id']} of {doc['point']}: {doc['passed']} passed, "
                 f"{doc['failed']} failed, score rate {rate}; issues created: "
                 + (", ".join(str(i) for i in doc["issue_ids"]) or "none"))


def cmd_plan_scores(args: argparse.Namespace, store: Any) -> tuple[dict[str, Any], str]:
    """Inspection score rates by point, category, community, zone or unit."""
    from geo.analytics.scoring import parse_period
    from geo.planner.inspections import scores

    start = end = None
    label = "all time"
    if args.period:
        start, end, label = parse_period(args.period, datetime.now())
    rows = scores(store, args.level, start, end)
    lines = [f"score rates by {args.level} ({label}):"] + [
        f"  {r['rank']:>3}. {r['name']}  {r['passed']}/{r['applicable']}"
        + (f" = {r['score_rate']:.1%}" if r["score_rate"] is not None else "") for r in rows]
    return {"level": args.level, "period": label, "rows": rows}, "\n".join(lines)


def cmd_plan_posts(args: argparse.Namespace, store: Any) -> tuple[dict[str, Any], str]:
    """Where to put posts: MCLP (p sites, most covered) or LSCP (fewest sites covering all)."""
    from geo.planner.network import network_distance
    from geo.planner.siting import plan_posts

    candidates = None
    if args.candidates:
        from geo.layers.reading import read_layer_file
        from geo.model.kinds import Kind
        from server.settings import load_settings

        # any layer file the importer reads (CRS, row checks); points or areas, like storefronts
        sites = read_layer_file(Path(args.candidates), Kind.storefront,
                                limits=load_settings().file_limits(cli=True)).features
        spots = [(f.name or f"候选{k + 1}", f.geometry.point_on_surface())
                 for k, f in enumerate(sites)]
        candidates = [(name, p.x, p.y) for name, p in spots]
    out = plan_posts(store, model=args.model, p=args.p, service_m=args.distance,
                     demand=args.demand, candidates=candidates,
                     candidate_kind=args.candidate_kind, distance=network_distance(store))
    lines = [f"{args.model.upper()}: {len(out['chosen'])} sites cover "
             f"{out['coverage_rate']:.1%} of the demand within {args.distance:g} m "
             f"({out['distance']} distance)"]
    lines += [f"  {s['name']} ({s['lon']:.5f}, {s['lat']:.5f}) covers {s['covers']}"
              for s in out["sites"]]
    return out, "\n".join(lines)


def add_plan_commands(sub: Any, db: Callable[[argparse.ArgumentParser], None],
                      run: Callable[[Callable[..., tuple[dict[str, Any], str]]],
                                    Callable[[argparse.Namespace], int]]) -> None:
    """Register `ccmap plan …` under the top-level subparsers."""
    plan = sub.add_parser("plan", help="assessment planning (抽样, 路线, 检查, 得分, 选址)"
                          ).add_subparsers(dest="command", required=True)

    def sampling(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--seed", type=int, required=True)
        sp.add_argument("--risk", action="store_true",
                        help="weight points by recent/recurring issues and time since inspected")
        sp.add_argument("--exclude-days", type=int, default=0,
                        help="leave out points inspected in the last N days")

    sp = plan.add_parser("sample", help="draw test points per category quota (抽样)")
    sampling(sp)
    sp.add_argument("--out", help="also write the sample to .csv, .xlsx or .geojson")
    sp.add_argument("--no-revisit", action="store_true",
                    help="do not add points whose last inspection failed (回头看)")
    db(sp)
    sp.set_defaults(func=run(cmd_plan_sample))

    sp = plan.add_parser("rounds", help="sample, split among teams and route (检查轮次)")
    sampling(sp)
    sp.add_argument("--teams", type=int, default=1)
    sp.add_argument("--mode", choices=["walk", "drive"], default="walk")
    sp.add_argument("--budget-min", type=float, default=240.0, help="time budget per team")
    sp.add_argument("--service-min", type=float, default=15.0, help="minutes at each point")
    sp.add_argument("--start", help="LON,LAT of the start (default: the sub-district)")
    sp.add_argument("--return", dest="return_to_start", action="store_true",
                    help="teams come back to the start")
    sp.add_argument("--inspector", action="append", help="team leader, once per team")
    sp.add_argument("--name", help="name of the round")
    sp.add_argument("--out", help="also write the stops to .csv, .xlsx or .geojson")
    sp.add_argument("--time-limit", type=float, default=2.0, help="solver seconds")
    db(sp)
    sp.set_defaults(func=run(cmd_plan_rounds))

    sp = plan.add_parser("list", help="stored rounds")
    db(sp)
    sp.set_defaults(func=run(cmd_plan_list))

    sp = plan.add_parser("sheet", help="printable route sheet of a round (.html/.pdf)")
    sp.add_argument("round", type=int)
    sp.add_argument("--out", required=True)
    sp.add_argument("--team", type=int, help="one team only")
    db(sp)
    sp.set_defaults(func=run(cmd_plan_sheet))

    sp = plan.add_parser("inspect", help="record an inspection; failed items become issues")
    sp.add_argument("--point", type=int, required=True, help="test point id")
    sp.add_argument("--inspector", required=True)
    sp.add_argument("--round", type=int)
    sp.add_argument("--fail", action="append", metavar="CODE[:NOTE]")
    sp.add_argument("--na", action="append", metavar="CODE", help="not applicable")
    sp.add_argument("--source", default="unannounced_inspection",
                    choices=["unannounced_inspection", "supervision"])
    db(sp)
    sp.set_defaults(func=run(cmd_plan_inspect))

    sp = plan.add_parser("scores", help="inspection score rates (测评得分率)")
    sp.add_argument("--level", default="point",
                    choices=["point", "category", "community", "zone", "unit"])
    sp.add_argument("--period", help="2026-W47, 2026-11 or 2026-11-01..2026-11-15")
    db(sp)
    sp.set_defaults(func=run(cmd_plan_scores))

    sp = plan.add_parser("posts", help="site posts: MCLP (--p N) or LSCP (选址)")
    sp.add_argument("--model", choices=["mclp", "lscp"], default="mclp")
    sp.add_argument("--p", type=int, help="number of posts (MCLP)")
    sp.add_argument("--distance", type=float, default=500.0, help="service distance in m")
    sp.add_argument("--demand", choices=["test_point", "issues"], default="test_point")
    sp.add_argument("--candidate-kind", help="layer kind of candidate sites, e.g. market")
    sp.add_argument("--candidates", help="GeoJSON file of candidate sites")
    db(sp)
    sp.set_defaults(func=run(cmd_plan_posts))
