/* ccmap's vector-tile grid: Mapbox Vector Tiles (spec 2.1) read with pbf and drawn straight
 * onto one canvas per tile. The features of one style go into one path, filled and stroked
 * once: a city view of some thousands of streets is a few canvas calls per tile, not an
 * object, a style change and a stroke per feature (Leaflet.VectorGrid's way, which spent most
 * of a pan's browser time in drawing and garbage collection). Clicks are hit-tested on the
 * decoded features (grid.ccmapHit); grid.ccmapFeatures lists what the tiles in view hold. */

var MOVE_TO = 1, CLOSE_PATH = 7;  // (LINE_TO = 2: every other command draws)
var POINT = 1, LINE = 2, POLYGON = 3;
var HIT_PX = 4;  // a click this close to a line or an area's edge hits it

/* --- decoding (the MVT protobuf: Tile.layers -> Layer {name, features, keys, values}) --- */
export function readTile(buffer) {
  var pbf = new Pbf(new Uint8Array(buffer)), layers = [];
  pbf.readFields(function (tag, acc, p) {
    if (tag === 3) { acc.push(readLayer(p, p.readVarint() + p.pos)); }
  }, layers);
  return layers;
}

function readLayer(pbf, end) {
  var layer = { name: "", extent: 4096, keys: [], values: [], raw: [] };
  pbf.readFields(function (tag, l, p) {
    if (tag === 15) { p.readVarint(); }  // version
    else if (tag === 1) { l.name = p.readString(); }
    else if (tag === 5) { l.extent = p.readVarint(); }
    else if (tag === 3) { l.keys.push(p.readString()); }
    else if (tag === 4) { l.values.push(readValue(p)); }
    else if (tag === 2) { l.raw.push(readFeature(p, p.readVarint() + p.pos)); }
  }, layer, end);
  var features = layer.raw.map(function (f) {
    var props = {};
    for (var i = 0; i + 1 < f.tags.length; i += 2) {
      props[layer.keys[f.tags[i]]] = layer.values[f.tags[i + 1]];
    }
    return { id: f.id, type: f.type, props: props, parts: parts(f.geometry) };
  });
  return { name: layer.name, extent: layer.extent, features: features };
}

function readValue(pbf) {
  var value = null, end = pbf.readVarint() + pbf.pos;
  while (pbf.pos < end) {
    var tag = pbf.readVarint() >> 3;
    value = tag === 1 ? pbf.readString() : tag === 2 ? pbf.readFloat() :
      tag === 3 ? pbf.readDouble() : tag === 4 ? pbf.readVarint64() :
      tag === 5 ? pbf.readVarint() : tag === 6 ? pbf.readSVarint() :
      tag === 7 ? pbf.readBoolean() : null;
  }
  return value;
}

function readFeature(pbf, end) {
  var f = { id: undefined, type: 0, tags: [], geometry: [] };
  pbf.readFields(function (tag, o, p) {
    if (tag === 1) { o.id = p.readVarint(); }
    else if (tag === 2) { p.readPackedVarint(o.tags); }
    else if (tag === 3) { o.type = p.readVarint(); }
    else if (tag === 4) { p.readPackedVarint(o.geometry); }
  }, f, end);
  return f;
}

/* Geometry commands to parts: flat [x0, y0, x1, y1, …] per line, ring or point, tile units. */
function parts(cmds) {
  var out = [], part = null, x = 0, y = 0, i = 0;
  while (i < cmds.length) {
    var cmd = cmds[i] & 7, count = cmds[i] >> 3;
    i += 1;
    if (cmd === CLOSE_PATH) { continue; }  // rings are closed when drawn
    for (var n = 0; n < count; n++) {
      x += (cmds[i] >>> 1) ^ -(cmds[i] & 1);
      y += (cmds[i + 1] >>> 1) ^ -(cmds[i + 1] & 1);
      i += 2;
      if (cmd === MOVE_TO) { part = []; out.push(part); }
      part.push(x, y);
    }
  }
  return out;
}

