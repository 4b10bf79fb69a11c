/* The triage queue (受理): new reports, oldest first, worked from the keyboard — j/k or ↑/↓
 * move, a 立案 (u toggles 紧急), r 不予立案 (asks the reason), d 重复 (pick from the open cases
 * nearby), c 改类别, l 认领/释放, Esc cancels. The selected report and the open cases within the
 * radius are drawn on a mini map. All user text goes in with textContent (core.js el). */
import { api, button, dateTime, el, getJson, num, row, selectOf, t } from "./core.js";

const PAGE = 50;
const cfg = JSON.parse(document.getElementById("triage-config").textContent);
const state = { items: [], index: -1, next: null, nearby: [], mode: null, map: null,
                layer: null, urgent: false };
const $ = function (id) { return document.getElementById(id); };

function say(text, isError) {
  const box = $("triage-message");
  box.textContent = text;
  box.classList.toggle("error", !!isError);
}

/* --- the list ---------------------------------------------------------------------------- */
function queueUrl() {
  const q = new URLSearchParams({ limit: String(PAGE) });
  if ($("triage-source").value) { q.append("source", $("triage-source").value); }
  if ($("triage-category").value) { q.append("category", $("triage-category").value); }
  return "/api/triage?" + q.toString();
}

function load(url, append) {
  const to = new URL(url || queueUrl(), window.location.href);  // same origin behind a proxy
  return getJson(to.pathname + to.search).then(function (page) {
    state.items = append ? state.items.concat(page.items) : page.items;
    state.next = page.next;
    state.matched = page.numberMatched;
    renderList();
    if (!append || state.index < 0) { select(state.items.length ? 0 : -1); }
  }).catch(function (err) { say(t("cannotLoad") + err.message, true); });
}

function claimText(item) {
  if (!item.claimed_by) { return ""; }
  return t("{who} 至 {until}", { who: item.claimed_by === cfg.user ? t("我") : item.claimed_by,
                                until: dateTime(item.claimed_until).slice(11, 16) });
}

function renderList() {
  const tbody = document.querySelector("#triage-table tbody");
  tbody.textContent = "";
  state.items.forEach(function (item, k) {
    const tr = el("tr");
    tr.tabIndex = -1;
    tr.dataset.id = String(item.id);
    [["#" + item.id], [t(item.category_label)], [t(item.source_label)],
     [dateTime(item.reported_at).slice(0, 16)], [item.address], [item.description, "desc"],
     [claimText(item), item.claimed_by ? "held" : ""]].forEach(function (cell) {
      const td = el("td", cell[0], cell[1]);
      if (cell[1] === "desc") { td.title = item.description || ""; }
      tr.appendChild(td);
    });
    tr.addEventListener("click", function () { select(k); });
    tbody.appendChild(tr);
  });
  $("triage-count").textContent = t("待受理 {n} 件", { n: num(state.matched) });
  $("triage-empty").hidden = state.items.length > 0;
  $("triage-more").hidden = !state.next;
}

function select(k) {
  closeForm();
  state.index = k;
  const rows = document.querySelectorAll("#triage-table tbody tr");
  rows.forEach(function (tr, i) {
    tr.classList.toggle("selected", i === k);
    tr.setAttribute("aria-selected", i === k ? "true" : "false");
  });
  const item = state.items[k];
  if (!item) { $("triage-issue").textContent = ""; drawNearby(null, []); return; }
  rows[k].focus();
  rows[k].scrollIntoView({ block: "nearest" });
  state.urgent = item.urgency === "urgent";
  renderDetail(item);
  loadNearby(item);
}

function move(step) {
  const k = state.index + step;
  if (k >= 0 && k < state.items.length) { select(k); }
  else if (k >= state.items.length && state.next) {
    load(state.next, true).then(function () { select(Math.min(k, state.items.length - 1)); });
  }
}

/* --- the selected report ---------------------------------------------------------------- */
function renderDetail(item) {
  const box = $("triage-issue");
  box.textContent = "";
  box.appendChild(el("h2", "#" + item.id + " " + t(item.category_label), "triage-sub"));
  const table = el("table");
  [[t("来源"), t(item.source_label)], [t("上报人"), item.reporter],
   [t("上报时间"), dateTime(item.reported_at)], [t("地址"), item.address],
   [t("问题描述"), item.description], [t("责任单位"), item.unit || t("（未覆盖区域）")],
   [t("认领"), claimText(item) || t("（无人认领）")],
   [t("紧急程度"), t(state.urgent ? t("紧急") : t("一般"))]].forEach(function (pair) {
    if (pair[1]) { table.appendChild(row(t(pair[0]), pair[1])); }
  });
  box.appendChild(table);
  const actions = el("div", null, "triage-actions");
  [[t("立案 (a)"), accept], [t("紧急 (u)"), toggleUrgent], [t("不予立案 (r)"), rejectForm],
   [t("重复 (d)"), duplicateForm], [t("改类别 (c)"), categoryForm],
   [item.claimed_by === cfg.user ? t("释放 (l)") : t("认领 (l)"), toggleClaim]
  ].forEach(function (pair) { actions.appendChild(button(t(pair[0]), null, pair[1])); });
  box.appendChild(actions);
}

