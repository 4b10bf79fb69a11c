/* The issue panel on the map's left: filters (type, status, source, community, unit, zone,
 * dates, overdue, recurring), the week replay, the choropleth's level and metric, exports
 * (CSV/Excel, snapshots, data, the weekly bulletin) and the ledger import with its progress.
 * The filters go into state.issueFilter ("&category=…"), read by every issue layer. */
import { LOCALE, api, el, isoDay, num, parseDay, selectOf, t, toast } from "./core.js";

const FILTER_DELAY_MS = 200;  // a burst of filter changes loads once
const ZONE_OPTIONS = 20;  // zone names offered at a time (a city has thousands)
const WEEKS = 26;  // the week replay goes back this many weeks

/* A row problem as a line (its reason comes in the page's language from the server). */
function rowText(e) {
  return t("第{row}行 {column}：{reason}", { row: e.row, column: e.column || "", reason: e.reason });
}

/* Poll a job (GET /api/jobs/{id}) until it is done or failed; onProgress sees each state. */
function followJob(url, onProgress) {
  return new Promise(function (resolve, reject) {
    function poll() {
      api("GET", url).then(function (job) {
        onProgress(job);
        if (job.state === "done") { resolve(job); return; }
        if (job.state === "failed") {
          var err = new Error(job.message || t("导入失败"));
          err.problems = (job.result && (job.result.problems || job.result.row_errors)) || [];
          reject(err);
          return;
        }
        setTimeout(poll, 500);
      }).catch(reject);
    }
    poll();
  });
}

/* A progress bar with a line of text and the row problems under the import button. */
function importProgress(anchor) {
  var box = anchor.parentNode.querySelector(".ccmap-import-progress");
  if (!box) {
    box = el("div", null, "ccmap-import-progress");
    box.appendChild(el("progress"));
    box.appendChild(el("div", null, "ccmap-import-status"));
    box.appendChild(el("ul", null, "ccmap-import-errors"));
    anchor.parentNode.insertBefore(box, anchor.nextSibling);
  }
  var bar = box.querySelector("progress");
  var text = box.querySelector(".ccmap-import-status");
  var list = box.querySelector(".ccmap-import-errors");
  list.textContent = "";
  return {
    update: function (message, fraction) {
      text.textContent = message;
      if (fraction === null) { bar.removeAttribute("value"); } else { bar.value = fraction; }
    },
    problems: function (rows) {
      list.textContent = "";
      rows.slice(0, 20).forEach(function (e) { list.appendChild(el("li", rowText(e))); });
      if (rows.length > 20) { list.appendChild(el("li", t("…共 {n} 处", { n: num(rows.length) }))); }
    }
  };
}

/* A <select> of an object's {code: label}, after an option "" of `allLabel` if given. */
function select(name, options, allLabel) {
  return selectOf(name, (allLabel ? [["", allLabel]] : []).concat(Object.keys(options).map(
    function (code) { return [code, options[code]]; })));
}

/* The snapshot of what the page shows now: its extent, visible layers and issue filters. */
export function snapshotUrl(state, fmt) {
  var b = state.map.getBounds();
  var visible = state.config.layers.filter(function (l) {
    return state.map.hasLayer(state.layers[l.kind]);
  }).map(function (l) { return l.kind; });
  return "/api/export/map?format=" + fmt + "&bbox=" +
    [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]
      .map(function (v) { return v.toFixed(6); }).join(",") +
    "&layers=" + encodeURIComponent(visible.join(",")) + (state.issueFilter || "") +
    (fmt === "pdf" ? "&" + (state.snapshotPaper || "paper=A4&landscape=true") : "");
}

/* The data of what the page shows (extent, visible layers, issue filters) as a download. */
function dataUrl(state, fmt) {
  var kinds = state.config.layers.filter(function (l) {
    return state.map.hasLayer(state.layers[l.kind]) && state.config.kinds.indexOf(l.kind) >= 0;
  }).map(function (l) { return l.kind; });
  var b = state.map.getBounds();
  return "/api/export/data?format=" + fmt + "&coords=" + encodeURIComponent(state.config.coords ===
    "gcj02" ? "gcj02" : "wgs84") + "&bbox=" + [b.getWest(), b.getSouth(), b.getEast(),
    b.getNorth()].map(function (v) { return v.toFixed(6); }).join(",") +
    "&layers=" + encodeURIComponent(kinds.join(",")) + (state.issueFilter || "");
}



