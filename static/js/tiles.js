/* ccmap's vector-tile grid (an L.GridLayer of Mapbox Vector Tiles): each tile is fetched,
 * decoded and drawn by a tile worker (tile-worker.js, running tilework.js) on an
 * OffscreenCanvas and shown here as the ImageBitmap it made, so the page's main thread stays
 * free while a pan's tiles come in (decoding and drawing them took 200–400 ms of it a pan on a
 * 2-core machine without a GPU). Where a browser has no module workers or OffscreenCanvas,
 * the page does the same work itself, with the same code. The workers keep the decoded
 * features: a click is hit-tested there (grid.ccmapHit, a promise), and
 * grid.ccmapFeatures() (a promise) lists what the tiles in view hold; the page's counts come
 * from each tile's summary (grid.ccmapCurrent()). */
import { handle } from "./tilework.js";

/* --- the workers ------------------------------------------------------------------------ */
var LOCAL = "local";  // the page itself, when it cannot start workers
var pool = null;
var inits = [];  // each grid's "init" job, for every worker (and the page)

function canUseWorkers() {
  return typeof Worker !== "undefined" && typeof OffscreenCanvas !== "undefined" &&
    typeof OffscreenCanvas.prototype.transferToImageBitmap === "function";
}

/* The tile workers: two (a pan's tiles drawn on two cores), or none. */
function workers() {
  if (pool) { return pool; }
  pool = { list: [], next: 0, jobs: {}, seq: 0 };
  if (!canUseWorkers()) { return pool; }
  var n = Math.min(2, navigator.hardwareConcurrency || 2);
  for (var i = 0; i < n; i++) {
    try {
      var worker = startWorker();
      pool.list.push(worker);
      inits.forEach(function (body) { send(worker, body); });
    } catch {  // a browser that cannot start module workers: the page draws
      pool.list = [];
      break;
    }
  }
  return pool;
}

function startWorker() {
  var worker = new Worker(new URL("./tile-worker.js", import.meta.url), { type: "module" });
  worker.onmessage = function (event) {
    var job = pool.jobs[event.data.id];
    if (!job) { return; }
    delete pool.jobs[event.data.id];
    if (event.data.error !== undefined) { job.reject(new Error(event.data.error)); }
    else { job.resolve(event.data.result); }
  };
  worker.onerror = function (event) {  // it could not start: its jobs and the next on the page
    event.preventDefault();
    pool.list = pool.list.filter(function (w) { return w !== worker; });
    Object.keys(pool.jobs).forEach(function (id) {
      var job = pool.jobs[id];
      if (job.worker !== worker) { return; }
      delete pool.jobs[id];
      job.msg.owner(LOCAL);
      send(LOCAL, job.msg.body).then(job.resolve, job.reject);
    });
  };
  return worker;
}

/* The next tile worker for a new tile (round robin), or LOCAL when there are none. A worker
 * takes some hundred milliseconds to start (a thread, its scripts); a job sent before holds
 * until it is ready. The workers draw the first view's tiles too (the page drew those that
 * came before a worker was ready): the page's main thread stays free while the first view
 * comes in, and the first pan's tiles are not the first the workers' decoding and drawing
 * code meets (V8 runs a function's first calls unoptimised). A worker that cannot start
 * hands its jobs to the page (startWorker). */
function nextWorker() {
  var list = workers().list;
  if (!list.length) { return LOCAL; }
  pool.next = (pool.next + 1) % list.length;
  return list[pool.next];
}

/* Send job `body` to `target` (a worker or LOCAL): a promise of its result. `owner` (a
 * function) learns where the job ran if its worker fails and the page takes it over. */
function send(target, body, owner) {
  if (target === LOCAL) {
    return handle(body).then(function (done) { return done.result; });
  }
  var p = workers();
  return new Promise(function (resolve, reject) {
    var id = ++p.seq;
    p.jobs[id] = { resolve: resolve, reject: reject, worker: target,
                   msg: { body: body, owner: owner || function () {} } };
    target.postMessage(L.extend({ id: id }, body));
  });
}

