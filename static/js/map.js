/* ccmap main map: loads every layer from the API for the visible area (bbox), never embedded.
 * User-supplied text reaches the page only through textContent (see el()), so it is never
 * interpreted as HTML. */
(function () {
  "use strict";

  var FIELD_LABELS = {
    name: "名称", category: "类别", kind: "图层", unit: "责任单位", responsible_person: "责任人",
    phone: "联系电话", zone_type: "责任区类型", community: "所属社区", subdistrict: "所属街道",
    note: "备注", address: "地址", road_class: "道路等级", highway: "OSM 道路类型",
    status: "状态", description: "问题描述", reported_at: "上报时间", deadline: "整改时限",
    closed_at: "结案时间", source: "来源", reporter: "上报人", recurring_of: "回潮自",
    secretary: "社区书记", population: "人口", area_m2: "面积 (m²)", manager: "负责人",
    stalls: "摊位数", households: "户数", property_manager: "物业负责人", lanes: "车道数",
    width: "宽度", category_label: "点位类型", cadre: "路长/街长", count: "问题数",
    value: "指标值", "class": "分级", metric: "指标", z: "Gi* z 值", p: "显著性 p", label: "热/冷点", bin: "置信等级", zone: "所属责任区"
  };
  var HIDDEN = { id: 1, kind: 1, osm: 1, zone_id: 1, external_id: 1, "name:en": 1,
                 version: 1 };
  var ASSIGNABLE = { street: 1, alley: 1, market: 1, compound: 1, test_point: 1,
                     storefront: 1 };
  var ZONE_TYPES = { storefront_duty: "门前三包", grid: "网格", sponsor_area: "包保片区",
                     district_patch: "分片管理" };
  var STYLE = {
    subdistrict: { color: "#444", weight: 3, dashArray: "8 6", fill: false },
    community: { color: "#6a3d9a", weight: 2, dashArray: "4 4", fillOpacity: 0.03 },
    compound: { color: "#b15928", weight: 1, fillOpacity: 0.15 },
    street: { color: "#c0392b", weight: 2.5, opacity: 0.75 },
    alley: { color: "#ff7f00", weight: 3, dashArray: "2 4", opacity: 0.9 },
    market: { color: "#33a02c", weight: 2, fillOpacity: 0.4 },
    storefront: { color: "#a6cee3", weight: 1, fillOpacity: 0.4 }
  };
  // Layers drawn from vector tiles (/api/tiles/<kind>/{z}/{x}/{y}.mvt): the big ones. Planners
  // get zones as GeoJSON of the view from ZONE_EDIT_ZOOM on (leaflet-draw edits real polygons)
  // and as tiles below it; issues come as tile cells below ISSUE_TILE_ZOOM and from there on as
  // clustered GeoJSON points, or, when the ledger holds more than state.maxIssuePoints, as the
  // tiles' single points (cells where a tile holds too many).
  var TILED = { street: 1, alley: 1, community: 1, subdistrict: 1, zone: 1 };
  var ISSUE_TILE_ZOOM = 14;
  var CELLS = "issue_cells";  // the MVT layer of issue counts in an issues tile
  // the shared grid of the tiled layers: 512-pixel tiles, a quarter of the requests and
  // canvases of 256-pixel ones (the issue tiles are 512 pixels too, in a grid of their own)
  var BASE_TILE_PX = 512;
  var HAIRLINE_BELOW = 16;  // tiled lines are 1 pixel wide below this zoom (see hairline())
  var ZONE_EDIT_ZOOM = 15;  // a city's view at 15 holds some hundreds of zones, not thousands
  var PALETTE = ["#1f78b4", "#e31a1c", "#33a02c", "#ff7f00", "#6a3d9a", "#b15928", "#a6cee3",
                 "#fb9a99", "#b2df8a", "#fdbf6f", "#cab2d6", "#ffff99", "#17becf", "#7f7f7f",
                 "#bcbd22", "#8c564b", "#e377c2"];

  /* Create an element whose text (never HTML) is `text`. */
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }

  function hashColor(value) {
    var h = 0, s = String(value || "");
    for (var i = 0; i < s.length; i++) { h = (h * 31 + s.charCodeAt(i)) >>> 0; }
    return PALETTE[h % PALETTE.length];
  }

  function showBanner(message) {
    var banner = document.getElementById("ccmap-banner");
    if (!banner) { return; }
    banner.textContent = message;
    banner.hidden = false;
  }

  function displayValue(key, value, cfg) {
    if (key === "status" && cfg.statuses[value]) { return cfg.statuses[value].label; }
    if (key === "source" && cfg.sources[value]) { return cfg.sources[value]; }
    if (key === "zone_type" && ZONE_TYPES[value]) { return ZONE_TYPES[value]; }
    if (typeof value === "string" && /^\d{4}-\d\d-\d\dT/.test(value)) {
      return value.replace("T", " ");
    }
    return value;
  }

  /* Popup content for a feature: a title and a table of its non-empty properties. */
  function popupContent(kindLabel, props, cfg) {
    var box = el("div", null, "ccmap-popup");
    var title = props.name || props.description || kindLabel;
    box.appendChild(el("div", title, "ccmap-popup-title"));
    box.appendChild(el("div", kindLabel, "ccmap-popup-kind"));
    var table = el("table");
    Object.keys(props).forEach(function (key) {
      var value = props[key];
      if (HIDDEN[key] || key === "name" || value === null || value === "" ||
          typeof value === "object") { return; }
      if (key === "category") {
        value = cfg.testPointCategories[value] || cfg.issueCategories[value] || value;
      }
      var row = el("tr");
      row.appendChild(el("th", FIELD_LABELS[key] || key));
      row.appendChild(el("td", displayValue(key, value, cfg)));
      table.appendChild(row);
    });
    box.appendChild(table);
    return box;
  }

  function bboxParam(map, bounds) {
    var b = bounds || map.getBounds().pad(0.25);
    var w = Math.max(-180, b.getWest()), s = Math.max(-90, b.getSouth());
    var e = Math.min(180, b.getEast()), n = Math.min(90, b.getNorth());
    return [w, s, e, n].map(function (v) { return v.toFixed(6); }).join(",");
  }

  function init(map, cfg) {
    var state = { map: map, layers: {}, counts: {}, errors: [], config: cfg, seq: {},
                  aborts: {}, maxFeatures: MAX_LAYER_FEATURES, loadedArea: {}, loadedCount: {},
                  maxIssuePoints: MAX_ISSUE_POINTS };
    // every change of state.loading shows or hides the "加载中…" badge
    var loading = 0, showLoading = function () {};
    Object.defineProperty(state, "loading", {
      enumerable: true,
      get: function () { return loading; },
      set: function (n) { loading = n; showLoading(n); }
    });
    window.ccmap.state = state;
    renderTitle(cfg);
    showLoading = loadingBadge(map);
    map.attributionControl.addAttribution(cfg.attribution);
    // folium passes max zoom to tile layers only; without tiles (basemap none) set it here
    if (map.getMaxZoom() === Infinity) { map.setMaxZoom(19); }
    if (L.Control.FullScreen) {
      map.addControl(new L.Control.FullScreen({ position: "topleft", title: "全屏",
                                                titleCancel: "退出全屏" }));
    }
    var tpColors = {};
    Object.keys(cfg.testPointCategories).forEach(function (code, i) {
      tpColors[code] = PALETTE[i % PALETTE.length];
    });
    var overlays = {};
    // vector tiles are Web Mercator WGS84: over a GCJ-02 basemap the page keeps GeoJSON,
    // which the server shifts (coords=gcj02)
    state.tiles = !!(window.ccmapTiles && window.Pbf && cfg.coords === "wgs84");
    state.tileIds = {};
    // The tiled layers share one grid (state.baseTiles): one tile per z/x/y holding every tiled
    // layer that is on, drawn bottom to top on one canvas, in a pane at the height of the
    // top-most of them. Each such layer's entry in the layer list is a placeholder whose
    // adding and removing changes the grid's URL (its list of layers). A planner's zones are
    // in it below ZONE_EDIT_ZOOM (editable GeoJSON polygons from there on).
    state.zoneTiled = !!(state.tiles && cfg.canEditZones);
    var baseKinds = cfg.layers.map(function (l) { return l.kind; }).filter(function (k) {
      return isTiled(k) || (k === "zone" && state.zoneTiled);
    });
    var baseReady = false;
    if (baseKinds.length) {
      var top = cfg.layers.map(function (l) { return l.kind; })
        .indexOf(baseKinds[baseKinds.length - 1]);
      map.createPane("ccmap-tiles").style.zIndex = String(410 + top);
      state.baseTiles = tileGrid(baseKinds, baseUrl(baseKinds), "ccmap-tiles", BASE_TILE_PX);
      state.baseTiles.ccmapKindsAt = baseKindsAt;
      state.baseTiles.options.urlAt = function (z) {
        var kinds = baseKindsAt(z);
        return kinds && baseUrl(kinds);
      };
    }
    cfg.layers.forEach(function (layer, i) {
      // one pane per layer keeps the draw order fixed when a layer is reloaded
      map.createPane("ccmap-" + layer.kind).style.zIndex = String(410 + i);
      var group = isTiled(layer.kind) ? tiledPlaceholder(layer.kind) :
        layer.kind === "issues"
        ? L.markerClusterGroup({ maxClusterRadius: 50, disableClusteringAtZoom: 19 })
        : L.featureGroup();
      group.ccmapKind = layer.kind;
      state.layers[layer.kind] = group;
      state.counts[layer.kind] = 0;
      overlays[layer.label] = group;
      if (layer.visible) { group.addTo(map); }
    });
    baseReady = true;
    syncBaseTiles();
    L.control.layers(null, overlays, { collapsed: false, position: "topright" }).addTo(map);
    addLegends(map, cfg, tpColors, state);
    if (state.tiles && state.layers.issues) {
      state.issueCells = tileGrid(["issues"], issueTileUrl(""), "ccmap-issues", BASE_TILE_PX);
      map.on("overlayremove", function (e) {
        if (e.layer === state.layers.issues) { map.removeLayer(state.issueCells); }
      });
    }
    if (state.zoneTiled && state.layers.zone) {
      state.zoneEditZoom = ZONE_EDIT_ZOOM;
      state.layers.zone.on("add remove", syncBaseTiles);
      map.on("overlayremove", function (e) {
        if (e.layer === state.layers.zone) { zoneHint(false); }
      });
    }
    map.getContainer().addEventListener("click", tileClick, true);
    // while leaflet-draw draws or edits, a click belongs to it (a vertex), never to a feature
    map.on("draw:drawstart draw:editstart draw:deletestart", function () { state.drawing = true; });
    map.on("draw:drawstop draw:editstop draw:deletestop", function () { state.drawing = false; });

    function isTiled(kind) {
      return state.tiles && TILED[kind] === 1 && !(kind === "zone" && cfg.canEditZones);
    }

    /* The layer-list entry of a layer drawn by state.baseTiles: no drawing of its own. */
    function tiledPlaceholder(kind) {
      var holder = new L.Layer();
      holder.onAdd = holder.onRemove = function () {};
      holder.ccmapTiled = kind;
      holder.ccmapGrid = state.baseTiles;
      holder.on("add remove", syncBaseTiles);
      return holder;
    }

    /* state.baseTiles asks for the tiled layers that are on (none: it leaves the map). */
    function syncBaseTiles() {
      var grid = state.baseTiles;
      if (!baseReady || !grid) { return; }
      var kinds = baseKinds.filter(function (k) { return map.hasLayer(state.layers[k]); });
      var key = kinds.join(",");
      grid.ccmapKinds = kinds;
      if (!kinds.length) {
        if (map.hasLayer(grid)) { map.removeLayer(grid); }
        return;
      }
      if (!map.hasLayer(grid)) {
        grid.ccmapOn = key;
        grid.ccmapFresh = true;  // its tiles are on the way with today's data
        grid.addTo(map);
      } else if (grid.ccmapOn !== key) {
        grid.ccmapOn = key;
        grid.ccmapFresh = true;
        grid.ccmapCancel();
        grid.redraw();
      }
    }

    /* The layers of the shared grid's tiles at map zoom z (a planner's zones: below
     * ZONE_EDIT_ZOOM only); null: none. */
    function baseKindsAt(z) {
      var kinds = (state.baseTiles.ccmapKinds || []).filter(function (k) {
        return k !== "zone" || !state.zoneTiled || z < ZONE_EDIT_ZOOM;
      });
      return kinds.length ? kinds : null;
    }

    function baseUrl(kinds) {
      return tileUrl(kinds.join(","), BASE_TILE_PX === 256 ? "" : "size=" + BASE_TILE_PX);
    }

    /* The issue tiles' URL with the page's issue filters ("&category=…"). */
    function issueTileUrl(filter) {
      return tileUrl("issues", (BASE_TILE_PX === 256 ? "" : "size=" + BASE_TILE_PX) + filter);
    }

    function tileUrl(kind, filter) {
      return "/api/tiles/" + kind + "/{z}/{x}/{y}.mvt" +
        (filter ? "?" + filter.replace(/^&/, "") : "");
    }

    /* The style of a tile feature: today's GeoJSON style, drawn on the tile's canvas; below
     * HAIRLINE_BELOW lines and outlines are 1 pixel wide. */
    function tileStyle(kind) {
      var made = {};  // one object per look: tiles.js works a style out once per object
      function once(key, make) { return made[key] || (made[key] = make()); }
      return function (p, z) {
        if (kind === "zone") {
          var c = hashColor(p.unit);
          return once(c + (z < HAIRLINE_BELOW), function () {
            return hairline({ color: c, weight: 2, fill: true, fillColor: c, fillOpacity: 0.18 },
                            z);
          });
        }
        if (kind === "issues" && p.count === undefined) {  // one issue: its status colour
          var status = cfg.statuses[p.status] || { color: "#555" };
          return once("status " + status.color, function () {
            return { radius: 6, color: "#fff", weight: 1, fill: true, fillColor: status.color,
                     fillOpacity: 0.9 };
          });
        }
        if (kind === "issues") {  // issue_cells: a circle growing with the count, in its cell
          var cellPx = (p.cell_deg || 0) / 360 * 256 * Math.pow(2, z);
          var radius = Math.max(4, Math.min(cellPx * 0.48, 7 + 3 * Math.log2(p.count || 1)));
          radius = Math.round(radius * 2) / 2;  // half pixels: a few sprites, not one a cell
          return once("cell " + radius, function () {
            return { radius: radius, color: "#fff", weight: 1, fill: true, fillColor: "#d7301f",
                     fillOpacity: 0.8 };
          });
        }
        return once(String(z < HAIRLINE_BELOW), function () {
          var st = L.extend({}, STYLE[kind] || {});
          if (kind === "community") { st.fill = true; }
          return hairline(st, z);
        });
      };
    }

    /* A city view holds tens of thousands of street segments: drawn 1 pixel wide, a canvas
     * rasterises them as hairlines, about 4 times faster than 2-3 pixel strokes without a GPU
     * (and a whole city reads better in thin lines); from HAIRLINE_BELOW on, full widths. */
    function hairline(st, z) {
      if (z < HAIRLINE_BELOW && (st.weight === undefined || st.weight > 1)) { st.weight = 1; }
      return st;
    }

    /* A vector-tile layer of `kinds` (its tiles hold an MVT layer per kind) in `pane`, of
     * tiles `px` pixels wide (256 by default; 512: the server's tile of one zoom less), drawn
     * by static/js/tiles.js; its tiles count in state.loading while they load, and
     * state.counts[kind] is the number of distinct features of each kind in the tiles in view
     * (for issue cells: their counts). */
    function tileGrid(kinds, url, pane, px) {
      var styles = {};
      kinds.forEach(function (kind) { styles[kind] = tileStyle(kind); });
      if (styles.issues) { styles[CELLS] = styles.issues; }
      var grid = window.ccmapTiles.grid(url, {
        pane: pane, maxZoom: 22, tileSize: px || 256, minZoom: px === 512 ? 1 : 0,
        zoomOffset: px === 512 ? -1 : 0, styles: styles,
        afterDraw: styles.issues ? cellLabels : null
      });
      grid.ccmapTiled = kinds.join(",");
      grid.ccmapKinds = kinds;
      var busy = false;
      function settled() {
        if (busy) { busy = false; state.loading -= 1; }
      }
      grid.on("loading", function () {
        if (!busy) { busy = true; state.loading += 1; }
      });
      grid.on("load", function () { grid.ccmapFresh = false; countTiles(grid); settled(); });
      grid.on("remove", function () {
        grid._loading = false;  // GridLayer keeps it set when removed mid-load: no "loading" next
        grid.ccmapCancel();
        settled();
      });
      // clicks are hit-tested by tileClick (a tile canvas would hide the layers under it)
      grid.on("tileloadstart", function (e) { e.tile.style.pointerEvents = "none"; });
      return grid;
    }

    function countTiles(grid) {
      var ids = {}, n = {};
      var kinds = grid.ccmapKindsAt ? grid.ccmapKindsAt(grid._tileZoom) || [] : grid.ccmapKinds;
      kinds.forEach(function (kind) { ids[kind] = {}; n[kind] = 0; });
      grid.ccmapCurrent().forEach(function (tile) {
        tile.layers.forEach(function (layer) {
          layer.features.forEach(function (f) {
            if (layer.name === CELLS) {
              if (n.issues !== undefined) { n.issues += f.props.count; }
            } else if (ids[layer.name] && !ids[layer.name][f.id]) {
              ids[layer.name][f.id] = 1;
              n[layer.name] += 1;
            }
          });
        });
      });
      kinds.forEach(function (kind) {
        if (kind === "issues") {
          if (map.hasLayer(grid)) { state.counts.issues = n.issues; }
          return;
        }
        state.tileIds[kind] = Object.keys(ids[kind]).map(Number);
        state.counts[kind] = n[kind];
      });
    }

    /* The count of each issue cell, written over its circle on the tile's canvas (a count too
     * wide for its circle is left to the popup, "N 件"). */
    function cellLabels(ctx, layers, px) {
      ctx.font = "bold 11px sans-serif";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillStyle = "#fff";
      layers.forEach(function (layer) {
        if (layer.name !== CELLS) { return; }
        var scale = px / layer.extent;
        layer.features.forEach(function (f) {
          var text = String(f.props.count), at = f.parts[0];
          if (at && text.length * 7 <= 2 * f.style.radius) {
            ctx.fillText(text, at[0] * scale, at[1] * scale);
          }
        });
      });
    }

    /* The tile feature of layer `kind` of `grid` under a container point, or null. */
    function tileHit(grid, kind, point) {
      return grid.ccmapHit(kind === "issues" ? ["issues", CELLS] : [kind], point);
    }

    /* A click on the map: the top-most tile feature under it (above what the click hit
     * otherwise) opens its popup, as a GeoJSON feature would. Runs in the capture phase, before
     * Leaflet hands the click to the layers under the tile canvases. */
    function tileClick(ev) {
      var target = ev.target;
      var pane = target.closest ? target.closest(".leaflet-pane") : null;
      if (target !== map.getContainer() && !pane) { return; }  // a control, the report overlay
      if (pane && /leaflet-(popup|tooltip)-pane/.test(pane.className)) { return; }
      if (map._draggableMoved(map) || state.drawing) { return; }
      var floor = pane ? parseInt(window.getComputedStyle(pane).zIndex, 10) || 0 : 0;
      var point = map.mouseEventToContainerPoint(ev);
      // each tiled layer at the height of its own pane (the shared grid holds several)
      var grids = cfg.layers.map(function (l, i) {
        var g = l.kind === "issues" ? state.issueCells : state.layers[l.kind];
        var on = g && map.hasLayer(g);
        if (g && g.ccmapGrid) { g = g.ccmapGrid; }
        if (l.kind === "zone" && state.zoneTiled) { g = state.baseTiles; }  // its tiles' zones
        return { grid: g, on: on, kind: l.kind, label: l.label, z: 410 + i };
      }).filter(function (g) {
        return g.grid && g.grid.ccmapTiled && g.on && map.hasLayer(g.grid) && g.z > floor;
      }).reverse();
      for (var i = 0; i < grids.length; i++) {
        var hit = tileHit(grids[i].grid, grids[i].kind, point);
        if (hit) {
          L.DomEvent.stop(ev);
          tilePopup(grids[i].kind, grids[i].label, hit.properties, map.mouseEventToLatLng(ev));
          return;
        }
      }
    }

    /* The popup of a tile feature: its details fetched by id, shown like a GeoJSON feature's. */
    function tilePopup(kind, label, props, latlng) {
      if (kind === "issues" && props.count === undefined && window.ccmapIssues) {  // one issue
        L.popup({ minWidth: 280, maxWidth: 360 }).setLatLng(latlng)
          .setContent(window.ccmapIssues.popup(props.id, state)).openOn(map);
        return;
      }
      if (kind === "issues") {  // an issue cell
        var cell = el("div", null, "ccmap-popup");
        cell.appendChild(el("div", props.count + " 件", "ccmap-popup-title"));
        cell.appendChild(el("div", "格宽约 " + Math.round(props.cell_deg * 111000) +
                            " 米，放大地图查看每个问题"));
        L.popup().setLatLng(latlng).setContent(cell).openOn(map);
        return;
      }
      var box = el("div", "加载中…", "ccmap-popup");
      var popup = L.popup().setLatLng(latlng).setContent(box).openOn(map);
      fetch("/api/features/" + encodeURIComponent(props.id) + "?coords=" +
            encodeURIComponent(cfg.coords), { credentials: "same-origin" })
        .then(function (r) {
          if (!r.ok) { throw new Error("HTTP " + r.status); }
          return r.json();
        })
        .then(function (f) {
          var content = featureContent(kind, label, f.properties);
          if (kind === "zone" && state.zoneTiled) { content.appendChild(el("div", zoneHintText())); }
          popup.setContent(content);
        })
        .catch(function (err) { box.textContent = "无法加载：" + err.message; });
    }

    /* Popup content of a feature layer's feature, with the planner's buttons. */
    function featureContent(kind, label, props) {
      var content = popupContent(label, props, cfg);
      if (window.ccmapZones && cfg.canEditZones && ASSIGNABLE[kind]) {
        content.appendChild(window.ccmapZones.assignButton(kind, props, state));
        if (kind === "street" || kind === "alley") {
          content.appendChild(window.ccmapZones.splitSegmentButton(props, state, kind));
        }
      }
      return content;
    }

    function geoLayer(kind, label, data) {
      var pane = "ccmap-" + kind;
      return L.geoJSON(data, {
        style: function (f) {
          if (kind === "zone") {
            var c = hashColor(f.properties.unit);
            return { color: c, weight: 2, fillColor: c, fillOpacity: 0.18, pane: pane };
          }
          if (kind === "gaps") { return gapStyle(f.properties.gap, pane); }
          if (kind === "choropleth") {
            return { color: "#555", weight: 1, fillOpacity: 0.7, pane: pane,
                     fillColor: CLASS_COLORS[f.properties["class"]] || "#eee" };
          }
          if (kind === "hotspots") {
            return { color: "#fff", weight: 0.5, fillOpacity: 0.55, pane: pane,
                     fillColor: HOT_COLORS[String(f.properties.bin)] || "#eee" };
          }
          return L.extend({ pane: pane }, STYLE[kind] || {});
        },
        pointToLayer: function (f, latlng) {
          if (kind === "gaps") {
            return L.circleMarker(latlng, { radius: 8, color: "#d00", weight: 3, pane: pane,
              dashArray: f.properties.gap === "unassigned_point" ? null : "3 3",
              fillColor: "#fff", fillOpacity: 0.6 });
          }
          if (kind === "issues") {
            var st = cfg.statuses[f.properties.status] || { color: "#555" };
            return L.circleMarker(latlng, { radius: 6, color: "#fff", weight: 1, pane: pane,
                                            fillColor: st.color, fillOpacity: 0.9 });
          }
          if (kind === "test_point") {
            return L.circleMarker(latlng, { radius: 7, color: "#222", weight: 1.5, pane: pane,
              fillColor: tpColors[f.properties.category] || "#999", fillOpacity: 0.95 });
          }
          return L.circleMarker(latlng, { radius: 6, color: (STYLE[kind] || {}).color || "#333",
                                          fillOpacity: 0.6, pane: pane });
        },
        onEachFeature: function (f, lyr) {
          if (kind === "zone" && window.ccmapZones && cfg.canEditZones) {
            lyr.bindPopup(function () {
              return window.ccmapZones.popup(f.properties, popupContent(label, f.properties, cfg),
                                             state);
            });
            return;
          }
          if (kind === "gaps") {
            lyr.bindPopup(function () { return gapPopup(f.properties); });
            return;
          }
          if (kind === "issues" && window.ccmapIssues) {
            lyr.bindPopup(function () {
              return window.ccmapIssues.popup(f.properties.id, state);
            }, { minWidth: 280, maxWidth: 360 });
            return;
          }
          lyr.bindPopup(function () { return featureContent(kind, label, f.properties); });
        }
      });
    }

    /* The heat layer draws server-side cell counts ([lon, lat, n] → Leaflet's [lat, lon, n]). */
    function loadHeat(group) {
      var url = "/api/heatmap?bbox=" + bboxParam(map) + "&zoom=" + map.getZoom() +
        (state.issueFilter || "");
      state.loading += 1;
      if (state.aborts.heat) { state.aborts.heat.abort(); }  // only the newest answer is drawn
      var abort = state.aborts.heat = new AbortController();
      return fetch(url, { credentials: "same-origin", signal: abort.signal })
        .then(function (r) {
          if (!r.ok) { throw new Error("/api/heatmap: HTTP " + r.status); }
          return r.json();
        })
        .then(function (doc) {
          group.clearLayers();
          var points = doc.cells.map(function (c) { return [c[1], c[0], c[2]]; });
          group.addLayer(L.heatLayer(points, { radius: 18, blur: 15, max: doc.max || 1,
                                               maxZoom: map.getZoom() }));
          state.counts.heat = doc.total;
          heatLegend(group, doc);
        })
        .catch(function (err) { if (err.name !== "AbortError") { state.errors.push(String(err)); } })
        .finally(function () { state.loading -= 1; });
    }

    function heatLegend(group, doc) {
      var box = document.getElementById("ccmap-heat-legend");
      if (!box) {
        box = el("div", null, "ccmap-legend ccmap-heat-legend");
        box.id = "ccmap-heat-legend";
        legendSlot(map).appendChild(box);
        map.on("overlayremove", function (e) {
          if (e.layer === group && box.parentNode) { box.remove(); }
        });
      }
      box.textContent = "";
      box.appendChild(el("div", "问题热力（" + doc.total + " 个问题）", "ccmap-legend-title"));
      box.appendChild(el("div", null, "ccmap-heat-ramp"));
      box.appendChild(el("div", "少 → 多（每格最多 " + doc.max + " 个，格宽约 " +
                         Math.round(doc.cell_deg * 111000) + " 米）"));
    }

    /* A reload replaces every layer of the group; a popup open on one of them stays open
     * (the user may be reading it, typing in it or about to click its button) instead of
     * closing with the layer, as Leaflet does when a layer is removed. */
    /* Of a feature layer's new answer, the features not drawn already, unchanged: those drawn
     * and not in the answer leave the group, those in both stay as they are (a markers' layer
     * asked again for a larger area makes and draws only what the area adds). */
    function keepDrawn(group, features) {
      var keyOf = function (f) { return f.ccmapKey || (f.ccmapKey = JSON.stringify(f)); };
      var drawn = {}, wanted = {};
      group.eachLayer(function (l) { if (l.feature) { drawn[keyOf(l.feature)] = l; } });
      var fresh = features.filter(function (f) {
        var key = keyOf(f);
        wanted[key] = true;
        return !drawn[key];
      });
      var gone = [];
      group.eachLayer(function (l) { if (!l.feature || !wanted[keyOf(l.feature)]) { gone.push(l); } });
      gone.forEach(function (l) { group.removeLayer(l); });
      return fresh;
    }

    function keepOpenPopup(group) {
      group.eachLayer(function (l) {
        if (l.isPopupOpen && l.isPopupOpen()) { l.off("remove", l.closePopup, l); }
      });
    }

    /* Redraw a tile layer (after an edit) and resolve when its tiles are in. */
    function redrawTiles(grid, url) {
      return new Promise(function (resolve) {
        grid.once("load remove", function () { resolve(); });
        grid.ccmapCancel();
        if (url !== undefined) { grid.setUrl(url); } else { grid.redraw(); }
      });
    }

    /* Issues below ISSUE_TILE_ZOOM: the cells of the issue tiles, with the page's filters. */
    function loadIssueCells(moved) {
      var cells = state.issueCells;
      var url = issueTileUrl(state.issueFilter || "");
      state.seq.issues = (state.seq.issues || 0) + 1;  // drop GeoJSON points still on the way
      if (state.aborts.issues) { state.aborts.issues.abort(); }
      state.layers.issues.clearLayers();
      state.loadedArea.issues = null;
      partialNotice(map, "issues", "", 0, 0);
      if (!map.hasLayer(cells)) {
        cells.setUrl(url, true);
        var added = new Promise(function (resolve) { cells.once("load remove", resolve); });
        cells.addTo(map);
        return added;
      }
      if (cells._url === url && moved) { return Promise.resolve(); }  // it follows the map
      return redrawTiles(cells, url);
    }

    /* A planner's zones below ZONE_EDIT_ZOOM: those of the shared grid's tiles (not
     * editable) and a hint. */
    function loadZoneTiles(moved) {
      var tiles = state.baseTiles;
      if (!map.hasLayer(state.layers.zone)) { return Promise.resolve(); }  // the layer is off
      state.seq.zone = (state.seq.zone || 0) + 1;  // drop GeoJSON zones still on the way
      if (state.aborts && state.aborts.zone) { state.aborts.zone.abort(); }
      state.layers.zone.clearLayers();
      state.loadedArea.zone = null;
      partialNotice(map, "zone", "", 0, 0);
      zoneHint(true);
      // after an edit: new tiles (not while the grid's first tiles are still coming)
      return moved || tiles.ccmapFresh ? Promise.resolve() : redrawTiles(tiles);
    }

    function zoneHintText() { return "放大到第 " + ZONE_EDIT_ZOOM + " 级以编辑责任区"; }

    function zoneHint(show) {
      var box = document.getElementById("ccmap-zone-edit-hint");
      if (!box && show) {
        box = el("div", zoneHintText(), "ccmap-zone-edit-hint");
        box.id = "ccmap-zone-edit-hint";
        map.getContainer().appendChild(box);
      }
      if (box) { box.hidden = !show; }
    }

    /* Editable zones: those of the view as GeoJSON, reloaded as the map moves out of the area
     * loaded last (not while the planner edits or deletes them: after that). */
    function zoneLoadDue(moved) {
      if (state.zoneEditing) { state.zoneStale = true; return false; }
      if (map.getZoom() < ZONE_EDIT_ZOOM) { return true; }
      zoneHint(false);
      return !stillLoaded("zone", moved);
    }

    /* Whether a move keeps the view inside the area whose features of `kind` are all on the
     * map already (the last answer held all that matched): then nothing is fetched, and a load
     * of the layer still on the way is dropped (its area no longer matters). */
    function stillLoaded(kind, moved) {
      var area = state.loadedArea[kind];
      if (!(moved && area && area.contains(map.getBounds()))) { return false; }
      state.seq[kind] = (state.seq[kind] || 0) + 1;
      if (state.aborts[kind]) { state.aborts[kind].abort(); }
      return true;
    }

    function load(kind, moved) {
      var group = state.layers[kind];
      if (kind === "heat") { return loadHeat(group); }
      if (kind === "zone" && state.zoneTiled) {
        if (!zoneLoadDue(moved)) { return Promise.resolve(); }
        if (map.getZoom() < ZONE_EDIT_ZOOM) { return loadZoneTiles(moved); }
      }
      if (group.ccmapTiled) {  // (a layer of the shared grid redraws all of the grid)
        var grid = group.ccmapGrid || group;
        return map.hasLayer(group) && map.hasLayer(grid) ? redrawTiles(grid) : Promise.resolve();
      }
      if (kind === "issues" && state.issueCells) {
        // street level: clustered GeoJSON points for a small ledger; over MAX_ISSUE_POINTS
        // the tiles' points (cells where a tile is dense)
        if (map.getZoom() < ISSUE_TILE_ZOOM || cfg.issueTotal > state.maxIssuePoints) {
          return loadIssueCells(moved);
        }
        map.removeLayer(state.issueCells);
      }
      if (stillLoaded(kind, moved)) { return Promise.resolve(); }
      var spec = cfg.layers.filter(function (l) { return l.kind === kind; })[0];
      var url = kind === "issues" ? "/api/issues.geojson" :
        kind === "gaps" ? "/api/coverage.geojson" :
        kind === "hotspots" ? "/api/hotspots" :
        kind === "choropleth" ? "/api/choropleth" : "/api/layers/" + kind;
      // pages as big as the server allows: a city's 2,000 test points in one request, not three
      var limit = Math.min(cfg.pageLimit || Infinity, state.maxFeatures);
      var loadedBounds = map.getBounds().pad(0.25), before = state.loadedArea[kind];
      if (before && state.loadedCount[kind] * 2 <= limit && kind !== "zone" &&
          /^\/api\/layers\//.test(url)) {
        // a feature layer the last answer held whole, and small: ask for that area and the
        // view's, so the area loaded grows as the user moves about (the city's markets and
        // test points once a session, not again at every corner; not the zones a planner
        // edits, whose view should stay small)
        loadedBounds = L.latLngBounds(before.getSouthWest(), before.getNorthEast())
          .extend(loadedBounds);
      }
      url += "?bbox=" + bboxParam(map, loadedBounds) + "&coords=" +
        encodeURIComponent(cfg.coords);
      if (/^\/api\/(layers|issues)/.test(url) && limit < Infinity) { url += "&limit=" + limit; }
      if (kind === "issues" || kind === "hotspots") { url += state.issueFilter || ""; }
      if (kind === "hotspots") { url = url.replace(/bbox=[^&]*&/, ""); }
      if (kind === "choropleth") { url += "&" + (state.choroplethParams || "metric=issues"); }
      state.loading += 1;
      // an answer to an older load (the view or the filters before) never replaces a newer one,
      // and the older load stops fetching (its next pages would only be thrown away)
      var seq = state.seq[kind] = (state.seq[kind] || 0) + 1;
      if (state.aborts[kind]) { state.aborts[kind].abort(); }
      var abort = state.aborts[kind] = new AbortController();
      return fetchCollection(url, state.maxFeatures, abort.signal)
        .then(function (data) {
          if (seq !== state.seq[kind]) { return; }
          partialNotice(map, kind, spec.label, data.loaded, data.matched);
          keepOpenPopup(group);
          var fresh = data.features;
          if (kind !== "zone" && /^\/api\/layers\//.test(url)) {
            fresh = keepDrawn(group, data.features);  // only new or changed features are made
          } else {
            group.clearLayers();
          }
          var drawn = geoLayer(kind, spec.label, L.extend({}, data, { features: fresh }))
            .getLayers();
          // a cluster group takes thousands of markers at once (one by one: seconds at 20,000)
          if (group.addLayers) { group.addLayers(drawn); } else {
            drawn.forEach(function (l) { group.addLayer(l); });
          }
          state.counts[kind] = data.features.length;
          // the area whose features are all here (hot spots: the whole city, whatever the view)
          state.loadedArea[kind] = data.loaded < data.matched ? null :
            kind === "hotspots" ? L.latLngBounds([-90, -180], [90, 180]) : loadedBounds;
          state.loadedCount[kind] = data.features.length;
          if (kind === "gaps") { gapPanel(map, group); }
          if (kind === "choropleth") { choroplethLegend(map, group, data); }
        })
        .catch(function (err) {
          if (err.name === "AbortError") { return; }  // a newer load took over
          state.errors.push(String(err));
          showBanner("图层加载失败 / layer failed to load: " + err.message);
        })
        .finally(function () { state.loading -= 1; });
    }

    /* Reload the layers that are on; after a move (`moved`), only where the view needs more. */
    function refresh(moved) {
      // tile layers follow the map by themselves
      var jobs = cfg.layers.filter(function (l) {
        return map.hasLayer(state.layers[l.kind]) && !state.layers[l.kind].ccmapTiled;
      }).map(function (l) { return load(l.kind, moved === true); });
      state.ready = Promise.all(jobs);
      return state.ready;
    }

    // A refresh due after a move counts as loading, so loading === 0 means the map shows
    // the data of the current view (tests and the page wait for that, not for a time).
    var timer = null;
    map.on("moveend", function () {
      if (timer === null) { state.loading += 1; }
      clearTimeout(timer);
      timer = setTimeout(function () {
        timer = null;
        refresh(true);
        state.loading -= 1;
      }, MOVE_SETTLE_MS);
    });
    map.on("overlayadd", function (e) {
      if (!e.layer.ccmapTiled) { load(e.layer.ccmapKind); }
    });
    state.refresh = refresh;
    state.load = load;
    state.csrfToken = csrfToken;
    if (window.ccmapIssues) { window.ccmapIssues.init(state); }
    if (window.ccmapZones && cfg.canEditZones) { window.ccmapZones.init(state); }
    if (window.ccmapPlan && cfg.analyst) { window.ccmapPlan.init(state); }
    refresh().then(function () {
      if (state.afterFirstLoad) { state.afterFirstLoad(); state.afterFirstLoad = null; }
    });
  }

  // a refresh waits this long after a move for the next (several moves: one refresh)
  var MOVE_SETTLE_MS = 100;
  // the most features one layer draws; beyond it the page says so (zoom in or filter)
  var MAX_LAYER_FEATURES = 20000;
  // a ledger of more issues than this shows street-level points from the issue tiles, not as
  // clustered GeoJSON (at 20,000 issues a street-level view cost ~3 s of server CPU in 20 pages)
  var MAX_ISSUE_POINTS = 10000;
  var HOT_COLORS = { "3": "#b2182b", "2": "#ef8a62", "1": "#fddbc7", "-1": "#d1e5f0",
                     "-2": "#67a9cf", "-3": "#2166ac" };
  var CLASS_COLORS = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"];
  var GAP_LABELS = { uncovered_area: "未覆盖区域", overlap: "责任区重叠",
                     uncovered_line: "无人负责的路段", unassigned_point: "无责任单位的点位",
                     forgotten_zone: "长期无活动的责任区", forgotten_point: "长期无活动的测评点位" };

  function gapStyle(gap, pane) {
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

  function gapText(p) {
    if (p.gap === "unassigned_point") { return p.name; }
    if (p.gap === "forgotten_zone" || p.gap === "forgotten_point") {
      return p.name + "（" + p.days + " 天内无问题记录）";
    }
    if (p.gap === "uncovered_area") { return Math.round(p.area_m2).toLocaleString() + " m²"; }
    if (p.gap === "overlap") {
      return Math.round(p.area_m2).toLocaleString() + " m²：" + p.names.join(" / ") +
        "（" + p.units.join(" / ") + "）";
    }
    return (p.name || "无名道路") + " " + Math.round(p.uncovered_m) + " m";
  }

  function gapPopup(p) {
    var box = el("div", null, "ccmap-popup");
    box.appendChild(el("div", GAP_LABELS[p.gap] || p.gap, "ccmap-popup-title"));
    box.appendChild(el("div", gapText(p)));
    return box;
  }

  /* A list of the gaps, largest first; clicking one zooms the map to it. */
  function gapPanel(map, group) {
    var old = document.getElementById("ccmap-gap-panel");
    if (old) { old.remove(); }
    var panel = el("div", null, "ccmap-gap-panel");
    panel.id = "ccmap-gap-panel";
    panel.appendChild(el("div", "覆盖缺口（按大小排序）", "ccmap-legend-title"));
    var items = group.getLayers().map(function (l) {
      var p = l.feature.properties;
      return { layer: l, p: p, size: p.area_m2 || p.uncovered_m || 0 };
    }).sort(function (a, b) {
      return (a.p.gap === "uncovered_line") - (b.p.gap === "uncovered_line") || b.size - a.size;
    });
    var list = el("ol");
    items.slice(0, 80).forEach(function (item) {
      var li = el("li", (GAP_LABELS[item.p.gap] || "") + "：" + gapText(item.p), "ccmap-gap-item");
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
    map.getContainer().appendChild(panel);
    map.once("overlayremove", function (e) { if (e.layer === group) { panel.remove(); } });
  }

  /* The class breaks of the choropleth, shown while the layer is on. */
  function choroplethLegend(map, group, doc) {
    var old = document.getElementById("ccmap-choropleth-legend");
    if (old) { old.remove(); }
    var box = el("div", null, "ccmap-legend ccmap-choropleth-legend");
    box.id = "ccmap-choropleth-legend";
    box.appendChild(el("div", "专题图：" + doc.label, "ccmap-legend-title"));
    (doc.legend || []).forEach(function (c) {
      var row = el("div", null, "ccmap-legend-row");
      var sw = el("span", null, "ccmap-dot");
      sw.style.background = CLASS_COLORS[c["class"]];
      sw.style.borderRadius = "2px";
      row.appendChild(sw);
      row.appendChild(el("span", c.from + " – " + c.to));
      box.appendChild(row);
    });
    legendSlot(map).appendChild(box);
    map.on("overlayremove", function drop(e) {  // (once would drop it on another layer's removal)
      if (e.layer === group) { box.remove(); map.off("overlayremove", drop); }
    });
  }

  function csrfToken() {
    var m = document.cookie.match(/(?:^|; )ccmap_csrf=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function renderTitle(cfg) {
    var box = document.getElementById("ccmap-title");
    box.textContent = "";
    box.appendChild(el("span", cfg.title, "ccmap-title-text"));
    if (!cfg.user) { return; }
    box.appendChild(el("span", cfg.user, "ccmap-user"));
    var dash = el("a", "工作台", "ccmap-link");
    dash.href = "/dashboard";
    box.appendChild(dash);
    var work = el("a", "工作量", "ccmap-link");
    work.href = "/workload";
    box.appendChild(work);
    if (cfg.isAdmin) {
      var admin = el("a", "系统管理", "ccmap-link");
      admin.href = "/admin";
      box.appendChild(admin);
    }
    var logout = el("button", "退出", "ccmap-logout");
    logout.type = "button";
    logout.addEventListener("click", function () {
      fetch("/api/auth/logout", { method: "POST", credentials: "same-origin",
                                  headers: { "X-CSRF-Token": csrfToken() } })
        .finally(function () { window.location.assign("/login"); });
    });
    box.appendChild(logout);
  }

  // the legend of each line or area layer: [label, how it is drawn]
  var STYLE_LEGEND = [["subdistrict", "街道边界"], ["community", "社区边界"],
                      ["zone", "责任区（颜色按责任单位）"], ["compound", "居民小区"],
                      ["street", "主次干道"], ["alley", "背街小巷"], ["market", "农贸市场"],
                      ["storefront", "沿街门店"]];
  var HOT_LEGEND = [["3", "热点 99%"], ["2", "热点 95%"], ["1", "热点 90%"], ["-1", "冷点 90%"],
                    ["-2", "冷点 95%"], ["-3", "冷点 99%"]];

  /* The box at the bottom right holding the legends, side by side (heat and choropleth too). */
  function legendSlot(map) {
    return map.getContainer().querySelector(".ccmap-legends") || map.getContainer();
  }

  /* One legend per layer (issue statuses with the cell count, test-point categories, the
   * line/area styles, hotspots, gaps), each shown only while its layer is on, side by side in
   * one box at the bottom right that stays clear of the layer list and the left-hand panels. */
  function addLegends(map, cfg, tpColors, state) {
    var slot = el("div", null, "ccmap-legends");
    slot.id = "ccmap-legends";
    var ctl = L.control({ position: "bottomright" });
    ctl.onAdd = function () {
      L.DomEvent.disableClickPropagation(slot);
      L.DomEvent.disableScrollPropagation(slot);
      return slot;
    };
    ctl.addTo(map);
    var shown = [];  // [element, layer kind]: the element shows while that layer is on
    function legend(kind, title, cls) {
      var box = el("div", null, "ccmap-legend " + (cls || ""));
      box.id = "ccmap-legend-" + kind;
      box.appendChild(el("div", title, "ccmap-legend-title"));
      slot.appendChild(box);
      shown.push([box, kind]);
      return box;
    }
    if (state.layers.issues) {
      var issues = legend("issues", "问题状态");
      Object.keys(cfg.statuses).forEach(function (code) {
        issues.appendChild(swatch(cfg.statuses[code].color, cfg.statuses[code].label, true));
      });
      issues.appendChild(swatch("#d7301f", "问题数（缩小地图时按格汇总）", true));
    }
    if (state.layers.test_point) {
      var cols = el("div", null, "ccmap-legend-cols");
      Object.keys(cfg.testPointCategories).forEach(function (code) {
        cols.appendChild(swatch(tpColors[code], cfg.testPointCategories[code], true));
      });
      legend("test_point", "测评点位类型").appendChild(cols);
    }
    var styles = legend("styles", "图层");
    shown.pop();  // shown while one of its rows is
    STYLE_LEGEND.forEach(function (pair) {
      if (!state.layers[pair[0]]) { return; }
      var row = styleSwatch(pair[0], pair[1]);
      styles.appendChild(row);
      shown.push([row, pair[0]]);
    });
    if (state.layers.hotspots) {
      var hot = legend("hotspots", "热点分析（Gi* 置信度）");
      HOT_LEGEND.forEach(function (pair) {
        hot.appendChild(areaSwatch(HOT_COLORS[pair[0]], pair[1]));
      });
    }
    if (state.layers.gaps) {
      var gaps = legend("gaps", "覆盖缺口");
      ["uncovered_area", "overlap"].forEach(function (gap) {
        var st = gapStyle(gap);
        gaps.appendChild(areaSwatch(st.fillColor, GAP_LABELS[gap], st.color, true));
      });
      var line = lineSwatch(gapStyle("uncovered_line"), GAP_LABELS.uncovered_line);
      gaps.appendChild(line);
      gaps.appendChild(swatch("#fff", GAP_LABELS.unassigned_point, true));
    }
    function sync() {
      shown.forEach(function (pair) {
        pair[0].hidden = !(state.layers[pair[1]] && map.hasLayer(state.layers[pair[1]]));
      });
      styles.hidden = !styles.querySelector(".ccmap-legend-row:not([hidden])");
    }
    /* The box's room: from the bottom of the layer list down, and right of the left panels. */
    function fit() {
      var box = map.getContainer().getBoundingClientRect();
      var list = map.getContainer().querySelector(".leaflet-control-layers");
      var left = map.getContainer().querySelector(".leaflet-top.leaflet-left");
      var bottom = slot.getBoundingClientRect().bottom;
      var top = list ? list.getBoundingClientRect().bottom : box.top;
      var leftEdge = left ? left.getBoundingClientRect().right : box.left;
      slot.style.maxHeight = Math.max(80, Math.floor(bottom - top - 10)) + "px";
      slot.style.maxWidth = Math.max(160, Math.floor(box.right - leftEdge - 20)) + "px";
    }
    map.on("overlayadd overlayremove", sync);
    map.on("resize", fit);
    sync();
    fit();
    state.fitLegends = fit;
  }

  function swatch(color, label, round) {
    var row = el("div", null, "ccmap-legend-row");
    var mark = el("span", null, round ? "ccmap-dot" : "ccmap-line");
    mark.style.background = color;
    row.appendChild(mark);
    row.appendChild(el("span", label));
    return row;
  }

  function lineSwatch(st, label) {
    var row = el("div", null, "ccmap-legend-row");
    var mark = el("span", null, "ccmap-line");
    mark.style.borderTop = Math.max(2, Math.round(st.weight || 2)) + "px " +
      (st.dashArray ? "dashed " : "solid ") + st.color;
    row.appendChild(mark);
    row.appendChild(el("span", label));
    return row;
  }

  function areaSwatch(fill, label, border, dashed) {
    var row = el("div", null, "ccmap-legend-row");
    var mark = el("span", null, "ccmap-area");
    mark.style.background = fill;
    mark.style.border = "2px " + (dashed ? "dashed " : "solid ") + (border || fill);
    row.appendChild(mark);
    row.appendChild(el("span", label));
    return row;
  }

  /* A legend row drawn like the layer `kind` (STYLE): a line, or an area with its outline. */
  function styleSwatch(kind, label) {
    var st = STYLE[kind] || {};
    var row;
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
    var h = hex.replace("#", "");
    if (h.length === 3) { h = h.replace(/(.)/g, "$1$1"); }
    var n = parseInt(h, 16);
    return "rgba(" + (n >> 16) + ", " + ((n >> 8) & 255) + ", " + (n & 255) + ", " + alpha + ")";
  }

  /* The "加载中…" badge at the end of the title bar (where it hides no map and meets no other
   * message); the function returned shows it while n > 0. It never takes a click
   * (pointer-events: none), keeps its room when hidden (the bar does not jump), and CSS shows it
   * only after a moment, so quick loads do not flash it. */
  function loadingBadge(map) {
    var badge = el("span", null, "ccmap-loading");
    badge.id = "ccmap-loading";
    badge.setAttribute("role", "status");
    badge.appendChild(el("span", null, "ccmap-spinner"));
    badge.appendChild(el("span", "加载中…"));
    (document.getElementById("ccmap-title") || map.getContainer()).appendChild(badge);
    return function (n) { badge.classList.toggle("on", n > 0); };
  }

  /* Fetch a paged GeoJSON FeatureCollection (OGC API Features: numberMatched, links rel=next),
   * following `next` links until every feature is loaded or `max` features are; resolves to
   * the first page's document with all loaded features, `loaded` and `matched` (how many the
   * filters match; the same as loaded for an answer that is not paged). An AbortSignal
   * `signal` (optional) stops it between pages as well as during one. */
  function fetchCollection(url, max, signal) {
    var doc = null;
    function get(u) {
      return fetch(u, { credentials: "same-origin", signal: signal }).then(function (r) {
        if (!r.ok) { throw new Error(u.split("?")[0] + ": HTTP " + r.status); }
        return r.json();
      }).then(function (page) {
        if (doc === null) { doc = page; } else { doc.features = doc.features.concat(page.features); }
        var next = (page.links || []).filter(function (l) { return l.rel === "next"; })[0];
        if (next && page.features.length && doc.features.length < (max || Infinity)) {
          var to = new URL(next.href, window.location.href);  // same origin behind a proxy
          return get(to.pathname + to.search);
        }
        doc.loaded = doc.features.length;
        doc.matched = typeof doc.numberMatched === "number" ? doc.numberMatched : doc.loaded;
        return doc;
      });
    }
    return get(url);
  }

  /* Say on the map when a layer shows part of what matches ("仅显示 n / total 条"). */
  function partialNotice(map, kind, label, loaded, matched) {
    var box = document.getElementById("ccmap-partial");
    if (!box && loaded >= matched) { return; }
    if (!box) {
      box = el("div", null, "ccmap-partial");
      box.id = "ccmap-partial";
      map.getContainer().appendChild(box);
    }
    var line = document.getElementById("ccmap-partial-" + kind);
    if (loaded >= matched) {
      if (line) { line.remove(); }
    } else {
      if (!line) {
        line = el("div", null, "ccmap-partial-line");
        line.id = "ccmap-partial-" + kind;
        box.appendChild(line);
      }
      line.textContent = label + "：仅显示 " + loaded.toLocaleString("en-US") + " / " +
        matched.toLocaleString("en-US") + " 条，请放大地图或筛选";
    }
    box.hidden = !box.firstChild;
  }

  /* A JSON call to the API with the session's CSRF header; rejects with the server's reason. */
  function api(method, url, body, isForm) {
    var headers = { "X-CSRF-Token": csrfToken() };
    if (body && !isForm) { headers["Content-Type"] = "application/json"; }
    return fetch(url, { method: method, credentials: "same-origin", headers: headers,
                        body: body ? (isForm ? body : JSON.stringify(body)) : undefined })
      .then(function (r) {
        return r.json().then(function (b) {
          if (!r.ok) {
            var extra = (b.overlaps || []).map(function (o) { return o.message; }).join("；");
            throw new Error((b.detail || ("HTTP " + r.status)) + (extra ? "：" + extra : ""));
          }
          return b;
        });
      });
  }

  /* A message at the bottom of the map that stays until the next one. */
  function toast(text) {
    var box = document.getElementById("ccmap-toast");
    box.textContent = text;
    box.hidden = false;
  }

  window.ccmap = { init: init, popupContent: popupContent, el: el, api: api, toast: toast,
                   fetchCollection: fetchCollection, state: null };

  document.addEventListener("DOMContentLoaded", function () {
    if (typeof L === "undefined") {
      showBanner("前端资源未安装（Leaflet 未找到）— 请运行 ./run.sh setup / " +
                 "front-end assets are missing: run ./run.sh setup");
    }
  });
})();