/* What is wrong with the from/to date fields, in words, or null. */
function dateProblem(from, to) {
  var wrong = null;
  [from, to].forEach(function (input) {
    var text = input.value.trim();
    var bad = text !== "" && !parseDay(text);
    input.classList.toggle("ccmap-invalid", bad);
    input.setAttribute("aria-invalid", bad ? "true" : "false");
    if (bad && !wrong) {
      wrong = t("{field}「{text}」不是有效日期：请按 YYYY-MM-DD 填写（如 2026-01-05），筛选未更新",
                { field: input.title, text: text });
    }
  });
  if (!wrong && from.value.trim() && to.value.trim() &&
      parseDay(from.value.trim()) > parseDay(to.value.trim())) {
    wrong = t("起始日期晚于截止日期，筛选未更新");
    from.classList.add("ccmap-invalid");
  }
  return wrong;
}

/* A date field that shows and takes YYYY-MM-DD whatever the browser's language: a text
 * field checked by dateProblem, with flatpickr's calendar (in the page's language) to pick a day. The
 * calendar only writes into the field; what is typed is never parsed by it, so a wrong date
 * stays on screen with its message instead of being dropped. */
function dateField(name, title, mark) {
  var wrap = el("span", null, "ccmap-date");
  var input = el("input");
  input.type = "text";
  input.name = name;
  input.title = title;
  input.placeholder = mark + " YYYY-MM-DD";
  input.setAttribute("pattern", "\\d{4}-\\d{2}-\\d{2}");
  input.setAttribute("inputmode", "numeric");
  input.autocomplete = "off";
  input.maxLength = 10;
  wrap.appendChild(input);
  if (typeof flatpickr === "undefined") { return wrap; }
  var anchor = el("input");  // flatpickr's own field; the calendar shows under `input`
  wrap.appendChild(anchor);
  var picker = flatpickr(anchor, {
    dateFormat: "Y-m-d",
    locale: L.extend({}, LOCALE === "zh-CN" ? (flatpickr.l10ns || {}).zh : {}, { firstDayOfWeek: 1 }),
    clickOpens: false, disableMobile: true, positionElement: input,
    ignoredFocusElements: [input],
    onChange: function (days, text) {
      input.value = text;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }
  });
  anchor.type = "hidden";  // (flatpickr makes it a text field)
  input.addEventListener("focus", function () { picker.open(); });
  input.addEventListener("click", function () { picker.open(); });
  input.addEventListener("input", function () {  // the calendar follows what is typed
    var day = parseDay(input.value.trim());
    if (day) { picker.setDate(day, false); } else if (!input.value.trim()) { picker.clear(false); }
  });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" || ev.key === "Tab") { picker.close(); }
  });
  return wrap;
}

/* The zone filter: type the start of a zone's name, pick one of the matches the server
 * offers (ZONE_OPTIONS at a time, and how many more match); the zone's id goes in the
 * hidden field `zone`. An unknown name is said under the field and changes nothing. */
