/* ccmap main map: loads every layer from the API for the visible area (bbox), never embedded.
 * User-supplied text reaches the page only through textContent (core.js el()), so it is never
 * interpreted as HTML.
 *
 * The page (static/templates/map_layers.j2) calls start() from a module script once folium's
 * inline script has made the Leaflet map. The modules share one object, the page's state
 * (the map, its config, its layers, state.loading, state.load …), passed as an argument;
 * nothing of ours is put on `window`. Test hook: once made, the state is announced by a
 * "ccmap:state" DOM event on document (event.detail), which the browser tests and the page
 * benchmark listen for (they wait for state.loading === 0, i.e. the map shows the data of the
 * current view). */
import { mountBell } from "./bell.js";
import { mountLocaleSwitch } from "./locale.js";
import { button, el, csrfToken, showBanner, t } from "./core.js";
import { init as initIssues } from "./issues.js";
import { addLegends } from "./legends.js";
import { MAX_LAYER_FEATURES, load, refresh } from "./loading.js";
import { init as initPlan } from "./plan.js";
import { testPointColors } from "./styles.js";
import { ZONE_EDIT_ZOOM, isTiled, makeBaseTiles, makeIssueCells, syncBaseTiles, syncIssueTiles,
         tileClick, tiledPlaceholder, zoneHint } from "./tilegrids.js";
import { init as initZones } from "./zones.js";

// moves this close to the last refresh wait this long for the next (several: one refresh)
const MOVE_SETTLE_MS = 100;

/* Run the page: `getMap` returns folium's Leaflet map, `configId` names the JSON script
 * element holding the page's configuration. Says so when Leaflet is missing. */
export function start(getMap, configId) {
  if (typeof L === "undefined") { showBanner(t("assetsMissing")); return; }
  init(getMap(), JSON.parse(document.getElementById(configId).textContent));
}

/* The page's state; every change of state.loading shows or hides the "加载中…" badge. */
function makeState(map, cfg) {
  const state = { map: map, layers: {}, counts: {}, errors: [], config: cfg, seq: {},
                  aborts: {}, maxFeatures: MAX_LAYER_FEATURES, loadedArea: {},
                  loadedCount: {}, maxIssuePoints: cfg.maxIssuePoints, tileIds: {} };
  let loading = 0, showLoading = function () {};
  Object.defineProperty(state, "loading", {
    enumerable: true,
    get: function () { return loading; },
    set: function (n) { loading = n; showLoading(n); }
  });
  state.load = function (kind, moved) { return load(state, kind, moved); };
  state.refresh = function (moved) { return refresh(state, moved); };
  state.csrfToken = csrfToken;
  document.dispatchEvent(new CustomEvent("ccmap:state", { detail: state }));
  renderTitle(cfg);
  showLoading = loadingBadge(map);
  return state;
}

export function init(map, cfg) {
  const state = makeState(map, cfg);
  map.attributionControl.addAttribution(cfg.attribution);
  // folium passes max zoom to tile layers only; without tiles (basemap none) set it here
  if (map.getMaxZoom() === Infinity) { map.setMaxZoom(19); }
  if (L.Control.FullScreen) {
    map.addControl(new L.Control.FullScreen({ position: "topleft", title: t("fullscreen"),
                                              titleCancel: t("exitFullscreen") }));
  }
  state.tpColors = testPointColors(cfg);
  // vector tiles are Web Mercator WGS84: over a GCJ-02 basemap the page keeps GeoJSON,
  // which the server shifts (coords=gcj02)
  state.tiles = typeof Pbf !== "undefined" && cfg.coords === "wgs84";
  state.zoneTiled = !!(state.tiles && cfg.canEditZones);
  makeBaseTiles(state);
  if (state.tiles) { makeIssueCells(state); }
  addLayers(state);
  addLegends(state);
  if (state.zoneTiled && state.layers.zone) {
    state.zoneEditZoom = ZONE_EDIT_ZOOM;
    state.layers.zone.on("add remove", function () { syncBaseTiles(state); });
    map.on("overlayremove", function (e) {
      if (e.layer === state.layers.zone) { zoneHint(state, false); }
    });
  }
  listen(state);
  initIssues(state);
  if (cfg.canEditZones) { initZones(state); }
  if (cfg.analyst) { initPlan(state); }
  syncIssueTiles(state);  // (with the issue filter the page opens with)
  refresh(state).then(function () {
    if (state.afterFirstLoad) { state.afterFirstLoad(); state.afterFirstLoad = null; }
  });
}

/* One layer-list entry per configured layer (each in its own pane, which keeps the draw
 * order fixed when a layer is reloaded); the tiled ones are placeholders of the shared grid. */
