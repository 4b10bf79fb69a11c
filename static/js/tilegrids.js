/* The page's vector-tile layers (/api/tiles/<kinds>/{z}/{x}/{y}.mvt, drawn by tiles.js): the
 * shared grid of the big line and area layers, the issue grid (the issue cells, and the test
 * points of a city that has many), their counts and their clicks.
 *
 * The tiled layers share one grid (state.baseTiles): one tile per z/x/y holding every tiled
 * layer that is on, drawn bottom to top on one canvas, in a pane at the height of the
 * top-most of them. Each such layer's entry in the layer list is a placeholder whose adding
 * and removing changes the grid's URL (its list of layers). A planner's zones are in it below
 * ZONE_EDIT_ZOOM (editable GeoJSON polygons from there on). The issue grid
 * (state.issueCells) works alike in the issues' pane: the test points (their layer is just
 * below the issues) and the issues, at the zooms where they are tiled. */
import { el, t } from "./core.js";
import { popup as issuePopup } from "./issues.js";
import { fetchedContent } from "./popups.js";
import { grid as vectorGrid } from "./tiles.js";
import { CELL_LAYERS } from "./tilework.js";

// Layers drawn from vector tiles: the big ones. Planners get zones as GeoJSON of the view
// from ZONE_EDIT_ZOOM on (leaflet-draw edits real polygons) and as tiles below it; issues
// come as tile cells below ISSUE_TILE_ZOOM and from there on as clustered GeoJSON points, or,
// when the ledger holds more than state.maxIssuePoints, as the tiles' single points (cells
// where a tile holds too many).
const TILED = { street: 1, alley: 1, community: 1, subdistrict: 1, zone: 1 };
export const ISSUE_TILE_ZOOM = 14;
export const ZONE_EDIT_ZOOM = 15;  // a city's view at 15 holds some hundreds of zones
// the shared grid of the tiled layers: 512-pixel tiles, a quarter of the requests and
// canvases of 256-pixel ones (the issue tiles are 512 pixels too, in a grid of their own)
const BASE_TILE_PX = 512;

/* Whether layer `kind` is drawn by a grid: the shared grid's layers (a planner's zones are
 * not: editable), and a city's many test points (cfg.testPointsTiled), by the issue grid. */
export function isTiled(state, kind) {
  if (kind === "test_point") { return !!(state.tiles && state.config.testPointsTiled); }
  return state.tiles && TILED[kind] === 1 && !(kind === "zone" && state.config.canEditZones);
}

/* The shared grid of the tiled layers (state.baseKinds), in a pane at the height of the
 * top-most of them; none when no layer is tiled. */
export function makeBaseTiles(state) {
  const cfg = state.config;
  state.baseKinds = cfg.layers.map(function (l) { return l.kind; }).filter(function (k) {
    return (TILED[k] === 1 && isTiled(state, k)) || (k === "zone" && state.zoneTiled);
  });
  const kinds = state.baseKinds;
  if (!kinds.length) { return; }
  const top = cfg.layers.map(function (l) { return l.kind; }).indexOf(kinds[kinds.length - 1]);
  state.map.createPane("ccmap-tiles").style.zIndex = String(410 + top);
  const grid = state.baseTiles = tileGrid(state, kinds, baseUrl(kinds), "ccmap-tiles");
  grid.ccmapKindsAt = function (z) { return baseKindsAt(state, z); };
  grid.options.urlAt = function (z) {
    const at = baseKindsAt(state, z);
    return at && baseUrl(at);
  };
}

/* The layer-list entry of a layer drawn by state.baseTiles (the test points: by
 * state.issueCells): no drawing of its own. */
export function tiledPlaceholder(state, kind) {
  const holder = new L.Layer();
  const upper = kind === "test_point";
  holder.onAdd = holder.onRemove = function () {};
  holder.ccmapTiled = kind;
  holder.ccmapGrid = upper ? state.issueCells : state.baseTiles;
  holder.on("add remove", function () {
    if (upper) { syncIssueTiles(state); } else { syncBaseTiles(state); }
  });
  return holder;
}

/* state.baseTiles asks for the tiled layers that are on (none: it leaves the map). */
export function syncBaseTiles(state) {
  const grid = state.baseTiles, map = state.map;
  if (!state.baseReady || !grid) { return; }
  const kinds = state.baseKinds.filter(function (k) { return map.hasLayer(state.layers[k]); });
  grid.ccmapKinds = kinds;
  showGrid(map, grid, kinds.length ? kinds.join(",") : null);
}

