/* Loading the layers of the view: GeoJSON pages for the bbox (only where the view needs more),
 * tile redraws after an edit, the heat cells, and the notice when a layer shows part of what
 * matches. Every load counts in state.loading while it runs; an older answer never replaces a
 * newer one. */
import { el, fetchCollection, getJson, showBanner, t } from "./core.js";
import { popup as issuePopup } from "./issues.js";
import { choroplethLegend, gapPanel, gapPopup, heatLegend } from "./legends.js";
import { featureContent, fetchedContent, popupContent } from "./popups.js";
import { featureStyle, pointMarker } from "./styles.js";
import { ZONE_EDIT_ZOOM, issuesTiledAt, redrawTiles, syncIssueTiles, zoneHint } from "./tilegrids.js";
import { popup as zonePopup } from "./zones.js";

// the most features one layer draws; beyond it the page says so (zoom in or filter)
export const MAX_LAYER_FEATURES = 20000;

function bboxParam(map, bounds) {
  const b = bounds || map.getBounds().pad(0.25);
  const w = Math.max(-180, b.getWest()), s = Math.max(-90, b.getSouth());
  const e = Math.min(180, b.getEast()), n = Math.min(90, b.getNorth());
  return [w, s, e, n].map(function (v) { return v.toFixed(6); }).join(",");
}

/* Say on the map when a layer shows part of what matches ("仅显示 n / total 条"). */
function partialNotice(map, kind, label, loaded, matched) {
  let box = document.getElementById("ccmap-partial");
  if (!box && loaded >= matched) { return; }
  if (!box) {
    box = el("div", null, "ccmap-partial");
    box.id = "ccmap-partial";
    map.getContainer().appendChild(box);
  }
  let line = document.getElementById("ccmap-partial-" + kind);
  if (loaded >= matched) {
    if (line) { line.remove(); }
  } else {
    if (!line) {
      line = el("div", null, "ccmap-partial-line");
      line.id = "ccmap-partial-" + kind;
      box.appendChild(line);
    }
    line.textContent = t("{label}：仅显示 {loaded} / {matched} 条，请放大地图或筛选", {
      label: t(label), loaded: loaded.toLocaleString("en-US"),
      matched: matched.toLocaleString("en-US") });
  }
  box.hidden = !box.firstChild;
}

/* The heat layer draws server-side cell counts ([lon, lat, n] → Leaflet's [lat, lon, n]). */
function loadHeat(state, group) {
  const map = state.map;
  const url = "/api/heatmap?bbox=" + bboxParam(map) + "&zoom=" + map.getZoom() +
    (state.issueFilter || "");
  state.loading += 1;
  if (state.aborts.heat) { state.aborts.heat.abort(); }  // only the newest answer is drawn
  const abort = state.aborts.heat = new AbortController();
  return getJson(url, abort.signal)
    .then(function (doc) {
      group.clearLayers();
      const points = doc.cells.map(function (c) { return [c[1], c[0], c[2]]; });
      group.addLayer(L.heatLayer(points, { radius: 18, blur: 15, max: doc.max || 1,
                                           maxZoom: map.getZoom() }));
      state.counts.heat = doc.total;
      heatLegend(map, group, doc);
    })
    .catch(function (err) { if (err.name !== "AbortError") { state.errors.push(String(err)); } })
    .finally(function () { state.loading -= 1; });
}

/* Of a feature layer's new answer, the features not drawn already, unchanged: those drawn
 * and not in the answer leave the group, those in both stay as they are (a markers' layer
 * asked again for a larger area makes and draws only what the area adds). */
function keepDrawn(group, features) {
  const keyOf = function (f) { return f.ccmapKey || (f.ccmapKey = JSON.stringify(f)); };
  const drawn = {}, wanted = {};
  group.eachLayer(function (l) { if (l.feature) { drawn[keyOf(l.feature)] = l; } });
  const fresh = features.filter(function (f) {
    const key = keyOf(f);
    wanted[key] = true;
    return !drawn[key];
  });
  const gone = [];
  group.eachLayer(function (l) { if (!l.feature || !wanted[keyOf(l.feature)]) { gone.push(l); } });
  gone.forEach(function (l) { group.removeLayer(l); });
  return fresh;
}

/* A reload replaces every layer of the group; a popup open on one of them stays open
 * (the user may be reading it, typing in it or about to click its button) instead of
 * closing with the layer, as Leaflet does when a layer is removed. */
function keepOpenPopup(group) {
  group.eachLayer(function (l) {
    if (l.isPopupOpen && l.isPopupOpen()) { l.off("remove", l.closePopup, l); }
  });
}

/* Forget what layer `kind` loaded as GeoJSON (a tile grid shows it now). */
function dropGeoJson(state, kind) {
  state.seq[kind] = (state.seq[kind] || 0) + 1;  // drop GeoJSON still on the way
  if (state.aborts[kind]) { state.aborts[kind].abort(); }
  state.layers[kind].clearLayers();
  state.loadedArea[kind] = null;
  partialNotice(state.map, kind, "", 0, 0);
}