/* --- drawing ------------------------------------------------------------------------- */
/* A feature's style with Leaflet's path defaults (fill: polygons and points only). */
function fullStyle(st, type) {
  var color = st.color || "#3388ff";
  return {
    stroke: st.stroke !== false, color: color, weight: st.weight === undefined ? 3 : st.weight,
    opacity: st.opacity === undefined ? 1 : st.opacity, dashArray: st.dashArray || null,
    fill: st.fill === undefined ? type !== LINE : st.fill && type !== LINE,
    fillColor: st.fillColor || color,
    fillOpacity: st.fillOpacity === undefined ? 0.2 : st.fillOpacity,
    radius: st.radius === undefined ? 10 : st.radius
  };
}

/* The full style of a style object the grid's styles gave, per geometry type, worked out
 * once per object: a style function that returns the same object for the same look (as
 * map.js's do) saves a style and a key per feature (tens of thousands a city view). The
 * objects must not change once given. `bucket` groups the features drawn together: points
 * are stamped (one sprite per style and radius), lines and areas traced as one path. */
var fullStyles = new WeakMap();

function styleFor(given, type) {
  var known = fullStyles.get(given);
  if (!known) { known = {}; fullStyles.set(given, known); }
  var st = known[type];
  if (!st) {
    st = known[type] = fullStyle(given, type);
    st.bucket = (type === POINT ? "p|" + st.radius : String(type)) + "|" + styleKey(st);
  }
  return st;
}

function styleKey(s) {
  return [s.stroke, s.color, s.weight, s.opacity, s.dashArray, s.fill, s.fillColor,
          s.fillOpacity].join("|");
}

/* Draw a decoded tile's layers, bottom to top: each style's lines or areas as one path, its
 * points stamped. */
function drawTile(ctx, layers, styles, zoom, px) {
  layers.forEach(function (layer) {
    var styleOf = styles[layer.name];
    if (!styleOf) { return; }
    var scale = px / layer.extent, buckets = {}, order = [];
    layer.features.forEach(function (f) {
      var st = styleFor(styleOf(f.props, zoom) || {}, f.type);
      f.style = st;
      var key = st.bucket;
      if (!buckets[key]) { buckets[key] = { style: st, features: [] }; order.push(key); }
      buckets[key].features.push(f);
    });
    order.forEach(function (key) {
      var b = buckets[key], st = b.style;
      if (b.features[0].type === POINT) { stamp(ctx, b.features, st, scale); return; }
      ctx.beginPath();
      b.features.forEach(function (f) { tracePath(ctx, f, scale); });
      paint(ctx, st);
    });
    ctx.globalAlpha = 1;
    ctx.setLineDash([]);
  });
}

/* Fill and stroke the current path in a full style (a tile's bucket, or a point's sprite). */
function paint(ctx, st) {
  if (st.fill) {
    ctx.globalAlpha = st.fillOpacity;
    ctx.fillStyle = st.fillColor;
    ctx.fill("evenodd");
  }
  if (st.stroke && st.weight > 0) {
    ctx.globalAlpha = st.opacity;
    ctx.strokeStyle = st.color;
    ctx.lineWidth = st.weight;
    // butt ends and bevel joins: Leaflet's round ones cost the (software) rasteriser
    // 40 % more on a city view's tiles, and show no different at 2-3 pixels
    ctx.lineCap = "butt";
    ctx.lineJoin = "bevel";
    ctx.setLineDash(st.dashArray ? String(st.dashArray).split(/[ ,]+/).map(Number) : []);
    ctx.stroke();
  }
}

/* Points are stamped: each style's symbol is drawn once into a small canvas (a sprite, as
 * OpenLayers caches its circle styles) and copied to every point of the style. A street-level
 * tile can hold thousands of issue points: as one path of arcs, filling and anti-aliasing
 * them cost the software rasteriser about 40 ms a tile, stamped a few ms; and each circle is
 * drawn over the ones before it (one even-odd path left holes where circles overlapped). */
var sprites = {}, spriteCount = 0;
var MAX_SPRITES = 512;  // cell circles grow with their count: many radii, a bounded cache

function sprite(st, ratio) {
  var key = st.bucket + "|" + ratio, s = sprites[key];
  if (s) { return s; }
  if (spriteCount >= MAX_SPRITES) { sprites = {}; spriteCount = 0; }
  var half = Math.ceil(st.radius + (st.stroke ? st.weight / 2 : 0)) + 1;
  var canvas = document.createElement("canvas");
  canvas.width = canvas.height = Math.ceil(2 * half * ratio);
  var ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  ctx.beginPath();
  ctx.arc(half, half, st.radius, 0, 2 * Math.PI);
  paint(ctx, st);
  spriteCount += 1;
  s = sprites[key] = { canvas: canvas, half: half };
  return s;
}

