"""The demo city: a fictional sub-district (示范街道) on the real streets of Shanghai Huangpu.

Streets and alleys come from the OSM extract in data/osm (© OpenStreetMap contributors, ODbL).
Everything else — communities, responsibility zones, units, people, markets, compounds, test
points, a year of issues and one demo account per role (password `ccmap-demo`) — is synthetic
and generated deterministically from a seed. Two zones are left out on purpose (coverage gaps)
and one zone is enlarged to overlap its neighbour; their `note` property says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Point, box

from geo import DATA_DIR
from geo.accounts import Unit, create_demo_users
from geo.features import Feature, Issue
from geo.kinds import Kind, issue_categories, test_point_categories
from geo.osm import read_osm
from geo.projection import MetricFrame
from geo.store import Store

OSM_FILE = DATA_DIR / "osm" / "shanghai_huangpu.osm"
SUBDISTRICT = "示范街道"
COMMUNITIES = ["福佑社区", "豫园社区", "金陵社区", "淮海社区", "新天地社区", "董家渡社区"]
UNITS = ["区城管执法局", "区市场监管局", "区教育局", "区卫生健康委", "区建设管理委", "区文明办",
         "区公安分局", "区交通委", "区商务委", "区绿化市容局", "区房屋管理局", "区民政局"]
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高")
GIVEN = ["伟", "芳", "敏", "静", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超",
         "秀英", "建华", "志强", "海燕", "国庆", "丽华", "晓东", "玉兰", "春梅"]
ZONE_TYPES = ["grid", "sponsor_area", "storefront_duty", "district_patch"]
DEMO_UNIT = "区市场监管局"  # the unit of the demo's unit user (unit1)
MARKETS = ["福佑路菜市场", "顺昌路农贸市场", "丽园路菜场", "董家渡早市", "蓬莱路农贸市场"]
COMPOUNDS = ["梅园小区", "福民新村", "金陵公寓", "宝兴里", "淮海坊", "文庙小区", "尚贤坊",
             "东昌新村"]
# synthetic POIs: category → (how many, name pattern)
POIS: dict[str, tuple[int, str]] = {
    "school_surroundings": (6, "第{n}中心小学周边"),
    "hospital": (3, "区第{n}人民医院"),
    "bus_stop": (10, "{street}公交站"),
    "public_toilet": (6, "{street}公厕"),
    "service_window": (3, "{street}政务服务窗口"),
    "park_square": (3, "{street}街心花园"),
    "station": (1, "{street}长途汽车站"),
    "construction_site": (2, "{street}建筑工地"),
    "culture_venue": (3, "{street}网吧"),
}
# issue hotspot groups: (share, categories, spread in metres)
HOTSPOTS: dict[str, tuple[float, list[str], float]] = {
    "market": (0.30, ["street_vending", "market_hygiene", "littering", "clutter"], 45.0),
    "alley": (0.25, ["clutter", "sanitation_blackspot", "messy_overhead_cables",
                     "pest_breeding_site", "wasteland"], 12.0),
    "school": (0.12, ["illegal_parking", "traffic_misconduct", "street_vending"], 40.0),
    "main": (0.23, ["illegal_ads", "nonstandard_signboard", "illegal_parking",
                    "damaged_facility", "banners", "graffiti"], 10.0),
    "any": (0.10, [], 0.0),
}
SOURCES = (["grid_patrol", "supervision", "public_report", "unannounced_inspection",
            "assessment_feedback", "exposure"], [0.4, 0.2, 0.22, 0.1, 0.05, 0.03])


def build_demo(store: Store, seed: int = 2026, now: datetime | None = None,
               n_issues: int = 5200, osm_file: Path = OSM_FILE) -> dict[str, int]:
    """Replace the store's contents with the demo city; return counts per kind and issues."""
    now = now or datetime.now().replace(minute=0, second=0, microsecond=0)
    city = _City(seed, osm_file)
    features = city.features()
    store.clear(actor="demo")
    ids = store.add_features(features, actor="demo")
    zones = [replace(f, id=i) for f, i in zip(features, ids, strict=True) if f.kind is Kind.zone]
    issues = city.issues(zones, now, n_issues)
    issue_ids = store.add_issues(issues, actor="demo")
    store.add_issues(city.recurrences(issues, issue_ids, zones, now), actor="demo")
    store.add_unit(Unit(SUBDISTRICT, "subdistrict"), actor="demo")
    for name in COMMUNITIES:
        store.add_unit(Unit(name, "community", SUBDISTRICT), actor="demo")
    for name in UNITS:
        store.add_unit(Unit(name, "unit", SUBDISTRICT), actor="demo")
    counts = store.layer_counts()
    counts["issues"] = store.issue_count()
    counts["users"] = len(create_demo_users(store, DEMO_UNIT))
    return counts


