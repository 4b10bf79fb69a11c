"""The demo city: a fictional sub-district (示范街道) on the real streets of Shanghai Huangpu.

Streets and alleys come from the OSM extract in data/osm (© OpenStreetMap contributors, ODbL).
Everything else — communities, responsibility zones, units, people, markets, compounds, test
points, a year of issues and one demo account per role (password `ccmap-demo`) — is synthetic
and generated deterministically from a seed (numpy's default_rng, never global random).

Deliberate flaws, so the analyses have something to find:
* gaps: the zones numbered GAP_ZONES are never drawn; the subdistrict's `note` names them;
* overlap: zone OVERLAP_ZONE is grown by OVERLAP_M metres into its neighbours (its `note` says
  so); issues in the overlap go to the smallest containing zone (geo.zones.assignment's rule)
  and are
  flagged ``overlap``.
Every street, alley, market, compound and test point carries the popup fields `community`,
`unit` and `zone` (absent when it lies in a gap), `responsible_person` and `phone`; streets
and alleys in a zone have a cadre (路长, one per street name), those in a gap have nobody.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPoint, Point, box

from geo import DATA_DIR
from geo.accounts.logins import create_demo_users
from geo.demo.casework import build_demo_casework
from geo.demo.triage import add_triage_demo
from geo.layers.osm import read_osm
from geo.layers.projection import MetricFrame
from geo.model.kinds import Kind, issue_categories, test_point_categories
from geo.model.lifecycle import deadline_for
from geo.model.records import Feature, Issue
from geo.model.users import Unit
from geo.store import Store
from geo.zones.assignment import route_points

OSM_FILE = DATA_DIR / "osm" / "shanghai_huangpu.osm"
TEMPLATES_FILE = DATA_DIR / "demo" / "issue_templates.json"
SUBDISTRICT = "示范街道"
COMMUNITIES = ["福佑社区", "豫园社区", "金陵社区", "淮海社区", "新天地社区", "董家渡社区"]
UNITS = ["区城管执法局", "区市场监管局", "区教育局", "区卫生健康委", "区建设管理委", "区文明办",
         "区公安分局", "区交通委", "区商务委", "区绿化市容局", "区房屋管理局", "区民政局"]
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高")
GIVEN = ["伟", "芳", "敏", "静", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超",
         "秀英", "建华", "志强", "海燕", "国庆", "丽华", "晓东", "玉兰", "春梅"]
ZONE_TYPES = ["grid", "sponsor_area", "storefront_duty", "district_patch"]
GAP_ZONES = (7, 18)  # serial numbers of zones left undrawn on purpose
OVERLAP_ZONE = 3  # serial number of the zone grown into its neighbours
OVERLAP_M = 60.0
DEMO_UNIT = "区市场监管局"  # the unit of the demo's unit user (unit1)
MARKETS = ["菜市场", "农贸市场", "菜场", "早市", "综合市场"]  # named after their street
COMPOUNDS = ["梅园小区", "福民新村", "金陵公寓", "宝兴里", "淮海坊", "文庙小区", "尚贤坊",
             "东昌新村"]
SHOPS = ["小餐馆", "便利店", "理发店", "小旅馆", "洗浴店"]  # 五小门店
# synthetic POI test points: category → (how many, name pattern)
POIS: dict[str, tuple[int, str]] = {
    "school_surroundings": (6, "{street}小学周边"),
    "hospital": (3, "{street}医院"),
    "bus_stop": (10, "{street}公交站"),
    "public_toilet": (6, "{street}公厕"),
    "service_window": (3, "{street}政务服务窗口"),
    "park_square": (3, "{street}街心花园"),
    "station": (1, "{street}汽车站"),
    "construction_site": (2, "{street}建筑工地"),
    "culture_venue": (3, "{street}网吧"),
    "small_storefront": (5, "{street}{shop}"),
}
# issue hotspots: group → (share of issues, categories, spread in metres around the lines)
HOTSPOTS: dict[str, tuple[float, list[str], float]] = {
    "market": (0.30, ["street_vending", "market_hygiene", "littering", "clutter"], 45.0),
    "alley": (0.15, ["clutter", "sanitation_blackspot", "messy_overhead_cables",
                     "pest_breeding_site", "wasteland"], 12.0),
    "lane": (0.10, ["clutter", "sanitation_blackspot", "messy_overhead_cables",
                    "blocked_fire_lane", "illegal_structure", "abandoned_vehicle"], 12.0),
    "school": (0.12, ["illegal_parking", "traffic_misconduct", "street_vending"], 40.0),
    "main": (0.23, ["illegal_ads", "nonstandard_signboard", "illegal_parking",
                    "damaged_facility", "banners", "graffiti", "unlicensed_business",
                    "missing_public_ads"], 10.0),
    "any": (0.10, [], 0.0),
}
SOURCES = ["grid_patrol", "supervision", "public_report", "unannounced_inspection",
           "assessment_feedback", "exposure"]
SOURCE_SHARES = [0.4, 0.2, 0.22, 0.1, 0.05, 0.03]
REPORTERS = {"public_report": "12345热线", "unannounced_inspection": "暗访组",
             "assessment_feedback": "测评组", "exposure": "内参片"}
N_RECURRING = 150


DEMO_STEPS = ("reading the street map", "drawing the city", "generating issues",
              "writing the map", "writing issues", "units and users", "planning a round",
              "recording inspections")


def _no_step(name: str) -> None:
    """Report nothing (build_demo's default `step`)."""


def build_demo(store: Store, seed: int = 2026, now: datetime | None = None,
               n_issues: int = 5200, osm_file: Path = OSM_FILE,
               step: Callable[[str], None] = _no_step) -> dict[str, int]:
    """Replace the store's contents with the demo city; return counts per kind and issues.

    step(name) is called as each of the first six DEMO_STEPS starts (a progress display)."""
    now = now or datetime.now().replace(minute=0, second=0, microsecond=0)
    step(DEMO_STEPS[0])
    city = _City(seed, osm_file)
    step(DEMO_STEPS[1])
    features = city.features()
    step(DEMO_STEPS[2])
    issues = city.issues(now, n_issues)
    recurrences, bases = city.recurrences(issues, now)
    # everything is generated before the store is touched, so a failure leaves it as it was
    step(DEMO_STEPS[3])
    store.clear(actor="demo")
    ids = store.add_features(features, actor="demo")
    step(DEMO_STEPS[4])
    zone_ids = [i for f, i in zip(features, ids, strict=True) if f.kind is Kind.zone]
    for issue in issues + recurrences:  # zone_id was the zone's index until now
        issue.zone_id = None if issue.zone_id is None else zone_ids[issue.zone_id]
    issue_ids = store.add_issues(issues, actor="demo")
    for issue, base in zip(recurrences, bases, strict=True):
        issue.recurring_of = issue_ids[base]
    store.add_issues(recurrences, actor="demo")
    step(DEMO_STEPS[5])
    for unit in city.units():
        store.add_unit(unit, actor="demo")
    add_triage_demo(store, now)  # reports waiting for triage, a claimed case, reply templates
    counts = store.layer_counts()
    counts["issues"] = store.issue_count()
    counts["users"] = len(create_demo_users(store, DEMO_UNIT))
    _seen_deadline_notices(store, now)  # before the casework, whose notices stay unread
    counts["casework"] = len(build_demo_casework(store, DEMO_UNIT, now))
    counts["notifications"] = sum(store.notification_count(u.username)
                                  for u in store.unit_users([DEMO_UNIT]))
    return counts


def _seen_deadline_notices(store: Store, now: datetime) -> None:
    """The deadline scan as of now (通知: overdue and due soon), its notices to the demo unit
    marked read as if seen; the casework's workflows then tell the unit of their 派遣, 返工 and
    延期 decisions (unread)."""
    from geo.calendar.office import office_calendar
    from geo.notify.deadlines import scan_deadlines

    scan_deadlines(store, now, office_calendar(store))
    for user in store.unit_users([DEMO_UNIT]):
        store.read_all_notifications(user.username, now)


def _metric_array(frame: MetricFrame, features: Sequence[Feature]) -> NDArray[np.object_]:
    return frame.to_metric(np.array([f.geometry for f in features], dtype=object))


class _City:
    """Deterministic generator of the demo city's features and issues."""

    def __init__(self, seed: int, osm_file: Path) -> None:
        self.rng = np.random.default_rng(seed)
        osm = read_osm(osm_file)
        self.streets = [f for f in osm.features if f.kind is Kind.street]
        self.alleys = [f for f in osm.features if f.kind is Kind.alley]
        lines = shapely.union_all([f.geometry for f in self.streets + self.alleys])
        self.frame = MetricFrame.for_geometry(lines)
        self.boundary_m = self.frame.to_metric(lines.convex_hull).buffer(30)
        self.boundary = self.frame.to_wgs84(self.boundary_m)
        # people walk and shops stand on streets at grade, not on viaducts or in tunnels
        self.ground = [f for f in self.streets if _at_grade(f)]
        self.main_streets = [f for f in self.ground
                             if f.properties.get("highway") in ("primary", "secondary")]
        self.lanes = [f for f in self.ground if f.properties.get("highway") == "residential"]
        named = [f for f in self.ground + self.alleys if f.name and f.name != "无名小巷"]
        self.named_names = [str(f.name) for f in named]
        self.named_tree = shapely.STRtree(_metric_array(self.frame, named))
        with open(TEMPLATES_FILE, encoding="utf-8") as fh:
            self.templates: dict[str, list[str]] = {
                k: v for k, v in json.load(fh).items() if not k.startswith("_")}
        self.communities: list[Feature] = []
        self.zones: list[Feature] = []  # id = index in this list, until they are stored
        self.gaps: list[str] = []
        self.markets: list[Feature] = []
        self.schools: list[tuple[str, Point]] = []  # (name, metric point)
        self.lines: list[Feature] = []  # streets and alleys with their cadres (路长/巷长)

    # --- helpers --------------------------------------------------------------------------
    def person(self) -> str:
        return str(self.rng.choice(SURNAMES)) + str(self.rng.choice(GIVEN))

    def phone(self) -> str:
        return "138" + "".join(str(d) for d in self.rng.integers(0, 10, 8))

    def sites(self, n: int, offset_m: float) -> list[tuple[Point, str]]:
        """n metric points beside the ground-level streets, each with its street's name."""
        centres, _ = self.points_near(_metric_array(self.frame, self.ground), n, offset_m)
        return list(zip(centres, self.street_names(centres), strict=True))

    def points_near(self, metric_lines: NDArray[np.object_], n: int,
                    offset_m: float) -> tuple[NDArray[np.object_], NDArray[np.int64]]:
        """n metric points on lines picked by length, pushed up to offset_m sideways."""
        lengths = shapely.length(metric_lines)
        idx = self.rng.choice(len(metric_lines), size=n, p=lengths / lengths.sum())
        at = shapely.line_interpolate_point(metric_lines[idx], self.rng.uniform(0.05, 0.95, n),
                                            normalized=True)
        dx, dy = self.rng.uniform(-offset_m, offset_m, (2, n))
        return _points(shapely.get_x(at) + dx, shapely.get_y(at) + dy), idx

    def uniform_points(self, n: int) -> NDArray[np.object_]:
        """n metric points spread evenly over the subdistrict."""
        minx, miny, maxx, maxy = self.boundary_m.bounds
        out: list[Any] = []
        while len(out) < n:
            x, y = self.rng.uniform(minx, maxx, 2 * n), self.rng.uniform(miny, maxy, 2 * n)
            inside = shapely.contains_xy(self.boundary_m, x, y)
            out += list(_points(x[inside], y[inside]))
        return np.array(out[:n], dtype=object)

    def street_names(self, metric_points: NDArray[np.object_]) -> list[str]:
        """Name of the nearest named street or alley of each metric point."""
        return [self.named_names[k] for k in self.named_tree.nearest(metric_points).tolist()]

    def units(self) -> list[Unit]:
        """The subdistrict, its communities and every unit that owns a zone."""
        out = [Unit(SUBDISTRICT, "subdistrict")]
        out += [Unit(c, "community", SUBDISTRICT) for c in COMMUNITIES]
        out += [Unit(u, "unit", SUBDISTRICT) for u in UNITS]
        out += [Unit(f"{c}居委会", "unit", c) for c in COMMUNITIES]
        return out

    # --- features -------------------------------------------------------------------------
    def features(self) -> list[Feature]:
        """Every layer feature of the demo city, zones in the order of self.zones."""
        self.communities = self._communities()
        self.zones = self._zones()
        self.markets = self._markets()
        compounds = self._compounds()
        points = self._test_points(compounds)
        self.lines = self._staffed_lines()
        note = ("演示数据：虚构街道，街巷来自 OpenStreetMap。有意留下的责任区空白："
                + "、".join(self.gaps))
        subdistrict = Feature(Kind.subdistrict, self.boundary, name=SUBDISTRICT,
                              properties={"note": note, "unit": SUBDISTRICT,
                                          "responsible_person": self.person(),
                                          "phone": self.phone()})
        return [subdistrict, *self.communities, *(replace(z, id=None) for z in self.zones),
                *self.lines, *self._assign(self.markets), *self._assign(compounds),
                *self._assign(points)]

    def _communities(self) -> list[Feature]:
        minx, miny, maxx, maxy = self.boundary_m.bounds
        # jittered 3x2 lattice of seeds gives six communities of similar size
        seeds = [Point(minx + (i + 0.5) * (maxx - minx) / 3 + self.rng.uniform(-150, 150),
                       miny + (j + 0.5) * (maxy - miny) / 2 + self.rng.uniform(-150, 150))
                 for j in range(2) for i in range(3)]
        cells = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=self.boundary_m.envelope)
        ordered = sorted(cells.geoms, key=lambda c: (round(c.centroid.y, -2), c.centroid.x))
        out = []
        for name, cell in zip(COMMUNITIES, ordered, strict=True):
            poly = cell.intersection(self.boundary_m)
            out.append(Feature(Kind.community, self.frame.to_wgs84(poly), name=name, properties={
                "subdistrict": SUBDISTRICT, "unit": f"{name}居委会",
                "secretary": self.person(), "phone": self.phone(),
                "population": int(self.rng.integers(8000, 22000)), "area_m2": round(poly.area)}))
        return out

    def _zones(self) -> list[Feature]:
        """Up to four quadrant zones per community, minus the gaps, one grown to overlap."""
        out: list[Feature] = []
        serial = 0
        for c in self.communities:
            metric = self.frame.to_metric(c.geometry)
            minx, miny, maxx, maxy = metric.bounds
            midx, midy = (minx + maxx) / 2, (miny + maxy) / 2
            quads = [box(minx, miny, midx, midy), box(midx, miny, maxx, midy),
                     box(minx, midy, midx, maxy), box(midx, midy, maxx, maxy)]
            for q, quad in enumerate(quads):
                part = metric.intersection(quad)
                if part.area < 1000:
                    continue
                serial += 1
                name = f"{c.name}第{q + 1}责任区"
                if serial in GAP_ZONES:
                    self.gaps.append(name)
                    continue
                note = ""
                if serial == OVERLAP_ZONE:
                    part = part.buffer(OVERLAP_M).intersection(self.boundary_m)
                    note = (f"演示：向外扩展 {OVERLAP_M:.0f} 米，与相邻责任区重叠"
                            "（重叠处归面积较小的责任区）")
                zone_type = ZONE_TYPES[serial % len(ZONE_TYPES)]
                unit = f"{c.name}居委会" if zone_type == "grid" else UNITS[serial % len(UNITS)]
                out.append(Feature(Kind.zone, self.frame.to_wgs84(part), name=name,
                                   category=zone_type, id=len(out), properties={
                                       "zone_type": zone_type, "unit": unit,
                                       "responsible_person": self.person(),
                                       "phone": self.phone(), "community": c.name,
                                       "note": note}))
        return out

    def _markets(self) -> list[Feature]:
        out = []
        for suffix, (c, street) in zip(MARKETS, self.sites(len(MARKETS), 25), strict=True):
            w, h = self.rng.uniform(40, 80), self.rng.uniform(30, 60)
            poly = box(c.x - w / 2, c.y - h / 2, c.x + w / 2, c.y + h / 2)
            out.append(Feature(Kind.market, self.frame.to_wgs84(poly), name=street + suffix,
                               category="farmers_market", properties={
                                   "address": street, "manager": self.person(),
                                   "stalls": int(self.rng.integers(40, 160))}))
        return out

    def _compounds(self) -> list[Feature]:
        out = []
        for name, (c, street) in zip(COMPOUNDS, self.sites(len(COMPOUNDS), 80), strict=True):
            poly = c.buffer(float(self.rng.uniform(40, 90)), quad_segs=2)
            out.append(Feature(Kind.compound, self.frame.to_wgs84(poly), name=name,
                               properties={"address": street,
                                           "households": int(self.rng.integers(200, 1500)),
                                           "property_manager": self.person()}))
        return out

    def _test_points(self, compounds: list[Feature]) -> list[Feature]:
        labels = test_point_categories()
        pts: list[tuple[str, Point, str]] = []  # (category, metric point, name)

        def on_lines(lines: Sequence[Feature], n: int, category: str, offset_m: float,
                     pattern: str) -> list[Point]:
            # one point per street (by name; per line if unnamed) before any street gets two
            groups: dict[str, list[Feature]] = {}
            for k, f in enumerate(lines):
                key = f.name if f.name and f.name != "无名小巷" else f"#{k}"
                groups.setdefault(key, []).append(f)
            keys = sorted(groups)
            order = self.rng.permutation(len(keys)).tolist()
            metric = np.array([self.points_near(
                _metric_array(self.frame, groups[keys[order[k % len(keys)]]]), 1, offset_m)[0][0]
                for k in range(n)], dtype=object)
            nearest = self.street_names(metric)
            picked = [keys[order[k % len(keys)]] for k in range(n)]
            names = [key if offset_m == 0 and not key.startswith("#") else near
                     for key, near in zip(picked, nearest, strict=True)]
            for k, (p, street) in enumerate(zip(metric, names, strict=True)):
                pts.append((category, p, pattern.format(street=street, label=labels[category],
                                                        shop=SHOPS[k % len(SHOPS)])))
            return list(metric)

        def named(*classes: str) -> list[Feature]:
            return [f for f in self.ground if f.name and f.properties["highway"] in classes]

        # the road-class points sit on real streets of that class
        on_lines(named("primary"), 10, "main_road", 0, "{street}{label}")
        on_lines(named("secondary"), 8, "secondary_road", 0, "{street}{label}")
        on_lines(named("tertiary"), 5, "commercial_street", 0, "{street}{label}")
        on_lines(self.alleys, 10, "back_alley", 0, "{street}旁小巷")
        for m in self.markets:
            pts.append(("farmers_market", self.frame.to_metric(m.geometry.centroid), m.name))
        for c in compounds:
            pts.append(("residential_compound", self.frame.to_metric(c.geometry.centroid),
                        c.name))
        for c in self.communities:
            pts.append(("civilization_practice_station",
                        self.frame.to_metric(c.geometry.representative_point()),
                        f"{c.name}新时代文明实践站"))
        for category, (n, pattern) in POIS.items():
            placed = on_lines(self.ground, n, category, 30, pattern)
            if category == "school_surroundings":
                names = [name for _, _, name in pts[-n:]]
                self.schools = list(zip(names, placed, strict=True))
        seen: Counter[str] = Counter()
        out = []
        for category, p, name in pts:
            seen[name] += 1
            unique = name if seen[name] == 1 else f"{name}{seen[name]}"
            out.append(Feature(Kind.test_point, self.frame.to_wgs84(p), name=unique,
                               category=category,
                               properties={"category_label": labels[category]}))
        return out

    def _staffed_lines(self) -> list[Feature]:
        """OSM streets and alleys; those in a zone get a cadre (路长/巷长) per street name."""
        cadres: dict[str, tuple[str, str]] = {}
        out = []
        for f in self._assign(self.streets + self.alleys, staff=False):
            if "zone" not in f.properties:  # in a gap nobody is responsible: the analyses see it
                out.append(f)
                continue
            key = f.name if f.name and f.name != "无名小巷" else f"osm:{f.properties.get('osm')}"
            if key not in cadres:
                cadres[key] = (self.person(), self.phone())
            person, phone = cadres[key]
            out.append(replace(f, properties={**f.properties, "cadre": person,
                                              "responsible_person": person, "phone": phone}))
        return out

    def _assign(self, features: list[Feature], staff: bool = True) -> list[Feature]:
        """Copies with the community, zone and unit at each feature's middle (and a person)."""
        anchors = [f.geometry.interpolate(0.5, normalized=True)
                   if f.geometry.geom_type in ("LineString", "MultiLineString")
                   else f.geometry.representative_point() for f in features]
        routes = route_points([p.x for p in anchors], [p.y for p in anchors], self.zones)
        tree = shapely.STRtree([c.geometry for c in self.communities])
        nearest = tree.nearest(np.array(anchors, dtype=object)).tolist()
        out = []
        for f, route, k in zip(features, routes, nearest, strict=True):
            props = {**f.properties, "community": self.communities[k].name}
            if route.zone_id is not None:
                zone = self.zones[route.zone_id]
                props.update(zone=zone.name, unit=zone.properties["unit"])
            else:
                props["note"] = "不在任何责任区内（演示：覆盖空白）"
            if staff:
                props.setdefault("responsible_person", self.person())
                props.setdefault("phone", self.phone())
            out.append(replace(f, properties=props))
        return out

    # --- issues ---------------------------------------------------------------------------
    def issues(self, now: datetime, n: int) -> list[Issue]:
        """n issues over the 365 days before now, clustered at hotspots, oldest first."""
        all_codes = [c for c in issue_categories() if c != "other"]
        groups = list(HOTSPOTS)
        shares = np.array([HOTSPOTS[g][0] for g in groups])
        sizes = self.rng.multinomial(n, shares / shares.sum())
        market_rings = np.array([self.frame.to_metric(m.geometry).boundary
                                 for m in self.markets], dtype=object)
        school_rings = np.array([p.buffer(20).boundary for _, p in self.schools], dtype=object)
        metric_lines = {"alley": _metric_array(self.frame, self.alleys),
                        "lane": _metric_array(self.frame, self.lanes),
                        "main": _metric_array(self.frame, self.main_streets)}
        points: list[Any] = []
        categories: list[str] = []
        places: list[str | None] = []  # a market or school named in the description
        for group, size in zip(groups, sizes.tolist(), strict=True):
            _, group_cats, spread = HOTSPOTS[group]
            if group == "any":
                pts = self.uniform_points(size)
                places += [None] * size
            elif group == "market":
                pts, idx = self.points_near(market_rings, size, spread)
                places += [f"{self.markets[k].name}周边" for k in idx.tolist()]
            elif group == "school":
                pts, idx = self.points_near(school_rings, size, spread)
                places += [f"{self.schools[k][0].removesuffix('周边')}门口"
                           for k in idx.tolist()]
            else:
                pts, _ = self.points_near(metric_lines[group], size, spread)
                places += [None] * size
            points += list(pts)
            categories += [str(c) for c in self.rng.choice(group_cats or all_codes, size=size)]
        days = self.rng.integers(0, 365, n).tolist()
        hours = self.rng.integers(7, 20, n).tolist()
        minutes = self.rng.integers(0, 60, n).tolist()
        reported = []
        for d, h, m in zip(days, hours, minutes, strict=True):
            t = (now - timedelta(days=d)).replace(hour=h, minute=m, second=0, microsecond=0)
            reported.append(t if t <= now else t - timedelta(days=1))
        out = self._make(np.array(points, dtype=object), categories, reported, places, now)
        return sorted(out, key=lambda i: i.reported_at or now)

    def recurrences(self, issues: list[Issue], now: datetime) -> tuple[list[Issue], list[int]]:
        """Issues that come back (回潮) within 50 m and 30 days of a closed one; base indexes."""
        closed = [k for k, i in enumerate(issues) if i.status == "closed" and i.closed_at
                  and i.closed_at < now - timedelta(days=26)]
        bases = sorted(int(k) for k in self.rng.choice(closed, size=min(N_RECURRING,
                                                                        len(closed)),
                                                       replace=False))
        n = len(bases)
        origin = self.frame.to_metric(shapely.points([issues[k].lon for k in bases],
                                                     [issues[k].lat for k in bases]))
        angle, dist = self.rng.uniform(0, 2 * np.pi, n), self.rng.uniform(3, 35, n)
        pts = _points(shapely.get_x(origin) + dist * np.cos(angle),
                      shapely.get_y(origin) + dist * np.sin(angle))
        delays = self.rng.uniform(1, 25, n).tolist()
        reported = []
        for k, d in zip(bases, delays, strict=True):
            closed_at = issues[k].closed_at
            assert closed_at is not None
            reported.append((closed_at + timedelta(days=d)).replace(second=0, microsecond=0))
        out = self._make(pts, [issues[k].category for k in bases], reported, [None] * n, now)
        for issue in out:
            issue.description = "回潮：" + issue.description
            issue.source = "supervision"  # 回头看 re-inspections find them
            issue.reporter = self.person()
            issue.flags.append("recurring")
        return out, bases

    def _make(self, metric_points: NDArray[np.object_], categories: list[str],
              reported: list[datetime], places: list[str | None],
              now: datetime) -> list[Issue]:
        """Issues with status by age, deadline, source, description, address, zone and unit."""
        n = len(categories)
        streets = self.street_names(metric_points)
        wgs = self.frame.to_wgs84(metric_points)
        lon, lat = shapely.get_x(wgs), shapely.get_y(wgs)
        routes = route_points(lon, lat, self.zones, self.lines, self.communities)
        draws, stretch = self.rng.random(n).tolist(), self.rng.uniform(0.2, 1.6, n).tolist()
        sources = [str(s) for s in self.rng.choice(SOURCES, size=n, p=SOURCE_SHARES)]
        template_picks = self.rng.integers(0, 1000, n).tolist()
        reporters = [f"{s}{g}" for s, g in zip(self.rng.choice(SURNAMES, n),
                                               self.rng.choice(GIVEN, n), strict=True)]
        out = []
        for k in range(n):
            category, at = categories[k], reported[k]
            status = _status((now - at).days, draws[k])
            deadline = deadline_for(category, at)
            closed = None
            if status == "closed":
                closed = min(now, at + (deadline - at) * stretch[k])
            templates = self.templates[category]
            text = templates[template_picks[k] % len(templates)]
            route = routes[k]
            out.append(Issue(
                category=category, lon=float(lon[k]), lat=float(lat[k]), status=status,
                description=text.format(place=places[k] or streets[k]) + "，请及时整改。",
                address=f"{SUBDISTRICT}{streets[k]}", reported_at=at, deadline=deadline,
                closed_at=closed, source=sources[k],
                reporter=REPORTERS.get(sources[k], reporters[k]),
                zone_id=route.zone_id, unit=route.unit, flags=list(route.flags),
                cadre=route.cadre, community=route.community))
        return out