/* A job for every worker started (and the page), e.g. a grid's cancel. */
function broadcast(body) {
  (pool ? pool.list : []).forEach(function (w) { send(w, body); });
  send(LOCAL, body);
}

var gridSeq = 0;

/* --- one request for two grids' tiles ------------------------------------------------- */
/* Grids made with option `share` ask for their tiles of one position made in the same task
 * (both grids follow a move in one event) as one request: the tile of both their lists of
 * layers (/api/tiles/<a>,<b>/z/x/y.mvt, their query parameters merged), which the server
 * assembles from its cache of each layer; one worker fetches and decodes it once, each job
 * drawing its own layers on its grid's canvas. A browser keeps 6 connections a host over
 * HTTP/1.1: a pan's 24 tile requests (base layers and issues) waited up to 200 ms for one. */
var TILE_PATH = /^\/api\/tiles\/([^/]+)\/(\d+\/\d+\/\d+)\.mvt$/;
var queued = [];  // draw jobs made in this task: {grid, seq, key, data, msg, tile, done}

function queueDraw(job) {
  if (!queued.length) { queueMicrotask(sendQueued); }
  queued.push(job);
}

/* The layer kinds of tile URL `url` (absolute), or null for another URL. */
function tileKinds(url) {
  var m = TILE_PATH.exec(new URL(url).pathname);
  return m ? decodeURIComponent(m[1]).split(",") : null;
}

/* The URL of one tile holding the layers of tile URLs a and b (same position, no layer in
 * both, no query parameter with two values), or null. */
function combinedUrl(a, b) {
  var ua = new URL(a), ub = new URL(b);
  var ma = TILE_PATH.exec(ua.pathname), mb = TILE_PATH.exec(ub.pathname);
  if (!ma || !mb || ua.origin !== ub.origin || ma[2] !== mb[2]) { return null; }
  var kindsB = decodeURIComponent(mb[1]).split(",");
  if (decodeURIComponent(ma[1]).split(",").some(function (k) { return kindsB.indexOf(k) >= 0; })) {
    return null;
  }
  var own = new Set(ua.searchParams.keys()), clash = false;
  own.forEach(function (k) {
    if (ub.searchParams.has(k) &&
        ub.searchParams.getAll(k).join("\n") !== ua.searchParams.getAll(k).join("\n")) {
      clash = true;
    }
  });
  if (clash) { return null; }
  ub.searchParams.forEach(function (v, k) { if (!own.has(k)) { ua.searchParams.append(k, v); } });
  ua.pathname = "/api/tiles/" + ma[1] + "," + mb[1] + "/" + ma[2] + ".mvt";
  return ua.href;
}

/* Send this task's draw jobs: two sharing grids' jobs of one position as one request (the
 * older grid's layers first, as the server caches that list), each other job alone. */
function sendQueued() {
  var jobs = queued, byTile = {}, groups = [];
  queued = [];
  jobs.forEach(function (job) {
    if (job.grid.ccmapData[job.key] !== job.data) { return; }  // it left the map meanwhile
    var pos = job.grid.options.share ? [job.key, job.msg.px, job.msg.ratio].join(" ") : null;
    var group = pos === null ? null : byTile[pos];
    if (group && group.length === 1 && group[0].grid !== job.grid) {
      var pair = [group[0], job].sort(function (p, q) { return p.seq - q.seq; });
      var url = combinedUrl(pair[0].msg.url, pair[1].msg.url);
      if (url) {
        group.url = url;
        group.push(job);
        return;
      }
    }
    group = [job];
    if (pos !== null) { byTile[pos] = group; }
    groups.push(group);
  });
  groups.forEach(function (group) {
    var at = group[0].grid.options.inPage ? LOCAL : nextWorker();
    group.forEach(function (job) {
      if (group.length > 1) {
        job.msg.only = tileKinds(job.msg.url);
        job.msg.url = group.url;
      }
      startDraw(job, at);
    });
  });
}

