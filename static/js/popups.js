/* The popup of a feature: a title and a table of its properties in Chinese (text only), with a
 * planner's buttons (assign a cadre or a unit, split a street at zone boundaries). */
import { dateTime, el, row } from "./core.js";
import { assignButton, splitSegmentButton } from "./zones.js";

const FIELD_LABELS = {
  name: "名称", category: "类别", kind: "图层", unit: "责任单位", responsible_person: "责任人",
  phone: "联系电话", zone_type: "责任区类型", community: "所属社区", subdistrict: "所属街道",
  note: "备注", address: "地址", road_class: "道路等级", highway: "OSM 道路类型",
  status: "状态", description: "问题描述", reported_at: "上报时间", deadline: "整改时限",
  closed_at: "结案时间", source: "来源", reporter: "上报人", recurring_of: "回潮自",
  secretary: "社区书记", population: "人口", area_m2: "面积 (m²)", manager: "负责人",
  stalls: "摊位数", households: "户数", property_manager: "物业负责人", lanes: "车道数",
  width: "宽度", category_label: "点位类型", cadre: "路长/街长", count: "问题数",
  value: "指标值", "class": "分级", metric: "指标", z: "Gi* z 值", p: "显著性 p",
  label: "热/冷点", bin: "置信等级", zone: "所属责任区"
};
const HIDDEN = { id: 1, kind: 1, osm: 1, zone_id: 1, external_id: 1, "name:en": 1, version: 1 };
const ASSIGNABLE = { street: 1, alley: 1, market: 1, compound: 1, test_point: 1,
                     storefront: 1 };
const ZONE_TYPES = { storefront_duty: "门前三包", grid: "网格", sponsor_area: "包保片区",
                     district_patch: "分片管理" };

function displayValue(key, value, cfg) {
  if (key === "status" && cfg.statuses[value]) { return cfg.statuses[value].label; }
  if (key === "source" && cfg.sources[value]) { return cfg.sources[value]; }
  if (key === "zone_type" && ZONE_TYPES[value]) { return ZONE_TYPES[value]; }
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
      value = cfg.testPointCategories[value] || cfg.issueCategories[value] || value;
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
