/* The map's legends (one per layer, shown while it is on, side by side at the bottom right),
 * the coverage gaps' popup and list, and the heat and choropleth legends. */
import { el, t } from "./core.js";
import { CLASS_COLORS, GAP_LABELS, HOT_COLORS, PALETTE, STYLE, cellClasses,
         gapStyle } from "./styles.js";

// the legend of each line or area layer: [label, how it is drawn]
const STYLE_LEGEND = [["subdistrict", t("街道边界")], ["community", t("社区边界")],
                      ["zone", t("责任区（颜色按责任单位）")], ["compound", t("居民小区")],
                      ["street", t("主次干道")], ["alley", t("背街小巷")], ["market", t("农贸市场")],
                      ["storefront", t("沿街门店")]];
const HOT_LEGEND = [["3", t("热点 99%")], ["2", t("热点 95%")], ["1", t("热点 90%")], ["-1", t("冷点 90%")],
                    ["-2", t("冷点 95%")], ["-3", t("冷点 99%")]];

/* The box at the bottom right holding the legends, side by side (heat and choropleth too). */
export function legendSlot(map) {
  return map.getContainer().querySelector(".ccmap-legends") || map.getContainer();
}

/* One legend per layer (issue statuses with the cell count, test-point categories, the
 * line/area styles, hotspots, gaps), each shown only while its layer is on, side by side in
 * one box at the bottom right that stays clear of the layer list and the left-hand panels. */
export function addLegends(state) {
  const map = state.map, cfg = state.config, layers = state.layers;
  const slot = el("div", null, "ccmap-legends");
  slot.id = "ccmap-legends";
  const ctl = L.control({ position: "bottomright" });
  ctl.onAdd = function () {
    L.DomEvent.disableClickPropagation(slot);
    L.DomEvent.disableScrollPropagation(slot);
    return slot;
  };
  ctl.addTo(map);
  const shown = [];  // [element, layer kind]: the element shows while that layer is on
  function legend(kind, title) {
    const box = el("div", null, "ccmap-legend ");
    box.id = "ccmap-legend-" + kind;
    box.appendChild(foldingTitle(box, kind, title));
    slot.appendChild(box);
    shown.push([box, kind]);
    return box;
  }
  if (layers.issues) { issueLegend(legend("issues", t("问题状态")), cfg, map); }
  if (layers.test_point) { testPointLegend(legend("test_point", t("测评点位类型")), state); }
  const styles = legend("styles", t("图层"));
  shown.pop();  // shown while one of its rows is
  STYLE_LEGEND.forEach(function (pair) {
    if (!layers[pair[0]]) { return; }
    const row = styleSwatch(pair[0], pair[1]);
    styles.appendChild(row);
    shown.push([row, pair[0]]);
  });
  if (layers.hotspots) { hotLegend(legend("hotspots", t("热点分析（Gi* 置信度）"))); }
  if (layers.gaps) { gapLegend(legend("gaps", t("覆盖缺口"))); }
  function sync() {
    shown.forEach(function (pair) {
      pair[0].hidden = !(layers[pair[1]] && map.hasLayer(layers[pair[1]]));
    });
    styles.hidden = !styles.querySelector(".ccmap-legend-row:not([hidden])");
  }
  function fit() { fitLegends(map, slot); }
  map.on("overlayadd overlayremove", sync);
  map.on("resize", fit);
  sync();
  fit();
  state.fitLegends = fit;
  // at once, and whatever changes the legends' size: a layer turned on or off, the heat or
  // thematic legend drawn with its data, a narrower window
  new ResizeObserver(function () { clearOfLegends(map, slot); }).observe(slot);
}

/* Popups open clear of the legends: Leaflet's own auto-pan keeps every popup of the page
 * (the map's only popups) above the legends' box, as it keeps them inside the map, so one
 * opened in the bottom band moves up with its feature instead of showing behind them. */
function clearOfLegends(map, slot) {
  const below = map.getContainer().getBoundingClientRect().bottom -
    slot.getBoundingClientRect().top;
  L.Popup.prototype.options.autoPanPaddingBottomRight = L.point(5, Math.max(5, below + 10));
}

function issueLegend(box, cfg, map) {
  Object.keys(cfg.statuses).forEach(function (code) {
    box.appendChild(swatch(cfg.statuses[code].color, cfg.statuses[code].label, true));
  });
  box.appendChild(el("div", t("问题数（缩小地图时按格汇总）"), "ccmap-legend-row"));
  box.appendChild(el("div", t("每格件数（颜色按密度，随缩放调整）"),
                     "ccmap-legend-row ccmap-legend-note"));
  // a dot a class of the cells' colours, with the counts of a cell at this zoom
  const classes = el("div", null, "ccmap-legend-cols ccmap-cell-classes");
  box.appendChild(classes);
  function show() {
    const at = cellClasses(map.getZoom());
    classes.replaceChildren();
    at.forEach(function (c, k) {
      const next = at[k + 1];
      classes.appendChild(swatch(c[1], next ? c[0] + "–" + (next[0] - 1) : c[0] + "+", true));
    });
    classes.dataset.zoom = String(Math.round(map.getZoom()));
  }
  map.on("zoomend", show);
  show();
}

