"""Import streets, back alleys, markets and candidate test points from OpenStreetMap data.

Reads .osm XML and .osm.pbf with pyosmium (node locations and multipolygon assembly are
libosmium's). The tagging rules:

* **street** (主次干道): ways with ``highway`` in motorway, trunk, primary, secondary, tertiary,
  unclassified, residential (and their ``_link`` variants); category = the highway value.
* **alley** (背街小巷): ``highway=service`` + ``service=alley``; ``highway=living_street``;
  linear ``highway=pedestrian``; and *narrow lanes*: an **unnamed** ``highway=residential`` way
  with ``width`` < 4 m or ``lanes=1``. footway, steps, cycleway, path, parking aisles,
  driveways and other service roads are not streets and are ignored.
* **market** (农贸市场): ``amenity=marketplace`` nodes (Point), closed ways and multipolygon
  relations (MultiPolygon); each also yields a ``farmers_market`` test point.
* **test_point** (测评点位) candidates from POIs (areas contribute a point inside them), see
  ``POI_RULES``. Unnamed POIs get a descriptive Chinese name such as "公交站点（未命名）".

Ways or relations whose geometry cannot be built (missing nodes, broken rings) are skipped and
counted. Every feature carries ``source_id`` such as ``osm:way/123``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import osmium
import shapely
from shapely.geometry.base import BaseGeometry
from tqdm import tqdm

from geo.layers.userfiles import FileLimits, check_path, osm_file, user_name
from geo.model.errors import InvalidInput, LimitExceeded
from geo.model.kinds import Kind, test_point_categories
from geo.model.records import Feature

STREET_CLASSES: dict[str, str] = {
    "motorway": "高速公路",
    "trunk": "快速路",
    "primary": "主干道",
    "secondary": "次干道",
    "tertiary": "支路",
    "unclassified": "一般道路",
    "residential": "街坊路",
}
# what an alley's OSM highway value (its category) means, for its popup
ALLEY_CLASSES: dict[str, str] = {"living_street": "生活街道", "pedestrian": "步行街",
                                 "service": "服务道路"}

Tags = Mapping[str, str]


def _any(key: str, *values: str) -> Callable[[Tags], bool]:
    return lambda t: t.get(key) in values


# (test point category, predicate on tags), first match wins
POI_RULES: list[tuple[str, Callable[[Tags], bool]]] = [
    ("farmers_market", _any("amenity", "marketplace")),
    ("school_surroundings", _any("amenity", "school", "kindergarten", "university", "college")),
    ("hospital", _any("amenity", "hospital", "clinic")),
    ("station", lambda t: t.get("railway") == "station" or t.get("amenity") == "bus_station"
     or t.get("public_transport") == "station"),
    ("bus_stop", lambda t: t.get("highway") == "bus_stop"
     or (t.get("public_transport") == "platform" and t.get("bus") == "yes")),
    ("public_toilet", _any("amenity", "toilets")),
    ("park_square", lambda t: t.get("leisure") == "park" or t.get("place") == "square"
     or (t.get("highway") == "pedestrian" and t.get("area") == "yes")),
    ("service_window", _any("amenity", "townhall", "police", "post_office", "bank")),
    ("culture_venue", _any("amenity", "internet_cafe", "karaoke_box", "cinema", "theatre")),
    ("construction_site", _any("landuse", "construction")),
    ("residential_compound", lambda t: t.get("landuse") == "residential" and "name" in t),
]


@dataclass
class OsmResult:
    """Features read from an OSM file, plus how many objects were skipped as broken."""

    features: list[Feature] = field(default_factory=list)
    skipped: int = 0

    def counts(self) -> dict[str, int]:
        """Number of features per kind."""
        return dict(Counter(f.kind.value for f in self.features))


def _name(tags: Tags) -> str:
    return tags.get("name:zh") or tags.get("name") or ""


def _width(tags: Tags) -> float | None:
    try:
        return float(tags.get("width", "").rstrip(" m"))
    except ValueError:
        return None


def line_kind(tags: Tags) -> Kind | None:
    """Street, alley or None for a way's tags (rules in the module docstring)."""
    highway = tags.get("highway", "")
    if highway == "living_street" or (highway == "service" and tags.get("service") == "alley"):
        return Kind.alley
    if highway == "pedestrian":
        return None if tags.get("area") == "yes" else Kind.alley
    base = highway.removesuffix("_link")
    if base not in STREET_CLASSES:
        return None
    if base == "residential" and not _name(tags):
        width = _width(tags)
        if (width is not None and width < 4) or tags.get("lanes") == "1":
            return Kind.alley
    return Kind.street


