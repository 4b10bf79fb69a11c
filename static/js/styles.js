/* How the map draws each layer: the line and area styles, the colours of units, hot spots,
 * choropleth classes and coverage gaps, for GeoJSON layers and for vector-tile features. */
import { t } from "./core.js";
import { PALETTE, STYLE, TEST_POINT_STYLE, cellClasses, hashColor } from "./tilestyles.js";

// the looks shared with the vector tiles live in tilestyles.js (the tile workers import it)
export { PALETTE, STYLE, cellClasses };

export const HOT_COLORS = { "3": "#b2182b", "2": "#ef8a62", "1": "#fddbc7", "-1": "#d1e5f0",
                            "-2": "#67a9cf", "-3": "#2166ac" };
export const CLASS_COLORS = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"];
export const GAP_LABELS = { uncovered_area: t("未覆盖区域"), overlap: t("责任区重叠"),
                            uncovered_line: t("无人负责的路段"), unassigned_point: t("无责任单位的点位"),
                            forgotten_zone: t("长期无活动的责任区"),
                            forgotten_point: t("长期无活动的测评点位") };

/* The colour of each test-point category code. */
export function testPointColors(cfg) {
  const colors = {};
  Object.keys(cfg.testPointCategories).forEach(function (code, i) {
    colors[code] = PALETTE[i % PALETTE.length];
  });
  return colors;
}

export function gapStyle(gap, pane) {
  if (gap === "uncovered_line") {
    return { color: "#d00", weight: 6, opacity: 0.8, dashArray: "6 6", pane: pane };
  }
  if (gap === "overlap") {
    return { color: "#7b1fa2", weight: 2, dashArray: "4 4", fillColor: "#7b1fa2",
             fillOpacity: 0.45, pane: pane };
  }
  return { color: "#d00", weight: 2, dashArray: "8 4", fillColor: "#f00", fillOpacity: 0.35,
           pane: pane };
}

/* The style of a GeoJSON line or area of layer `kind` in `pane`. */
export function featureStyle(kind, props, pane) {
  if (kind === "zone") {
    const c = hashColor(props.unit);
    return { color: c, weight: 2, fillColor: c, fillOpacity: 0.18, pane: pane };
  }
  if (kind === "gaps") { return gapStyle(props.gap, pane); }
  if (kind === "choropleth") {
    return { color: "#555", weight: 1, fillOpacity: 0.7, pane: pane,
             fillColor: CLASS_COLORS[props["class"]] || "#eee" };
  }
  if (kind === "hotspots") {
    return { color: "#fff", weight: 0.5, fillOpacity: 0.55, pane: pane,
             fillColor: HOT_COLORS[String(props.bin)] || "#eee" };
  }
  return L.extend({ pane: pane }, STYLE[kind] || {});
}

/* The marker of a GeoJSON point of layer `kind` in `pane`. */
export function pointMarker(kind, props, latlng, pane, state) {
  if (kind === "gaps") {
    return L.circleMarker(latlng, { radius: 8, color: "#d00", weight: 3, pane: pane,
      dashArray: props.gap === "unassigned_point" ? null : "3 3",
      fillColor: "#fff", fillOpacity: 0.6 });
  }
  if (kind === "issues") {
    const st = state.config.statuses[props.status] || { color: "#555" };
    return L.circleMarker(latlng, { radius: 6, color: "#fff", weight: 1, pane: pane,
                                    fillColor: st.color, fillOpacity: 0.9 });
  }
  if (kind === "test_point") {
    return L.circleMarker(latlng, L.extend({ pane: pane,
      fillColor: state.tpColors[props.category] || "#999" }, TEST_POINT_STYLE));
  }
  return L.circleMarker(latlng, { radius: 6, color: (STYLE[kind] || {}).color || "#333",
                                  fillOpacity: 0.6, pane: pane });
}