function current() { return state.items[state.index]; }

function toggleUrgent() {
  if (!current()) { return; }
  state.urgent = !state.urgent;
  renderDetail(current());
  say(t("立案时紧急程度：") + t(state.urgent ? t("紧急") : t("一般")));
}

/* After an action the report leaves the queue; the next one is selected. */
function done(item, text) {
  const k = state.items.indexOf(item);
  if (k >= 0) { state.items.splice(k, 1); }
  state.matched -= 1;
  renderList();
  select(Math.min(k, state.items.length - 1));
  say(text);
}

function act(action, body, text) {
  const item = current();
  if (!item) { return Promise.resolve(); }
  body.version = item.version;
  return api("POST", "/api/triage/" + item.id + "/" + action, body)
    .then(function (updated) {
      if (action === "category") {
        state.items[state.items.indexOf(item)] = updated;
        closeForm();
        renderList();
        select(state.index);
        say(text(updated));
      } else { done(item, text(updated)); }
    })
    .catch(function (err) { say(t("操作失败：") + err.message, true); });
}

function accept() {
  act("accept", { urgency: state.urgent ? "urgent" : "normal" }, function (u) {
    return "#" + u.id + t(" 已立案") + (u.urgency === "urgent" ? t("（紧急）") : "");
  });
}

function toggleClaim() {
  const item = current();
  if (!item) { return; }
  const mine = item.claimed_by === cfg.user;
  api(mine ? "DELETE" : "POST", "/api/issues/" + item.id + "/claim").then(function (c) {
    item.claimed_by = c.claimed_by;
    item.claimed_until = c.claimed_until;
    renderList();
    select(state.index);
    say("#" + item.id + (c.claimed_by ? t(" 已认领，至 {until}",
                                         { until: dateTime(c.claimed_until) }) : t(" 已释放")));
  }).catch(function (err) { say(t("操作失败：") + err.message, true); });
}

/* --- the forms: reason, duplicate, category ------------------------------------------------ */
function openForm(mode, field, label, submit) {
  closeForm();
  state.mode = mode;
  const form = el("form");
  form.appendChild(el("label", label));
  field.id = "triage-field";
  form.appendChild(field);
  const ok = el("button", t("submit"));
  ok.type = "submit";
  form.appendChild(ok);
  form.appendChild(button(t("取消 (Esc)"), "cancel", function () { closeForm(true); }));
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    submit(field.value);
  });
  if (field.tagName === "SELECT") {  // Enter on a list picks (a form submits on Enter in a field)
    field.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") { ev.preventDefault(); submit(field.value); }
    });
  }
  $("triage-form").appendChild(form);
  field.focus();
}

function closeForm(refocus) {
  state.mode = null;
  $("triage-form").textContent = "";
  const rows = document.querySelectorAll("#triage-table tbody tr");
  if (refocus && rows[state.index]) { rows[state.index].focus(); }
}

function rejectForm() {
  if (!current()) { return; }
  const input = el("input");
  input.required = true;
  input.placeholder = t("不予立案的理由（必填）");
  openForm("reject", input, t("理由"), function (reason) {
    if (!reason.trim()) { say(t("请填写不予立案的理由"), true); return; }
    act("reject", { reason: reason }, function (u) { return "#" + u.id + t(" 不予立案"); });
  });
}

function duplicateForm() {
  if (!current()) { return; }
  if (!state.nearby.length) { say(t("附近没有未结案件，无法标记重复"), true); return; }
  const pick = selectOf("into", state.nearby.map(function (f) {
    const p = f.properties;
    return [String(p.id), "#" + p.id + " " + t(p.category_label) + " · " + t(p.status_label) +
            " · " + t("{n} 米", { n: Math.round(p.distance_m) })];
  }));
  openForm("duplicate", pick, t("重复于"), function (into) {
    act("duplicate", { into: Number(into) }, function (u) {
      return "#" + u.id + t(" 已合并到 #{into}", { into: u.duplicate_of });
    });
  });
}

