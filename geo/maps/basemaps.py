"""Basemap tile sources: OpenStreetMap, Tianditu 天地图, Gaode/AMap (GCJ-02), custom, none."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from geo.model.errors import InvalidInput

OSM_ATTRIBUTION = "© OpenStreetMap contributors"


@dataclass(frozen=True)
class TileLayer:
    """One Leaflet tile layer."""

    url: str
    attribution: str
    subdomains: str = "abc"
    max_zoom: int = 19


@dataclass(frozen=True)
class Basemap:
    """The tile layers of a basemap and the coordinate system its tiles are drawn in."""

    name: str
    layers: list[TileLayer] = field(default_factory=list)
    coords: str = "wgs84"  # data must be shifted to this system to line up with the tiles


def _tianditu(key: str, layer: str) -> TileLayer:
    url = (f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
           f"&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
           f"&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}")
    return TileLayer(url, "© 天地图 Tianditu", subdomains="01234567", max_zoom=18)


def resolve_basemap(setting: str, tianditu_key: str = "", attribution: str = "") -> Basemap:
    """Turn the CCMAP_BASEMAP setting into tile layers, or raise InvalidInput saying why not."""
    value = setting.strip()
    if value == "none":
        return Basemap("none")
    if value == "osm":
        return Basemap("osm", [TileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                                         OSM_ATTRIBUTION, subdomains="")])
    if value == "tianditu":
        if not tianditu_key:
            raise InvalidInput("底图 tianditu 需要天地图开发者密钥：请设置 CCMAP_TIANDITU_KEY")
        return Basemap("tianditu", [_tianditu(tianditu_key, "vec"),
                                    _tianditu(tianditu_key, "cva")])
    if value == "amap":
        url = ("https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1"
               "&style=8&x={x}&y={y}&z={z}")
        return Basemap("amap", [TileLayer(url, "© 高德地图 AutoNavi", subdomains="1234",
                                          max_zoom=18)], coords="gcj02")
    if value.startswith(("http://", "https://", "/")) and all(
            part in value for part in ("{z}", "{x}", "{y}")):
        return Basemap("custom", [TileLayer(value, attribution or "custom tiles",
                                            subdomains="abc" if "{s}" in value else "")])
    raise InvalidInput(
        f"未知底图 {setting!r}：可用 osm、tianditu、amap、none，或含 "
        "{z}、{x}、{y} 的瓦片 URL 模板")


def tile_origins(basemap: Basemap) -> list[str]:
    """The scheme://host[:port] sources a page must allow images from to show the basemap.

    Each {s} subdomain is spelled out (t0…t7.tianditu.gov.cn); any other placeholder in the
    host becomes a wildcard covering that label and those left of it (*.example.com). Tiles
    served by ccmap itself (a template starting with /) need no origin.
    """
    origins: list[str] = []
    for layer in basemap.layers:
        parts = urlsplit(layer.url)
        if not parts.scheme:
            continue
        hosts = [parts.netloc.replace("{s}", s) for s in layer.subdomains or "abc"] \
            if "{s}" in parts.netloc else [parts.netloc]
        for host in hosts:
            if "{" in host:
                rest = host.rsplit("}", 1)[1].partition(".")[2]
                host = f"*.{rest}" if rest else "*"
            origin = f"{parts.scheme}://{host}"
            if origin not in origins:
                origins.append(origin)
    return origins
