/* The looks of the vector-tile features and what the page's other styles share with them:
 * the line and area styles, the palette of units and the issue cells' colours. No DOM, no
 * Leaflet: the tile workers (tile-worker.js) draw with these styles. */

export const PALETTE = ["#1f78b4", "#e31a1c", "#33a02c", "#ff7f00", "#6a3d9a", "#b15928",
                        "#a6cee3", "#fb9a99", "#b2df8a", "#fdbf6f", "#cab2d6", "#ffff99",
                        "#17becf", "#7f7f7f", "#bcbd22", "#8c564b", "#e377c2"];
export const STYLE = {
  subdistrict: { color: "#444", weight: 3, dashArray: "8 6", fill: false },
  community: { color: "#6a3d9a", weight: 2, dashArray: "4 4", fillOpacity: 0.03 },
  compound: { color: "#b15928", weight: 1, fillOpacity: 0.15 },
  street: { color: "#c0392b", weight: 2.5, opacity: 0.75 },
  alley: { color: "#ff7f00", weight: 3, dashArray: "2 4", opacity: 0.9 },
  market: { color: "#33a02c", weight: 2, fillOpacity: 0.4 },
  storefront: { color: "#a6cee3", weight: 1, fillOpacity: 0.4 }
};
// a test point's marker, filled with its category's colour (GeoJSON markers and tiles alike)
export const TEST_POINT_STYLE = { radius: 7, color: "#222", weight: 1.5, fillOpacity: 0.95 };
export const HAIRLINE_BELOW = 16;  // tiled lines are 1 pixel wide below this zoom (hairline())
/* The issue cells' colours by count: at city size nearly every bubble reaches its size cap, so
 * the colour is what tells a busy cell from a quiet one at a glance (as marker clusters do).
 * The classes are of density: CELL_CLASSES holds the lower bounds of a cell at CELL_CLASS_ZOOM
 * (z14, where issues may first be drawn one by one: a cell about 400 m across; the upper
 * classes closer together, as a busy area's cells hold thousands); a cell zoomed out one level
 * covers 4 times the ground (cells.factor_for_zoom doubles), so its bounds are 4 times as
 * high, rounded to one significant digit. One colour means about as many issues per square
 * kilometre at every zoom, and a whole city at z11 shows its busy districts instead of one
 * colour. The count is written in dark on the two lightest. */
const CELL_CLASSES = [[1, "#fecc5c"], [10, "#fd8d3c"], [100, "#f03b20"],
                       [500, "#c4001a"], [2000, "#8b0023"], [5000, "#4d0013"]];
const CELL_CLASS_ZOOM = 14;
const DARK_LABELS = 2;  // classes whose counts are written in dark

/* v rounded to one significant digit (640 -> 600, 128000 -> 100000). */
function roundish(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  return Math.round(v / p) * p;
}

/* The cell classes at map zoom z: [[lowest count, colour], ...], lowest first. */
export function cellClasses(z) {
  const times = Math.pow(4, Math.max(0, CELL_CLASS_ZOOM - Math.round(z)));
  return CELL_CLASSES.map(function (c, k) {
    return [k === 0 ? 1 : roundish(c[0] * times), c[1]];
  });
}

/* The index of the class of an issue cell of `count` issues among `classes`. */
function cellClass(count, classes) {
  let k = 0;
  classes.forEach(function (c, i) { if (count >= c[0]) { k = i; } });
  return k;
}

/* A colour of the palette for a value (a zone's unit): the same value, the same colour. */
export function hashColor(value) {
  let h = 0;
  const s = String(value || "");
  for (let i = 0; i < s.length; i++) { h = (h * 31 + s.charCodeAt(i)) >>> 0; }
  return PALETTE[h % PALETTE.length];
}

/* A city view holds tens of thousands of street segments: drawn 1 pixel wide, a canvas
 * rasterises them as hairlines, about 4 times faster than 2-3 pixel strokes without a GPU
 * (and a whole city reads better in thin lines); from HAIRLINE_BELOW on, full widths. */
export function hairline(st, z) {
  if (z < HAIRLINE_BELOW && (st.weight === undefined || st.weight > 1)) { st.weight = 1; }
  return st;
}

/* The style function of tile features of `kind`: today's GeoJSON style, drawn on the tile's
 * canvas; below HAIRLINE_BELOW lines and outlines are 1 pixel wide. It returns one object per
 * look (tiles.js works a style out once per object). */
export function tileStyle(kind, cfg) {
  const made = {};
  function once(key, make) { return made[key] || (made[key] = make()); }
  return function (p, z) {
    if (kind === "zone") {
      const c = hashColor(p.unit);
      return once(c + (z < HAIRLINE_BELOW), function () {
        return hairline({ color: c, weight: 2, fill: true, fillColor: c, fillOpacity: 0.18 }, z);
      });
    }
    if (kind === "test_point") {  // its category's colour
      const fill = cfg.testPointColors[p.category] || "#999";
      return once("point " + fill, function () {
        return Object.assign({ fill: true, fillColor: fill }, TEST_POINT_STYLE);
      });
    }
    if (kind === "issues" && p.count === undefined) {  // one issue: its status colour
      const status = cfg.statuses[p.status] || { color: "#555" };
      return once("status " + status.color, function () {
        return { radius: 6, color: "#fff", weight: 1, fill: true, fillColor: status.color,
                 fillOpacity: 0.9 };
      });
    }
    if (kind === "issues") {  // issue_cells: a circle growing with the count, in its cell
      const cellPx = (p.cell_deg || 0) / 360 * 256 * Math.pow(2, z);
      let radius = Math.max(4, Math.min(cellPx * 0.42, 7 + 3 * Math.log2(p.count || 1)));
      radius = Math.round(radius * 2) / 2;  // half pixels: a few sprites, not one a cell
      const classes = once("classes " + z, function () { return cellClasses(z); });
      const k = cellClass(p.count || 1, classes);
      return once("cell " + radius + " " + k, function () {
        return { radius: radius, color: "#fff", weight: 1, fill: true, fillColor: classes[k][1],
                 fillOpacity: 0.9, label: k < DARK_LABELS ? "#333" : "#fff" };
      });
    }
    return once(String(z < HAIRLINE_BELOW), function () {
      const st = Object.assign({}, STYLE[kind] || {});
      if (kind === "community") { st.fill = true; }
      return hairline(st, z);
    });
  };
}
