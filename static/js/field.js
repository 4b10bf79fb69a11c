/* The offline inspection app (外业巡查, /field): the inspector's round on a map of vector
 * tiles, its stops with their checklists, reports with photos, and the queue that sends what
 * was made offline (static/js/field-queue.js). The page installs as an app; its service
 * worker (/field/sw.js) keeps the page, the round and the tiles of the round's area, so it
 * opens with no network. Settings come from the page (#field data-*): the photos' long edge
 * (CCMAP_FIELD_PHOTO_MAX_PX), the tile cache's bound (CCMAP_FIELD_TILE_CACHE_MB) and zooms. */
import { button, el, getJson, num, t } from "./core.js";
import { STATES, items, newItem, put, remove, sendItem, sync } from "./field-queue.js";
import { grid as vectorGrid } from "./tiles.js";

const TILE_CACHE = "ccmap-field-tiles";  // the service worker serves them (field-sw.js)
const DATA_CACHE = "ccmap-field-data";
const TILE_KINDS = "subdistrict,community,street,alley";
// 512 px (drawn at z + 1); no properties: the field map only draws them
const TILE_URL = "/api/tiles/" + TILE_KINDS + "/{z}/{x}/{y}.mvt?size=512&fields=";
const CACHED_KEY = "ccmap-field-cached";  // {tiles, bytes} of the last caching, for offline
const RESULTS = [["pass", t("合格")], ["fail", t("不合格")], ["na", t("不适用")]];

const root = document.getElementById("field");
const cfg = {
  photoPx: Number(root.dataset.photoPx) || 1600, tileMb: Number(root.dataset.tileMb) || 50,
  minZoom: Number(root.dataset.minZoom) || 13, maxZoom: Number(root.dataset.maxZoom) || 17
};
const state = { round: null, map: null, stopLayer: null, queue: [] };

/* A UI string with its {name} places filled in. */
function fill(text, values) {
  return text.replace(/\{(\w+)\}/g, function (m, k) { return String(values[k]); });
}

/* Show `text` (none: hide the box); `sync`: a message of syncing, which the next sync clears
 * (others, as why no round opened, stay until replaced). */
function message(text, sync) {
  const box = document.getElementById("field-message");
  box.textContent = text || "";
  box.hidden = !text;
  box.dataset.sync = sync ? "1" : "";
}

/* --- online / offline ------------------------------------------------------------------ */
function showNetwork() {
  const net = document.getElementById("field-net");
  net.textContent = navigator.onLine ? t("在线") : t("离线");
  net.className = "field-net " + (navigator.onLine ? "field-online" : "field-offline");
}

function runSync() {
  const box = document.getElementById("field-message");
  if (!navigator.onLine) {
    message(t("离线：联网后再同步"), true);
    return Promise.resolve();
  }
  if (box.dataset.sync) { message(""); }
  const btn = document.getElementById("field-sync");
  btn.disabled = true;  // until every item was tried
  return sync(renderItem).then(refreshQueue).finally(function () { btn.disabled = false; });
}

/* --- the round ------------------------------------------------------------------------- */
function loadRound() {
  const q = new URLSearchParams(window.location.search);
  const params = ["round", "team"].filter(function (k) { return q.get(k); })
    .map(function (k) { return k + "=" + encodeURIComponent(q.get(k)); }).join("&");
  const url = "/api/field/round" + (params ? "?" + params : "");
  return fetch(url, { credentials: "same-origin" })
    .then(function (r) {
      return r.json().then(function (b) {
        if (r.status === 404 && !params) { return showPicker(b.detail); }
        if (!r.ok) { throw new Error(b.detail || "HTTP " + r.status); }
        state.round = b;
        showRound();
        return keepRound(url, b);
      });
    })
    .catch(function (err) {
      document.getElementById("field-round-name").textContent = t("无法加载本轮检查");
      message((navigator.onLine ? "" : t("离线且本轮尚未缓存：")) + err.message);
    });
}

/* The round into the service worker's data cache (it may have loaded before the worker took
 * the page over): the page reloaded offline finds it there. */
function keepRound(url, doc) {
  if (!window.caches) { return null; }
  return caches.open(DATA_CACHE).then(function (cache) {
    return cache.put(url, new Response(JSON.stringify(doc), {
      headers: { "Content-Type": "application/json" } }));
  }).catch(function () { return null; });
}