/* Put `grid` on the map asking for what `key` names (null: take it off the map), its tiles
 * made again when the key changes, or when `reload` (an edit) and they are not on the way
 * already. Resolves when its tiles are in. */
function showGrid(map, grid, key, reload) {
  if (key === null) {
    if (map.hasLayer(grid)) { map.removeLayer(grid); }
    return Promise.resolve();
  }
  const loaded = function () {
    return new Promise(function (resolve) { grid.once("load remove", resolve); });
  };
  if (map.hasLayer(grid) && grid.ccmapOn === key) {
    if (grid.ccmapFresh) { return loaded(); }  // (this data's tiles are on the way)
    if (!reload) { return Promise.resolve(); }
  }
  grid.ccmapOn = key;
  grid.ccmapFresh = true;  // its tiles are on the way with today's data
  if (map.hasLayer(grid)) { return redrawTiles(grid); }
  const added = loaded();
  grid.addTo(map);
  return added;
}

/* The layers of the shared grid's tiles at map zoom z (a planner's zones: below
 * ZONE_EDIT_ZOOM only); null: none. */
function baseKindsAt(state, z) {
  const kinds = (state.baseTiles.ccmapKinds || []).filter(function (k) {
    return k !== "zone" || !state.zoneTiled || z < ZONE_EDIT_ZOOM;
  });
  return kinds.length ? kinds : null;
}

/* The page's tiles carry the feature id (a click fetches the feature or issue by it) and
 * PAGE_FIELDS, what the layers are drawn with (a zone's colour is its unit's, a test point's
 * its category's, an issue point's its status'; nothing else is): names and categories would
 * more than double a city's tiles (keep in step with geo.maps.seeding). Both grids ask for
 * the same list, so that a move's tiles of both come in one request. */
const PAGE_FIELDS = "zone:unit,test_point:category,issues:status";

function baseUrl(kinds) {
  return tileUrl(kinds.join(","), (BASE_TILE_PX === 256 ? "" : "size=" + BASE_TILE_PX) +
                 "&fields=" + PAGE_FIELDS);
}

/* The issue grid's URL of `kinds` (test_point, issues), with the page's issue filters
 * ("&category=…") when it holds the issues. */
function issueTileUrl(kinds, filter) {
  return tileUrl(kinds.join(","), (BASE_TILE_PX === 256 ? "" : "size=" + BASE_TILE_PX) +
                 "&fields=" + PAGE_FIELDS + (kinds.indexOf("issues") >= 0 ? filter : ""));
}

function tileUrl(kind, filter) {
  return "/api/tiles/" + kind + "/{z}/{x}/{y}.mvt" +
    (filter ? "?" + filter.replace(/^&/, "") : "");
}

/* Whether the page draws the issues from the issue grid's tiles at map zoom z: cells below
 * ISSUE_TILE_ZOOM; from there on clustered GeoJSON points for a small ledger, the tiles'
 * points over state.maxIssuePoints (cells where a tile is dense). */
export function issuesTiledAt(state, z) {
  return z < ISSUE_TILE_ZOOM || state.config.issueTotal > state.maxIssuePoints;
}

/* The issue grid (state.issueCells): the issue cells (and, at street level over a large
 * ledger, single issues), and a city's many test points below them. */
export function makeIssueCells(state) {
  const kinds = state.config.layers.map(function (l) { return l.kind; }).filter(function (k) {
    return k === "issues" || (k === "test_point" && isTiled(state, k));
  });
  if (!kinds.length) { return; }
  const grid = state.issueCells = tileGrid(state, kinds, issueTileUrl(kinds, ""), "ccmap-issues");
  grid.ccmapKindsAt = function (z) { return issueKindsAt(state, z); };
  grid.options.urlAt = function (z) {
    const at = issueKindsAt(state, z);
    return at && issueTileUrl(at, state.issueFilter || "");
  };
  state.map.on("overlayremove", function (e) {
    if (e.layer === state.layers.issues) { syncIssueTiles(state); }
  });
}

