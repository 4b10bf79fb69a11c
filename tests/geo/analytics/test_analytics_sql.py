"""Analytics counted in SQL (geo/store/aggregates.py) give what an independent pandas/geopandas
computation over the same stored issues gives: the demo city, a past month, both backends.

One issue in nine has its stored community cleared, so the answers by community also cover
issues that were never routed (located by point in polygon)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from fastapi.testclient import TestClient
from scipy.spatial import cKDTree
from sqlalchemy import text

from geo.analytics.hotspots import block_grid
from geo.demo.city import build_demo
from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.planner.sampling import _risk
from geo.planner.siting import _issue_demand
from geo.store import Store, open_store
from geo.tiling.cells import BASE_CELL_DEG
from geo.zones import figures as area_figures
from geo.zones.editing import workload
from geo.zones.gaps import jurisdiction
from server.app import create_app
from server.settings import Settings
from tests.conftest import (
    PG_URL,
    ROOT,
    ReducedCity,
    _postgis_problem,
    add_user,
    bearer,
    missing,
)

NOW = datetime.now().replace(minute=0, second=0, microsecond=0)
_first = datetime(NOW.year, NOW.month, 1)
_prev = (_first - timedelta(days=1)).replace(day=1)
PERIOD = f"{_prev:%Y-%m}"  # last month: over, so overdue is counted at its end
START, END = _prev, _first
WEIGHTS = {"on_time_closure_rate": 0.28, "rectification_rate": 0.28,
           "no_recurrence_rate": 0.12, "no_overdue_rate": 0.12}  # data/reference/scoring.json
UNHANDLED = {"reported", "accepted", "dispatched", "returned"}
# metres in one degree of longitude at 36.005°N on the WGS84 ellipsoid
GEOD_M_PER_DEG_LON = pyproj.Geod(ellps="WGS84").inv(116.0, 36.005, 117.0, 36.005)[2]


@pytest.fixture(scope="module", params=["sqlite",
                                        pytest.param("postgis", marks=pytest.mark.postgis)])
def city(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[Store, TestClient]]:
    """The demo city on each backend, with a client logged in as an admin."""
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('analytics') / 'ccmap.db'}"
    else:
        if problem := _postgis_problem():
            missing(problem)
        import psycopg

        schema = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema},public"
    store = open_store(url)
    build_demo(store, now=NOW)
    with store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("UPDATE issues SET community = NULL WHERE id % 9 = 0"))
    add_user(store, "analytics-admin", "admin")
    with TestClient(create_app(Settings(database_url=url, basemap="none"), store=store)) as c:
        c.headers.update(bearer(c, "analytics-admin"))
        yield store, c
    store.close()
    if schema:
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _issues(store: Store) -> pd.DataFrame:
    """Every stored issue read with pandas, with its community by point in polygon."""
    df = pd.read_sql(text("SELECT id, category, lon, lat, reported_at, deadline, closed_at, "
                          "status, zone_id, unit, recurring_of FROM issues ORDER BY id"),
                     store.engine)  # type: ignore[attr-defined]
    for col in ("reported_at", "deadline", "closed_at"):
        df[col] = pd.to_datetime(df[col])
    points = gpd.GeoDataFrame(df[["id"]], geometry=gpd.points_from_xy(df.lon, df.lat),
                              crs=4326)
    comm = _layer(store, Kind.community)
    hits = gpd.sjoin(points, comm, predicate="within").sort_values(["id", "fid"])
    first = hits.drop_duplicates("id").set_index("id")["name"]
    df["community"] = df["id"].map(first)
    return df


def _layer(store: Store, kind: Kind) -> gpd.GeoDataFrame:
    feats = store.features(kind)
    return gpd.GeoDataFrame({"fid": [f.id for f in feats], "name": [f.name for f in feats],
                             "unit": [f.properties.get("unit") for f in feats]},
                            geometry=[f.geometry for f in feats], crs=4326)


def _counts(df: pd.DataFrame, at: datetime) -> dict[str, int]:
    closed = (df.status == "closed") & df.closed_at.notna()
    return {
        "issues": len(df), "counted": int((df.status != "rejected").sum()),
        "handled": int(df.status.isin(["handled", "verified", "closed"]).sum()),
        "closed": int(closed.sum()),
        "on_time": int((closed & df.deadline.notna() & (df.closed_at <= df.deadline)).sum()),
        "recurring": int(df.recurring_of.notna().sum()),
        "overdue": int((df.status.isin(UNHANDLED) & df.deadline.notna()
                        & (df.deadline < at)).sum()),
        "open": int((~df.status.isin(["closed", "rejected"])).sum())}


def _rates(c: dict[str, int]) -> dict[str, float]:
    n = c["issues"]
    return {"rectification_rate": c["handled"] / c["counted"] if c["counted"] else 1.0,
            "on_time_closure_rate": c["on_time"] / c["closed"] if c["closed"] else 1.0,
            "recurrence_rate": c["recurring"] / n if n else 0.0,
            "overdue_rate": min(1.0, c["overdue"] / n) if n else 0.0}


def _period(df: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    return df[(df.reported_at >= start) & (df.reported_at < end)]


def _ranking(store: Store, df: pd.DataFrame, level: str, start: datetime,
             end: datetime) -> list[dict[str, Any]]:
    """The ranking's rows computed with pandas."""
    zones = _layer(store, Kind.zone)
    if level == "zone":
        key = df.zone_id.map(dict(zip(zones.fid, zones.name, strict=True)))
        names = set(zones.name)
    elif level == "unit":
        key, names = df.unit, {u for u in zones.unit if u}
    else:
        key, names = df.community, set(_layer(store, Kind.community).name)
    mine = _period(df.assign(key=key), start, end)
    groups = {k: g for k, g in mine.groupby("key") if k}
    rows = []
    for name in sorted(names | set(groups)):
        c = _counts(groups.get(name, mine.iloc[:0]), end)
        r = _rates(c)
        parts = {"on_time_closure_rate": r["on_time_closure_rate"],
                 "rectification_rate": r["rectification_rate"],
                 "no_recurrence_rate": 1 - r["recurrence_rate"],
                 "no_overdue_rate": 1 - r["overdue_rate"]}
        score = round(100 * sum(WEIGHTS[k] * v for k, v in parts.items()) / sum(WEIGHTS.values()),
                      2)
        rows.append({"name": name, "score": score, "issues": c["issues"],
                     "closed": c["closed"], "overdue": c["overdue"],
                     "recurring": c["recurring"],
                     **{k: round(v, 4) for k, v in r.items()}})
    rows.sort(key=lambda r: (-r["score"], -r["issues"], r["name"]))
    for k, r in enumerate(rows, start=1):
        r["rank"] = k
    return rows