function testPointLegend(box, state) {
  const cols = el("div", null, "ccmap-legend-cols");
  Object.keys(state.config.testPointCategories).forEach(function (code) {
    cols.appendChild(swatch(state.tpColors[code], state.config.testPointCategories[code], true));
  });
  box.appendChild(cols);
}

function hotLegend(box) {
  HOT_LEGEND.forEach(function (pair) {
    box.appendChild(areaSwatch(HOT_COLORS[pair[0]], pair[1]));
  });
}

function gapLegend(box) {
  ["uncovered_area", "overlap"].forEach(function (gap) {
    const st = gapStyle(gap);
    box.appendChild(areaSwatch(st.fillColor, GAP_LABELS[gap], st.color, true));
  });
  box.appendChild(lineSwatch(gapStyle("uncovered_line"), GAP_LABELS.uncovered_line));
  box.appendChild(swatch("#fff", GAP_LABELS.unassigned_point, true));
}

const FOLDED_KEY = "ccmap-legends-folded";  // the legends a user folded (localStorage)

function foldedKinds() {
  try { return JSON.parse(localStorage.getItem(FOLDED_KEY) || "[]"); } catch { return []; }
}

/* A legend's title as a button that folds the legend to its title and back (on a small
 * screen the legends of several layers cover much of the map); remembered per legend. */
function foldingTitle(box, kind, title) {
  const button = el("button", title, "ccmap-legend-title ccmap-legend-fold");
  button.type = "button";
  function show(folded) {
    box.classList.toggle("folded", folded);
    button.setAttribute("aria-expanded", String(!folded));
  }
  show(foldedKinds().indexOf(kind) >= 0);
  button.addEventListener("click", function () {
    const folded = !box.classList.contains("folded");
    show(folded);
    const kinds = foldedKinds().filter(function (k) { return k !== kind; });
    if (folded) { kinds.push(kind); }
    try { localStorage.setItem(FOLDED_KEY, JSON.stringify(kinds)); } catch { /* private mode */ }
  });
  return button;
}

/* The legends' room: from the bottom of the layer list down, and right of the left panels. */
function fitLegends(map, slot) {
  const box = map.getContainer().getBoundingClientRect();
  const list = map.getContainer().querySelector(".leaflet-control-layers");
  const left = map.getContainer().querySelector(".leaflet-top.leaflet-left");
  const bottom = slot.getBoundingClientRect().bottom;
  const top = list ? list.getBoundingClientRect().bottom : box.top;
  const leftEdge = left ? left.getBoundingClientRect().right : box.left;
  slot.style.maxHeight = Math.max(80, Math.floor(bottom - top - 10)) + "px";
  slot.style.maxWidth = Math.max(160, Math.floor(box.right - leftEdge - 20)) + "px";
}

/* A legend row: a mark and its label. */
function legendRow(mark, label) {
  const row = el("div", null, "ccmap-legend-row");
  row.appendChild(mark);
  row.appendChild(el("span", label));
  return row;
}

function swatch(color, label, round) {
  const mark = el("span", null, round ? "ccmap-dot" : "ccmap-line");
  mark.style.background = color;
  return legendRow(mark, label);
}

function lineSwatch(st, label) {
  const mark = el("span", null, "ccmap-line");
  mark.style.borderTop = Math.max(2, Math.round(st.weight || 2)) + "px " +
    (st.dashArray ? "dashed " : "solid ") + st.color;
  return legendRow(mark, label);
}

function areaSwatch(fill, label, border, dashed) {
  const mark = el("span", null, "ccmap-area");
  mark.style.background = fill;
  mark.style.border = "2px " + (dashed ? "dashed " : "solid ") + (border || fill);
  return legendRow(mark, label);
}

/* A legend row drawn like the layer `kind` (STYLE): a line, or an area with its outline. */
function styleSwatch(kind, label) {
  const st = STYLE[kind] || {};
  let row;
  if (kind === "zone") {  // each unit has its colour
    row = areaSwatch("linear-gradient(90deg, " + PALETTE[0] + " 0 33%, " + PALETTE[1] +
                     " 33% 66%, " + PALETTE[2] + " 66%)", label, "#555");
  } else if (st.fill === false || kind === "street" || kind === "alley") {
    row = lineSwatch(st, label);
  } else {
    row = areaSwatch(rgba(st.color, Math.max(st.fillOpacity || 0, 0.15)), label, st.color,
                     !!st.dashArray);
  }
  row.dataset.kind = kind;
  return row;
}

function rgba(hex, alpha) {
  let h = hex.replace("#", "");
  if (h.length === 3) { h = h.replace(/(.)/g, "$1$1"); }
  const n = parseInt(h, 16);
  return "rgba(" + (n >> 16) + ", " + ((n >> 8) & 255) + ", " + (n & 255) + ", " + alpha + ")";
}

