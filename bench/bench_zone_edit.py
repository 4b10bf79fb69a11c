"""Zone edits at city scale over HTTP, each with the re-route of the issues it affects.

    python -m bench.bench_zone_edit --db sqlite:////work/bench-city/zone-edit.db
    python -m bench.bench_zone_edit --db "postgresql://postgres@127.0.0.1:5432/ccmap_bench?options=-csearch_path%3Dzone_edit,public"
    (any imported city, e.g. a copy of the database of `python -m bench.city --import`;
    the edits change it: bench a copy)

A real `ccmap serve` answers a planner's requests as the zone editor sends them: draw (POST
/api/zones), edit (PUT, the drawn zone moved and grown), restore (its first version), split
(an existing zone cut in two), merge (one of the pieces with a neighbour) and delete (the drawn
zone). Each is timed from request to answer, the re-route of the affected issues included
(only those in the changed area since this change). The zones edited are the busiest of a
seeded sample of the city's zones (most issues), one set per repeat; the median, min and max
over the repeats are printed beside the figure before the change: one full re-route of every
issue (`reroute_all`, which every zone edit ran until then), timed in process.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import LineString, box, mapping
from shapely.geometry.base import BaseGeometry

from bench.serve import add_user, served, token
from geo.model.kinds import Kind
from geo.model.records import Feature
from geo.store import Store, open_store
from geo.zones.rerouting import reroute_all

OPS = ["draw", "edit", "restore", "split", "merge", "delete"]
TARGET_MS = 1000.0


def call(base: str, bearer: str, method: str, path: str,
         body: dict[str, Any] | None = None) -> tuple[float, dict[str, Any]]:
    """One JSON request: milliseconds to the answer, and the answer (an error stops the run)."""
    req = urllib.request.Request(base + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {bearer}",
                                          "Content-Type": "application/json"})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=600) as resp:
            doc = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"{method} {path}: HTTP {exc.code} {exc.read()[:300]!r}") from None
    return (time.perf_counter() - t0) * 1000, doc


def targets(store: Store, repeats: int, seed: int
            ) -> dict[str, list[tuple[int, Feature, Feature]]]:
    """Per repeat a zone to split and a neighbour to merge a piece with, each zone used once:
    "typical" zones (the middle of a seeded sample by issue count) and the "busiest" of the
    sample, with their issue counts."""
    rnd = random.Random(seed)
    zones = [z for z in store.features(Kind.zone) if z.geometry.geom_type == "Polygon"]
    sample = rnd.sample(zones, min(len(zones), max(40, 10 * repeats)))
    counted = []
    for z in sample:
        n = sum(1 for batch in store.issue_batches(z.geometry.bounds) for i in batch
                if z.geometry.intersects(shapely.Point(i.lon, i.lat)))
        counted.append((n, z))
    counted.sort(key=lambda t: (-t[0], t[1].id or 0))
    used: set[int | None] = set()
    middle = counted[len(counted) // 3:]  # from the middle of the sample down, not its top
    return {"busiest": _pairs(store, counted, repeats, used),
            "typical": _pairs(store, middle, repeats, used)}


def _pairs(store: Store, counted: list[tuple[int, Feature]], repeats: int,
           used: set[int | None]) -> list[tuple[int, Feature, Feature]]:
    out = []
    for n, z in counted:
        if z.id in used:
            continue
        near = [n for n in store.features(Kind.zone, bbox=z.geometry.buffer(1e-5).bounds)
                if n.id != z.id and n.id not in used and n.geometry.geom_type == "Polygon"
                and n.geometry.distance(z.geometry) < 1e-6]
        if near:
            out.append((n, z, near[0]))
            used |= {z.id, near[0].id}
        if len(out) == repeats:
            break
    return out


def cut_line(geom: BaseGeometry) -> dict[str, Any]:
    """A north-south line across a polygon through its middle."""
    minx, miny, maxx, maxy = geom.bounds
    x = (minx + maxx) / 2
    return mapping(LineString([(x, miny - 0.0005), (x, maxy + 0.0005)]))


def one_round(base: str, bearer: str, zone: Feature, neighbour: Feature,
              k: int) -> dict[str, tuple[float, int]]:
    """The six edits around one zone: op → (ms, issues re-routed)."""
    out: dict[str, tuple[float, int]] = {}
    c = zone.geometry.centroid
    minx, miny, maxx, maxy = zone.geometry.bounds
    w, h = (maxx - minx), (maxy - miny)
    drawn = box(c.x - w * 0.6, c.y - h * 0.6, c.x + w * 0.6, c.y + h * 0.6)  # over neighbours
    ms, doc = call(base, bearer, "POST", "/api/zones", {
        "geometry": mapping(drawn), "name": f"压测责任区{k}", "zone_type": "grid",
        "unit": "压测单位"})
    out["draw"] = (ms, doc["rerouted_issues"])
    new_id = doc["id"]
    moved = box(c.x - w * 0.4, c.y - h * 0.9, c.x + w * 0.9, c.y + h * 0.4)
    ms, doc = call(base, bearer, "PUT", f"/api/zones/{new_id}", {
        "geometry": mapping(moved), "name": f"压测责任区{k}", "zone_type": "grid",
        "unit": "压测单位", "version": 1})
    out["edit"] = (ms, doc["rerouted_issues"])
    ms, doc = call(base, bearer, "POST", f"/api/zones/{new_id}/restore", {"version": 1})
    out["restore"] = (ms, doc["rerouted_issues"])
    ms, doc = call(base, bearer, "POST", f"/api/zones/{zone.id}/split",
                   {"line": cut_line(zone.geometry)})
    out["split"] = (ms, doc["rerouted_issues"])
    piece = doc["zones"][0]["id"]
    ms, doc = call(base, bearer, "POST", "/api/zones/merge", {"ids": [piece, neighbour.id]})
    out["merge"] = (ms, doc["rerouted_issues"])
    ms, doc = call(base, bearer, "DELETE", f"/api/zones/{new_id}")
    out["delete"] = (ms, doc["rerouted_issues"])
    return out


def main(argv: list[str] | None = None) -> int:
    """Time the edits over HTTP, then one full re-route; print the table."""
    ap = argparse.ArgumentParser(prog="python -m bench.bench_zone_edit",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--db", required=True, help="an imported city (it is changed: use a copy)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--no-before", action="store_true",
                    help="skip the full re-route (minutes at a million issues)")
    args = ap.parse_args(argv)
    store = open_store(args.db)
    n_issues, n_zones = store.issue_count(), store.count_features(Kind.zone)
    backend = "PostGIS" if args.db.startswith("postgres") else "SQLite"
    print(f"{backend}: {n_issues:,} issues, {n_zones:,} zones", flush=True)
    groups = targets(store, args.repeats, args.seed)
    if not groups["busiest"]:
        raise SystemExit("no zone with a neighbour to edit: import a city first")
    username, password = add_user(args.db, "planner")
    rows: dict[str, dict[str, list[tuple[float, int]]]] = {}
    with tempfile.TemporaryDirectory() as tmp, served(args.db, Path(tmp) / "serve.log") as srv:
        bearer = token(srv.base, username, password)
        call(srv.base, bearer, "GET", "/api/layers/zone?limit=1")  # a warm server
        k = 0
        for group, pairs in groups.items():
            rows[group] = {op: [] for op in OPS}
            for n, zone, neighbour in pairs:
                k += 1
                for op, row in one_round(srv.base, bearer, zone, neighbour, k).items():
                    rows[group][op].append(row)
                print(f"  {group} zone {zone.id} ({n} issues) + {neighbour.id}: " + ", ".join(
                    f"{op} {rows[group][op][-1][0]:.0f} ms" for op in OPS), flush=True)
    before = None
    if not args.no_before:
        t0 = time.perf_counter()
        left = reroute_all(store, "bench")
        before = time.perf_counter() - t0
        print(f"reroute_all: {before:.1f} s; it changed {left} issues (0: the edits' local "
              "re-routes left nothing for a full one to do)")
    store.close()
    worst = 0.0
    for group, pairs in groups.items():
        counts = sorted(n for n, _, _ in pairs)
        print(f"\n{backend}, {n_issues:,} issues, {n_zones:,} zones: {group} zones "
              f"({counts[0]}-{counts[-1]} issues each), {len(pairs)} repeats "
              "(over HTTP, re-route included)")
        print(f"{'edit':<9}{'median':>10}{'min':>9}{'max':>9}{'issues re-routed':>18}"
              f"{'before (reroute_all)':>22}  < 1 s")
        for op in OPS:
            ms = [r[0] for r in rows[group][op]]
            moved = statistics.median(r[1] for r in rows[group][op])
            worst = max(worst, statistics.median(ms))
            before_txt = f"{before * 1000:,.0f} ms" if before is not None else "-"
            print(f"{op:<9}{statistics.median(ms):8.0f}ms{min(ms):7.0f}ms{max(ms):7.0f}ms"
                  f"{moved:>18.0f}{before_txt:>22}  "
                  + ("yes" if statistics.median(ms) < TARGET_MS else "NO"))
    return 0 if worst < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