function zoneField() {
  var wrap = el("div", null, "ccmap-zone-filter");
  var input = el("input");
  input.type = "text";
  input.name = "zone_name";
  input.placeholder = t("责任区（输入名称）");
  input.title = t("责任区");
  input.autocomplete = "off";
  input.setAttribute("list", "ccmap-zone-options");
  var list = el("datalist");
  list.id = "ccmap-zone-options";
  var id = el("input");
  id.type = "hidden";
  id.name = "zone";
  var hint = el("div", null, "ccmap-zone-hint");
  hint.setAttribute("aria-live", "polite");
  [input, list, id, hint].forEach(function (n) { wrap.appendChild(n); });
  var found = {}, asked = 0, timer = null;

  function say(text, wrong) {
    hint.textContent = text;
    hint.classList.toggle("ccmap-filter-error", !!wrong);
  }
  function search(prefix) {
    var n = (asked += 1);
    return api("GET", "/api/layers/zone/names?limit=" + ZONE_OPTIONS + "&prefix=" +
               encodeURIComponent(prefix)).then(function (doc) {
      if (n !== asked) { return null; }  // an older answer than the last question
      list.textContent = "";
      found = {};
      var times = {};
      doc.items.forEach(function (z) { times[z.name] = (times[z.name] || 0) + 1; });
      doc.items.forEach(function (z) {
        var value = times[z.name] > 1 ? z.name + " #" + z.id : z.name;  // same names
        found[value] = z.id;
        var o = el("option");
        o.value = value;
        if (z.unit) { o.label = z.unit; }
        list.appendChild(o);
      });
      var more = doc.numberMatched - doc.numberReturned;
      say(more > 0 ? t("另有 {n} 个责任区匹配，请继续输入", { n: num(more) }) :
          doc.numberMatched ? "" : t("没有名称以「{prefix}」开头的责任区", { prefix: prefix }), false);
      return doc;
    }).catch(function (err) { say(t("无法查询责任区：") + err.message, true); return null; });
  }
  function choose(zoneId) {
    id.value = zoneId === null ? "" : String(zoneId);
    wrap.dispatchEvent(new Event("ccmap:apply", { bubbles: true }));
  }
  input.addEventListener("focus", function () { if (!list.firstChild) { search(""); } });
  input.addEventListener("input", function () {
    var text = input.value.trim();
    if (found[text] !== undefined) { choose(found[text]); return; }  // picked from the list
    clearTimeout(timer);
    timer = setTimeout(function () { search(text); }, FILTER_DELAY_MS);
  });
  input.addEventListener("change", function () {
    clearTimeout(timer);  // this search answers for the field; a later one would drop it
    var text = input.value.trim();
    if (!text) { say("", false); choose(null); return; }
    if (found[text] !== undefined) { choose(found[text]); return; }
    search(text).then(function (doc) {  // a whole name typed without picking it
      if (!doc) { return; }
      var same = doc.items.filter(function (z) { return z.name === text; });
      if (same.length === 1) { choose(same[0].id); return; }
      say(same.length ? t("有 {n} 个同名责任区，请在列表中选择", { n: same.length }) :
          t("找不到责任区「{name}」，筛选未更新", { name: text }), true);
    });
  });
  return wrap;
}

/* The filter panel's height: what the map leaves under the other controls on its left, so
 * the buttons under it stay on screen (the panel scrolls instead). */
function fitPanel(state, box) {
  var col = box.parentNode;
  if (!col) { return; }
  var container = state.map.getContainer();
  var corner = container.querySelector(".leaflet-bottom.leaflet-left");
  var used = 0;
  Array.prototype.forEach.call(col.children, function (c) {
    if (c !== box) { used += c.offsetHeight + 10; }  // 10: a control's top margin
  });
  var room = container.clientHeight - used - 20 - (corner ? corner.offsetHeight : 0);
  box.style.maxHeight = Math.max(180, room) + "px";
}


function nextDay(d) { return new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1); }

/* The filter panel as a Leaflet control at the top left, as tall as the map leaves it. */
export function filterControl(state) {
  const ctl = L.control({ position: "topleft" });
  ctl.onAdd = function () { return filterPanel(state); };
  ctl.addTo(state.map);
  const panel = ctl.getContainer();
  function fit() {
    fitPanel(state, panel);
    if (state.fitLegends) { state.fitLegends(); }  // the legends keep right of the panel
  }
  state.map.on("resize", fit);
  setTimeout(fit, 0);  // once the controls added after this one (zones, plan) are there
  // and whenever the bottom-left corner changes (the gaps' list comes and goes)
  const corner = state.map.getContainer().querySelector(".leaflet-bottom.leaflet-left");
  if (corner) { new ResizeObserver(fit).observe(corner); }
}

