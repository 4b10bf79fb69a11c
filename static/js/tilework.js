/* The work of the page's vector-tile grids, off the page's main thread: fetch a tile, decode
 * it (mvt.js), draw it (tiledraw.js) onto an OffscreenCanvas and hand the picture back as an
 * ImageBitmap, with a summary of what it holds; keep the decoded features for clicks
 * (hit-testing) and the tests (features). Run by the tile workers (tile-worker.js); on a
 * browser without OffscreenCanvas or module workers, by the page itself (tiles.js), with the
 * same code.
 *
 * handle(msg) takes one job and resolves to {result, transfer}:
 *   {type: "init", grid, statuses, testPointColors} a grid's styles (its issue statuses' and
 *                                                   test-point categories' colours)
 *   {type: "draw", grid, key, url, z, px, ratio, only, canvas}
 *                                                   -> {image, summary} (null image: cancelled);
 *                                                   `only`: the layers (kinds) it draws, of a
 *                                                   tile it shares with another grid's job
 *                                                   (one fetch and decoding of the URL);
 *                                                   `canvas`: on the page, the tile's own,
 *                                                   drawn on and answered as the image
 *   {type: "drop", grid, key}                       the tile left the map
 *   {type: "cancel", grid}                          stop the grid's tiles on the way
 *   {type: "hit", grid, key, x, y, names}           -> the top-most feature of `names` there
 *   {type: "features", grid, keys}                  -> the decoded features of those tiles */
import { featureOf, idOf, readTile } from "./mvt.js";
import { drawTile, hits, makeCanvas } from "./tiledraw.js";
import { tileStyle } from "./tilestyles.js";

const CELLS = "issue_cells";  // the MVT layer of issue counts in an issues tile
// and the neighbouring tiles' cells around it: drawn (their circles reach in), never counted
const EDGE_CELLS = "issue_cells_edge";

// the MVT layers of an issues tile that hold cells (what a click on a bubble may hit)
export const CELL_LAYERS = [CELLS, EDGE_CELLS];

/* Whether MVT layer `name` holds issue cells (the tile's own or its neighbours'). */
function isCells(name) { return CELL_LAYERS.indexOf(name) >= 0; }
const grids = {};  // grid id -> {cfg, styles, tiles: {key: {layers, px}}, pending, abort}

function gridOf(id) {
  let g = grids[id];
  if (!g) {
    g = grids[id] = { cfg: { statuses: {}, testPointColors: {} }, styles: {}, tiles: {},
                      pending: {}, abort: new AbortController() };
  }
  return g;
}

/* The style function of the features of MVT layer `name` (issue cells: the issues'). */
function stylesOf(g) {
  return function (name) {
    const kind = isCells(name) ? "issues" : name;
    return g.styles[kind] || (g.styles[kind] = tileStyle(kind, g.cfg));
  };
}

/* What a tile holds, for the page's counts: the ids of each layer's features and the sum of
 * its own issue cells' counts (its neighbours' around it are theirs). */
function summarize(layers) {
  const ids = {}, transfer = [];
  let cells = 0;
  layers.forEach(function (layer) {
    if (layer.name === CELLS) {
      for (let i = 0; i < layer.length; i++) { cells += layer.props[i].count || 0; }
      return;
    }
    if (layer.name === EDGE_CELLS) { return; }
    const list = ids[layer.name] = layer.ids.slice();  // (a copy: the tile keeps its own)
    transfer.push(list.buffer);
  });
  return { summary: { ids: ids, cells: cells }, transfer: transfer };
}

/* The count of each issue cell, written over its circle (a count too wide for its circle is
 * left to the popup, "N 件"). */
function cellLabels(ctx, layers, px) {
  ctx.font = "bold 11px sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  layers.forEach(function (layer) {
    if (!isCells(layer.name)) { return; }
    const scale = px / layer.extent;
    for (let i = 0; i < layer.length; i++) {
      const text = String(layer.props[i].count), st = layer.styles && layer.styles[i];
      const part = layer.featureAt[i], at = layer.partAt[part];
      if (part < layer.featureAt[i + 1] && st && text.length * 7 <= 2 * st.radius) {
        ctx.fillStyle = st.label || "#fff";
        ctx.fillText(text, layer.coords[at] * scale, layer.coords[at + 1] * scale);
      }
    }
  });
}