function stamp(ctx, features, st, scale) {
  var ratio = ctx.getTransform().a || 1, s = sprite(st, ratio), size = 2 * s.half;
  features.forEach(function (f) {
    f.parts.forEach(function (p) {
      for (var j = 0; j + 1 < p.length; j += 2) {
        // whole device pixels: a sprite copied at a fraction of a pixel is resampled (blurred)
        var x = Math.round((p[j] * scale - s.half) * ratio) / ratio;
        var y = Math.round((p[j + 1] * scale - s.half) * ratio) / ratio;
        ctx.drawImage(s.canvas, x, y, size, size);
      }
    });
  });
}

function tracePath(ctx, f, scale) {
  f.parts.forEach(function (p) {
    ctx.moveTo(p[0] * scale, p[1] * scale);
    for (var i = 2; i + 1 < p.length; i += 2) { ctx.lineTo(p[i] * scale, p[i + 1] * scale); }
    if (f.type === POLYGON) { ctx.closePath(); }
  });
}

/* --- hit testing (tile pixels) ------------------------------------------------------- */
function segmentDistance(px, py, ax, ay, bx, by) {
  var dx = bx - ax, dy = by - ay, len = dx * dx + dy * dy;
  var t = len ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len)) : 0;
  return Math.hypot(px - ax - t * dx, py - ay - t * dy);
}

function hits(f, x, y, scale) {
  var st = f.style, i, p, k;
  if (f.type === POINT) {
    for (k = 0; k < f.parts.length; k++) {
      p = f.parts[k];
      for (i = 0; i + 1 < p.length; i += 2) {
        if (Math.hypot(p[i] * scale - x, p[i + 1] * scale - y) <=
            st.radius + (st.stroke ? st.weight / 2 : 0)) { return true; }  // as Leaflet's
      }
    }
    return false;
  }
  var near = st.weight / 2 + HIT_PX, inside = false;
  for (k = 0; k < f.parts.length; k++) {
    p = f.parts[k];
    var n = p.length / 2;
    for (i = 0; i < n; i++) {
      var j = f.type === POLYGON ? (i + n - 1) % n : i - 1;
      if (j < 0) { continue; }
      var ax = p[2 * j] * scale, ay = p[2 * j + 1] * scale;
      var bx = p[2 * i] * scale, by = p[2 * i + 1] * scale;
      if (st.stroke && segmentDistance(x, y, ax, ay, bx, by) <= near) { return true; }
      if (f.type === POLYGON && ((ay > y) !== (by > y)) &&
          x < (bx - ax) * (y - ay) / (by - ay) + ax) { inside = !inside; }
    }
  }
  return st.fill && inside;
}

/* --- the grid ------------------------------------------------------------------------ */
/* The methods of the grid layer (an L.GridLayer): made into a class on first use, so that the
 * module loads (and the page can say so) when Leaflet is missing. */