function categoryForm() {
  const item = current();
  if (!item) { return; }
  const pick = selectOf("category", Object.keys(cfg.categories).map(function (c) {
    return [c, t(cfg.categories[c])];
  }));
  pick.value = item.category;
  openForm("category", pick, t("新类别"), function (category) {
    act("category", { category: category }, function (u) {
      return "#" + u.id + t(" 已改为「{label}」", { label: t(u.category_label) });
    });
  });
}

/* --- the mini map --------------------------------------------------------------------------- */
function startMap() {
  if (typeof L === "undefined" || cfg.assetsMissing) { return; }
  state.map = L.map("triage-map", { zoomControl: true });
  cfg.basemap.forEach(function (b) {
    L.tileLayer(b.url, { attribution: b.attribution, subdomains: b.subdomains || "abc",
                         maxZoom: b.maxZoom }).addTo(state.map);
  });
  state.layer = L.layerGroup().addTo(state.map);
}

function loadNearby(item) {
  const url = "/api/triage/" + item.id + "/nearby?radius=" + cfg.radius + "&coords=" +
    encodeURIComponent(cfg.coords);
  getJson(url).then(function (doc) {
    if (current() !== item) { return; }
    drawNearby(doc.center, doc.features);
  }).catch(function (err) { say(t("cannotLoad") + err.message, true); });
}

function drawNearby(center, features) {
  state.nearby = features;
  const list = $("triage-nearby");
  list.textContent = "";
  features.forEach(function (f) {
    const p = f.properties;
    list.appendChild(el("li", "#" + p.id + " " + t(p.category_label) + " · " + t(p.status_label) +
                        " · " + t("{n} 米", { n: Math.round(p.distance_m) }) + " · " +
                        (p.address || ""),
                        p.same_category ? "same" : ""));
  });
  if (!features.length) { list.appendChild(el("li", t("none"))); }
  if (!state.map) { return; }
  state.layer.clearLayers();
  if (!center) { return; }
  const c = center.geometry.coordinates;
  L.circle([c[1], c[0]], { radius: cfg.radius, color: "#1a73e8", weight: 1, fill: false })
    .addTo(state.layer);
  features.forEach(function (f) {
    const xy = f.geometry.coordinates, p = f.properties;
    L.circleMarker([xy[1], xy[0]], { radius: 6, color: p.same_category ? "#c0392b" : "#555" })
      .bindTooltip(el("span", "#" + p.id + " " + t(p.category_label) + " · " + t(p.status_label)))
      .addTo(state.layer);
  });
  L.circleMarker([c[1], c[0]], { radius: 9, color: "#1a73e8", fillOpacity: 0.8 })
    .bindTooltip(el("span", "#" + center.properties.id + t(" 待受理"))).addTo(state.layer);
  // the whole search circle in view (at a fixed zoom 17 a 200 m circle overflowed the map)
  state.map.fitBounds(L.latLng(c[1], c[0]).toBounds(cfg.radius * 2), { padding: [6, 6] });
}

/* --- keys ----------------------------------------------------------------------------------- */
const KEYS = { j: function () { move(1); }, ArrowDown: function () { move(1); },
               k: function () { move(-1); }, ArrowUp: function () { move(-1); },
               a: accept, u: toggleUrgent, r: rejectForm, d: duplicateForm, c: categoryForm,
               l: toggleClaim };

function onKey(ev) {
  if (ev.key === "Escape" && state.mode) { ev.preventDefault(); closeForm(true); return; }
  const tag = (ev.target.tagName || "").toLowerCase();
  if (state.mode || ev.ctrlKey || ev.metaKey || ev.altKey || tag === "input" ||
      tag === "select" || tag === "textarea") { return; }
  const fn = KEYS[ev.key];
  if (fn) { ev.preventDefault(); fn(); }
}

function start() {
  Object.keys(cfg.sources).forEach(function (code) {
    const o = el("option", t(cfg.sources[code]));
    o.value = code;
    $("triage-source").appendChild(o);
  });
  Object.keys(cfg.categories).forEach(function (code) {
    const o = el("option", t(cfg.categories[code]));
    o.value = code;
    $("triage-category").appendChild(o);
  });
  $("triage-radius").textContent = String(cfg.radius);
  ["triage-source", "triage-category"].forEach(function (id) {
    $(id).addEventListener("change", function () { load(); });
  });
  $("triage-more").addEventListener("click", function () {
    if (state.next) { load(state.next, true); }
  });
  document.addEventListener("keydown", onKey);
  startMap();
  load();
}

start();