@pytest.mark.parametrize("level", ["zone", "unit", "community"])
def test_ranking_matches_pandas(city: tuple[Store, TestClient], level: str) -> None:
    store, client = city
    check_ranking(store, client, level, PERIOD, START, END)


def check_ranking(store: Store, client: TestClient, level: str, period: str, start: datetime,
                  end: datetime) -> None:
    """/api/ranking of a period equals the pandas ranking, rank changes included."""
    df = _issues(store)
    got = client.get("/api/ranking", params={"level": level, "period": period}).json()
    want = _ranking(store, df, level, start, end)
    before = {r["name"]: r["rank"] for r in _ranking(store, df, level, start - (end - start),
                                                      start)}
    keys = list(want[0])
    assert [{k: r[k] for k in keys} for r in got] == want
    assert [r["change"] for r in got] == [before.get(r["name"], r["rank"]) - r["rank"]
                                          for r in want]
    assert sum(r["issues"] for r in want) > 100  # the month has issues to rank


def test_dashboard_matches_pandas(city: tuple[Store, TestClient]) -> None:
    store, client = city
    check_dashboard(store, client, PERIOD, START, END)


def check_dashboard(store: Store, client: TestClient, period: str, START: datetime,
                    END: datetime) -> None:
    """/api/dashboard of a period equals pandas: KPIs, previous, top categories, trend and
    worst zones."""
    df = _issues(store)
    doc = client.get("/api/dashboard", params={"period": period}).json()
    for key, (start, end) in (("kpis", (START, END)),
                              ("previous", (START - (END - START), START))):
        c = _counts(_period(df, start, end), end)
        r = _rates(c)
        assert doc[key] == {"new": c["issues"], "closed": c["closed"], "overdue": c["overdue"],
                            "recurring": c["recurring"],
                            **{k: round(r[k], 4) for k in ("rectification_rate",
                                                           "on_time_closure_rate",
                                                           "recurrence_rate")}}
    month = _period(df, START, END)
    top = month.groupby("category").agg(n=("id", "size"), first=("id", "min")).reset_index()
    top = top.sort_values(["n", "first"], ascending=[False, True]).head(8)
    assert [(t["code"], t["count"]) for t in doc["top_categories"]] == list(
        zip(top.category, top.n, strict=True))
    week0 = END - timedelta(weeks=12)
    window = _period(df, week0, END)
    trend = []
    for k in range(12):
        a, b = week0 + timedelta(weeks=k), week0 + timedelta(weeks=k + 1)
        trend.append((int(((window.reported_at >= a) & (window.reported_at < b)).sum()),
                      int(((window.closed_at >= a) & (window.closed_at < b)).sum())))
    assert [(t["new"], t["closed"]) for t in doc["trend"]] == trend
    zones = [r for r in _ranking(store, df, "zone", START, END) if r["issues"]]
    worst = sorted(zones, key=lambda z: (z["score"], -z["issues"]))[:5]
    assert [(z["name"], z["score"]) for z in doc["worst_zones"]] == [
        (z["name"], z["score"]) for z in worst]


