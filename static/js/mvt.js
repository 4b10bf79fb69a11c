/* Reading Mapbox Vector Tiles (spec 2.1) with pbf: the layers of a tile, each a set of flat
 * typed arrays (ids, geometry types, coordinates in tile units, parts and properties), not an
 * object and an array per feature and part. No DOM, no Leaflet: it runs in the tile workers
 * (tile-worker.js) and, where a browser has none, on the page.
 *
 * A street-level view's twelve tiles hold some 50,000 features: as objects (a feature, its
 * properties, its parts and each part's array) they were 30 MB of JS heap a view, kept while
 * the tiles are on the map, and 30-40 ms of decoding, with the collector's work after them.
 *
 * A layer: {name, extent, length (features), ids: Float64Array (NaN: none), types: Uint8Array,
 *           props: [an object a feature, shared by features with the same properties: do
 *                   not change it],
 *           coords: Int32Array [x0, y0, x1, y1, ...] (tile units),
 *           partAt: Uint32Array (part k is coords[partAt[k] .. partAt[k + 1]]),
 *           featureAt: Uint32Array (feature i has parts featureAt[i] .. featureAt[i + 1] - 1)}
 * featureOf(layer, i) gives one feature as an object ({id, type, props, parts}). */

var MOVE_TO = 1, CLOSE_PATH = 7;  // (LINE_TO = 2: every other command draws)
var NO_PROPS = Object.freeze({});

/* The decoded layers of a tile (the MVT protobuf: Tile.layers -> Layer {name, features,
 * keys, values}). */
export function readTile(buffer) {
  var pbf = new Pbf(new Uint8Array(buffer)), layers = [];
  pbf.readFields(function (tag, acc, p) {
    if (tag === 3) { acc.push(readLayer(p, p.readVarint() + p.pos)); }
  }, layers);
  return layers;
}

function readLayer(pbf, end) {
  var start = pbf.pos;
  var layer = { name: "", extent: 4096, keys: [], values: [], at: [] };
  pbf.readFields(function (tag, l, p) {
    if (tag === 15) { p.readVarint(); }  // version
    else if (tag === 1) { l.name = p.readString(); }
    else if (tag === 5) { l.extent = p.readVarint(); }
    else if (tag === 3) { l.keys.push(p.readString()); }
    else if (tag === 4) { l.values.push(readValue(p)); }
    else if (tag === 2) {  // a feature: read once the keys and values are known
      var n = p.readVarint();
      l.at.push(p.pos, p.pos + n);
      p.pos += n;
    }
  }, layer, end);
  var n = layer.at.length / 2;
  // a point takes at least 2 bytes of geometry and a part at least 3: the layer's bytes bound
  // both; they are read into scratch arrays of that size, then copied out at their length
  var bound = end - start + 2;
  if (scratch.coords.length < bound) {
    scratch.coords = new Int32Array(bound * 2);
    scratch.partAt = new Uint32Array(bound * 2);
  }
  var out = { name: layer.name, extent: layer.extent, length: n,
              ids: new Float64Array(n), types: new Uint8Array(n), props: new Array(n),
              coords: null, partAt: null, featureAt: new Uint32Array(n + 1) };
  out.ids.fill(NaN);  // (a feature without an id: NaN)
  var at = { coords: scratch.coords, partAt: scratch.partAt, nCoords: 0, nParts: 0 };
  var shared = new Map();  // the properties' tags -> their shared object
  for (var i = 0; i < n; i++) {
    out.featureAt[i] = at.nParts;
    readFeature(pbf, layer.at[2 * i], layer.at[2 * i + 1], layer, out, at, i, shared);
  }
  out.featureAt[n] = at.nParts;
  at.partAt[at.nParts] = at.nCoords;
  out.coords = at.coords.slice(0, at.nCoords);
  out.partAt = at.partAt.slice(0, at.nParts + 1);
  pbf.pos = end;
  return out;
}

// the arrays a layer's geometry is read into (one a worker, grown as tiles need)
var scratch = { coords: new Int32Array(0), partAt: new Uint32Array(0) };

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

/* Feature i (bytes start..end of the tile) into the layer's arrays: its id, type, properties
 * and parts, read straight from its packed fields. */
function readFeature(pbf, start, end, layer, out, at, i, shared) {
  out.props[i] = NO_PROPS;
  pbf.pos = start;
  while (pbf.pos < end) {
    var val = pbf.readVarint(), tag = val >> 3;
    if (tag === 1) { out.ids[i] = pbf.readVarint(); }
    else if (tag === 3) { out.types[i] = pbf.readVarint(); }
    else if (tag === 2 && (val & 7) === 2) {
      out.props[i] = readTags(pbf, lengthEnd(pbf), layer, shared);
    } else if (tag === 4 && (val & 7) === 2) { readParts(pbf, lengthEnd(pbf), at); }
    else { pbf.skip(val); }  // (tags and geometry are packed, as the spec has them)
  }
}

/* Where the length-delimited field starting here ends. */
function lengthEnd(pbf) { return pbf.readVarint() + pbf.pos; }

/* A feature's properties: one object for every feature with the same tags (a view's issue
 * points have a handful of statuses between them, not one object each). */
function readTags(pbf, end, layer, shared) {
  if (pbf.pos >= end) { return NO_PROPS; }
  var start = pbf.pos, key = pbf.readVarint() * 1048576 + pbf.readVarint();
  // (one property, the common case: a number; more: a string of them all)
  if (pbf.pos < end) { key = String(key); }
  while (pbf.pos < end) { key += "," + pbf.readVarint(); }
  var props = shared.get(key);
  if (props) { return props; }
  props = {};
  pbf.pos = start;
  while (pbf.pos < end) {
    var name = layer.keys[pbf.readVarint()];
    props[name] = layer.values[pbf.readVarint()];
  }
  Object.freeze(props);
  shared.set(key, props);
  return props;
}

/* Geometry commands to parts (a line, a ring or a point each) in the layer's coordinates. */
function readParts(pbf, end, at) {
  var x = 0, y = 0, coords = at.coords, partAt = at.partAt, c = at.nCoords, k = at.nParts;
  while (pbf.pos < end) {
    var cmd = pbf.readVarint(), count = cmd >> 3;
    cmd &= 7;
    if (cmd === CLOSE_PATH) { continue; }  // rings are closed when drawn
    for (var n = 0; n < count; n++) {
      x += pbf.readSVarint();
      y += pbf.readSVarint();
      if (cmd === MOVE_TO) { partAt[k++] = c; }
      coords[c++] = x;
      coords[c++] = y;
    }
  }
  at.nCoords = c;
  at.nParts = k;
}

/* Feature i of a decoded layer as an object: {id, type, props, parts: [[x0, y0, ...], ...]}
 * (tile units; a copy of its coordinates). */
export function featureOf(layer, i) {
  var parts = [];
  for (var k = layer.featureAt[i]; k < layer.featureAt[i + 1]; k++) {
    parts.push(Array.from(layer.coords.subarray(layer.partAt[k], layer.partAt[k + 1])));
  }
  return { id: idOf(layer, i), type: layer.types[i], props: layer.props[i], parts: parts };
}

/* Feature i's id (undefined: it has none). */
export function idOf(layer, i) {
  var id = layer.ids[i];
  return Number.isNaN(id) ? undefined : id;
}