/* The canvas a tile of `side` device pixels is drawn on. On the page, the tile's own canvas
 * (`own`: nothing to copy or hand over; a copy of each of the first view's tiles cost the
 * page's main thread about 8 ms). In a worker, one a size, drawn again for every tile and
 * handed over as a copy: a new OffscreenCanvas (or one whose picture was transferred) cost
 * Chromium about 6 ms at its first drawing call (its backing store) and 5 ms more at the
 * transfer, a tile, on a 2-core machine without a GPU; the copy about 7 ms in all. A job the
 * page took over from a failed worker, without OffscreenCanvas: a new canvas. */
const reused = {};

function tileCanvas(side, own) {
  if (own) { return own; }
  if (typeof OffscreenCanvas === "undefined") { return makeCanvas(side, side); }
  return reused[side] || (reused[side] = makeCanvas(side, side));
}

/* The decoded layers of tile `url`: one fetch and decoding for the jobs asking for it at the
 * same time (two grids' tiles of one position, as tiles.js pairs them), which rejects with an
 * AbortError when `signal` (the job's grid's) aborts; the fetch stops when every job asking
 * for it has. */
const fetching = {};  // url -> {users, controller, layers: a promise}

function tileLayers(url, signal) {
  let f = fetching[url];
  if (!f) {
    const controller = new AbortController();
    f = fetching[url] = { users: 0, controller: controller };
    f.layers = fetch(url, { credentials: "same-origin", signal: controller.signal })
      .then(function (r) {
        if (!r.ok) { throw new Error(url.split("?")[0] + ": HTTP " + r.status); }
        return r.arrayBuffer();
      })
      .then(function (buffer) {
        keepForRehearsal(buffer);
        return readTile(buffer);
      });
    const settled = function () { if (fetching[url] === f) { delete fetching[url]; } };
    f.layers.then(settled, settled);
  }
  const entry = f;
  entry.users += 1;
  let onAbort = null;
  const aborted = new Promise(function (resolve, reject) {
    onAbort = function () {
      entry.users -= 1;
      if (entry.users === 0) {  // (a job asking for the URL from now on fetches it anew)
        if (fetching[url] === entry) { delete fetching[url]; }
        entry.controller.abort();
      }
      reject(new DOMException("the grid's tiles were cancelled", "AbortError"));
    };
    if (signal.aborted) { onAbort(); } else { signal.addEventListener("abort", onAbort); }
  });
  // (the listener goes with the job: it would keep the tile's features alive)
  return Promise.race([entry.layers, aborted]).finally(function () {
    signal.removeEventListener("abort", onAbort);
  });
}

/* --- the rehearsal --------------------------------------------------------------------- */
/* A tile worker decodes and draws the first view's tiles a few times more once it is idle,
 * onto a canvas of its own: V8 optimises a function only after it has run for a while, so
 * without it the user's first moves ran the decoding and drawing code unoptimised, and paid
 * for its optimising (a run's ten pans, page and workers: 12-18 % less CPU and 13-20 % less
 * time with it, see README "Status"). Workers only (the page's own thread is not spent on
 * it); at most REHEARSAL_TILES tiles, REHEARSAL_ROUNDS times, one tile a task; a real job
 * ends it. */
const REHEARSAL_IDLE_MS = 150;  // after the last drawing
const REHEARSAL_TILES = 8;
const REHEARSAL_ROUNDS = 4;
const rehearsal = { on: false, done: false, interrupted: false, tiles: [], timer: null };

/* Let this worker rehearse (tile-worker.js: a worker's thread, not the page's). */
export function rehearseInThisWorker() { rehearsal.on = true; }

function keepForRehearsal(buffer) {
  if (rehearsal.on && !rehearsal.done && rehearsal.tiles.length < REHEARSAL_TILES) {
    rehearsal.tiles.push({ buffer: buffer });
  }
}

function rehearseWhenIdle(g, z, px) {
  if (!rehearsal.on || rehearsal.done) { return; }
  rehearsal.tiles.forEach(function (t) { if (!t.g) { t.g = g; t.z = z; t.px = px; } });
  clearTimeout(rehearsal.timer);
  rehearsal.interrupted = false;
  rehearsal.timer = setTimeout(rehearse, REHEARSAL_IDLE_MS);
}