/* A planner's zones below ZONE_EDIT_ZOOM: those of the shared grid's tiles (not
 * editable) and a hint. */
function loadZoneTiles(state, moved) {
  const tiles = state.baseTiles;
  if (!state.map.hasLayer(state.layers.zone)) { return Promise.resolve(); }  // the layer is off
  dropGeoJson(state, "zone");
  zoneHint(state, true);
  // after an edit: new tiles (not while the grid's first tiles are still coming)
  return moved || tiles.ccmapFresh ? Promise.resolve() : redrawTiles(tiles);
}

/* Editable zones: those of the view as GeoJSON, reloaded as the map moves out of the area
 * loaded last (not while the planner edits or deletes them: after that). */
function zoneLoadDue(state, moved) {
  if (state.zoneEditing) { state.zoneStale = true; return false; }
  if (state.map.getZoom() < ZONE_EDIT_ZOOM) { return true; }
  zoneHint(state, false);
  return !stillLoaded(state, "zone", moved);
}

/* Whether a move keeps the view inside the area whose features of `kind` are all on the
 * map already (the last answer held all that matched): then nothing is fetched, and a load
 * of the layer still on the way is dropped (its area no longer matters). */
function stillLoaded(state, kind, moved) {
  const area = state.loadedArea[kind];
  if (!(moved && area && area.contains(state.map.getBounds()))) { return false; }
  state.seq[kind] = (state.seq[kind] || 0) + 1;
  if (state.aborts[kind]) { state.aborts[kind].abort(); }
  return true;
}

/* The popup of a GeoJSON feature of layer `kind`. */
function bindFeaturePopup(state, kind, label, f, lyr) {
  const cfg = state.config;
  if (kind === "zone" && cfg.canEditZones) {
    lyr.bindPopup(function () {
      return zonePopup(f.properties, popupContent(label, f.properties, cfg), state);
    });
  } else if (kind === "gaps") {
    lyr.bindPopup(function () { return gapPopup(f.properties); });
  } else if (kind === "issues") {
    lyr.bindPopup(function () { return issuePopup(f.properties.id, state); },
                  { minWidth: 280, maxWidth: 360 });
  } else if (keptLayer(state, kind)) {
    // a kept layer's feature holds its id and category: its details are fetched as it opens
    lyr.bindPopup("");
    lyr.on("popupopen", function (e) {
      e.popup.setContent(fetchedContent(state, kind, label, f.id, e.popup));
    });
  } else {
    lyr.bindPopup(function () { return featureContent(state, kind, label, f.properties); });
  }
}

function geoLayer(state, kind, label, data) {
  const pane = "ccmap-" + kind;
  return L.geoJSON(data, {
    style: function (f) { return featureStyle(kind, f.properties, pane); },
    pointToLayer: function (f, latlng) {
      return pointMarker(kind, f.properties, latlng, pane, state);
    },
    onEachFeature: function (f, lyr) { bindFeaturePopup(state, kind, label, f, lyr); }
  });
}

/* Whether layer `kind` is a feature layer (of /api/layers/) whose features are kept as the
 * user moves (markets, test points): not the zones a planner edits, whose view stays small,
 * nor the issues, gaps and analyses, which are answered again whole. Its GeoJSON carries
 * only what draws it (the id and the category); a popup fetches the rest. */
function keptLayer(state, kind) {
  return kind !== "zone" && state.config.kinds.indexOf(kind) >= 0;
}

/* The GeoJSON URL of layer `kind` for the view (or, for a small feature layer the last
 * answer held whole, the area loaded before and the view together) and that area. */
function layerQuery(state, kind, limit) {
  const map = state.map, cfg = state.config;
  let url = kind === "issues" ? "/api/issues.geojson" :
    kind === "gaps" ? "/api/coverage.geojson" :
    kind === "hotspots" ? "/api/hotspots" :
    kind === "choropleth" ? "/api/choropleth" : "/api/layers/" + kind;
  let bounds = map.getBounds().pad(0.25);
  const before = state.loadedArea[kind];
  if (before && state.loadedCount[kind] * 2 <= limit && keptLayer(state, kind)) {
    // the area loaded grows as the user moves about (the city's markets and test points once
    // a session, not again at every corner; not the zones a planner edits, whose view should
    // stay small)
    bounds = L.latLngBounds(before.getSouthWest(), before.getNorthEast()).extend(bounds);
  }
  url += "?bbox=" + bboxParam(map, bounds) + "&coords=" + encodeURIComponent(cfg.coords);
  if (/^\/api\/(layers|issues)/.test(url) && limit < Infinity) { url += "&limit=" + limit; }
  if (keptLayer(state, kind)) { url += "&fields=category"; }
  if (kind === "issues" || kind === "hotspots") { url += state.issueFilter || ""; }
  if (kind === "hotspots") { url = url.replace(/bbox=[^&]*&/, ""); }
  if (kind === "choropleth") { url += "&" + (state.choroplethParams || "metric=issues"); }
  return { url: url, bounds: bounds };
}

const WORLD = L.latLngBounds([-90, -180], [90, 180]);

