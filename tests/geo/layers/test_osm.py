"""OSM import: tagging rules on real extracts and on hand-written fixtures."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import osmium
import pyproj
import pytest

from geo.layers.osm import STREET_CLASSES, read_osm
from geo.model.errors import InvalidInput
from geo.model.kinds import Kind
from geo.store import open_store
from server.cli import main
from tests.conftest import FIXTURES, ROOT

HUANGPU = ROOT / "data" / "osm" / "shanghai_huangpu.osm"
LONGGANG = ROOT / "data" / "osm" / "shenzhen_longgang.osm"
TAGS = FIXTURES / "osm" / "tags.osm"
GEOD = pyproj.Geod(ellps="WGS84")


def _way_tags(path: Path) -> list[dict[str, str]]:
    root = ET.parse(path).getroot()
    return [{t.get("k", ""): t.get("v", "") for t in w.iter("tag")} for w in root.iter("way")]


def test_huangpu_streets_match_an_independent_count() -> None:
    result = read_osm(HUANGPU)
    expected_alleys = sum(1 for t in _way_tags(HUANGPU) if t.get("highway") == "living_street")
    expected_streets = sum(1 for t in _way_tags(HUANGPU)
                           if t.get("highway", "").removesuffix("_link") in STREET_CLASSES)
    counts = result.counts()
    assert counts["alley"] == expected_alleys
    assert counts["street"] == expected_streets  # no unnamed narrow lanes in this extract
    names = {f.name for f in result.features if f.kind is Kind.street}
    assert {"延安东路", "西藏中路"} <= names
    by_class = Counter(f.properties["highway"] for f in result.features if f.kind is Kind.street)
    assert by_class["primary"] == sum(1 for t in _way_tags(HUANGPU)
                                      if t.get("highway") == "primary")
    assert all(f.geometry.geom_type == "LineString" for f in result.features)
    assert all(121.4 < f.geometry.centroid.x < 121.5 for f in result.features)  # lon, lat order


def test_longgang_pois_become_test_points_and_footways_are_ignored() -> None:
    result = read_osm(LONGGANG)
    cats = Counter(f.category for f in result.features if f.kind is Kind.test_point)
    xml_bus_stops = sum(1 for n in ET.parse(LONGGANG).getroot().iter("node")
                        for t in n.iter("tag") if (t.get("k"), t.get("v")) == ("highway",
                                                                                "bus_stop"))
    assert cats["bus_stop"] == xml_bus_stops
    assert cats["school_surroundings"] >= 4 and cats["public_toilet"] >= 5
    assert cats["park_square"] >= 1
    assert not any(f.category in ("footway", "steps", "cycleway") for f in result.features)
    unnamed = [f for f in result.features if f.name.endswith("（未命名）")]
    assert all(f.kind is Kind.test_point for f in unnamed)


def test_alley_rules_and_market_geometries() -> None:
    result = read_osm(TAGS)
    by_source = {(f.kind, f.source_id): f for f in result.features}
    assert (Kind.alley, "osm:way/100") in by_source  # service=alley
    assert (Kind.alley, "osm:way/101") in by_source  # unnamed residential, width 3 m
    assert (Kind.street, "osm:way/102") in by_source  # named residential stays a street
    assert not any(f.source_id == "osm:way/103" for f in result.features)  # footway
    node_market = by_source[(Kind.market, "osm:node/30")]
    assert node_market.geometry.geom_type == "Point" and node_market.name == "南京东路早市"
    way_market = by_source[(Kind.market, "osm:way/105")]
    assert way_market.geometry.geom_type == "MultiPolygon"
    relation = by_source[(Kind.market, "osm:relation/200")].geometry
    assert len(relation.geoms[0].interiors) == 1  # the inner ring is a hole
    area, _ = GEOD.geometry_area_perimeter(relation)
    outer, _ = GEOD.polygon_area_perimeter([121.47, 121.471, 121.471, 121.47],
                                           [31.23, 31.23, 31.231, 31.231])
    inner, _ = GEOD.polygon_area_perimeter([121.4703, 121.4707, 121.4707, 121.4703],
                                           [31.2303, 31.2303, 31.2307, 31.2307])
    assert abs(area) == pytest.approx(abs(outer) - abs(inner), rel=1e-6)
    # every market also becomes a farmers_market test point, inside the market
    points = [f for f in result.features if f.kind is Kind.test_point
              and f.category == "farmers_market"]
    assert len(points) == 3
    assert relation.contains(next(p.geometry for p in points
                                  if p.source_id == "osm:relation/200"))


def test_broken_way_is_skipped_and_counted_and_names_are_kept_verbatim() -> None:
    result = read_osm(TAGS)
    assert result.skipped == 1  # way 104 references a missing node
    assert not any(f.name == "断头路" for f in result.features)
    cafe = next(f for f in result.features if f.category == "culture_venue")
    assert cafe.name == "<b>极速网吧</b>"  # stored as text; escaping is the page's job
    police = next(f for f in result.features if f.category == "service_window")
    assert police.name == "窗口单位（未命名）"


def test_non_osm_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "requests.csv"
    bad.write_text("srnumber,requesttype\n1,Graffiti\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="不是可读取的 OSM"):
        read_osm(bad)
    with pytest.raises(InvalidInput, match="找不到 OSM 文件"):
        read_osm(tmp_path / "missing.osm")


def test_pbf_reads_like_xml(tmp_path: Path) -> None:
    pbf = tmp_path / "tags.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(TAGS)):
            writer.add(obj)
    xml_result, pbf_result = read_osm(TAGS), read_osm(pbf)
    assert pbf_result.counts() == xml_result.counts()
    assert [f.geometry.wkt for f in pbf_result.features] == [
        f.geometry.wkt for f in xml_result.features]


def test_cli_import_osm_writes_the_features(db_url: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "osm", str(LONGGANG), "--db", db_url, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    expected = read_osm(LONGGANG).counts()
    assert doc["by_kind"] == expected and doc["imported"] == sum(expected.values())
    store = open_store(db_url)
    try:
        assert store.layer_counts() == expected
    finally:
        store.close()