function filterPanel(state) {
  const cfg = state.config;
  const box = el("form", null, "ccmap-filter");
  box.noValidate = true;  // the page says what is wrong with a date (dateProblem)
  box.addEventListener("submit", function (ev) { ev.preventDefault(); });
  box.appendChild(el("div", t("问题筛选"), "ccmap-legend-title"));
  box.appendChild(filterSelects(cfg));
  box.appendChild(zoneField());
  const dates = el("div", null, "ccmap-filter-grid ccmap-dates");
  dates.appendChild(dateField("from", t("起始日期"), t("起")));
  dates.appendChild(dateField("to", t("截止日期（含当天）"), t("止")));
  box.appendChild(dates);
  const problem = el("div", null, "ccmap-filter-error");
  problem.setAttribute("role", "alert");
  problem.hidden = true;
  box.appendChild(problem);
  box.appendChild(filterChecks());
  const week = weekReplay(state, box);
  const choro = choroplethSelects(state, box);
  box.appendChild(exportLinks(state));
  if (state.layers.choropleth) { box.appendChild(snapshotLinks(state)); }
  if (cfg.canReport) { box.appendChild(importControl(state)); }
  watchFilters(state, box, { week: week, problem: problem, choro: choro });
  L.DomEvent.disableClickPropagation(box);
  L.DomEvent.disableScrollPropagation(box);
  return box;
}

const FILTER_TITLES = { category: t("类型"), status: t("状态"), source: t("来源"),
                        community: t("社区"), unit: t("责任单位") };

/* The selects of issue type, status, source, community and unit ("全部…": any). */
function filterSelects(cfg) {
  const named = function (list) {
    return (list || []).reduce(function (o, n) { o[n] = n; return o; }, {});
  };
  const statuses = Object.keys(cfg.statuses).reduce(function (o, k) {
    o[k] = cfg.statuses[k].label; return o;
  }, {});
  const grid = el("div", null, "ccmap-filter-grid");
  [select("category", cfg.issueCategories, t("全部类型")), select("status", statuses, t("全部状态")),
   select("source", cfg.sources, t("全部来源")), select("community", named(cfg.communities), t("全部社区")),
   select("unit", named(cfg.units), t("全部责任单位"))].forEach(function (s) {
    s.title = FILTER_TITLES[s.name];
    grid.appendChild(s);
  });
  return grid;
}

function filterChecks() {
  const checks = el("div", null, "ccmap-filter-row");
  [["overdue", t("只看超期")], ["recurring", t("只看回潮")]].forEach(function (pair) {
    const label = el("label");
    const cb = el("input");
    cb.type = "checkbox";
    cb.name = pair[0];
    label.appendChild(cb);
    label.appendChild(el("span", pair[1]));
    checks.appendChild(label);
  });
  return checks;
}

/* The week slider (the last WEEKS weeks; at the right end: all time) and its play button,
 * which steps a week at a time once the map has drawn the week before. */
function weekReplay(state, box) {
  box.appendChild(el("div", t("按周回放（近 {n} 周）", { n: WEEKS }), "ccmap-legend-title"));
  const slider = el("input", null, "ccmap-week-slider");
  slider.type = "range";
  slider.name = "week";
  slider.min = "0";
  slider.max = String(WEEKS);
  slider.value = String(WEEKS);
  const label = el("div", t("allTime"), "ccmap-week-label");
  const play = el("button", t("▶ 播放"), "ccmap-play");
  play.type = "button";
  box.appendChild(slider);
  const row = el("div", null, "ccmap-filter-row");
  row.appendChild(label);
  row.appendChild(play);
  box.appendChild(row);
  function stop() {
    clearInterval(state.playing);
    state.playing = null;
    play.textContent = t("▶ 播放");
  }
  play.addEventListener("click", function () {
    if (state.playing) { stop(); return; }
    slider.value = "0";
    play.textContent = t("■ 停止");
    state.playing = setInterval(function () {
      if (state.loading > 0) { return; }  // wait for the previous week to draw
      if (+slider.value >= WEEKS - 1) { stop(); }
      slider.value = String(+slider.value + 1);
      box.dispatchEvent(new Event("change"));
    }, 1200);
    box.dispatchEvent(new Event("change"));
  });
  return { slider: slider, label: label };
}

