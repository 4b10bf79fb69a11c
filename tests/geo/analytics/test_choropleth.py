"""Choropleths: values per area agree with an independent count, classes follow the breaks."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely
import shapely.geometry
from fastapi.testclient import TestClient
from shapely.geometry import LineString, box

from geo.layers.coords import convert_geometry
from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.store import Store
from geo.zones import figures as area_figures
from geo.zones.workflows import delete_zone
from tests.conftest import ROOT

GEOD = pyproj.Geod(ellps="WGS84")


def test_zone_choropleth_values_and_classes(client: TestClient, store: Store) -> None:
    cells = [box(121.46 + k * 0.005, 31.22, 121.465 + k * 0.005, 31.225) for k in range(4)]
    ids = store.add_features([Feature(Kind.zone, g, name=f"区{k}", properties={"unit": f"U{k}"})
                              for k, g in enumerate(cells)])
    store.add_features([Feature(Kind.street, LineString([(121.46, 31.2225), (121.48, 31.2225)]),
                                name="长街")])
    counts = [1, 3, 6, 12]
    store.add_issues([Issue("clutter", 121.4625 + k * 0.005, 31.2225, zone_id=ids[k],
                            status="reported") for k, n in enumerate(counts) for _ in range(n)])
    doc = client.get("/api/choropleth", params={"level": "zone", "metric": "issues"}).json()
    values = {f["properties"]["name"]: f["properties"]["value"] for f in doc["features"]}
    assert values == {"区0": 1, "区1": 3, "区2": 6, "区3": 12}
    classes = [f["properties"]["class"] for f in doc["features"]]
    assert classes == sorted(classes) and classes[0] == 0 and classes[-1] == len(
        doc["breaks"]) - 1
    assert doc["legend"][-1]["to"] == 12 and doc["label"] == "问题数"
    per_km = client.get("/api/choropleth", params={"metric": "per_km"}).json()
    km = GEOD.geometry_length(LineString([(121.46, 31.2225), (121.465, 31.2225)])) / 1000
    first = per_km["features"][0]["properties"]["value"]
    assert first == pytest.approx(1 / km, rel=0.005)
    assert client.get("/api/choropleth", params={"metric": "beauty"}).status_code == 400


def test_community_choropleth_uses_point_in_polygon(client: TestClient, store: Store) -> None:
    store.add_features([Feature(Kind.community, box(121.46, 31.22, 121.47, 31.23), name="东"),
                        Feature(Kind.community, box(121.47, 31.22, 121.48, 31.23), name="西")])
    store.add_issues([Issue("graffiti", 121.465, 31.225, status="closed")] * 2
                     + [Issue("graffiti", 121.475, 31.225, status="reported")])
    doc = client.get("/api/choropleth", params={"level": "community",
                                                "metric": "open"}).json()
    assert {f["properties"]["name"]: f["properties"]["value"] for f in doc["features"]} == {
        "东": 0, "西": 1}


# --- the zones' Features are kept encoded between requests (geo/analytics/choropleth.py) --
EDIT = """
import sys
from dataclasses import replace
import shapely
from geo.store import open_store
store = open_store(sys.argv[1])
f = store.feature(int(sys.argv[2]))
store.save_feature(replace(f, name=sys.argv[3], geometry=shapely.from_wkt(sys.argv[4])),
                   "other-process", "update")
