"""Choropleths: values per area agree with an independent count, classes follow the breaks."""

from __future__ import annotations

import pyproj
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import LineString, box

from geo.features import Feature, Issue
from geo.kinds import Kind
from geo.store import Store

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