function showPicker(reason) {
  document.getElementById("field-round-name").textContent = t("选择检查轮次");
  message(reason);
  const form = document.getElementById("field-pick");
  const rounds = form.querySelector("select[name=round]");
  const teams = form.querySelector("select[name=team]");
  document.getElementById("field-map").hidden = true;  // no round, no map (yet)
  return getJson("/api/plan/rounds").then(function (list) {
    if (!list.length) {  // nothing to pick: say so, and what works without a round
      document.getElementById("field-round-name").textContent = t("暂无检查轮次");
      message(t("暂无检查轮次：请规划人员在「测评计划」中生成轮次。没有轮次也可以上报问题。"));
      return;
    }
    list.forEach(function (r) {
      const o = el("option", fill(t("{name}（{n} 个组）"), { name: r.name, n: r.teams }));
      o.value = r.id;
      o.dataset.teams = r.teams;
      rounds.appendChild(o);
    });
    function fillTeams() {
      teams.replaceChildren();
      const n = Number((rounds.selectedOptions[0] || { dataset: {} }).dataset.teams || 0);
      for (let k = 1; k <= n; k++) {
        const o = el("option", fill(t("第 {n} 组"), { n: k }));
        o.value = k;
        teams.appendChild(o);
      }
    }
    rounds.addEventListener("change", fillTeams);
    fillTeams();
    form.hidden = false;
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      window.location.assign("/field?round=" + rounds.value + "&team=" + teams.value);
    });
  });
}

function showRound() {
  const r = state.round;
  document.getElementById("field-round-name").textContent = r.round.name;
  document.getElementById("field-team").textContent = r.team
    ? (r.team.inspector ? fill(t("{team}（{inspector}）"), { team: r.team.name,
                                                          inspector: r.team.inspector })
      : r.team.name)
    : t("全部检查组");
  drawMap(true);
  renderStops();
  showCached();
  if (navigator.onLine && r.bbox && !localStorage.getItem(CACHED_KEY + ":" + r.round.id)) {
    cacheTiles();
  }
}

/* --- the map --------------------------------------------------------------------------- */
/* The map of the round (made on first use): tiles, the team's route and its stops (green:
 * inspected or recorded); `fit`: show the round's area. */
function drawMap(fit) {
  if (typeof L === "undefined") { return; }
  const r = state.round;
  if (!state.map) {
    document.getElementById("field-map").hidden = false;
    state.map = L.map("field-map", { minZoom: cfg.minZoom, maxZoom: cfg.maxZoom + 1 });
    // in the main map's styles (tilestyles.js), drawn on the page: whether a dedicated
    // worker's requests go through the page's service worker (the offline tiles) is not the
    // same in every browser (Chromium: yes), and the offline map must not hang on it
    vectorGrid(TILE_URL, { tileSize: 512, zoomOffset: -1, minZoom: 1, inPage: true })
      .addTo(state.map);
  }
  if (state.stopLayer) { state.stopLayer.remove(); }
  const layer = state.stopLayer = L.layerGroup().addTo(state.map);
  if (r.path.length > 1) {
    L.polyline(r.path.map(function (p) { return [p[1], p[0]]; }),
               { color: "#2e7d32", weight: 3, opacity: 0.7 }).addTo(layer);
  }
  r.stops.forEach(function (s) {
    L.circleMarker([s.lat, s.lon], { radius: 9, color: "#fff", weight: 2, fillOpacity: 0.9,
                                     fillColor: stopDone(s) ? "#2e7d32" : "#c0392b" })
      .bindTooltip((s.seq || "") + " " + (s.name || ""), { permanent: false })
      .addTo(layer);
  });
  if (fit && r.bbox) {
    state.map.fitBounds([[r.bbox[1], r.bbox[0]], [r.bbox[3], r.bbox[2]]]);
  } else if (fit) {
    state.map.setView([0, 0], cfg.minZoom);
  }
}

/* --- stops and their checklists -------------------------------------------------------- */
function queuedInspection(stop) {
  return state.queue.filter(function (i) {
    return i.kind === "inspection" && i.body.feature_id === stop.id;
  })[0];
}

