"""bench.city: the city-scale benchmark dataset is deterministic, sized by --scale, complete
(every category, status and source; gaps and overlaps; a connected network) and imports
cleanly with ccmap's own CLI on both backends."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import shape

from bench.city import (
    SERVE_PATHS,
    TEST_POINTS,
    Sizes,
    import_steps,
    main,
    run_step,
    serve_check,
)
from geo.model.kinds import issue_categories, sources
from geo.model.lifecycle import UNHANDLED, statuses
from geo.store import open_store
from server import cli
from server.settings import Settings

SCALE = 0.003  # 150 streets, 15 zone cells, 3,000 issues
NOW = "2026-06-01"
FILES = ["subdistricts.geojson", "communities.geojson", "streets.geojson", "alleys.geojson",
         "markets.geojson", "test_points.geojson", "zones.geojson", "issues.csv"]


def _generate(out: Path, seed: int = 7) -> None:
    assert main(["--out", str(out), "--seed", str(seed), "--scale", str(SCALE),
                 "--now", NOW]) == 0


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny city, generated once for the module."""
    out = tmp_path_factory.mktemp("city")
    _generate(out)
    return out


def _features(path: Path) -> list[dict[str, Any]]:
    features: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["features"]
    return features


def _issues(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_same_seed_gives_identical_files(city: Path, tmp_path: Path) -> None:
    _generate(tmp_path / "again")
    _generate(tmp_path / "other", seed=8)
    for name in [*FILES, "manifest.json"]:
        assert (tmp_path / "again" / name).read_bytes() == (city / name).read_bytes(), name
    assert (tmp_path / "other" / "streets.geojson").read_bytes() != \
        (city / "streets.geojson").read_bytes()


def test_more_issues_over_the_same_city(city: Path, tmp_path: Path) -> None:
    """--issues N (the province benchmark's ledger) keeps every layer and changes the ledger."""
    out = tmp_path / "more"
    assert main(["--out", str(out), "--seed", "7", "--scale", str(SCALE), "--now", NOW,
                 "--issues", "777"]) == 0
    for name in FILES:
        if name != "issues.csv":
            assert (out / name).read_bytes() == (city / name).read_bytes(), name
    assert len(_issues(out / "issues.csv")) == 777 != len(_issues(city / "issues.csv"))


def test_sizes_follow_the_scale() -> None:
    full, ci = Sizes.at(1.0), Sizes.at(0.01)
    assert (full.streets, full.zones, full.issues) == (50_000, 5_000, 1_000_000)
    assert (ci.streets, ci.zones, ci.issues) == (500, 50, 10_000)


def test_full_size_fits_the_cli_limits() -> None:
    limits = Settings().file_limits(cli=True)
    full = Sizes.at(1.0)
    assert limits.max_rows is not None and full.issues <= limits.max_rows
    assert limits.max_features is not None and full.streets <= limits.max_features


def test_files_hold_the_counts_of_the_scale(city: Path) -> None:
    size = Sizes.at(SCALE)
    manifest = json.loads((city / "manifest.json").read_text(encoding="utf-8"))
    counts = {name: len(_features(city / name)) for name in FILES if name.endswith(".geojson")}
    counts["issues.csv"] = len(_issues(city / "issues.csv"))
    assert counts == {name: f["count"] for name, f in manifest["files"].items()}
    assert counts["streets.geojson"] == size.streets
    assert counts["alleys.geojson"] == size.alleys
    assert counts["markets.geojson"] == size.markets
    assert counts["issues.csv"] == size.issues
    assert manifest["zone_cells"] == size.zones
    assert counts["zones.geojson"] == size.zones - manifest["gap_zones"]
    assert counts["communities.geojson"] == size.communities
    assert counts["subdistricts.geojson"] == size.subdistricts
    points = Counter(f["properties"]["category"] for f in _features(city / "test_points.geojson"))
    assert points["farmers_market"] == size.markets
    assert points["civilization_practice_station"] == size.communities
    assert all(points[c] == size.test_points(c) for c in TEST_POINTS)


def test_issues_have_every_category_status_and_source(city: Path) -> None:
    rows = _issues(city / "issues.csv")
    assert list(rows[0]) == ["external_id", "category", "description", "lon", "lat", "address",
                             "reported_at", "closed_at", "status", "source", "reporter"]
    assert {r["category"] for r in rows} == set(issue_categories())
    assert {r["status"] for r in rows} == set(statuses())
    assert {r["source"] for r in rows} == set(sources())
    now = datetime.fromisoformat(NOW)
    reported = [datetime.fromisoformat(r["reported_at"]) for r in rows]
    assert reported == sorted(reported)  # oldest first
    assert now - timedelta(days=731) <= reported[0] and reported[-1] <= now
    old = [r for r, t in zip(rows, reported, strict=True) if (now - t).days > 30]
    recent = [r for r, t in zip(rows, reported, strict=True) if (now - t).days <= 7]
    assert sum(r["status"] == "closed" for r in old) > 0.8 * len(old)
    assert sum(r["status"] in UNHANDLED for r in recent) > 0.5 * len(recent)
    limit = {c: timedelta(hours=float(v["time_limit_hours"]))
             for c, v in issue_categories().items()}
    overdue = [r for r, t in zip(rows, reported, strict=True)
               if r["status"] in UNHANDLED and t + limit[r["category"]] < now]
    assert overdue
    assert all(bool(r["closed_at"]) == (r["status"] == "closed") for r in rows)


def test_issues_cluster_at_the_hot_spots(city: Path) -> None:
    rows = _issues(city / "issues.csv")
    by_place = Counter(r["description"].split("，")[0] for r in rows)
    markets = [f["properties"]["name"] for f in _features(city / "markets.geojson")]
    at_markets = sum(1 for r in rows if any(m in r["description"] for m in markets))
    assert at_markets > 0.2 * len(rows)  # the demo puts 30% there
    assert len(by_place) > 100


def test_zones_leave_a_gap_and_overlap(city: Path) -> None:
    zones = [shape(f["geometry"]) for f in _features(city / "zones.geojson")]
    area = shapely.union_all([shape(f["geometry"])
                              for f in _features(city / "subdistricts.geojson")])
    covered = shapely.union_all(zones)
    assert area.difference(covered).area > 0.001 * area.area  # a whole cell is missing
    tree = shapely.STRtree(zones)
    pairs = tree.query(zones, predicate="overlaps")
    shared = [zones[a].intersection(zones[b]).area for a, b in pairs.T if a < b]
    assert max(shared) > 1e-4 * area.area / len(zones)
    assert covered.difference(area).area < 1e-12  # nothing outside the jurisdiction
    props = [f["properties"] for f in _features(city / "zones.geojson")]
    assert {p["zone_type"] for p in props} == {"grid", "sponsor_area", "storefront_duty",
                                               "district_patch"}
    assert all(p["unit"] and p["responsible_person"] and p["phone"] for p in props)


def test_street_network_is_connected(city: Path) -> None:
    streets = _features(city / "streets.geojson")
    parent: dict[tuple[float, float], tuple[float, float]] = {}

    def root(p: tuple[float, float]) -> tuple[float, float]:
        while parent.setdefault(p, p) != p:
            p = parent[p]
        return p

    for f in streets:
        coords = f["geometry"]["coordinates"]
        a, b = root(tuple(coords[0])), root(tuple(coords[-1]))
        parent[a] = b
    assert len({root(p) for p in list(parent)}) == 1
    classes = Counter(f["properties"]["highway"] for f in streets)
    assert {"trunk", "residential"} <= set(classes)
    assert sum(bool(f["properties"]["name"]) for f in streets) > 0.7 * len(streets)


def test_files_import_cleanly_with_the_cli(city: Path, db_url: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    manifest = json.loads((city / "manifest.json").read_text(encoding="utf-8"))
    for name, args in import_steps(city, db_url):
        assert cli.main(args) == 0, name
        report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert report["imported"] == manifest["files"][name]["count"], name
        assert report["errors"] == 0
    store = open_store(db_url)
    try:
        counts = store.layer_counts()
        issues = store.issue_count()
    finally:
        store.close()
    want = {f["kind"]: f["count"] for f in manifest["files"].values()}
    assert issues == want.pop("issues")
    assert counts == want
    # then served: the map page and the layer/issue calls answer
    rows = {r["path"]: r for r in serve_check(db_url, tmp_path / "serve.log", timeout=120)}
    assert set(rows) == {"(serve start-up)", *SERVE_PATHS}
    assert all(r["status"] == 200 for r in rows.values())
    assert rows["/api/layers/zone"]["bytes"] > 1000 and rows["/"]["bytes"] > 1000


def test_runner_times_a_step_and_stops_it_at_the_limit(city: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    name, args = import_steps(city, url)[0]
    done = run_step(name, args, timeout=None, log=tmp_path / "ok.log")
    assert (done.returncode, done.imported) == (0, 1)
    assert done.seconds > 0 and done.max_rss_mb > 50  # the child's own peak, not ours
    stopped = run_step(name, args, timeout=0.2, log=tmp_path / "slow.log")
    assert stopped.returncode is None
    assert stopped.message == "killed at the time limit (0.2 s)"
    big = run_step(name, args, timeout=None, log=tmp_path / "big.log", max_rss_mb=40)
    assert big.returncode is None
    assert big.message == "killed at the memory limit (40 MB RSS)"