/* A legend box of id `id` in the legends' slot, replacing an older one, removed with the
 * layer `group`. */
function replacedLegend(map, group, id, cls) {
  const old = document.getElementById(id);
  if (old) { old.remove(); }
  const box = el("div", null, cls);
  box.id = id;
  legendSlot(map).appendChild(box);
  map.on("overlayremove", function drop(e) {  // (once would drop it on another layer's removal)
    if (e.layer === group) { box.remove(); map.off("overlayremove", drop); }
  });
  return box;
}

/* The class breaks of the choropleth, shown while the layer is on. */
export function choroplethLegend(map, group, doc) {
  const box = replacedLegend(map, group, "ccmap-choropleth-legend",
                             "ccmap-legend ccmap-choropleth-legend");
  box.appendChild(el("div", t("专题图：") + t(doc.label), "ccmap-legend-title"));
  (doc.legend || []).forEach(function (c) {
    const sw = el("span", null, "ccmap-dot");
    sw.style.background = CLASS_COLORS[c["class"]];
    sw.style.borderRadius = "2px";
    box.appendChild(legendRow(sw, c.from + " – " + c.to));
  });
}

/* The heat layer's ramp with its total and its cell size. */
export function heatLegend(map, group, doc) {
  let box = document.getElementById("ccmap-heat-legend");
  if (!box) { box = replacedLegend(map, group, "ccmap-heat-legend", "ccmap-legend ccmap-heat-legend"); }
  box.textContent = "";
  box.appendChild(el("div", t("问题热力（{n} 个问题）", { n: doc.total }), "ccmap-legend-title"));
  box.appendChild(el("div", null, "ccmap-heat-ramp"));
  box.appendChild(el("div", t("少 → 多（每格最多 {max} 个，格宽约 {m} 米）",
                        { max: doc.max, m: Math.round(doc.cell_deg * 111000) })));
}

/* --- coverage gaps --------------------------------------------------------------------- */
function gapText(p) {
  if (p.gap === "unassigned_point") { return p.name; }
  if (p.gap === "forgotten_zone" || p.gap === "forgotten_point") {
    return p.name + t("（{days} 天内无问题记录）", { days: p.days });
  }
  if (p.gap === "uncovered_area") { return Math.round(p.area_m2).toLocaleString() + " m²"; }
  if (p.gap === "overlap") {
    return Math.round(p.area_m2).toLocaleString() + t(" m²：") + p.names.join(" / ") +
      t("（{units}）", { units: p.units.join(" / ") });
  }
  return (p.name || t("无名道路")) + " " + Math.round(p.uncovered_m) + " m";
}

export function gapPopup(p) {
  const box = el("div", null, "ccmap-popup");
  box.appendChild(el("div", GAP_LABELS[p.gap] || p.gap, "ccmap-popup-title"));
  box.appendChild(el("div", gapText(p)));
  return box;
}

/* A list of the gaps, largest first, at the bottom left under the left-hand panels (the
 * filter panel makes room for it: filters.js fitPanel), where it covers neither them, nor a
 * planner's draw tools, nor the map's middle; clicking one zooms the map to it. */
export function gapPanel(map, group) {
  if (group.ccmapGapList) { group.ccmapGapList.remove(); }  // the list of the last load
  const panel = el("div", null, "ccmap-gap-panel");
  panel.id = "ccmap-gap-panel";
  panel.appendChild(el("div", t("覆盖缺口（按大小排序）"), "ccmap-legend-title"));
  const items = group.getLayers().map(function (l) {
    const p = l.feature.properties;
    return { layer: l, p: p, size: p.area_m2 || p.uncovered_m || 0 };
  }).sort(function (a, b) {
    return (a.p.gap === "uncovered_line") - (b.p.gap === "uncovered_line") || b.size - a.size;
  });
  const list = el("ol");
  items.slice(0, 80).forEach(function (item) {
    const li = el("li", (GAP_LABELS[item.p.gap] || "") + t("：") + gapText(item.p), "ccmap-gap-item");
    li.addEventListener("click", function () {
      if (item.layer.getBounds) {
        map.fitBounds(item.layer.getBounds(), { maxZoom: 18 });
      } else {
        map.setView(item.layer.getLatLng(), 18);
      }
      item.layer.openPopup();
    });
    list.appendChild(li);
  });
  panel.appendChild(list);
  L.DomEvent.disableClickPropagation(panel);
  L.DomEvent.disableScrollPropagation(panel);
  const ctl = L.control({ position: "bottomleft" });
  ctl.onAdd = function () { return panel; };
  group.ccmapGapList = ctl.addTo(map);
  group.off("remove", dropGapList).on("remove", dropGapList);  // it goes with its layer
}

/* The gaps layer left the map: its list goes too (`this`: the layer). */
function dropGapList() {
  if (this.ccmapGapList) {
    this.ccmapGapList.remove();
    this.ccmapGapList = null;
  }
}