function rehearse() {
  const tiles = rehearsal.tiles.filter(function (t) { return t.g; });
  rehearsal.done = true;
  rehearsal.tiles = [];
  if (!tiles.length) { return; }
  const canvas = makeCanvas(512, 512), ctx = canvas.getContext("2d");
  let n = 0;
  const step = function () {
    if (rehearsal.interrupted || n >= tiles.length * REHEARSAL_ROUNDS) { return; }
    const t = tiles[n % tiles.length];
    try {
      const layers = readTile(t.buffer);
      ctx.clearRect(0, 0, 512, 512);
      drawTile(ctx, layers, stylesOf(t.g), t.z, t.px);
      cellLabels(ctx, layers, t.px);
    } catch {  // a rehearsal only: an error in the worker's own task would end the worker
      return;
    }
    n += 1;
    setTimeout(step, 0);
  };
  step();
}

/* A job's layers of a tile: all, or those of the kinds in `only` (issues: with their cells). */
function ownLayers(layers, only) {
  if (!only) { return layers; }
  return layers.filter(function (l) {
    return only.indexOf(isCells(l.name) ? "issues" : l.name) >= 0;
  });
}

async function draw(msg) {
  const g = gridOf(msg.grid), job = {};
  rehearsal.interrupted = true;
  g.pending[msg.key] = job;
  let layers;
  try {
    layers = ownLayers(await tileLayers(msg.url, g.abort.signal), msg.only);
  } catch (err) {
    if (g.pending[msg.key] === job) { delete g.pending[msg.key]; }
    if (err && err.name === "AbortError") { return { result: { image: null } }; }
    throw err;
  }
  const side = Math.round(msg.px * msg.ratio);
  const canvas = tileCanvas(side, msg.canvas), ctx = canvas.getContext("2d");
  ctx.setTransform(msg.ratio, 0, 0, msg.ratio, 0, 0);
  ctx.clearRect(0, 0, msg.px, msg.px);
  drawTile(ctx, layers, stylesOf(g), msg.z, msg.px);
  cellLabels(ctx, layers, msg.px);
  rehearseWhenIdle(g, msg.z, msg.px);
  if (g.pending[msg.key] === job) {  // (not dropped meanwhile)
    delete g.pending[msg.key];
    g.tiles[msg.key] = { layers: layers, px: msg.px };
  }
  // the copy is taken now (the next tile may draw on the canvas while it is handed over)
  const image = canvas === reused[side] ? await createImageBitmap(canvas) : canvas;
  const sum = summarize(layers);
  return { result: { image: image, summary: sum.summary },
           transfer: (image === canvas ? [] : [image]).concat(sum.transfer) };
}

/* The top-most feature of MVT layers `names` under tile pixel (x, y), or null. */
function hit(msg) {
  const t = gridOf(msg.grid).tiles[msg.key];
  if (!t) { return null; }
  for (let l = t.layers.length - 1; l >= 0; l--) {
    const layer = t.layers[l];
    if (msg.names.indexOf(layer.name) < 0) { continue; }
    for (let i = layer.length - 1; i >= 0; i--) {
      if (hits(layer, i, msg.x, msg.y, t.px / layer.extent)) {
        return { layer: layer.name, id: idOf(layer, i), properties: layer.props[i],
                 style: layer.styles[i] };
      }
    }
  }
  return null;
}

/* The features of tiles `keys`: [{key, px, layers: [{name, extent, features}]}]. */
function features(msg) {
  const g = gridOf(msg.grid);
  return msg.keys.filter(function (key) { return g.tiles[key]; }).map(function (key) {
    const t = g.tiles[key];
    return { key: key, px: t.px, layers: t.layers.map(function (layer) {
      const list = [];
      for (let i = 0; i < layer.length; i++) {
        const f = featureOf(layer, i);
        f.style = layer.styles ? layer.styles[i] : undefined;
        list.push(f);
      }
      return { name: layer.name, extent: layer.extent, features: list };
    }) };
  });
}

/* Do one job of a grid (see the top of this file). */
export async function handle(msg) {
  const g = gridOf(msg.grid);
  if (msg.type === "draw") { return draw(msg); }
  if (msg.type === "hit") { return { result: hit(msg) }; }
  if (msg.type === "features") { return { result: features(msg) }; }
  if (msg.type === "init") {
    g.cfg = { statuses: msg.statuses || {}, testPointColors: msg.testPointColors || {} };
    g.styles = {};
  } else if (msg.type === "drop") {
    delete g.tiles[msg.key];
    delete g.pending[msg.key];
  } else if (msg.type === "cancel") {
    g.abort.abort();
    g.abort = new AbortController();
  }
  return { result: null };
}
