/* Reading Mapbox Vector Tiles (spec 2.1) with pbf: the layers of a tile, each feature's id,
 * type, properties and geometry as flat parts in tile units. No DOM, no Leaflet: it runs in
 * the tile workers (tile-worker.js) and, where a browser has none, on the page. */

var MOVE_TO = 1, CLOSE_PATH = 7;  // (LINE_TO = 2: every other command draws)

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
  var features = new Array(layer.at.length / 2);
  for (var i = 0; i < features.length; i++) {
    features[i] = readFeature(pbf, layer.at[2 * i], layer.at[2 * i + 1], layer);
  }
  pbf.pos = end;
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

/* A feature (bytes start..end of the tile): its id, type, properties and parts, read straight
 * from its packed fields (no list of tags or of geometry commands in between: a city view's
 * tiles hold tens of thousands of features, and every object made is the collector's work). */
function readFeature(pbf, start, end, layer) {
  var f = { id: undefined, type: 0, props: {}, parts: [] };
  pbf.pos = start;
  while (pbf.pos < end) {
    var val = pbf.readVarint(), tag = val >> 3;
    if (tag === 1) { f.id = pbf.readVarint(); }
    else if (tag === 3) { f.type = pbf.readVarint(); }
    else if (tag === 2 && (val & 7) === 2) { readTags(pbf, lengthEnd(pbf), layer, f.props); }
    else if (tag === 4 && (val & 7) === 2) { f.parts = readParts(pbf, lengthEnd(pbf)); }
    else { pbf.skip(val); }  // (tags and geometry are packed, as the spec has them)
  }
  return f;
}

/* Where the length-delimited field starting here ends. */
function lengthEnd(pbf) { return pbf.readVarint() + pbf.pos; }

function readTags(pbf, end, layer, props) {
  while (pbf.pos < end) {
    var key = layer.keys[pbf.readVarint()];
    props[key] = layer.values[pbf.readVarint()];
  }
}

/* Geometry commands to parts: flat [x0, y0, x1, y1, …] per line, ring or point, tile units. */
function readParts(pbf, end) {
  var out = [], part = null, x = 0, y = 0;
  while (pbf.pos < end) {
    var cmd = pbf.readVarint(), count = cmd >> 3;
    cmd &= 7;
    if (cmd === CLOSE_PATH) { continue; }  // rings are closed when drawn
    for (var n = 0; n < count; n++) {
      x += pbf.readSVarint();
      y += pbf.readSVarint();
      if (cmd === MOVE_TO) { part = []; out.push(part); }
      part.push(x, y);
    }
  }
  return out;
}