function addLayers(state) {
  const map = state.map, overlays = {};
  state.config.layers.forEach(function (layer, i) {
    map.createPane("ccmap-" + layer.kind).style.zIndex = String(410 + i);
    const group = isTiled(state, layer.kind) ? tiledPlaceholder(state, layer.kind) :
      layer.kind === "issues"
        ? L.markerClusterGroup({ maxClusterRadius: 50, disableClusteringAtZoom: 19 })
        : L.featureGroup();
    group.ccmapKind = layer.kind;
    state.layers[layer.kind] = group;
    state.counts[layer.kind] = 0;
    overlays[layer.label] = group;
    if (layer.visible) { group.addTo(map); }
  });
  state.baseReady = true;
  syncBaseTiles(state);
  L.control.layers(null, overlays, { collapsed: false, position: "topright" }).addTo(map);
  fitTitle(map);
}

/* The title bar keeps left of the layer list: in a narrow window or a longer language its
 * items wrap to a second row instead of running under the list. The messages shown under the
 * bar (banner, zone-editing hint) follow its height through --ccmap-title-bottom. */
function fitTitle(map) {
  const box = document.getElementById("ccmap-title");
  if (!box) { return; }
  function fit() {
    const list = map.getContainer().querySelector(".leaflet-control-layers");
    const right = (list || map.getContainer()).getBoundingClientRect()[list ? "left" : "right"];
    box.style.maxWidth = Math.max(200, Math.floor(right - box.getBoundingClientRect().left - 10)) + "px";
  }
  fit();
  map.on("resize", fit);
  // its height as its items wrap (the bell's count, the loading badge, a narrower window)
  new ResizeObserver(function () {
    document.documentElement.style.setProperty("--ccmap-title-bottom",
                                                Math.ceil(box.getBoundingClientRect().bottom + 6) + "px");
  }).observe(box);
}

/* The map's events: tile clicks, drawing, moves (a refresh) and layers turned on (a load). */
function listen(state) {
  const map = state.map;
  map.getContainer().addEventListener("click", function (ev) { tileClick(state, ev); }, true);
  // while leaflet-draw draws or edits, a click belongs to it (a vertex), never to a feature
  map.on("draw:drawstart draw:editstart draw:deletestart", function () { state.drawing = true; });
  map.on("draw:drawstop draw:editstop draw:deletestop", function () { state.drawing = false; });
  // A move's refresh starts at once (its requests go out beside the move's tiles, not
  // MOVE_SETTLE_MS later: a planner's zones came 100-150 ms later than the tiles); moves
  // within MOVE_SETTLE_MS of the last refresh (a wheel zoom's steps) wait for the last of
  // them (a newer load aborts an older one). A refresh due counts as loading, so
  // loading === 0 means the map shows the data of the current view (tests and the page wait
  // for that, not for a time).
  let timer = null, refreshedAt = -Infinity;
  function moved() {
    refreshedAt = performance.now();
    refresh(state, true);
  }
  map.on("moveend", function () {
    if (timer === null && performance.now() - refreshedAt >= MOVE_SETTLE_MS) {
      moved();
      return;
    }
    if (timer === null) { state.loading += 1; }
    clearTimeout(timer);
    timer = setTimeout(function () {
      timer = null;
      moved();
      state.loading -= 1;
    }, MOVE_SETTLE_MS);
  });
  map.on("overlayadd", function (e) {
    if (!e.layer.ccmapTiled) { load(state, e.layer.ccmapKind); }
  });
}

/* The title bar: the title, the user, links to the other pages and the logout button. */
function renderTitle(cfg) {
  const box = document.getElementById("ccmap-title");
  box.textContent = "";
  box.appendChild(el("span", cfg.title, "ccmap-title-text"));
  if (!cfg.user) { return; }
  box.appendChild(el("span", cfg.user, "ccmap-user"));
  const links = [["dashboard", "/dashboard"], ["workload", "/workload"]];
  if (cfg.canReport) { links.push(["triage", "/triage"]); }
  if (cfg.canInspect) { links.push(["field", "/field"]); }
  if (cfg.isAdmin) { links.push(["admin", "/admin"]); }
  links.forEach(function (pair) {
    const a = el("a", t(pair[0]), "ccmap-link");
    a.href = pair[1];
    box.appendChild(a);
  });
  box.appendChild(button(t("logout"), "ccmap-logout", function () {
    fetch("/api/auth/logout", { method: "POST", credentials: "same-origin",
                                headers: { "X-CSRF-Token": csrfToken() } })
      .finally(function () { window.location.assign("/login"); });
  }));
  mountBell(box);
  mountLocaleSwitch(box);
}

/* The "加载中…" badge at the end of the title bar (where it hides no map and meets no other
 * message); the function returned shows it while n > 0. It never takes a click
 * (pointer-events: none), keeps its room when hidden (the bar does not jump), and CSS shows it
 * only after a moment, so quick loads do not flash it. */
function loadingBadge(map) {
  const badge = el("span", null, "ccmap-loading");
  badge.id = "ccmap-loading";
  badge.setAttribute("role", "status");
  badge.appendChild(el("span", null, "ccmap-spinner"));
  badge.appendChild(el("span", t("loading")));
  (document.getElementById("ccmap-title") || map.getContainer()).appendChild(badge);
  return function (n) { badge.classList.toggle("on", n > 0); };
}