/* The layers of the issue grid's tiles at map zoom z (null: none). */
function issueKindsAt(state, z) {
  const map = state.map, layers = state.layers, kinds = [];
  if (isTiled(state, "test_point") && layers.test_point && map.hasLayer(layers.test_point)) {
    kinds.push("test_point");
  }
  if (layers.issues && map.hasLayer(layers.issues) && issuesTiledAt(state, z)) {
    kinds.push("issues");
  }
  return kinds.length ? kinds : null;
}

/* The issue grid follows its layers and the issue filter: on the map while the test points
 * (tiled) or the issues (tiled at this zoom) are (see showGrid; `reload`: after an edit).
 * Resolves when its tiles are in. */
export function syncIssueTiles(state, reload) {
  const grid = state.issueCells, map = state.map, layers = state.layers;
  if (!grid || !state.baseReady) { return Promise.resolve(); }
  const points = isTiled(state, "test_point") && map.hasLayer(layers.test_point);
  const issues = !!layers.issues && map.hasLayer(layers.issues);
  const on = points || (issues && issuesTiledAt(state, map.getZoom()));
  // (not the zoom: the grid asks each zoom's tiles with that zoom's layers)
  return showGrid(map, grid, on ? [points, issues, state.issueFilter || ""].join(" ") : null,
                  reload);
}

/* Redraw a tile layer (after an edit) and resolve when its tiles are in. */
export function redrawTiles(grid) {
  return new Promise(function (resolve) {
    grid.once("load remove", function () { resolve(); });
    grid.ccmapCancel();
    grid.redraw();
  });
}

/* A vector-tile layer of `kinds` (its tiles hold an MVT layer per kind) in `pane`, of
 * BASE_TILE_PX-pixel tiles (512: the server's tile of one zoom less), drawn by tiles.js; its
 * tiles count in state.loading while they load, and state.counts[kind] is the number of
 * distinct features of each kind in the tiles in view (for issue cells: their counts). */
function tileGrid(state, kinds, url, pane) {
  const px = BASE_TILE_PX;
  const grid = vectorGrid(url, {
    pane: pane, maxZoom: 22, tileSize: px, minZoom: px === 512 ? 1 : 0,
    zoomOffset: px === 512 ? -1 : 0, statuses: state.config.statuses,
    testPointColors: state.tpColors,
    share: true  // the shared grid's and the issue cells' tiles of a move: one request each
  });
  grid.ccmapTiled = kinds.join(",");
  grid.ccmapKinds = kinds;
  let busy = false;
  function settled() {
    if (busy) { busy = false; state.loading -= 1; }
  }
  grid.on("loading", function () {
    if (!busy) { busy = true; state.loading += 1; }
  });
  grid.on("load", function () { grid.ccmapFresh = false; countTiles(state, grid); settled(); });
  grid.on("remove", function () {
    grid._loading = false;  // GridLayer keeps it set when removed mid-load: no "loading" next
    grid.ccmapCancel();
    settled();
  });
  // clicks are hit-tested by tileClick (a tile canvas would hide the layers under it)
  grid.on("tileloadstart", function (e) { e.tile.style.pointerEvents = "none"; });
  return grid;
}

/* The distinct features of each kind in the tiles in view (issue cells: their counts), from
 * the summaries of the tiles the workers drew. */
function tileCounts(grid, kinds) {
  const ids = {}, n = {};
  kinds.forEach(function (kind) { ids[kind] = new Set(); n[kind] = 0; });
  grid.ccmapCurrent().forEach(function (tile) {
    if (n.issues !== undefined) { n.issues += tile.summary.cells; }
    Object.keys(tile.summary.ids).forEach(function (name) {
      if (ids[name]) { tile.summary.ids[name].forEach(function (id) { ids[name].add(id); }); }
    });
  });
  kinds.forEach(function (kind) { n[kind] += ids[kind].size; });  // issues: cells + points
  return { ids: ids, n: n };
}

function countTiles(state, grid) {
  const kinds = grid.ccmapKindsAt ? grid.ccmapKindsAt(grid._tileZoom) || [] : grid.ccmapKinds;
  const counted = tileCounts(grid, kinds);
  kinds.forEach(function (kind) {
    if (kind === "issues") {
      if (state.map.hasLayer(grid)) { state.counts.issues = counted.n.issues; }
      return;
    }
    state.tileIds[kind] = Array.from(counted.ids[kind]);
    state.counts[kind] = counted.n[kind];
  });
}

