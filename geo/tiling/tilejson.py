"""TileJSON 3.0.0 documents of the vector tiles, so that other clients (QGIS, MapLibre) can add
a layer's tiles as an XYZ source: the URL template, zooms, bounds and the MVT layers inside."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from geo.model.kinds import LABELS_ZH, Kind
from geo.tiling.tiles import (
    CELL_LAYER,
    EDGE_CELL_LAYER,
    ISSUE_LAYER,
    ISSUE_POINTS_MIN_ZOOM,
    MAX_LAT,
    MAX_ZOOM,
    split_layers,
)

TILEJSON_VERSION = "3.0.0"
FEATURE_FIELDS = {"id": "Number", "kind": "String", "name": "String", "category": "String",
                  "unit": "String"}
ISSUE_FIELDS = {"id": "Number", "category": "String", "status": "String",
                "overdue": "Boolean"}
CELL_FIELDS = {"count": "Number", "cell_deg": "Number"}
ISSUES_LABEL = "问题"
CELLS_LABEL = "问题数（按网格汇总）"
# the neighbouring tiles' cells around this one: drawn for their circles, never counted
EDGE_CELLS_LABEL = "相邻瓦片的问题网格（只用于绘制跨越瓦片边缘的圆，不计入总数）"
WORLD = (-180.0, -MAX_LAT, 180.0, MAX_LAT)


def vector_layers(name: str) -> list[dict[str, Any]]:
    """The MVT layers a tile layer's tiles hold, with their fields and zooms."""
    if name != ISSUE_LAYER:
        return [{"id": name, "description": LABELS_ZH[Kind(name)], "fields": FEATURE_FIELDS,
                 "minzoom": 0, "maxzoom": MAX_ZOOM}]
    return [{"id": ISSUE_LAYER, "description": ISSUES_LABEL, "fields": ISSUE_FIELDS,
             "minzoom": ISSUE_POINTS_MIN_ZOOM, "maxzoom": MAX_ZOOM},
            {"id": CELL_LAYER, "description": CELLS_LABEL, "fields": CELL_FIELDS,
             "minzoom": 0, "maxzoom": MAX_ZOOM},
            {"id": EDGE_CELL_LAYER, "description": EDGE_CELLS_LABEL, "fields": CELL_FIELDS,
             "minzoom": 0, "maxzoom": MAX_ZOOM}]


def tilejson(spec: str, tiles_url: str, bounds: Sequence[float] | None) -> dict[str, Any]:
    """The TileJSON of a tile layer or comma list of them (NotFound for an unknown one):
    tiles_url is the absolute {z}/{x}/{y} template; bounds (WGS 84) default to the world."""
    names = split_layers(spec)
    west, south, east, north = bounds or WORLD
    south, north = max(south, -MAX_LAT), min(north, MAX_LAT)
    return {
        "tilejson": TILEJSON_VERSION, "name": spec, "scheme": "xyz", "tiles": [tiles_url],
        "minzoom": 0, "maxzoom": MAX_ZOOM, "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, 12 if bounds else 0],
        "vector_layers": [v for n in names for v in vector_layers(n)],
    }