def test_choropleth_matches_geopandas(city: tuple[Store, TestClient]) -> None:
    store, client = city
    check_choropleth(store, client, START, END)


def check_choropleth(store: Store, client: TestClient, START: datetime,
                     END: datetime) -> None:
    """/api/choropleth of a period equals geopandas (overlay of the lines and zones in UTM)
    for zones and communities."""
    df = _period(_issues(store), START, END)
    zones = _layer(store, Kind.zone)
    utm = zones.estimate_utm_crs()
    m_zones = zones.to_crs(utm)
    lines = pd.concat([_layer(store, Kind.street), _layer(store, Kind.alley)]).to_crs(utm)
    cut = gpd.overlay(lines[["geometry"]], m_zones[["fid", "geometry"]], how="intersection",
                      keep_geom_type=True)
    km = (cut.geometry.length.groupby(cut.fid).sum() / 1000).to_dict()
    area_km2 = dict(zip(m_zones.fid, m_zones.geometry.area / 1e6, strict=True))
    by_zone = {z: _counts(g, END) for z, g in df.groupby("zone_id")}
    params = {"level": "zone", "from": START.isoformat(), "to": END.isoformat()}
    for metric in ("issues", "open", "overdue", "rectification_rate", "per_km", "per_km2"):
        doc = client.get("/api/choropleth", params={**params, "metric": metric}).json()
        got = {f["properties"]["id"]: f["properties"]["value"] for f in doc["features"]}
        want = {}
        for z in zones.fid:
            c = by_zone.get(z, _counts(df.iloc[:0], END))
            value = {"issues": c["issues"], "open": c["open"], "overdue": c["overdue"],
                     "rectification_rate": _rates(c)["rectification_rate"],
                     "per_km": c["issues"] / km[z] if km.get(z) else 0.0,
                     "per_km2": c["issues"] / area_km2[z]}[metric]
            want[z] = pytest.approx(round(value, 4), abs=1.1e-4)
        assert got == want, metric
    by_comm = {k: _counts(g, END) for k, g in df.groupby("community")}
    doc = client.get("/api/choropleth", params={**params, "level": "community",
                                                "metric": "recurrence_rate"}).json()
    assert {f["properties"]["name"]: f["properties"]["value"] for f in doc["features"]} == {
        name: round(_rates(by_comm.get(name, _counts(df.iloc[:0], END)))["recurrence_rate"], 4)
        for name in _layer(store, Kind.community).name}