store.close()
"""
HOSTILE = '区"</script><img src=x onerror=alert(1)>\\\n\u2028'


def _edit_elsewhere(url: str, feature_id: int, name: str, geometry: shapely.Geometry) -> None:
    """Rename and reshape a feature from another process (another server worker)."""
    subprocess.run([sys.executable, "-c", EDIT, url, str(feature_id), name, geometry.wkt],
                   check=True, cwd=ROOT, timeout=120)


def _shapes(doc: dict[str, Any]) -> dict[int, tuple[str, str | None, shapely.Geometry]]:
    return {f["properties"]["id"]: (f["properties"]["name"], f["properties"]["unit"],
                                    shapely.geometry.shape(f["geometry"]))
            for f in doc["features"]}


def test_zone_features_follow_edits_from_any_process(client: TestClient, store: Store,
                                                     db_url: str) -> None:
    a, b = store.add_features([
        Feature(Kind.zone, box(116.0, 36.0, 116.01, 36.01), name=HOSTILE,
                properties={"unit": '单位"A\\'}),
        Feature(Kind.zone, box(116.01, 36.0, 116.02, 36.01), name="乙",
                properties={"unit": "单位B"})])
    store.add_issues([Issue("clutter", 116.005, 36.005, zone_id=a)])
    first = _shapes(client.get("/api/choropleth").json())
    # user-supplied names and units come back as the exact strings (JSON-escaped, not mangled)
    assert first[a][:2] == (HOSTILE, '单位"A\\') and first[b][:2] == ("乙", "单位B")
    assert first[a][2].equals(box(116.0, 36.0, 116.01, 36.01))
    reused = area_figures.stats["reused"]
    assert _shapes(client.get("/api/choropleth").json()).keys() == first.keys()
    assert area_figures.stats["reused"] > reused  # the encoded zones were kept
    # another worker renames and grows 乙: the next answer has its new name and shape
    grown = box(116.01, 36.0, 116.03, 36.02)
    _edit_elsewhere(db_url, b, "乙（扩）", grown)
    doc = client.get("/api/choropleth").json()
    now = _shapes(doc)
    assert now[b][0] == "乙（扩）" and now[b][2].equals(grown)
    assert now[a][:2] == first[a][:2] and now[a][2].equals(first[a][2])
    values = {f["properties"]["id"]: f["properties"]["value"] for f in doc["features"]}
    assert values == {a: 1, b: 0}
    # a zone deleted here (as the app deletes one: its issues re-routed in the same
    # transaction, so none is left pointing at it) is gone from the next answer
    delete_zone(store, a, "test")
    assert _shapes(client.get("/api/choropleth").json()).keys() == {b}


def test_zone_values_equal_an_independent_count(client: TestClient, store: Store) -> None:
    cells = [box(116.0 + k * 0.01, 36.0, 116.01 + k * 0.01, 36.01) for k in range(5)]
    ids = store.add_features([Feature(Kind.zone, g, name=f"格{k}", properties={"unit": "U"})
                              for k, g in enumerate(cells)])
    rng = np.random.default_rng(15)
    statuses = ["reported", "assigned", "handled", "closed", "rejected"]
    start = datetime(2026, 10, 1)
    issues = []
    for _ in range(300):
        z = int(rng.integers(0, 6))  # 5: an issue outside every zone (zone_id empty)
        status = statuses[int(rng.integers(0, len(statuses)))]
        reported = start + timedelta(days=int(rng.integers(0, 60)))
        issues.append(Issue("clutter", 116.005 + min(z, 4) * 0.01, 36.005, status=status,
                            zone_id=ids[z] if z < 5 else None, reported_at=reported,
                            closed_at=reported + timedelta(days=2) if status == "closed"
                            else None))
    store.add_issues(issues)
    window = (start + timedelta(days=20), start + timedelta(days=45))
    for params, keep in (({}, lambda i: True),
                         ({"from": window[0].isoformat(), "to": window[1].isoformat()},
                          lambda i: window[0] <= i.reported_at < window[1])):
        for metric, counted in (("issues", lambda i: True),
                                ("open", lambda i: i.status not in ("closed", "rejected"))):
            doc = client.get("/api/choropleth", params={**params, "metric": metric}).json()
            got = {f["properties"]["id"]: f["properties"]["value"] for f in doc["features"]}
            want = {z: sum(1 for i in issues if i.zone_id == z and keep(i) and counted(i))
                    for z in ids}
            assert got == want, (metric, params)
        per_km2 = client.get("/api/choropleth", params={**params, "metric": "per_km2"}).json()
        for f in per_km2["features"]:
            n = sum(1 for i in issues if i.zone_id == f["properties"]["id"] and keep(i))
            km2 = abs(GEOD.geometry_area_perimeter(shapely.geometry.shape(f["geometry"]))[0]) / 1e6
            assert f["properties"]["value"] == pytest.approx(n / km2, rel=0.005)


def test_choropleth_compressed_when_asked_and_in_basemap_coordinates(
        client: TestClient, store: Store) -> None:
    zones = [Feature(Kind.zone, box(116.0 + k * 0.001, 36.0, 116.001 + k * 0.001, 36.001),
                     name=f"小区{k}", properties={"unit": "U"}) for k in range(40)]
    store.add_features(zones)
    plain = client.get("/api/choropleth", headers={"Accept-Encoding": "identity"})
    packed = client.get("/api/choropleth", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert plain.headers["content-type"] == packed.headers["content-type"] == "application/json"
    assert json.loads(plain.content) == packed.json() and len(packed.json()["features"]) == 40
    # on a Gaode/Tencent basemap (coords=gcj02) the zones are drawn where the basemap has them
    doc = client.get("/api/choropleth", params={"coords": "gcj02"}).json()
    for f, zone in zip(doc["features"], zones, strict=True):
        want = convert_geometry(zone.geometry, "wgs84", "gcj02")
        assert shapely.geometry.shape(f["geometry"]).equals_exact(want, 1e-9)
        assert not want.equals_exact(zone.geometry, 1e-5)  # the shift is real
    assert client.get("/api/choropleth", params={"coords": "mars"}).status_code == 400


def test_same_data_same_breaks_and_classes(client: TestClient, store: Store) -> None:
    # 300 zones whose rectification rates have no clear groups: k-means from unseeded starts
    # settled on different breaks from one request to the next (the map changed colours)
    rng = np.random.default_rng(7)
    ids = store.add_features([
        Feature(Kind.zone, box(116.0 + k * 0.001, 36.0, 116.001 + k * 0.001, 36.001),
                name=f"网格{k}", properties={"unit": "U"}) for k in range(300)])
    issues = []
    for z in ids:
        n = int(rng.integers(10, 30))
        handled = int(rng.integers(0, n + 1))
        issues += [Issue("clutter", 116.0005, 36.0005, zone_id=z,
                         status="handled" if j < handled else "reported") for j in range(n)]
    store.add_issues(issues)
    params = {"metric": "rectification_rate"}
    docs = [client.get("/api/choropleth", params=params).json() for _ in range(6)]
    assert all(d["breaks"] == docs[0]["breaks"] and d["legend"] == docs[0]["legend"]
               for d in docs)
    assert all([f["properties"]["class"] for f in d["features"]]
               == [f["properties"]["class"] for f in docs[0]["features"]] for d in docs)
    breaks = docs[0]["breaks"]
    assert len(breaks) == 5 and breaks == sorted(breaks)
    for f in docs[0]["features"]:  # each value lies in its class: (previous limit, limit]
        c, v = f["properties"]["class"], f["properties"]["value"]
        assert v <= round(breaks[c], 4) and (c == 0 or v > round(breaks[c - 1], 4))
