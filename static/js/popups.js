/* The popup of a feature: a title and a table of its properties in Chinese (text only), with a
 * planner's buttons (assign a cadre or a unit, split a street at zone boundaries). */
import { dateTime, el, getJson, row, t } from "./core.js";
import { assignButton, splitSegmentButton } from "./zones.js";

const FIELD_LABELS = {
  name: t("名称"), category: t("类别"), kind: t("图层"), unit: t("责任单位"), responsible_person: t("责任人"),
  phone: t("联系电话"), zone_type: t("责任区类型"), community: t("所属社区"), subdistrict: t("所属街道"),
  note: t("备注"), address: t("地址"), road_class: t("道路等级"), highway: t("OSM 道路类型"),
  status: t("状态"), description: t("问题描述"), reported_at: t("上报时间"), deadline: t("整改时限"),
  closed_at: t("结案时间"), source: t("来源"), reporter: t("上报人"), recurring_of: t("回潮自"),
  secretary: t("社区书记"), population: t("人口"), area_m2: t("面积 (m²)"), manager: t("负责人"),
  stalls: t("摊位数"), households: t("户数"), property_manager: t("物业负责人"), lanes: t("车道数"),
  width: t("宽度"), category_label: t("点位类型"), cadre: t("路长/街长"), count: t("问题数"),
  value: t("指标值"), "class": t("分级"), metric: t("指标"), z: t("Gi* z 值"), p: t("显著性 p"),
  label: t("热/冷点"), bin: t("置信等级"), zone: t("所属责任区"), oneway: t("单行道")
};
const YES_NO = { yes: t("是"), no: t("否"), "-1": t("是（逆向）") };  // OSM's oneway values
const HIDDEN = { id: 1, kind: 1, osm: 1, zone_id: 1, external_id: 1, "name:en": 1, version: 1 };
const ASSIGNABLE = { street: 1, alley: 1, market: 1, compound: 1, test_point: 1,
                     storefront: 1 };
const ZONE_TYPES = { storefront_duty: t("门前三包"), grid: t("网格"), sponsor_area: t("包保片区"),
                     district_patch: t("分片管理") };

// properties whose values are labels of ccmap's own (not user data): shown translated
const LABEL_KEYS = { category_label: 1, road_class: 1, label: 1, metric: 1, "class": 1, bin: 1,
                     kind_label: 1 };

// quantities, shown with their digits grouped (人口 22,236; 面积 (m²) 2,410,070)
const QUANTITIES = { population: 1, area_m2: 1, households: 1, stalls: 1, count: 1 };

function displayValue(key, value, cfg) {
  if (QUANTITIES[key] && typeof value === "number") {
    return value.toLocaleString(undefined, { maximumFractionDigits: 1 });
  }
  if (LABEL_KEYS[key] && typeof value === "string") { return t(value); }
  if (key === "status" && cfg.statuses[value]) { return cfg.statuses[value].label; }
  if (key === "source" && cfg.sources[value]) { return cfg.sources[value]; }
  if (key === "zone_type" && ZONE_TYPES[value]) { return ZONE_TYPES[value]; }
  if (key === "oneway" && YES_NO[value]) { return YES_NO[value]; }
  if (typeof value === "string" && /^\d{4}-\d\d-\d\dT/.test(value)) { return dateTime(value); }
  return value;
}

/* Popup content for a feature: a title and a table of its non-empty properties. */
export function popupContent(kindLabel, props, cfg) {
  const box = el("div", null, "ccmap-popup");
  const title = props.name || props.description || kindLabel;
  box.appendChild(el("div", title, "ccmap-popup-title"));
  box.appendChild(el("div", kindLabel, "ccmap-popup-kind"));
  const table = el("table");
  Object.keys(props).forEach(function (key) {
    let value = props[key];
    if (HIDDEN[key] || key === "name" || value === null || value === "" ||
        typeof value === "object") { return; }
    if (key === "category") {
      // a zone's category is its zone type and an OSM way's its highway: said once, by those
      if (value === props.zone_type || value === props.highway) { return; }
      value = cfg.testPointCategories[value] || cfg.issueCategories[value] ||
        ZONE_TYPES[value] || cfg.roadClasses[value] || value;
    }
    table.appendChild(row(FIELD_LABELS[key] || key, displayValue(key, value, cfg)));
  });
  box.appendChild(table);
  return box;
}

/* Popup content of a feature layer's feature, with the planner's buttons. */
export function featureContent(state, kind, label, props) {
  const content = popupContent(label, props, state.config);
  if (state.config.canEditZones && ASSIGNABLE[kind]) {
    content.appendChild(assignButton(kind, props, state));
    if (kind === "street" || kind === "alley") {
      content.appendChild(splitSegmentButton(props, state, kind));
    }
  }
  return content;
}

/* The popup of a feature the map holds only the id of (and what draws it): "loading…" until
 * its details, fetched by id, fill it as featureContent's; `extra` may add to that content.
 * Returns the element to show; `popup` is the Leaflet popup showing it (re-laid out then). */
export function fetchedContent(state, kind, label, id, popup, extra) {
  const box = el("div", t("loading"), "ccmap-popup");
  getJson("/api/features/" + encodeURIComponent(id) + "?coords=" +
          encodeURIComponent(state.config.coords))
    .then(function (f) {
      const content = featureContent(state, kind, label, f.properties);
      if (extra) { extra(content); }
      box.replaceChildren.apply(box, Array.from(content.childNodes));
      popup.update();
    })
    .catch(function (err) { box.textContent = t("cannotLoad") + err.message; });
  return box;
}