/* The choropleth's level and metric (shown to analysts, whose map has the layer). */
function choroplethSelects(state, box) {
  const level = select("choropleth_level", { zone: t("按责任区"), community: t("按社区") }, null);
  const metric = select("choropleth_metric", state.config.choroplethMetrics, null);
  if (state.layers.choropleth) {  // not for unit users
    box.appendChild(el("div", t("专题图"), "ccmap-legend-title"));
    const choro = el("div", null, "ccmap-filter-grid");
    choro.appendChild(level);
    choro.appendChild(metric);
    box.appendChild(choro);
  }
  return { level: level, metric: metric };
}

/* A link that downloads what urlOf(fmt) names. */
function downloadLink(text, cls, fmt, urlOf) {
  const a = el("a", text, cls);
  a.href = "#";
  if (fmt) { a.dataset.format = fmt; }
  a.addEventListener("click", function (ev) {
    ev.preventDefault();
    const url = urlOf(fmt);
    if (url) { window.location.assign(url); }
  });
  return a;
}

/* The filtered issues as CSV or Excel. */
function exportLinks(state) {
  const box = el("div", null, "ccmap-exports");
  ["csv", "xlsx"].forEach(function (fmt) {
    box.appendChild(downloadLink(fmt === "csv" ? t("导出 CSV") : t("导出 Excel"), null, fmt,
                                 function () {
                                   return "/api/issues/export?format=" + fmt +
                                     (state.issueFilter || "");
                                 }));
  });
  return box;
}

/* Analysts (not unit users) export maps, data and bulletins of what the page shows. */
function snapshotLinks(state) {
  const snaps = el("div", null, "ccmap-exports ccmap-snapshots");
  ["png", "pdf", "html"].forEach(function (fmt) {
    snaps.appendChild(downloadLink(t("快照 {format}", { format: fmt.toUpperCase() }), null, fmt, function () {
      return snapshotUrl(state, fmt);
    }));
  });
  const paper = selectOf("paper", [["paper=A4&landscape=true", t("A4 横")],
                                   ["paper=A4&landscape=false", t("A4 竖")],
                                   ["paper=A3&landscape=true", t("A3 横")],
                                   ["paper=A3&landscape=false", t("A3 竖")]]);
  paper.className = "ccmap-paper";
  paper.title = t("PDF 纸张");
  paper.addEventListener("change", function () { state.snapshotPaper = paper.value; });
  snaps.appendChild(paper);
  ["gpkg", "geojson"].forEach(function (fmt) {
    snaps.appendChild(downloadLink(t("数据 {format}", { format: fmt === "gpkg" ? "GPKG" : "GeoJSON" }),
                                   "ccmap-data-link", fmt,
                                   function () { return dataUrl(state, fmt); }));
  });
  snaps.appendChild(downloadLink(t("周通报 PDF"), "ccmap-report-link", null, function () {
    const period = window.prompt("通报周期（如 2026-W47 或 2026-11）", "");
    return period ? "/api/report?format=pdf&period=" + encodeURIComponent(period) : null;
  }));
  return snaps;
}

/* 导入台账: a CSV/Excel ledger uploaded as a job, its progress and row problems shown. */
function importControl(state) {
  const imp = el("label", t("导入台账 (CSV/Excel)"), "ccmap-import");
  const file = el("input");
  file.type = "file";
  file.name = "ledger";
  file.accept = ".csv,.xlsx";
  imp.appendChild(file);
  file.addEventListener("change", function (ev) {
    ev.stopPropagation();
    if (!file.files.length) { return; }
    const fd = new FormData();
    fd.append("file", file.files[0]);
    file.disabled = true;
    importLedger(state, fd, importProgress(imp)).then(function () {
      file.value = "";
      file.disabled = false;
    });
  });
  return imp;
}