def poi_category(tags: Tags) -> str | None:
    """Test point category for a POI's tags, or None."""
    return next((cat for cat, rule in POI_RULES if rule(tags)), None)


def read_osm(path: Path, progress: bool = False, limits: FileLimits | None = None,
             filename: str | None = None) -> OsmResult:
    """Read streets, alleys, markets and candidate test points from an .osm or .osm.pbf file.

    `filename` (default: path's name) picks XML or PBF; the content is checked to be that
    first. `limits` caps the features produced and the vertices of each geometry."""
    name = user_name(filename) if filename else path.name
    if not path.exists():
        raise InvalidInput(f"找不到 OSM 文件：{path}")
    check_path(path, name)
    source = osm_file(path, name)
    limits = limits or FileLimits()
    labels = test_point_categories()
    wkb = osmium.geom.WKBFactory()
    result = OsmResult()

    def geom(make: Callable[[Any], str], obj: Any) -> BaseGeometry | None:
        try:
            shape = shapely.from_wkb(make(obj))
        except (osmium.InvalidLocationError, RuntimeError, shapely.errors.GEOSException):
            result.skipped += 1
            return None
        if limits.max_vertices is not None and \
                shapely.get_num_coordinates(shape) > limits.max_vertices:
            setting = limits.setting("MAX_GEOMETRY_VERTICES")
            raise LimitExceeded(f"{name}：OSM 对象 {obj.id} 的顶点超过 "
                                f"{limits.max_vertices} 个（{setting}）",
                                limit=limits.max_vertices, setting=setting)
        if limits.max_features is not None and len(result.features) >= limits.max_features:
            setting = limits.setting("MAX_LAYER_FEATURES")
            raise LimitExceeded(f"{name} 生成的要素超过 {limits.max_features} 个，"
                                f"上限由 {setting} 设定", limit=limits.max_features,
                                setting=setting)
        return shape

    def add_poi(tags: Tags, point: BaseGeometry, osm_ref: str) -> None:
        category = poi_category(tags)
        if category is None:
            return
        name = _name(tags) or f"{labels[category]}（未命名）"
        props = {"osm": osm_ref, **{k: v for k, v in tags.items() if not k.startswith("name:")}}
        result.features.append(Feature(Kind.test_point, point, name=name, category=category,
                                       properties=props, source_id=f"osm:{osm_ref}"))

    def add_place(tags: Tags, shape: BaseGeometry | None, ref: str) -> None:
        """A node or area with a test-point category: a market feature too, if it is one."""
        if shape is None:
            return
        if tags.get("amenity") == "marketplace":
            result.features.append(_market(tags, shape, ref))
        add_poi(tags, shape.point_on_surface(), ref)

    try:
        processor = osmium.FileProcessor(source).with_locations().with_areas()
        objects: Iterable[Any] = processor
        if progress:
            objects = tqdm(objects, desc="OSM", unit=" obj")
        for obj in objects:
            tags = {t.k: t.v for t in obj.tags}
            if not tags:
                continue
            if obj.is_node():
                if poi_category(tags) is not None:
                    add_place(tags, geom(wkb.create_point, obj), f"node/{obj.id}")
            elif obj.is_way():
                kind = line_kind(tags)
                if kind is None:
                    continue
                line = geom(wkb.create_linestring, obj)
                if line is not None:
                    result.features.append(_line(kind, tags, line, f"way/{obj.id}"))
            elif obj.is_area() and poi_category(tags) is not None:
                add_place(tags, geom(wkb.create_multipolygon, obj),
                          f"{'way' if obj.from_way() else 'relation'}/{obj.orig_id()}")
    except RuntimeError as exc:
        raise InvalidInput(f"{name} 不是可读取的 OSM XML/PBF 文件：{exc}") from None
    return result


def _line(kind: Kind, tags: Tags, line: BaseGeometry, ref: str) -> Feature:
    highway = tags["highway"]
    props: dict[str, str] = {"osm": ref, "highway": highway,
                             "road_class": STREET_CLASSES.get(highway.removesuffix("_link"),
                                                              "背街小巷")}
    for key in ("lanes", "width", "oneway", "service", "name:en"):
        if key in tags:
            props[key] = tags[key]
    name = _name(tags) or ("无名小巷" if kind is Kind.alley else "")
    return Feature(kind, line, name=name, category=highway, properties=props,
                   source_id=f"osm:{ref}")


def _market(tags: Tags, geom: BaseGeometry, ref: str) -> Feature:
    name = _name(tags) or "农贸市场（未命名）"
    props = {"osm": ref, **{k: v for k, v in tags.items() if k in ("opening_hours", "operator")}}
    return Feature(Kind.market, geom, name=name, category="farmers_market", properties=props,
                   source_id=f"osm:{ref}")