def _status(age_days: int, r: float) -> str:
    """A plausible status for an issue reported age_days ago (r uniform in [0, 1))."""
    if age_days > 30:  # old ones are mostly closed; some kept on the books or rejected
        return ("closed" if r < 0.86 else "deferred" if r < 0.91 else
                "rejected" if r < 0.95 else "verified" if r < 0.97 else "dispatched")
    if age_days > 7:
        return ("closed" if r < 0.55 else "verified" if r < 0.65 else
                "handled" if r < 0.75 else "dispatched" if r < 0.88 else
                "returned" if r < 0.93 else "deferred")
    return ("reported" if r < 0.25 else "accepted" if r < 0.45 else
            "dispatched" if r < 0.7 else "handled" if r < 0.85 else
            "returned" if r < 0.9 else "closed")


def _at_grade(street: Feature) -> bool:
    """False for expressways, viaducts (高架) and tunnels (隧道)."""
    name = street.name or ""
    return (street.properties.get("highway") not in ("trunk", "trunk_link")
            and "高架" not in name and "隧道" not in name)


def _points(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.object_]:
    return np.asarray(shapely.points(x, y), dtype=object)


def build_demo_plan(store: Store, now: datetime | None = None,
                    step: Callable[[str], None] = _no_step) -> dict[str, int]:
    """A planned round on the demo city and last week's inspections of six of its points (two
    with failed items, which became issues), so the planner has something to show; step(name)
    as each of the last two DEMO_STEPS starts."""
    from geo.planner.inspections import checklist, record_inspection
    from geo.planner.rounds import RoundSpec, create_round

    now = now or datetime.now().replace(minute=0, second=0, microsecond=0)
    spec = RoundSpec(teams=3, budget_min=480, inspectors=["督导一组", "督导二组", "督导三组"],
                     time_limit_s=1.0)
    step(DEMO_STEPS[6])
    row = create_round(store, 2026, spec, actor="demo", name="演示：模拟测评第一轮")
    points = sorted((s for t in row["plan"]["teams"] for s in t["stops"]),
                    key=lambda s: s["id"])[:6]
    step(DEMO_STEPS[7])
    for k, stop in enumerate(points):
        items = checklist(stop["category"])
        results = {i["code"]: {"result": "pass", "note": ""} for i in items}
        if k % 3 == 0:  # every third point fails its first standard
            results[items[0]["code"]] = {"result": "fail", "note": "演示：现场发现问题"}
        record_inspection(store, stop["id"], results, spec.inspectors[k % 3], actor="demo",
                          round_id=row["id"], at=now - timedelta(days=3, hours=k))
    return {"rounds": 1, "inspections": len(points)}
