"""GeoJSON output: a page of features encoded in one pass is the same document as one built
feature by feature (RFC 7946 ring orientation, shifted coordinates, any property), its
coordinates written to 7 decimal places."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from geo.layers.geojson import COORD_DECIMALS, dumps, feature_json, features_encoded
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


def rounded(doc: Any) -> Any:
    """A feature_json document with the coordinates of its geometry to 7 decimal places."""
    def walk(node: Any) -> Any:
        return round(node, 7) if isinstance(node, float) else [walk(n) for n in node]
    geometry = doc["geometry"]
    return {**doc, "geometry": {**geometry, "coordinates": walk(geometry["coordinates"])}}


@pytest.mark.parametrize("coords", ["wgs84", "gcj02", "bd09"])
def test_encoded_features_are_the_features_as_json(coords: str) -> None:
    encoded = features_encoded(FEATURES, coords)
    assert [json.loads(e) for e in encoded] == \
        [rounded(json.loads(json.dumps(feature_json(f, coords)))) for f in FEATURES]


def test_encoded_coordinates_have_seven_decimals_and_stay_within_a_centimetre() -> None:
    street, point = features_encoded(FEATURES[3:])
    assert '"coordinates":[121.1234568,31.9876543]' in point
    assert "[121.4712346,31.2301],[121.4798765,31.2409]" in street
    for text, f in ((street, FEATURES[3]), (point, FEATURES[4])):
        written = np.array(json.loads(text)["geometry"]["coordinates"]).reshape(-1, 2)
        stored = shapely.get_coordinates(f.geometry)
        assert np.abs(written - stored).max() <= 0.5 * 10 ** -COORD_DECIMALS


def test_a_page_of_encoded_features_is_the_same_document() -> None:
    page = {"type": "FeatureCollection", "features": features_encoded(FEATURES),
            "numberMatched": 12, "numberReturned": 5,
            "links": [{"rel": "next", "href": "/api/layers/zone?offset=5&x=\"features\""}]}
    doc = json.loads(dumps(page))
    assert doc == {**page, "features": [rounded(json.loads(json.dumps(feature_json(f))))
                                        for f in FEATURES]}
    assert json.loads(dumps({**page, "features": []}))["features"] == []
    assert "黄浦区城管".encode() in dumps(page)  # UTF-8, not \u escapes