/* Have `at` (a worker or LOCAL) draw a tile's job; its picture goes onto the tile. */
function startDraw(job, at) {
  var data = job.data;
  data.at = at;
  if (at === LOCAL) { job.msg.canvas = job.tile; }  // the page draws on the tile itself
  send(at, job.msg, function (w) { data.at = w; })
    .then(function (r) {
      if (!r.image) { return; }  // cancelled: a newer drawing took over
      if (r.image !== job.tile) { showImage(job.tile, r.image); }
      data.summary = r.summary;
      job.done(null, job.tile);
    })
    .catch(function (err) { job.done(err, job.tile); });
}

/* --- the grid ------------------------------------------------------------------------- */
/* The methods of the grid layer (an L.GridLayer): made into a class on first use, so that the
 * module loads (and the page can say so) when Leaflet is missing. */
var GRID = {
  // inPage: drawn on the page, not in a worker (the offline app: its service worker surely
  // answers the page's requests; a worker's, not in every browser); share: a tile of one
  // request with another sharing grid's tile of the same position (see sendQueued)
  options: { tileSize: 256, zoomOffset: 0, statuses: {}, testPointColors: {}, inPage: false,
             share: false },

  initialize: function (url, options) {
    L.GridLayer.prototype.initialize.call(this, options);
    this._url = url;
    this._ccmapSeq = ++gridSeq;
    this._ccmapId = "g" + this._ccmapSeq;
    this.ccmapData = {};  // tile key -> {coords, px, summary, at: where its features are}
    var init = { type: "init", grid: this._ccmapId, statuses: this.options.statuses,
                 testPointColors: this.options.testPointColors };
    inits.push(init);  // (the workers start with the first tile drawn in one)
    broadcast(init);
    this.on("tileunload", function (e) {
      var key = this._tileCoordsToKey(e.coords), t = this.ccmapData[key];
      delete this.ccmapData[key];
      if (t && t.at) { send(t.at, { type: "drop", grid: this._ccmapId, key: key }); }
    });
  },

  setUrl: function (url, noRedraw) {
    this._url = url;
    if (!noRedraw) { this.redraw(); }
    return this;
  },

  /* Stop the tiles still on the way (a redraw or a new filter makes them useless). */
  ccmapCancel: function () {
    broadcast({ type: "cancel", grid: this._ccmapId });
  },

  createTile: function (coords, done) {
    var px = this.getTileSize().x, ratio = window.devicePixelRatio || 1;
    var tile = L.DomUtil.create("canvas", "leaflet-tile");
    tile.width = tile.height = Math.round(px * ratio);
    tile.style.width = tile.style.height = px + "px";
    var key = this._tileCoordsToKey(coords);
    // options.urlAt(z): the URL template of the tiles drawn at zoom z (null: nothing there)
    var template = this.options.urlAt ? this.options.urlAt(coords.z) : this._url;
    if (!template) {
      this.ccmapData[key] = { coords: coords, px: px, summary: { ids: {}, cells: 0 } };
      setTimeout(function () { done(null, tile); }, 0);
      return tile;
    }
    var url = L.Util.template(template, { x: coords.x, y: coords.y,
                                          z: coords.z + this.options.zoomOffset });
    var data = { coords: coords, px: px, summary: null, at: null };  // at: set when sent
    this.ccmapData[key] = data;
    queueDraw({ grid: this, seq: this._ccmapSeq, key: key, data: data, tile: tile, done: done,
                msg: { type: "draw", grid: this._ccmapId, key: key, z: coords.z, px: px,
                       url: new URL(url, location.href).href, ratio: ratio, only: null } });
    return tile;
  },

  /* The tiles of the current zoom in view, drawn: {coords, px, summary: {ids, cells}}. */
  ccmapCurrent: function () {
    var grid = this;
    return Object.keys(this.ccmapData).filter(function (key) {
      var t = grid._tiles[key];
      return t && t.current && t.coords.z === grid._tileZoom && grid.ccmapData[key].summary;
    }).map(function (key) { return grid.ccmapData[key]; });
  },

  /* Who drew the tiles in view: {workers: n, page: n} tiles. */
  ccmapDrawnBy: function () {
    var out = { workers: 0, page: 0 };
    this.ccmapCurrent().forEach(function (t) {
      if (t.at === LOCAL) { out.page += 1; } else if (t.at) { out.workers += 1; }
    });
    return out;
  },

  /* A promise of every feature of the tiles in view: {layer, id, props, type, style, parts}
   * with parts in map container pixels (a feature crossing tiles comes once per tile). */
  ccmapFeatures: function () {
    var map = this._map, grid = this, byKey = {}, targets = [], keys = [];
    if (!map) { return Promise.resolve([]); }
    this.ccmapCurrent().forEach(function (t) {  // one message to each worker that has tiles
      var key = grid._tileCoordsToKey(t.coords), i = targets.indexOf(t.at);
      byKey[key] = t;
      if (!t.at) { return; }
      if (i < 0) { targets.push(t.at); keys.push([key]); } else { keys[i].push(key); }
    });
    var asked = targets.map(function (at, i) {
      return send(at, { type: "features", grid: grid._ccmapId, keys: keys[i] });
    });
    return Promise.all(asked).then(function (answers) {
      var out = [];
      [].concat.apply([], answers).forEach(function (tile) {
        featuresOnMap(map, byKey[tile.key], tile, out);
      });
      return out;
    });
  },

  /* A promise of the top-most feature of MVT layers `names` (a list) under a container
   * point, or null. */
  ccmapHit: function (names, point) {
    var map = this._map;
    if (!map || this._tileZoom === undefined) { return Promise.resolve(null); }
    var z = this._tileZoom, px = this.getTileSize().x;
    var p = map.containerPointToLayerPoint(point).add(map.getPixelOrigin())
      .multiplyBy(map.getZoomScale(z, map.getZoom()));
    var key = this._tileCoordsToKey({ x: Math.floor(p.x / px), y: Math.floor(p.y / px), z: z });
    var t = this.ccmapData[key];
    if (!t || !t.at || !t.summary) { return Promise.resolve(null); }
    return send(t.at, { type: "hit", grid: this._ccmapId, key: key, names: names,
                        x: p.x - t.coords.x * px, y: p.y - t.coords.y * px });
  }
};
var Grid = null;

/* Show a tile's picture (an ImageBitmap from a worker, handed over without a copy; a canvas
 * when the page drew it). */
function showImage(tile, image) {
  if (typeof ImageBitmap !== "undefined" && image instanceof ImageBitmap) {
    tile.getContext("bitmaprenderer").transferFromImageBitmap(image);
  } else {
    tile.getContext("2d").drawImage(image, 0, 0);
  }
}

/* The features of a tile (as the worker keeps them, parts in tile units) into `out`, parts in
 * map container pixels. */
function featuresOnMap(map, t, tile, out) {
  var origin = map.getPixelOrigin(), offset = map._getMapPanePos();
  var zoomScale = map.getZoomScale(map.getZoom(), t.coords.z);
  var x0 = t.coords.x * t.px, y0 = t.coords.y * t.px;
  tile.layers.forEach(function (layer) {
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
}

/* A vector-tile grid of `url` (a {z}/{x}/{y} template), drawn in the styles of tilestyles.js
 * (options.statuses: the issue statuses and their colours; options.testPointColors: the
 * colour of each test-point category). */
export function grid(url, options) {
  if (!Grid) { Grid = L.GridLayer.extend(GRID); }
  return new Grid(url, options);
}