function stopDone(stop) { return Boolean(stop.inspection_id || queuedInspection(stop)); }

function renderStops() {
  const list = document.getElementById("field-stops");
  list.replaceChildren();
  if (!state.round) { return; }
  state.round.stops.forEach(function (s) {
    const li = el("li", null, "field-stop");
    li.dataset.stop = s.id;
    li.appendChild(el("strong", s.name || "#" + s.id));
    li.appendChild(el("span", " " + (s.category_label || s.category || ""), "field-muted"));
    const queued = queuedInspection(s);
    const status = s.inspection_id ? t("已检查") : queued ? t("已记录：") + STATES[queued.state]
      : t("待检查");
    li.appendChild(el("span", status, "field-stop-state"));
    if (!queued) {
      li.appendChild(button(t("检查"), "field-inspect", function () { inspectForm(s); }));
    }
    list.appendChild(li);
  });
}

function closeForm() {
  const box = document.getElementById("field-form");
  box.replaceChildren();
  box.hidden = true;
}

function formBox(title) {
  const box = document.getElementById("field-form");
  box.replaceChildren(el("h2", title));
  box.hidden = false;
  const form = el("form");
  box.appendChild(form);
  box.scrollIntoView({ block: "start" });
  return form;
}

function inspectForm(stop) {
  const items = state.round.checklists[stop.category] || [];
  const form = formBox(t("检查：") + (stop.name || "#" + stop.id));
  form.className = "field-checklist";
  items.forEach(function (item) {
    const row = el("fieldset", null, "field-item");
    row.appendChild(el("legend", item.label));
    RESULTS.forEach(function (pair, k) {
      const label = el("label", null, "field-choice");
      const input = el("input");
      input.type = "radio";
      input.name = item.code;
      input.value = pair[0];
      input.checked = k === 0;
      label.appendChild(input);
      label.appendChild(document.createTextNode(pair[1]));
      row.appendChild(label);
    });
    const note = el("input");
    note.name = "note_" + item.code;
    note.placeholder = t("说明（可选）");
    row.appendChild(note);
    form.appendChild(row);
  });
  formButtons(form, t("保存检查结果"), function () {
    const results = {};
    items.forEach(function (item) {
      results[item.code] = { result: form.querySelector("input[name='" + item.code +
                                                          "']:checked").value,
                             note: form.elements["note_" + item.code].value };
    });
    const body = { feature_id: stop.id, round_id: state.round.round.id, results: results };
    return position().then(function (where) {
      return saveItem(newItem("inspection", body, where, []));
    });
  });
}

function formButtons(form, label, save) {
  const row = el("div", null, "field-buttons");
  const ok = el("button", label);
  ok.type = "submit";
  row.appendChild(ok);
  row.appendChild(button(t("取消"), "field-cancel", closeForm));
  form.appendChild(row);
  const msg = el("p", null, "field-error");
  form.appendChild(msg);
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    ok.disabled = true;
    msg.textContent = "";
    save().then(closeForm, function (err) {
      msg.textContent = err.message || String(err);
      ok.disabled = false;
    });
  });
}

/* --- reports --------------------------------------------------------------------------- */
function reportForm() {
  const form = formBox(t("上报问题"));
  form.className = "field-report-form";
  const cat = el("select");
  cat.name = "category";
  categories().forEach(function (c) {
    const o = el("option", c.label);
    o.value = c.code;
    cat.appendChild(o);
  });
  const desc = el("textarea");
  desc.name = "description";
  desc.rows = 3;
  const photos = el("input");
  photos.type = "file";
  photos.name = "photos";
  photos.accept = "image/*";
  photos.multiple = true;
  photos.setAttribute("capture", "environment");
  [[t("问题类型"), cat], [t("问题描述"), desc], [t("照片"), photos]].forEach(function (p) {
    const label = el("label", p[0], "field-label");
    label.appendChild(p[1]);
    form.appendChild(label);
  });
  formButtons(form, t("保存（离线可用）"), function () {
    return Promise.all([position(), Promise.all(Array.from(photos.files).map(shrink))])
      .then(function (got) {
        const where = got[0];
        const body = { category: cat.value, description: desc.value, lon: where.lon,
                       lat: where.lat, reported_at: new Date().toISOString() };
        return saveItem(newItem("report", body, where, got[1]));
      });
  });
}