/* The tiled grids on the map above pane height `floor`, top-most first: {grid, kind, label}. */
function gridsAbove(state, floor) {
  const map = state.map;
  return state.config.layers.map(function (l, i) {
    let g = l.kind === "issues" ? state.issueCells : state.layers[l.kind];
    const on = g && map.hasLayer(g);
    if (g && g.ccmapGrid) { g = g.ccmapGrid; }
    if (l.kind === "zone" && state.zoneTiled) { g = state.baseTiles; }  // its tiles' zones
    return { grid: g, on: on, kind: l.kind, label: l.label, z: 410 + i };
  }).filter(function (g) {
    return g.grid && g.grid.ccmapTiled && g.on && map.hasLayer(g.grid) && g.z > floor;
  }).reverse();
}

/* A click on the map: the top-most tile feature under it (above what the click hit
 * otherwise) opens its popup, as a GeoJSON feature would. Runs in the capture phase, before
 * Leaflet hands the click to the layers under the tile canvases. */
export function tileClick(state, ev) {
  const map = state.map, target = ev.target;
  const pane = target.closest ? target.closest(".leaflet-pane") : null;
  if (target !== map.getContainer() && !pane) { return; }  // a control, the report overlay
  if (pane && /leaflet-(popup|tooltip)-pane/.test(pane.className)) { return; }
  if (map._draggableMoved(map) || state.drawing) { return; }
  const floor = pane ? parseInt(window.getComputedStyle(pane).zIndex, 10) || 0 : 0;
  const point = map.mouseEventToContainerPoint(ev);
  const latlng = map.mouseEventToLatLng(ev);
  // each tiled layer at the height of its own pane (the shared grid holds several), asked of
  // the tile workers, which hold the features: the top-most hit opens its popup, after
  // Leaflet has handled the click (which closes open popups, and may open one of a layer
  // below: the tile's replaces it)
  firstHit(gridsAbove(state, floor), point).then(function (found) {
    if (!found) { return; }
    setTimeout(function () {
      tilePopup(state, found.kind, found.label, found.hit, latlng);
    }, 0);
  });
}

/* The first of `grids` (top-most first) with a feature under `point`: {kind, label, hit}. */
async function firstHit(grids, point) {
  for (const g of grids) {
    const names = g.kind === "issues" ? ["issues"].concat(CELL_LAYERS) : [g.kind];
    const hit = await g.grid.ccmapHit(names, point);
    if (hit) { return { kind: g.kind, label: g.label, hit: hit }; }
  }
  return null;
}

/* The popup of a tile feature: its details fetched by id, shown like a GeoJSON feature's. */
function tilePopup(state, kind, label, hit, latlng) {
  const map = state.map, props = hit.properties;
  if (kind === "issues" && props.count === undefined) {  // one issue
    L.popup({ minWidth: 280, maxWidth: 360 }).setLatLng(latlng)
      .setContent(issuePopup(hit.id, state)).openOn(map);
    return;
  }
  if (kind === "issues") {  // an issue cell
    const cell = el("div", null, "ccmap-popup");
    cell.appendChild(el("div", t("{n} 件", { n: props.count }), "ccmap-popup-title"));
    cell.appendChild(el("div", t("格宽约 {m} 米，放大地图查看每个问题",
                                 { m: Math.round(props.cell_deg * 111000) })));
    L.popup().setLatLng(latlng).setContent(cell).openOn(map);
    return;
  }
  const popup = L.popup().setLatLng(latlng);
  popup.setContent(fetchedContent(state, kind, label, hit.id, popup, function (content) {
    if (kind === "zone" && state.zoneTiled) { content.appendChild(el("div", zoneHintText())); }
  })).openOn(map);
}

function zoneHintText() { return t("放大到第 {zoom} 级以编辑责任区", { zoom: ZONE_EDIT_ZOOM }); }

/* The hint over a planner's map below ZONE_EDIT_ZOOM that zones are edited closer in. */
export function zoneHint(state, show) {
  let box = document.getElementById("ccmap-zone-edit-hint");
  if (!box && show) {
    box = el("div", zoneHintText(), "ccmap-zone-edit-hint");
    box.id = "ccmap-zone-edit-hint";
    state.map.getContainer().appendChild(box);
  }
  if (box) { box.hidden = !show; }
}