var GRID = {
  options: { tileSize: 256, zoomOffset: 0, styles: {}, countLayers: null },

  initialize: function (url, options) {
    L.GridLayer.prototype.initialize.call(this, options);
    this._url = url;
    this.ccmapData = {};  // tile key -> {coords, layers}
    this._abort = new AbortController();
    this.on("tileunload", function (e) { delete this.ccmapData[this._tileCoordsToKey(e.coords)]; });
  },

  setUrl: function (url, noRedraw) {
    this._url = url;
    if (!noRedraw) { this.redraw(); }
    return this;
  },

  /* Stop the tiles still on the way (a redraw or a new filter makes them useless). */
  ccmapCancel: function () {
    this._abort.abort();
    this._abort = new AbortController();
  },

  createTile: function (coords, done) {
    var px = this.getTileSize().x, ratio = window.devicePixelRatio || 1;
    var tile = L.DomUtil.create("canvas", "leaflet-tile");
    tile.width = tile.height = Math.round(px * ratio);
    tile.style.width = tile.style.height = px + "px";
    var key = this._tileCoordsToKey(coords), grid = this;
    // options.urlAt(z): the URL template of the tiles drawn at zoom z (null: nothing there)
    var template = this.options.urlAt ? this.options.urlAt(coords.z) : this._url;
    if (!template) {
      this.ccmapData[key] = { coords: coords, layers: [], px: px };
      setTimeout(function () { done(null, tile); }, 0);
      return tile;
    }
    var url = L.Util.template(template, { x: coords.x, y: coords.y,
                                          z: coords.z + this.options.zoomOffset });
    fetch(url, { credentials: "same-origin", signal: this._abort.signal })
      .then(function (r) {
        if (!r.ok) { throw new Error(url.split("?")[0] + ": HTTP " + r.status); }
        return r.arrayBuffer();
      })
      .then(function (buffer) {
        var layers = readTile(buffer);
        var ctx = tile.getContext("2d");
        ctx.scale(ratio, ratio);
        drawTile(ctx, layers, grid.options.styles, coords.z, px);
        if (grid.options.afterDraw) { grid.options.afterDraw(ctx, layers, px); }
        grid.ccmapData[key] = { coords: coords, layers: layers, px: px };
        done(null, tile);
      })
      .catch(function (err) {
        if (err && err.name === "AbortError") { return; }  // a newer drawing took over
        done(err, tile);
      });
    return tile;
  },

  /* The decoded tiles of the current zoom in view. */
  ccmapCurrent: function () {
    var grid = this;
    return Object.keys(this.ccmapData).filter(function (key) {
      var t = grid._tiles[key];
      return t && t.current && t.coords.z === grid._tileZoom;
    }).map(function (key) { return grid.ccmapData[key]; });
  },

  /* Every feature of the tiles in view: {layer, id, props, type, style, parts} with parts in map
   * container pixels (a feature crossing tiles comes once per tile). */
  ccmapFeatures: function () {
    var map = this._map, out = [];
    if (!map) { return out; }
    var origin = map.getPixelOrigin(), offset = map._getMapPanePos();
    this.ccmapCurrent().forEach(function (t) {
      var zoomScale = map.getZoomScale(map.getZoom(), t.coords.z);
      var x0 = t.coords.x * t.px, y0 = t.coords.y * t.px;
      t.layers.forEach(function (layer) {
        var scale = t.px / layer.extent;
        layer.features.forEach(function (f) {
          out.push({ layer: layer.name, id: f.id, props: f.props, type: f.type, style: f.style,
                     parts: f.parts.map(function (p) {
                       var pts = [];
                       for (var i = 0; i + 1 < p.length; i += 2) {
                         pts.push([(x0 + p[i] * scale) * zoomScale - origin.x + offset.x,
                                   (y0 + p[i + 1] * scale) * zoomScale - origin.y + offset.y]);
                       }
                       return pts;
                     }) });
        });
      });
    });
    return out;
  },

  /* The top-most feature of MVT layer `names` (a list) under a container point, or null. */
  ccmapHit: function (names, point) {
    var map = this._map;
    if (!map || this._tileZoom === undefined) { return null; }
    var z = this._tileZoom, px = this.getTileSize().x;
    var p = map.containerPointToLayerPoint(point).add(map.getPixelOrigin())
      .multiplyBy(map.getZoomScale(z, map.getZoom()));
    var t = this.ccmapData[this._tileCoordsToKey({ x: Math.floor(p.x / px),
                                                    y: Math.floor(p.y / px), z: z })];
    if (!t) { return null; }
    var x = p.x - t.coords.x * px, y = p.y - t.coords.y * px;
    for (var l = t.layers.length - 1; l >= 0; l--) {
      var layer = t.layers[l];
      if (names.indexOf(layer.name) < 0) { continue; }
      for (var i = layer.features.length - 1; i >= 0; i--) {
        var f = layer.features[i];
        if (f.style && hits(f, x, y, px / layer.extent)) {
          return { layer: layer.name, id: f.id, properties: f.props, style: f.style };
        }
      }
    }
    return null;
  }
};
var Grid = null;

/* A vector-tile grid of `url` (a {z}/{x}/{y} template) drawn with options.styles. */
export function grid(url, options) {
  if (!Grid) { Grid = L.GridLayer.extend(GRID); }
  return new Grid(url, options);
}