function importLedger(state, fd, shown) {
  shown.update(t("上传中…"), null);
  return api("POST", "/api/issues/import", fd, true).then(function (accepted) {
    return followJob(accepted.status_url, function (job) {
      shown.update(job.total === null ? t("导入中…") :
                   t("导入中 {done} / {total} 行", { done: num(job.done), total: num(job.total) }),
                   job.total ? job.done / job.total : null);
    });
  }).then(function (job) {
    const r = job.result;
    shown.update(t("导入完成：导入 {imported} 条，跳过已导入 {skipped} 条，错误 {errors} 行",
                   { imported: num(r.imported), skipped: num(r.skipped), errors: num(r.errors) }), 1);
    shown.problems(r.row_errors);
    const first = r.row_errors.slice(0, 3).map(rowText).join(t("；"));
    toast(t("导入 {imported} 条，跳过已导入 {skipped} 条，错误 {errors} 行",
            { imported: r.imported, skipped: r.skipped, errors: r.errors }) +
          (first ? t("（{text}）", { text: first }) : ""));
    state.load("issues");
  }).catch(function (err) {
    shown.update(t("导入失败：") + err.message, null);
    shown.problems(err.problems || []);
    toast("导入失败：" + err.message);
  });
}

/* Changes in the panel apply a moment after the last one (a burst of changes, as the
 * slider's arrow keys make, loads once); the wait counts as loading, like a due map refresh.
 * The choropleth's selects reload (or turn on) that layer at once. */
function watchFilters(state, box, parts) {
  let pending = null;
  function scheduleApply() {
    if (pending === null) { state.loading += 1; }
    clearTimeout(pending);
    pending = setTimeout(function () {
      pending = null;
      try { applyFilters(state, box, parts); } finally { state.loading -= 1; }
    }, FILTER_DELAY_MS);
  }
  box.addEventListener("change", function (ev) {
    const name = (ev.target && ev.target.name) || "";
    // the zone field applies itself once its name is resolved to a zone (zoneField)
    if (name === "ledger" || name === "paper" || name === "zone_name") { return; }
    if (name.indexOf("choropleth_") === 0) {
      state.choroplethParams = "level=" + parts.choro.level.value + "&metric=" +
        parts.choro.metric.value;
      if (!state.map.hasLayer(state.layers.choropleth)) {
        state.map.addLayer(state.layers.choropleth);
      } else {
        state.load("choropleth");
      }
      return;
    }
    scheduleApply();
  });
  box.addEventListener("ccmap:apply", scheduleApply);
}

/* Read the panel into state.issueFilter and reload the issue layers if it changed; a wrong
 * date is said under the dates and the filters stay as they were. */
function applyFilters(state, box, parts) {
  const slider = parts.week.slider, weekly = +slider.value < WEEKS;
  // the week slider, when used, stands for the dates
  const wrong = weekly ? null : dateProblem(box.from, box.to);
  parts.problem.textContent = wrong || "";
  parts.problem.hidden = !wrong;
  if (wrong) { return; }
  const params = new URLSearchParams();
  ["category", "status", "source", "community", "unit", "zone"].forEach(function (n) {
    if (box[n].value) { params.append(n, box[n].value); }
  });
  if (box.from.value) { params.append("from", box.from.value.trim()); }
  if (box.to.value) { params.append("to", isoDay(nextDay(parseDay(box.to.value.trim())))); }
  if (weekly) {  // one week, counted back from the current week's Monday
    const monday = new Date();
    monday.setHours(0, 0, 0, 0);
    monday.setDate(monday.getDate() - ((monday.getDay() + 6) % 7) - 7 * (WEEKS - +slider.value));
    const sunday = new Date(monday.getTime() + 7 * 864e5);
    params.set("from", isoDay(monday));
    params.set("to", isoDay(sunday));
    parts.week.label.textContent = t("{day} 起一周", { day: isoDay(monday) });
  } else {
    parts.week.label.textContent = t("allTime");
  }
  if (box.overdue.checked) { params.append("overdue", "true"); }
  if (box.recurring.checked) { params.append("recurring", "true"); }
  const qs = params.toString();
  if ((qs ? "&" + qs : "") === state.issueFilter) { return; }  // nothing changed
  state.issueFilter = qs ? "&" + qs : "";
  state.load("issues");
  ["heat", "hotspots"].forEach(function (k) {
    if (state.map.hasLayer(state.layers[k])) { state.load(k); }
  });
}