class _City:
    """Deterministic generator of the demo city's features and issues."""

    def __init__(self, seed: int, osm_file: Path) -> None:
        self.rng = np.random.default_rng(seed)
        osm = read_osm(osm_file)
        self.streets = [f for f in osm.features if f.kind is Kind.street]
        self.alleys = [f for f in osm.features if f.kind is Kind.alley]
        lines = shapely.union_all([f.geometry for f in self.streets + self.alleys])
        self.frame = MetricFrame.for_geometry(lines)
        self.boundary = self.frame.to_wgs84(self.frame.to_metric(lines.convex_hull).buffer(30))
        self.markets: list[Feature] = []
        self.schools: list[Point] = []
        self.main_streets = [f for f in self.streets
                             if f.properties.get("highway") in ("primary", "secondary", "trunk")]

    # --- helpers --------------------------------------------------------------------------
    def person(self) -> str:
        return str(self.rng.choice(SURNAMES)) + str(self.rng.choice(GIVEN))

    def phone(self) -> str:
        return "13" + "".join(str(d) for d in self.rng.integers(0, 10, 9))

    def point_near(self, lines: Sequence[Feature], offset_m: float) -> tuple[Point, str]:
        """A point on a random line, pushed sideways up to offset_m metres; with its street."""
        f = lines[int(self.rng.integers(len(lines)))]
        m = self.frame.to_metric(f.geometry)
        p = m.interpolate(float(self.rng.uniform(0.2, 0.8)), normalized=True)
        dx, dy = self.rng.uniform(-offset_m, offset_m, 2)
        return self.frame.to_wgs84(Point(p.x + dx, p.y + dy)), f.name or "无名路"

    # --- features -------------------------------------------------------------------------
    def features(self) -> list[Feature]:
        """Every layer feature of the demo city."""
        out = [Feature(Kind.subdistrict, self.boundary, name=SUBDISTRICT,
                       properties={"note": "演示数据：虚构街道，街巷来自 OpenStreetMap"})]
        communities = self.communities()
        out += communities
        out += self.zones(communities)
        out += self.streets + self.alleys
        out += self.market_features()
        compounds = self.compound_features()
        out += compounds
        out += self.test_points(compounds, communities)
        return out

    def communities(self) -> list[Feature]:
        metric = self.frame.to_metric(self.boundary)
        minx, miny, maxx, maxy = metric.bounds
        # jittered 3x2 lattice of seeds gives six communities of similar size
        seeds = [Point(minx + (i + 0.5) * (maxx - minx) / 3 + self.rng.uniform(-150, 150),
                       miny + (j + 0.5) * (maxy - miny) / 2 + self.rng.uniform(-150, 150))
                 for j in range(2) for i in range(3)]
        cells = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=metric.envelope)
        ordered = sorted(cells.geoms, key=lambda c: (round(c.centroid.y, -2), c.centroid.x))
        out = []
        for name, cell in zip(COMMUNITIES, ordered, strict=True):
            poly = cell.intersection(metric)
            out.append(Feature(Kind.community, self.frame.to_wgs84(poly), name=name, properties={
                "subdistrict": SUBDISTRICT, "secretary": self.person(), "phone": self.phone(),
                "population": int(self.rng.integers(8000, 22000)),
                "area_m2": round(poly.area)}))
        return out

    def zones(self, communities: list[Feature]) -> list[Feature]:
        out: list[Feature] = []
        serial = 0
        for c in communities:
            number = 0
            metric = self.frame.to_metric(c.geometry)
            minx, miny, maxx, maxy = metric.bounds
            midx, midy = (minx + maxx) / 2, (miny + maxy) / 2
            quads = [box(minx, miny, midx, midy), box(midx, miny, maxx, midy),
                     box(minx, midy, midx, maxy), box(midx, midy, maxx, maxy)]
            for q in quads:
                part = metric.intersection(q)
                if part.area < 1000:
                    continue
                serial += 1
                note = ""
                if serial in (7, 18):
                    continue  # deliberately uncovered: the gap analysis must find these
                if serial == 3:
                    part = part.buffer(60).intersection(self.frame.to_metric(self.boundary))
                    note = "演示：向外扩展 60 米，与相邻责任区重叠"
                unit = UNITS[serial % len(UNITS)]
                number += 1
                out.append(Feature(Kind.zone, self.frame.to_wgs84(part),
                                   name=f"{c.name}第{number}责任区",
                                   category=ZONE_TYPES[serial % len(ZONE_TYPES)], properties={
                                       "zone_type": ZONE_TYPES[serial % len(ZONE_TYPES)],
                                       "unit": unit, "responsible_person": self.person(),
                                       "phone": self.phone(), "community": c.name,
                                       "note": note}))
        return out

    def market_features(self) -> list[Feature]:
        for name in MARKETS:
            p, street = self.point_near(self.streets, 25)
            m = self.frame.to_metric(p)
            w, h = self.rng.uniform(40, 80), self.rng.uniform(30, 60)
            poly = box(m.x - w / 2, m.y - h / 2, m.x + w / 2, m.y + h / 2)
            self.markets.append(Feature(Kind.market, self.frame.to_wgs84(poly), name=name,
                                        category="farmers_market", properties={
                                            "address": street, "manager": self.person(),
                                            "phone": self.phone(),
                                            "stalls": int(self.rng.integers(40, 160))}))
        return self.markets

    def compound_features(self) -> list[Feature]:
        out = []
        for name in COMPOUNDS:
            p, street = self.point_near(self.streets, 80)
            m = self.frame.to_metric(p)
            poly = m.buffer(float(self.rng.uniform(40, 90)), quad_segs=2)
            out.append(Feature(Kind.compound, self.frame.to_wgs84(poly), name=name,
                               properties={"address": street,
                                           "households": int(self.rng.integers(200, 1500)),
                                           "property_manager": self.person()}))
        return out

    def test_points(self, compounds: list[Feature],
                    communities: list[Feature]) -> list[Feature]:
        labels = test_point_categories()
        pts: list[tuple[str, Point, str]] = []

        def on_lines(lines: Sequence[Feature], n: int, category: str, suffix: str) -> None:
            for _ in range(n):
                p, street = self.point_near(lines, 0)
                pts.append((category, p, f"{street}{suffix}"))

        named_main = [f for f in self.main_streets if f.name]
        on_lines([f for f in named_main if f.properties["highway"] in ("primary", "trunk")],
                 10, "main_road", "（主干道）")
        on_lines([f for f in named_main if f.properties["highway"] == "secondary"],
                 8, "secondary_road", "（次干道）")
        on_lines([f for f in self.streets if f.name and f.properties["highway"] == "tertiary"],
                 5, "commercial_street", "商业街")
        on_lines(self.alleys, 10, "back_alley", "")
        pts += [("farmers_market", m.geometry.centroid, m.name) for m in self.markets]
        pts += [("residential_compound", c.geometry.centroid, c.name) for c in compounds]
        pts += [("civilization_practice_station", c.geometry.representative_point(),
                 f"{c.name}新时代文明实践站") for c in communities]
        for category, (n, pattern) in POIS.items():
            for i in range(n):
                p, street = self.point_near(self.streets, 30)
                pts.append((category, p, pattern.format(n=i + 1, street=street)))
                if category == "school_surroundings":
                    self.schools.append(p)
        return [Feature(Kind.test_point, p, name=name, category=cat,
                        properties={"category_label": labels[cat],
                                    "responsible_person": self.person(), "phone": self.phone()})
                for cat, p, name in pts]

    # --- issues ---------------------------------------------------------------------------
    def issues(self, zones: list[Feature], now: datetime, n: int) -> list[Issue]:
        """n issues over the 365 days before now, clustered at hotspots."""
        cats = issue_categories()
        all_codes = [c for c in cats if c != "other"]
        groups = list(HOTSPOTS)
        shares = np.array([HOTSPOTS[g][0] for g in groups])
        chosen = self.rng.choice(len(groups), size=n, p=shares / shares.sum())
        market_lines = [Feature(Kind.street, m.geometry.boundary, name=m.name)
                        for m in self.markets]
        school_lines = [Feature(Kind.street, p.buffer(0.0002).boundary, name="学校门口")
                        for p in self.schools]
        sources = (list(SOURCES[0]), np.array(SOURCES[1]))
        metric_boundary = self.frame.to_metric(self.boundary)
        out: list[Issue] = []
        for g in chosen:
            group = groups[g]
            _, group_cats, spread = HOTSPOTS[group]
            if group == "any":
                minx, miny, maxx, maxy = metric_boundary.bounds
                while True:
                    q = Point(self.rng.uniform(minx, maxx), self.rng.uniform(miny, maxy))
                    if metric_boundary.contains(q):
                        break
                p, street = self.frame.to_wgs84(q), ""
                category = str(self.rng.choice(all_codes))
            else:
                lines = {"market": market_lines, "alley": self.alleys, "school": school_lines,
                         "main": self.main_streets}[group]
                p, street = self.point_near(lines, spread)
                category = str(self.rng.choice(group_cats))
            day = now - timedelta(days=int(self.rng.integers(0, 365)))
            reported = day.replace(hour=int(self.rng.integers(7, 20)),
                                   minute=int(self.rng.integers(0, 60)), second=0, microsecond=0)
            if reported > now:  # today, later than now: move it to the same hour yesterday
                reported -= timedelta(days=1)
            out.append(self._issue(category, p, street, reported, now, cats, sources))
        self._route(out, zones)
        self._address(out)
        return out

    def _issue(self, category: str, p: Point, street: str, reported: datetime, now: datetime,
               cats: dict[str, dict[str, object]],
               sources: tuple[list[str], np.ndarray]) -> Issue:
        limit = timedelta(hours=float(cats[category]["time_limit_hours"]))  # type: ignore[arg-type]
        age = (now - reported).days
        r = self.rng.random()
        if age > 30:
            status = ("closed" if r < 0.86 else "deferred" if r < 0.91 else
                      "rejected" if r < 0.95 else "verified" if r < 0.97 else "dispatched")
        elif age > 7:
            status = ("closed" if r < 0.55 else "verified" if r < 0.65 else
                      "handled" if r < 0.75 else "dispatched" if r < 0.88 else
                      "returned" if r < 0.93 else "deferred")
        else:
            status = ("reported" if r < 0.25 else "accepted" if r < 0.45 else
                      "dispatched" if r < 0.7 else "handled" if r < 0.85 else
                      "returned" if r < 0.9 else "closed")
        closed = None
        if status == "closed":
            closed = min(now, reported + limit * float(self.rng.uniform(0.2, 1.6)))
        label = str(cats[category]["label"])
        where = f"{street}附近" if street else "辖区内"
        return Issue(
            category=category, lon=p.x, lat=p.y, status=status,
            description=f"{where}发现{label}问题，请及时整改。",
            reported_at=reported, deadline=reported + limit, closed_at=closed,
            source=str(self.rng.choice(sources[0], p=sources[1])), reporter=self.person(),
        )

    def recurrences(self, issues: list[Issue], ids: list[int], zones: list[Feature],
                    now: datetime) -> list[Issue]:
        """Issues that come back (回潮) within 50 m and 30 days of a closed one."""
        cats = issue_categories()
        closed = [k for k, i in enumerate(issues) if i.status == "closed" and i.closed_at
                  and (now - i.closed_at).days > 30]
        picks = self.rng.choice(closed, size=min(150, len(closed)), replace=False)
        out = []
        for k in sorted(int(x) for x in picks):
            base = issues[k]
            assert base.closed_at is not None
            m = self.frame.to_metric(Point(base.lon, base.lat))
            angle, dist = self.rng.uniform(0, 2 * np.pi), self.rng.uniform(3, 35)
            p = self.frame.to_wgs84(Point(m.x + dist * np.cos(angle),
                                          m.y + dist * np.sin(angle)))
            reported = base.closed_at + timedelta(days=float(self.rng.uniform(2, 25)))
            limit = timedelta(hours=float(cats[base.category]["time_limit_hours"]))
            r = self.rng.random()
            status = "closed" if r < 0.6 else "dispatched" if r < 0.85 else "reported"
            label = cats[base.category]["label"]
            out.append(Issue(
                category=base.category, lon=p.x, lat=p.y, status=status,
                description=f"回潮：{base.address or '原处'}再次出现{label}。",
                reported_at=reported, deadline=reported + limit,
                closed_at=min(now, reported + limit * 0.8) if status == "closed" else None,
                source="supervision", reporter=self.person(), recurring_of=ids[k]))
        self._route(out, zones)
        self._address(out)
        return out

    def _route(self, issues: list[Issue], zones: list[Feature]) -> None:
        """Zone and unit of each issue: the smallest containing zone wins; None if uncovered."""
        points = shapely.points([i.lon for i in issues], [i.lat for i in issues])
        geoms = [z.geometry for z in zones]
        order = np.argsort([self.frame.to_metric(g).area for g in geoms])
        tree = shapely.STRtree([geoms[o] for o in order])
        pt_idx, tree_idx = tree.query(points, predicate="within")
        best: dict[int, int] = {}
        for p, t in zip(pt_idx.tolist(), tree_idx.tolist(), strict=True):
            best[p] = min(best.get(p, t), t)
        for p, t in best.items():
            zone = zones[int(order[t])]
            issues[p].zone_id = zone.id
            issues[p].unit = zone.properties["unit"]

    def _address(self, issues: list[Issue]) -> None:
        named = [f for f in self.streets + self.alleys if f.name and f.name != "无名小巷"]
        tree = shapely.STRtree([f.geometry for f in named])
        points = shapely.points([i.lon for i in issues], [i.lat for i in issues])
        nearest = tree.nearest(points)
        for issue, k in zip(issues, nearest.tolist(), strict=True):
            issue.address = f"{SUBDISTRICT}{named[k].name}"