def test_workload_matches_geopandas(city: tuple[Store, TestClient]) -> None:
    store, client = city
    check_workload(store, client)


def check_workload(store: Store, client: TestClient) -> None:
    """/api/workload equals geopandas (zone areas, street and alley km by overlay, open
    issues by unit)."""
    df = _issues(store)
    zones = _layer(store, Kind.zone)
    zones["owner"] = zones.unit.fillna("（未指定单位）").replace("", "（未指定单位）")
    m_zones = zones.to_crs(zones.estimate_utm_crs())
    want: dict[str, dict[str, Any]] = {}
    for owner, g in m_zones.groupby("owner"):
        want[owner] = {"zones": len(g), "zone_area_m2": round(g.geometry.area.sum(), 1)}
    for kind, key in ((Kind.street, "street_km"), (Kind.alley, "alley_km")):
        lines = _layer(store, kind).to_crs(m_zones.crs)
        cut = gpd.overlay(lines[["geometry"]], m_zones[["owner", "geometry"]],
                          how="intersection", keep_geom_type=True)
        for owner, length in (cut.geometry.length.groupby(cut.owner).sum() / 1000).items():
            want.setdefault(owner, {})[key] = round(length, 3)
    open_ = df[df.unit.notna() & (df.unit != "") & ~df.status.isin(["closed", "rejected"])]
    for unit, n in open_.groupby("unit").size().items():
        want.setdefault(unit, {})["open_issues"] = int(n)
    got = {r["unit"]: r for r in client.get("/api/workload").json()}
    assert got.keys() >= want.keys()
    for owner, figures in want.items():
        for key, value in figures.items():
            assert got[owner][key] == pytest.approx(value, abs=0.0011), (owner, key)
    assert workload(store) == list(got.values())


