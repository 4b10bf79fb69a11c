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