/* The device's position {lon, lat, accuracy (m)}; rejects with the reason. */
function position() {
  return new Promise(function (resolve, reject) {
    if (!navigator.geolocation) { reject(new Error(t("此设备无法定位"))); return; }
    navigator.geolocation.getCurrentPosition(function (p) {
      resolve({ lon: p.coords.longitude, lat: p.coords.latitude,
                accuracy: Math.round(p.coords.accuracy) });
    }, function (err) {
      reject(new Error(t("无法获取定位：") + err.message));
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 });
  });
}

/* A photo downscaled on the device to the long edge cfg.photoPx, as a JPEG blob. */
function shrink(file) {
  return createImageBitmap(file).then(function (img) {
    const scale = Math.min(1, cfg.photoPx / Math.max(img.width, img.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(img.width * scale));
    canvas.height = Math.max(1, Math.round(img.height * scale));
    canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
    img.close();
    return new Promise(function (resolve, reject) {
      canvas.toBlob(function (blob) {
        if (!blob) { reject(new Error(t("照片无法处理"))); return; }
        resolve({ id: crypto.randomUUID(), blob: blob, sent: false, width: canvas.width,
                  height: canvas.height,
                  name: (file.name || "photo").replace(/\.[^.]*$/, "") + ".jpg" });
      }, "image/jpeg", 0.85);
    });
  }, function () { throw new Error(t("照片无法读取：") + (file.name || "")); });
}

function saveItem(item) {
  return put(item).then(function () {
    message(t("已保存到本机，等待同步"));
    return refreshQueue();
  }).then(function () {
    if (navigator.onLine) { runSync(); }
  });
}

/* --- the queue ------------------------------------------------------------------------- */
function refreshQueue() {
  return items().then(function (all) {
    state.queue = all;
    const list = document.getElementById("field-queue");
    list.replaceChildren();
    all.slice().reverse().forEach(function (item) { list.appendChild(queueRow(item)); });
    const counts = {};
    all.forEach(function (i) { counts[i.state] = (counts[i.state] || 0) + 1; });
    document.getElementById("field-counts").textContent = Object.keys(STATES)
      .filter(function (s) { return counts[s]; })
      .map(function (s) { return STATES[s] + " " + counts[s]; }).join(" · ");
    renderStops();
    if (state.round) { drawMap(false); }
  });
}

function queueRow(item) {
  const li = el("li", null, "field-item-row field-" + item.state);
  li.dataset.id = item.id;
  li.dataset.state = item.state;
  const what = item.kind === "report"
    ? t("问题上报") + "：" + categoryLabel(item.body.category) +
      (item.photos.length ? fill(t("（{n} 张照片）"), { n: item.photos.length }) : "")
    : t("检查记录") + "：" + stopName(item.body.feature_id);
  li.appendChild(el("span", what, "field-what"));
  li.appendChild(el("span", STATES[item.state], "field-state"));
  const when = item.created_at.replace("T", " ").slice(0, 19);
  const p = item.position;
  li.appendChild(el("span", when + (p ? "  GPS ±" + p.accuracy + " m" : ""), "field-muted"));
  if (item.server_id) { li.appendChild(el("span", "#" + item.server_id, "field-muted")); }
  if (item.error) { li.appendChild(el("span", item.error, "field-error")); }
  if (item.state === "failed" || item.state === "conflict") {
    li.appendChild(button(t("重试"), "field-retry", function () {
      if (!navigator.onLine) { message(t("离线：联网后再同步"), true); return; }
      sendItem(item, renderItem).then(refreshQueue);
    }));
    li.appendChild(button(t("放弃"), "field-drop", function () {
      if (window.confirm(t("放弃这条记录？它不会再发送。"))) {
        remove(item.id).then(refreshQueue);
      }
    }));
  }
  return li;
}

function renderItem(item) {
  const old = document.querySelector("#field-queue li[data-id='" + item.id + "']");
  if (old) { old.replaceWith(queueRow(item)); }
}

/* The categories a report may take: the round's, or the page's where no round is open (a new
 * city has none yet). */
let pageCategories = null;  // parsed once: a queue row's label asks for them too
function categories() {
  if (state.round) { return state.round.categories; }
  if (!pageCategories) {
    pageCategories = JSON.parse(document.getElementById("field-categories").textContent);
  }
  return pageCategories;
}

function categoryLabel(code) {
  const c = categories().filter(function (x) {
    return x.code === code;
  })[0];
  return c ? c.label : code;
}

function stopName(id) {
  const s = (state.round ? state.round.stops : []).filter(function (x) { return x.id === id; })[0];
  return s ? s.name : "#" + id;
}

/* --- the tiles of the round's area, kept for offline use ---------------------------------- */
function tileList(bbox) {
  const out = [];
  for (let z = cfg.minZoom; z <= cfg.maxZoom; z++) {
    const n = Math.pow(2, z - 1);  // 512-pixel tiles: the server's tiles of zoom z - 1
    const x0 = lonToX(bbox[0], n), x1 = lonToX(bbox[2], n);
    const y0 = latToY(bbox[3], n), y1 = latToY(bbox[1], n);
    for (let x = x0; x <= x1; x++) {
      for (let y = y0; y <= y1; y++) {
        out.push(TILE_URL.replace("{z}", z - 1).replace("{x}", x).replace("{y}", y));
      }
    }
  }
  return out;
}

function lonToX(lon, n) { return Math.floor((lon + 180) / 360 * n); }

function latToY(lat, n) {
  const r = lat * Math.PI / 180;
  return Math.floor((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2 * n);
}

function cacheTiles() {
  const r = state.round;
  if (!r || !r.bbox || !window.caches) { return Promise.resolve(); }
  const urls = tileList(r.bbox), limit = cfg.tileMb * 1024 * 1024;
  const done = { tiles: 0, bytes: 0, full: false };
  const btn = document.getElementById("field-cache-tiles");
  btn.disabled = true;
  return caches.delete(TILE_CACHE).then(function () { return caches.open(TILE_CACHE); })
    .then(function (cache) {
      return urls.reduce(function (chain, url) {
        return chain.then(function () {
          if (done.full) { return null; }
          return fetch(url, { credentials: "same-origin" }).then(function (resp) {
            if (!resp.ok) { return null; }
            return resp.arrayBuffer().then(function (buf) {
              if (done.bytes + buf.byteLength > limit) { done.full = true; return null; }
              done.tiles += 1;
              done.bytes += buf.byteLength;
              return cache.put(url, new Response(buf, { headers: resp.headers }));
            });
          });
        });
      }, Promise.resolve());
    })
    .then(function () {
      localStorage.setItem(CACHED_KEY, JSON.stringify(done));
      localStorage.setItem(CACHED_KEY + ":" + r.round.id, "1");
      showCached();
    }, function (err) { message(t("地图缓存失败：") + err.message); })
    .finally(function () { btn.disabled = false; });
}

function showCached() {
  const got = JSON.parse(localStorage.getItem(CACHED_KEY) || "null");
  const mb = got ? (got.bytes / 1024 / 1024).toFixed(1) : "0.0";
  document.getElementById("field-cache").textContent =
    fill(t(got && got.full ? "已缓存 {n} 个瓦片 / {mb} MB（上限 {max} MB，已达上限）"
           : "已缓存 {n} 个瓦片 / {mb} MB（上限 {max} MB）"),
         { n: num(got ? got.tiles : 0), mb: mb, max: cfg.tileMb });
}

/* --- start ----------------------------------------------------------------------------- */
function start() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/field/sw.js", { scope: "/field" }).catch(function (err) {
      message(t("离线功能不可用：") + err.message);
    });
  }
  showNetwork();
  window.addEventListener("online", function () { showNetwork(); runSync(); });
  window.addEventListener("offline", showNetwork);
  document.getElementById("field-sync").addEventListener("click", runSync);
  document.getElementById("field-report").addEventListener("click", reportForm);
  document.getElementById("field-cache-tiles").addEventListener("click", cacheTiles);
  // the queue first (the stops show what is recorded), again once the round names its items
  refreshQueue().then(loadRound).then(refreshQueue).then(function () {
    root.dataset.ready = "1";
    if (navigator.onLine) { runSync(); }
  });
}

start();