/* Whether the answer to `query` holds all of feature layer `kind` (not the zones a planner
 * edits): it covered the extent of the data when the page opened (WGS84 only: a shifted
 * basemap's view is not in the extent's coordinates). A corner of the city then asks nothing. */
function holdsExtent(state, kind, query) {
  const ext = state.config.extent;
  return !!ext && state.config.coords === "wgs84" && keptLayer(state, kind) &&
    query.bounds.contains(L.latLngBounds([ext[1], ext[0]], [ext[3], ext[2]]));
}

/* Draw a layer's answer: only new or changed features of a feature layer are made, and of
 * a planner's editable zones after a move (a pan by half a view keeps half of them as they
 * are; another reload, after an edit or a failed save, makes every zone again: a polygon
 * whose vertices the planner moved looks the same as its feature). */
function drawAnswer(state, kind, label, query, data, moved) {
  const group = state.layers[kind], map = state.map;
  partialNotice(map, kind, label, data.loaded, data.matched);
  keepOpenPopup(group);
  let fresh = data.features;
  if (keptLayer(state, kind) || (kind === "zone" && moved)) {
    fresh = keepDrawn(group, data.features);
  } else {
    group.clearLayers();
  }
  const drawn = geoLayer(state, kind, label, L.extend({}, data, { features: fresh })).getLayers();
  // a cluster group takes thousands of markers at once (one by one: seconds at 20,000)
  if (group.addLayers) { group.addLayers(drawn); } else {
    drawn.forEach(function (l) { group.addLayer(l); });
  }
  state.counts[kind] = data.features.length;
  // the area whose features are all here (hot spots: the whole city, whatever the view; a
  // feature layer answered whole for an area holding the data's extent: everywhere)
  state.loadedArea[kind] = data.loaded < data.matched ? null :
    kind === "hotspots" || holdsExtent(state, kind, query) ? WORLD : query.bounds;
  state.loadedCount[kind] = data.features.length;
  if (kind === "gaps") { gapPanel(map, group); }
  if (kind === "choropleth") { choroplethLegend(map, group, data); }
}

/* Whether layer `kind` is drawn from tiles now (then its tiles load instead of GeoJSON);
 * a promise of that tile load, or null. */
function tileLoad(state, kind, moved) {
  const group = state.layers[kind], map = state.map;
  if (kind === "zone" && state.zoneTiled) {
    if (!zoneLoadDue(state, moved)) { return Promise.resolve(); }
    if (map.getZoom() < ZONE_EDIT_ZOOM) { return loadZoneTiles(state, moved); }
  }
  if (group.ccmapTiled) {  // (a layer of the shared grid redraws all of the grid)
    const grid = group.ccmapGrid || group;
    return map.hasLayer(group) && map.hasLayer(grid) ? redrawTiles(grid) : Promise.resolve();
  }
  if (kind === "issues" && state.issueCells) {
    if (issuesTiledAt(state, map.getZoom())) {  // with the page's filters
      dropGeoJson(state, "issues");
      return syncIssueTiles(state, !moved);  // (after a move it follows the map)
    }
    syncIssueTiles(state);  // clustered GeoJSON points: the grid keeps the test points only
  }
  return null;
}

/* Load layer `kind` for the view; after a move (`moved`), only if the view needs more. */
export function load(state, kind, moved) {
  if (kind === "heat") { return loadHeat(state, state.layers.heat); }
  const tiled = tileLoad(state, kind, moved);
  if (tiled) { return tiled; }
  if (stillLoaded(state, kind, moved)) { return Promise.resolve(); }
  const spec = state.config.layers.filter(function (l) { return l.kind === kind; })[0];
  // pages as big as the server allows: a city's 2,000 test points in one request, not three
  const limit = Math.min(state.config.pageLimit || Infinity, state.maxFeatures);
  const query = layerQuery(state, kind, limit);
  state.loading += 1;
  // an answer to an older load (the view or the filters before) never replaces a newer one,
  // and the older load stops fetching (its next pages would only be thrown away)
  const seq = state.seq[kind] = (state.seq[kind] || 0) + 1;
  if (state.aborts[kind]) { state.aborts[kind].abort(); }
  const abort = state.aborts[kind] = new AbortController();
  return fetchCollection(query.url, state.maxFeatures, abort.signal)
    .then(function (data) {
      if (seq === state.seq[kind]) { drawAnswer(state, kind, spec.label, query, data, moved); }
    })
    .catch(function (err) {
      if (err.name === "AbortError") { return; }  // a newer load took over
      state.errors.push(String(err));
      showBanner(t("layerFailed") + err.message);
    })
    .finally(function () { state.loading -= 1; });
}

/* Reload the layers that are on; after a move (`moved`), only where the view needs more. */
export function refresh(state, moved) {
  // tile layers follow the map by themselves
  const jobs = state.config.layers.filter(function (l) {
    return state.map.hasLayer(state.layers[l.kind]) && !state.layers[l.kind].ccmapTiled;
  }).map(function (l) { return load(state, l.kind, moved === true); });
  state.ready = Promise.all(jobs);
  return state.ready;
}