def test_hotspots_count_the_points_of_each_cell(city: tuple[Store, TestClient]) -> None:
    store, client = city
    df = _issues(store)
    area = jurisdiction(store)
    assert area is not None
    doc = client.get("/api/hotspots", params={"cell": 100, "permutations": 999}).json()
    grid = block_grid(area.bounds, 100)
    col = np.clip((np.floor(df.lon / BASE_CELL_DEG) - grid.x0) // grid.fx, 0, grid.cols - 1)
    row = np.clip((np.floor(df.lat / BASE_CELL_DEG) - grid.y0) // grid.fy, 0, grid.rows - 1)
    counts = pd.Series(1, index=pd.MultiIndex.from_arrays([row.astype(int), col.astype(int)])
                       ).groupby(level=[0, 1]).sum()
    assert doc["issues"] == len(df) and doc["cells"] == grid.rows * grid.cols
    assert doc["features"] and sum(doc["summary"].values()) == doc["cells"]
    for f in doc["features"]:
        x, y = np.asarray(f["geometry"]["coordinates"][0]).min(axis=0)
        r = round((y / BASE_CELL_DEG - grid.y0) / grid.fy)
        c = round((x / BASE_CELL_DEG - grid.x0) / grid.fx)
        assert f["properties"]["count"] == counts.get((r, c), 0)


def test_bulletin_lists_match_pandas(city: tuple[Store, TestClient]) -> None:
    from geo.exports.bulletin import MAX_ROWS, bulletin_context

    store, _ = city
    df = _period(_issues(store), START, END)
    closed = df[df.status == "closed"].sort_values(["reported_at", "id"])
    last = int(closed.id.iloc[-1])  # the period's last closed issue gets an after-photo
    if not store.photos(last):
        store.add_photo(last, "after", "after.png", "image/png", b"\x89PNG", "test")
    with store.engine.connect() as conn:
        with_photo = {r[0] for r in conn.execute(text("SELECT issue_id FROM issue_photos"))}
    ctx = bulletin_context(store, PERIOD, NOW, with_map=False)
    overdue = df[df.status.isin(UNHANDLED) & df.deadline.notna() & (df.deadline < END)]
    overdue = overdue.assign(u=overdue.unit.fillna("")).sort_values(["u", "id"])
    assert [r["id"] for r in ctx["overdue"]] == overdue.id.head(MAX_ROWS).tolist()
    by_time = df.sort_values(["reported_at", "id"])
    # 整改前后: the closed issues with a photo first, then by time
    closed = closed.assign(p=~closed.id.isin(with_photo)).sort_values(
        ["p", "reported_at", "id"], kind="stable")
    assert len(closed) > MAX_ROWS and int(closed.id.iloc[0]) == last
    assert [r["id"] for r in ctx["closed"]] == closed.id.head(MAX_ROWS).tolist()
    assert [r["id"] for r in ctx["recurring"]] == by_time[by_time.recurring_of.notna()].id.head(
        MAX_ROWS).tolist()


def test_sampling_risk_and_siting_demand_match_pandas(city: tuple[Store, TestClient]) -> None:
    store, _ = city
    df = _issues(store)
    points = store.features(Kind.test_point)
    pts = _layer(store, Kind.test_point)
    utm = pts.estimate_utm_crs()
    recent = df[df.reported_at >= NOW - timedelta(days=90)]
    xy = gpd.GeoSeries(gpd.points_from_xy(recent.lon, recent.lat), crs=4326).to_crs(utm)
    tree = cKDTree(np.column_stack([xy.x, xy.y]))
    centres = pts.geometry.centroid.to_crs(utm)
    near = tree.query_ball_point(np.column_stack([centres.x, centres.y]), r=100.0)
    recurring = recent.recurring_of.notna().to_numpy()
    want = [(1 + len(n)) * (2 if recurring[n].any() else 1) * 2 for n in near]
    assert _risk(store, points, NOW, {}).tolist() == pytest.approx(want)
    open_ = df[df.status.isin(UNHANDLED)]
    oxy = gpd.GeoSeries(gpd.points_from_xy(open_.lon, open_.lat), crs=4326).to_crs(utm)
    cells = pd.DataFrame({"x": np.floor(oxy.x / 100), "y": np.floor(oxy.y / 100)})
    sizes = cells.groupby(["x", "y"]).size()
    assert sorted(w for *_, w in _issue_demand(store)) == sorted(sizes.astype(float).tolist())


def test_sql_grouping_refuses_unknown_columns(city: tuple[Store, TestClient]) -> None:
    from geo.model.errors import InvalidInput
    from geo.store import IssueQuery

    store, _ = city
    with pytest.raises(InvalidInput):
        store.issue_stats(IssueQuery(limit=None), by=["description"])



# --- the reduced benchmark city (bench.city at CITY_SCALE, imported with the CLI) -------------
CITY_PERIOD, CITY_START, CITY_END = "2026-05", datetime(2026, 5, 1), datetime(2026, 6, 1)


@pytest.fixture(scope="module")
def reduced(reduced_city: ReducedCity, city_client: TestClient
            ) -> Iterator[tuple[Store, TestClient]]:
    """The reduced city's store (read only) and an admin's client, on each backend."""
    store = open_store(reduced_city.url)
    yield store, city_client
    store.close()


@pytest.mark.parametrize("level", ["zone", "unit", "community"])
def test_reduced_city_ranking_matches_pandas(reduced: tuple[Store, TestClient],
                                             level: str) -> None:
    check_ranking(*reduced, level, CITY_PERIOD, CITY_START, CITY_END)


def test_reduced_city_dashboard_matches_pandas(reduced: tuple[Store, TestClient]) -> None:
    check_dashboard(*reduced, CITY_PERIOD, CITY_START, CITY_END)


def test_reduced_city_choropleth_matches_geopandas(reduced: tuple[Store, TestClient]) -> None:
    check_choropleth(*reduced, CITY_START, CITY_END)


def test_reduced_city_workload_matches_geopandas(reduced: tuple[Store, TestClient]) -> None:
    check_workload(*reduced)


# --- zone figures kept between requests (geo/zones/figures.py) follow every edit --------------
EDIT = """
import sys
from dataclasses import replace
import shapely
from geo.store import open_store
store = open_store(sys.argv[1])
f = store.feature(int(sys.argv[2]))
store.save_feature(replace(f, geometry=shapely.from_wkt(sys.argv[3])), "other-process", "update")
store.close()
"""


def _edit_elsewhere(url: str, feature_id: int, wkt: str) -> None:
    """Save a feature's new geometry from another process (another server worker)."""
    subprocess.run([sys.executable, "-c", EDIT, url, str(feature_id), wkt], check=True,
                   cwd=ROOT, timeout=120)


def test_street_km_follows_edits_of_streets_and_zones_from_any_process(
        client: TestClient, store: Store, db_url: str) -> None:
    def zone(x0: float, name: str, unit: str) -> Feature:
        return Feature(Kind.zone, shapely.box(x0, 36.0, x0 + 0.01, 36.01), name=name,
                       category="grid", properties={"unit": unit, "zone_type": "grid"})

    a, b = store.add_features([zone(116.0, "甲", "单位A"), zone(116.01, "乙", "单位B")])
    [street] = store.add_features([Feature(Kind.street, shapely.LineString(
        [(116.002, 36.005), (116.008, 36.005)]), name="东街")])
    store.add_issues([Issue("street_vending", 116.005, 36.005, zone_id=a, unit="单位A")])
    km = 0.006 * GEOD_M_PER_DEG_LON / 1000  # 0.006° of longitude at 36.005°N

    def seen() -> tuple[dict[str, float], float]:
        work = {r["unit"]: r["street_km"] for r in client.get("/api/workload").json()}
        doc = client.get("/api/choropleth", params={"metric": "per_km"}).json()
        per_km = {f["properties"]["name"]: f["properties"]["value"] for f in doc["features"]}
        return work, per_km["甲"]

    work, per_km = seen()
    assert work == {"单位A": pytest.approx(km, abs=0.002), "单位B": 0.0}
    assert per_km == pytest.approx(1 / km, rel=0.01)
    reused = area_figures.stats["reused"]
    assert seen() == (work, per_km) and area_figures.stats["reused"] > reused  # kept
    # another process moves the street into 乙: both answers follow at once
    _edit_elsewhere(db_url, street, "LINESTRING (116.012 36.005, 116.018 36.005)")
    work, per_km = seen()
    assert work == {"单位A": 0.0, "单位B": pytest.approx(km, abs=0.002)}
    assert per_km == 0.0  # no street left in 甲
    # and 甲 grown over the street again (a zone edit)
    _edit_elsewhere(db_url, a, "POLYGON ((116 36, 116.02 36, 116.02 36.01, 116 36.01, 116 36))")
    work, per_km = seen()
    assert work["单位A"] == pytest.approx(km, abs=0.002)
    assert per_km == pytest.approx(1 / km, rel=0.01)
    assert b  # 乙 still there


@pytest.mark.parametrize("zoom", [10, 12, 14, 16])
def test_heatmap_cells_grouped_in_sql_equal_the_base_cells_coarsened(
        city: tuple[Store, TestClient], zoom: int) -> None:
    from geo.store import IssueQuery
    from geo.tiling.cells import factor_for_zoom

    store, client = city
    df = _issues(store)
    west, south, east, north = df.lon.quantile(0.2), df.lat.quantile(0.2), df.lon.max(), \
        df.lat.quantile(0.9)
    bbox = f"{west},{south},{east},{north}"
    doc = client.get("/api/heatmap", params={"zoom": zoom, "bbox": bbox}).json()
    inside = df[df.lon.between(west, east) & df.lat.between(south, north)]
    base = store.issue_cells(IssueQuery(bbox=(west, south, east, north), limit=None))
    assert doc["total"] == len(inside) > 0
    f = factor_for_zoom(zoom)  # the base cells merged into f × f blocks, here in pandas
    blocks = pd.DataFrame(base, columns=["x", "y", "n"]).assign(
        x=lambda d: d.x // f, y=lambda d: d.y // f).groupby(["x", "y"]).n.sum()
    size = BASE_CELL_DEG * f
    assert doc["cells"] == [[round((x + 0.5) * size, 6), round((y + 0.5) * size, 6), round(n, 2)]
                            for (x, y), n in blocks.items()]
