"""GeoJSON output: a page of features encoded in one pass is the same document as one built
feature by feature (RFC 7946 ring orientation, shifted coordinates, any property)."""

from __future__ import annotations

import json

import pytest
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from geo.layers.geojson import dumps, feature_json, features_encoded
from geo.model.kinds import Kind
from geo.model.records import Feature

CLOCKWISE = Polygon([(121.47, 31.23), (121.47, 31.24), (121.48, 31.24), (121.48, 31.23)])
WITH_HOLE = Polygon([(121.40, 31.20), (121.45, 31.20), (121.45, 31.25), (121.40, 31.25)],
                    [[(121.41, 31.21), (121.42, 31.21), (121.42, 31.22), (121.41, 31.22)]])
FEATURES = [
    Feature(Kind.zone, CLOCKWISE, name="南京路责任区 \"A\"", category=None, id=7, version=3,
            properties={"unit": "黄浦区城管", "note": "<b>&</b>", "n": 1.5, "tags": [1, None]}),
    Feature(Kind.zone, WITH_HOLE, name="", id=8),
    Feature(Kind.zone, MultiPolygon([CLOCKWISE, WITH_HOLE]), name="两块", id=9),
    Feature(Kind.street, LineString([(121.4712345678901, 31.2301), (121.4798765432109, 31.2409)]),
            name="中山东一路", category="主干道", id=10),
    Feature(Kind.test_point, Point(121.123456789012345, 31.987654321098765), name="点位", id=11),
]


@pytest.mark.parametrize("coords", ["wgs84", "gcj02", "bd09"])
def test_encoded_features_are_the_features_as_json(coords: str) -> None:
    encoded = features_encoded(FEATURES, coords)
    assert [json.loads(e) for e in encoded] == \
        [json.loads(json.dumps(feature_json(f, coords))) for f in FEATURES]


def test_a_page_of_encoded_features_is_the_same_document() -> None:
    page = {"type": "FeatureCollection", "features": features_encoded(FEATURES),
            "numberMatched": 12, "numberReturned": 5,
            "links": [{"rel": "next", "href": "/api/layers/zone?offset=5&x=\"features\""}]}
    doc = json.loads(dumps(page))
    assert doc == {**page, "features": [json.loads(json.dumps(feature_json(f)))
                                        for f in FEATURES]}
    assert json.loads(dumps({**page, "features": []}))["features"] == []
    assert "黄浦区城管".encode() in dumps(page)  # UTF-8, not \u escapes
