/* Drawing decoded vector tiles (mvt.js) onto a canvas, and hit-testing their features. The
 * features of one style go into one path, filled and stroked once: a city view of some
 * thousands of streets is a few canvas calls per tile, not an object, a style change and a
 * stroke per feature (Leaflet.VectorGrid's way, which spent most of a pan's browser time in
 * drawing and garbage collection). No DOM but a canvas, no Leaflet: it runs in the tile
 * workers (tile-worker.js) on OffscreenCanvas and, where a browser has none, on the page. */

export var POINT = 1, LINE = 2, POLYGON = 3;
var HIT_PX = 4;  // a click this close to a line or an area's edge hits it

/* A canvas of w x h device pixels: an OffscreenCanvas (in a worker), else the page's. */
export function makeCanvas(w, h) {
  if (typeof OffscreenCanvas !== "undefined") { return new OffscreenCanvas(w, h); }
  var canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  return canvas;
}

/* A feature's style with Leaflet's path defaults (fill: polygons and points only). */
function fullStyle(st, type) {
  var color = st.color || "#3388ff";
  return {
    stroke: st.stroke !== false, color: color, weight: st.weight === undefined ? 3 : st.weight,
    opacity: st.opacity === undefined ? 1 : st.opacity, dashArray: st.dashArray || null,
    fill: st.fill === undefined ? type !== LINE : st.fill && type !== LINE,
    fillColor: st.fillColor || color,
    fillOpacity: st.fillOpacity === undefined ? 0.2 : st.fillOpacity,
    radius: st.radius === undefined ? 10 : st.radius,
    label: st.label || null  // (a cell's count is written in it over its circle)
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

/* Draw a decoded tile's layers (mvt.js), bottom to top: each style's lines or areas as one
 * path, its points stamped. styles(layer name) is the style function of a layer's features
 * (none: the layer is not drawn). Each feature's full style is kept in layer.styles (for
 * hits and the labels). */
export function drawTile(ctx, layers, styles, zoom, px) {
  layers.forEach(function (layer) {
    var styleOf = styles(layer.name);
    if (!styleOf) { return; }
    var scale = px / layer.extent, buckets = {}, order = [], n = layer.length;
    var looks = layer.styles = new Array(n);
    for (var i = 0; i < n; i++) {
      var st = looks[i] = styleFor(styleOf(layer.props[i], zoom) || {}, layer.types[i]);
      var b = buckets[st.bucket];
      if (!b) { b = buckets[st.bucket] = { style: st, features: [] }; order.push(st.bucket); }
      b.features.push(i);
    }
    order.forEach(function (key) {
      var b = buckets[key], st = b.style;
      if (layer.types[b.features[0]] === POINT) { stamp(ctx, layer, b.features, st, scale); return; }
      ctx.beginPath();
      b.features.forEach(function (f) { tracePath(ctx, layer, f, scale); });
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
  var side = Math.ceil(2 * half * ratio), canvas = makeCanvas(side, side);
  var ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  ctx.beginPath();
  ctx.arc(half, half, st.radius, 0, 2 * Math.PI);
  paint(ctx, st);
  spriteCount += 1;
  s = sprites[key] = { canvas: canvas, half: half };
  return s;
}

/* Stamp the points of features `list` (indices into the layer). */
function stamp(ctx, layer, list, st, scale) {
  var ratio = ctx.getTransform().a || 1, s = sprite(st, ratio), size = 2 * s.half;
  var coords = layer.coords, partAt = layer.partAt, featureAt = layer.featureAt;
  list.forEach(function (f) {
    var from = partAt[featureAt[f]], to = partAt[featureAt[f + 1]];
    for (var j = from; j + 1 < to; j += 2) {
      // whole device pixels: a sprite copied at a fraction of a pixel is resampled (blurred)
      var x = Math.round((coords[j] * scale - s.half) * ratio) / ratio;
      var y = Math.round((coords[j + 1] * scale - s.half) * ratio) / ratio;
      ctx.drawImage(s.canvas, x, y, size, size);
    }
  });
}

/* Feature f's lines or rings into the current path. */
function tracePath(ctx, layer, f, scale) {
  var coords = layer.coords, partAt = layer.partAt, closed = layer.types[f] === POLYGON;
  for (var k = layer.featureAt[f]; k < layer.featureAt[f + 1]; k++) {
    var from = partAt[k], to = partAt[k + 1];
    ctx.moveTo(coords[from] * scale, coords[from + 1] * scale);
    for (var i = from + 2; i + 1 < to; i += 2) {
      ctx.lineTo(coords[i] * scale, coords[i + 1] * scale);
    }
    if (closed) { ctx.closePath(); }
  }
}

/* --- hit testing (tile pixels) ------------------------------------------------------- */
function segmentDistance(px, py, ax, ay, bx, by) {
  var dx = bx - ax, dy = by - ay, len = dx * dx + dy * dy;
  var t = len ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len)) : 0;
  return Math.hypot(px - ax - t * dx, py - ay - t * dy);
}

/* Whether feature f of a drawn layer (drawTile gave it its style) is under tile pixel (x, y):
 * a point within its circle, a line within a few pixels, an area inside or near its edge. */
export function hits(layer, f, x, y, scale) {
  var st = layer.styles && layer.styles[f];
  if (!st) { return false; }
  var coords = layer.coords, partAt = layer.partAt, type = layer.types[f], i, k;
  var first = layer.featureAt[f], last = layer.featureAt[f + 1];
  if (type === POINT) {
    for (i = partAt[first]; i + 1 < partAt[last]; i += 2) {
      if (Math.hypot(coords[i] * scale - x, coords[i + 1] * scale - y) <=
          st.radius + (st.stroke ? st.weight / 2 : 0)) { return true; }  // as Leaflet's
    }
    return false;
  }
  var near = st.weight / 2 + HIT_PX, inside = false;
  for (k = first; k < last; k++) {
    var from = partAt[k], n = (partAt[k + 1] - from) / 2;
    for (i = 0; i < n; i++) {
      var j = type === POLYGON ? (i + n - 1) % n : i - 1;
      if (j < 0) { continue; }
      var ax = coords[from + 2 * j] * scale, ay = coords[from + 2 * j + 1] * scale;
      var bx = coords[from + 2 * i] * scale, by = coords[from + 2 * i + 1] * scale;
      if (st.stroke && segmentDistance(x, y, ax, ay, bx, by) <= near) { return true; }
      if (type === POLYGON && ((ay > y) !== (by > y)) &&
          x < (bx - ax) * (y - ay) / (by - ay) + ax) { inside = !inside; }
    }
  }
  return st.fill && inside;
}
