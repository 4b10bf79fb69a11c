/* Assessment planner on the map (测评计划): rounds with routes and numbered stops, route sheets,
 * checklist inspections on a phone-sized panel, post siting and score rates.
 * All user text is inserted with textContent (core.js el). The panel's pages are functions of
 * the map's state; the planner's own (the round shown, its layers, the panel) is state.plan. */
import { api, button, el, esc, fetchCollection, km, mapButton, selectOf, t, toast } from "./core.js";
var TEAM_COLORS = ["#1565c0", "#e65100", "#6a1b9a", "#2e7d32", "#ad1457", "#00838f",
                   "#5d4037", "#283593"];
var RESULTS = [["pass", t("合格")], ["fail", t("不合格")], ["na", t("不适用")]];

function field(label, input) {
  var wrap = el("label", null, "ccmap-plan-field");
  wrap.appendChild(el("span", label));
  wrap.appendChild(input);
  return wrap;
}

function input(name, value, type) {
  var i = el("input");
  i.name = name;
  i.type = type || "text";
  if (type === "checkbox") { i.checked = !!value; } else { i.value = value; }
  return i;
}

const select = selectOf;

function teamColor(team) { return TEAM_COLORS[(team - 1) % TEAM_COLORS.length]; }

/* The planner's panel (hidden until its button is clicked), its layers and state.plan. */
export function init(state) {
  const map = state.map;
  const panel = el("div", null, "ccmap-plan");
  panel.hidden = true;
  panel.id = "ccmap-plan";
  L.DomEvent.disableClickPropagation(panel);
  L.DomEvent.disableScrollPropagation(panel);
  map.getContainer().appendChild(panel);
  state.plan = { round: null, layer: L.featureGroup().addTo(map),
                 posts: L.featureGroup().addTo(map), markers: {}, panel: panel };
  mapButton(map, t("测评计划"), "ccmap-plan-button", function () {
    panel.hidden = !panel.hidden;
    if (!panel.hidden) { showHome(state); }
  });
}

/* Clear the panel for a page titled `title`, with a back button if `back` is given. */
function header(state, title, back) {
  const panel = state.plan.panel;
  panel.textContent = "";
  const bar = el("div", null, "ccmap-plan-head");
  if (back) { bar.appendChild(button(t("back"), "ccmap-plan-back", back)); }
  bar.appendChild(el("strong", title));
  const close = button("×", "ccmap-plan-close", function () { panel.hidden = true; });
  close.title = t("close");
  bar.appendChild(close);
  panel.appendChild(bar);
}

/* The panel's first page: rounds, a new-round form, posts and scores. */
function showHome(state) {
  const plan = state.plan, cfg = state.config, panel = state.plan.panel;
  header(state, t("测评计划"));
  var roundsBox = el("div", null, "ccmap-plan-section");
  roundsBox.appendChild(el("h4", t("检查轮次")));
  var picker = select("round", [["", t("（选择轮次）")]]);
  picker.className = "ccmap-plan-rounds";
  roundsBox.appendChild(picker);
  var detail = el("div", null, "ccmap-plan-detail");
  roundsBox.appendChild(detail);
  panel.appendChild(roundsBox);
  api("GET", "/api/plan/rounds").then(function (rows) {
    rows.forEach(function (r) {
      var o = el("option", roundLabel(r));
      o.value = String(r.id);
      picker.appendChild(o);
    });
    if (plan.round) { picker.value = String(plan.round.id); showRound(state, plan.round, detail); }
  }).catch(function (e) { toast("轮次加载失败：" + e.message); });
  picker.addEventListener("change", function () {
    if (picker.value) { loadRound(state, Number(picker.value), detail); }
  });
  var clear = button(t("清除地图上的路线和选址"), "ccmap-plan-clear", function () {
    plan.layer.clearLayers();
    plan.posts.clearLayers();
    plan.markers = {};
    plan.round = null;
    picker.value = "";
    detail.textContent = "";
  });
  roundsBox.appendChild(clear);
  if (cfg.canPlan) { panel.appendChild(newRoundForm(state, picker, detail)); }
  panel.appendChild(postsForm(state));
  panel.appendChild(scoresBox());
}

function newRoundForm(state, picker, detail) {
  var box = el("details", null, "ccmap-plan-section");
  box.appendChild(el("summary", t("新建轮次（抽样并规划路线）")));
  var form = el("form", null, "ccmap-plan-form");
  var mode = select("mode", [["walk", t("步行")], ["drive", t("驾车")]]);
  [[t("名称"), input("name", "")],
   [t("随机种子"), input("seed", String(Math.floor(Math.random() * 100000)), "number")],
   [t("检查组数"), input("teams", "2", "number")], [t("出行方式"), mode],
   [t("每组时限（分钟）"), input("budget_min", "240", "number")],
   [t("每点检查用时（分钟）"), input("service_min", "15", "number")],
   [t("排除近 N 天已检查点位"), input("exclude_days", "0", "number")],
   [t("检查人（逗号分隔，每组一人）"), input("inspectors", "")],
   [t("按风险加权抽样"), input("risk", false, "checkbox")]]
    .forEach(function (f) { form.appendChild(field(f[0], f[1])); });
  form.appendChild(startPicker(state));
  const go = el("button", t("抽样并规划"), "ccmap-plan-primary");
  go.type = "submit";
  form.appendChild(go);
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    whileBusy(go, t("正在规划路线…"), planRound(state, form.elements).then(function (r) {
      const o = el("option", roundLabel(r));
      o.value = String(r.id);
      picker.insertBefore(o, picker.options[1] || null);
      picker.value = String(r.id);
      loadRound(state, r.id, detail);
    }));
  });
  box.appendChild(form);
  return box;
}

/* The start of the teams' routes: by default the subdistrict office; or a point clicked on
 * the map (a transparent layer over the features takes the click, so no popup opens). */
function startPicker(state) {
  const plan = state.plan, map = state.map;
  const startText = el("span", plan.start ? startLabel(plan.start) : t("默认：街道办（辖区内）"));
  const pick = button(t("在地图上点选起点"), "ccmap-plan-pick", function () {
    toast("请在地图上点击检查组的出发点");
    const capture = el("div", null, "ccmap-capture");
    map.getContainer().appendChild(capture);
    capture.addEventListener("click", function (ev) {
      const latlng = map.mouseEventToLatLng(ev);
      capture.remove();
      plan.start = latlng;
      startText.textContent = startLabel(latlng);
      if (plan.startMarker) { plan.startMarker.remove(); }
      plan.startMarker = L.circleMarker(latlng, { radius: 8, color: "#1b5e20",
                                                  fillColor: "#a5d6a7", fillOpacity: 1 })
        .bindTooltip(el("span", t("出发点"))).addTo(map);
      toast("出发点已选定");
    });
  });
  const startRow = el("div", null, "ccmap-plan-field");
  startRow.appendChild(el("span", t("出发点")));
  startRow.appendChild(startText);
  startRow.appendChild(pick);
  return startRow;
}

/* Sample and route a new round from the form's fields `v`; resolves to the round. */
function planRound(state, v) {
  const plan = state.plan;
  const body = { name: v.name.value, seed: Number(v.seed.value), teams: Number(v.teams.value),
                 mode: v.mode.value, budget_min: Number(v.budget_min.value),
                 service_min: Number(v.service_min.value),
                 exclude_days: Number(v.exclude_days.value), risk: v.risk.checked,
                 inspectors: v.inspectors.value.split(/[,，、]/).map(function (s) {
                   return s.trim(); }).filter(Boolean) };
  if (plan.start) { body.start = [plan.start.lng, plan.start.lat]; body.coords = state.config.coords; }
  return api("POST", "/api/plan/rounds", body).then(function (r) {
    toast(t("已生成轮次 #{id}：{n} 个点位", { id: r.id, n: r.stops }) +
          (r.unscheduled ? t("，{n} 个超出时限未排入", { n: r.unscheduled }) : ""));
    return r;
  }).catch(function (e) { toast("规划失败：" + e.message); throw e; });
}

/* Disable `go` (showing `label`, if given) until `promise` settles. */
function whileBusy(go, label, promise) {
  const text = go.textContent;
  go.disabled = true;
  if (label) { go.textContent = label; }
  return promise.catch(function () {}).finally(function () {
    go.disabled = false;
    go.textContent = text;
  });
}

function roundLabel(r) {
  return "#" + r.id + " " + r.name + t("（{teams}组 {stops}点）", { teams: r.teams, stops: r.stops });
}

function startLabel(ll) { return ll.lng.toFixed(5) + ", " + ll.lat.toFixed(5); }

function loadRound(state, id, detail) {
  const plan = state.plan, cfg = state.config;
  // a round is bounded by its sample: every page of its layer is loaded
  return Promise.all([api("GET", "/api/plan/rounds/" + id),
                      fetchCollection("/api/plan/rounds/" + id + "/geojson?coords=" +
                                      encodeURIComponent(cfg.coords))])
    .then(function (both) {
      plan.round = both[0];
      drawRound(state, both[1]);
      showRound(state, plan.round, detail);
    }).catch(function (e) { toast("轮次加载失败：" + e.message); });
}

function stopIcon(p) {
  var cls = "ccmap-stop" + (p.inspected ? " done" : "") + (p.revisit ? " revisit" : "");
  return L.divIcon({ className: "", iconSize: [24, 24], iconAnchor: [12, 12],
                     html: '<div class="' + esc(cls) + '" style="background:' +
                       esc(teamColor(p.team)) + '">' + esc(Number(p.seq)) + "</div>" });
}

function drawRound(state, doc) {
  const plan = state.plan, map = state.map;
  plan.layer.clearLayers();
  plan.markers = {};
  L.geoJSON(doc, {
    style: function (f) {
      return { color: teamColor(f.properties.team), weight: 4,
               opacity: 0.8 };
    },
    pointToLayer: function (f, latlng) {
      if (f.properties.role === "start") {
        return L.circleMarker(latlng, { radius: 8, color: "#1b5e20", fillColor: "#66bb6a",
                                        fillOpacity: 1 });
      }
      return L.marker(latlng, { icon: stopIcon(f.properties), riseOnHover: true });
    },
    onEachFeature: function (f, lyr) {
      var p = f.properties;
      if (p.role === "stop") {
        plan.markers[p.id] = { layer: lyr, props: p };
        lyr.bindTooltip(el("span", t("{team}组-{seq}", { team: p.team, seq: p.seq }) + " " + p.name));
        lyr.on("click", function () { openStop(state, p); });
      } else if (p.role === "route") {
        lyr.bindTooltip(el("span", p.name + " " + (p.inspector || "") + " " +
                           t("{km} 公里", { km: km(p.distance_m) })));
      } else {
        lyr.bindTooltip(el("span", t("起点")));
      }
    }
  }).eachLayer(function (l) { plan.layer.addLayer(l); });
  if (plan.layer.getLayers().length) { map.fitBounds(plan.layer.getBounds(), { maxZoom: 17 }); }
}

function showRound(state, r, detail) {
  detail.textContent = "";
  var p = r.plan;
  detail.appendChild(el("div", t(p.mode_label) + " · " +
    (p.distance === "network" ? t("按路网距离") : t("直线距离×1.3（未导入路网）")) +
    " · " + t("每点 {n} 分钟", { n: p.service_min }), "ccmap-plan-note"));
  p.teams.forEach(function (tm) {
    var color = teamColor(tm.team);
    var head = el("div", null, "ccmap-plan-team");
    var sw = el("span", null, "ccmap-line");
    sw.style.background = color;
    head.appendChild(sw);
    head.appendChild(el("strong", tm.name + (tm.inspector ? " " + tm.inspector : "")));
    head.appendChild(el("span", " " + t("{stops} 点 · {km} 公里 · {min} 分钟", {
      stops: tm.stops.length, km: km(tm.distance_m), min: Math.round(tm.duration_min) })));
    detail.appendChild(head);
    var links = el("div", null, "ccmap-plan-links");
    [[t("路线单"), "html"], ["PDF", "pdf"]].forEach(function (x) {
      var a = el("a", x[0]);
      a.href = "/api/plan/rounds/" + r.id + "/sheet?team=" + tm.team + "&format=" + x[1];
      a.target = "_blank";
      links.appendChild(a);
    });
    detail.appendChild(links);
    var ol = el("ol", null, "ccmap-plan-stops");
    tm.stops.forEach(function (s) {
      var done = r.inspected && r.inspected[s.id] !== undefined;
      var li = el("li", s.name + t("（{text}）", { text: t(s.category_label) }) +
                  (s.revisit ? t(" 回头看") : "") +
                  (done ? " ✓" : ""), "ccmap-plan-stop" + (done ? " done" : ""));
      li.dataset.id = String(s.id);
      li.addEventListener("click", function () {
        openStop(state, Object.assign({ team: tm.team }, s));
      });
      ol.appendChild(li);
    });
    detail.appendChild(ol);
  });
  if (p.unscheduled.length) {
    detail.appendChild(el("div", t("超出时限未排入：") + p.unscheduled.map(function (s) {
      return s.name; }).join(t("、")), "ccmap-plan-note"));
  }
}

/* One stop: where it is, and (for inspectors) the checklist to record. */
function openStop(state, stop) {
  const plan = state.plan, map = state.map, cfg = state.config, panel = state.plan.panel;
  var m = plan.markers[stop.id];
  if (m) { map.setView(m.layer.getLatLng(), Math.max(map.getZoom(), 17)); }
  panel.hidden = false;
  header(state, t("{team}组-{seq}", { team: stop.team, seq: stop.seq }) + " " + stop.name,
         function () { showHome(state); });
  panel.appendChild(el("div", t(stop.category_label) + (stop.address ? " · " + stop.address : "") +
                       (stop.revisit ? t(" · 回头看") : ""), "ccmap-plan-note"));
  if (!cfg.canInspect) {
    panel.appendChild(el("div", t("只有检查人员可以录入检查结果。"), "ccmap-plan-note"));
    return;
  }
  api("GET", "/api/checklists/" + encodeURIComponent(stop.category))
    .then(function (items) { panel.appendChild(inspectionForm(state, stop, items)); })
    .catch(function (e) { toast("检查标准加载失败：" + e.message); });
}

function inspectionForm(state, stop, items) {
  const plan = state.plan, map = state.map, cfg = state.config;
  var form = el("form", null, "ccmap-inspect");
  form.appendChild(field(t("检查人"), input("inspector", cfg.userName || "")));
  form.appendChild(field(t("来源"), select("source", [["unannounced_inspection", t("暗访")],
                                                  ["supervision", t("督导检查")]])));
  items.forEach(function (item) { form.appendChild(checklistItem(form, item)); });
  var go = el("button", t("提交检查结果"), "ccmap-plan-primary");
  go.type = "submit";
  form.appendChild(go);
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var results = {};
    var data = new FormData();
    items.forEach(function (item) {
      var result = form.elements["r_" + item.code].value;
      results[item.code] = { result: result, note: form.elements["n_" + item.code].value };
      var file = form.elements["photo_" + item.code].files[0];
      if (result === "fail" && file) { data.append("photo_" + item.code, file); }
    });
    data.append("record", JSON.stringify({
      feature_id: stop.id, round_id: plan.round ? plan.round.id : null,
      inspector: form.elements.inspector.value, source: form.elements.source.value,
      results: results }));
    go.disabled = true;
    api("POST", "/api/inspections", data, true).then(function (doc) {
      var rate = doc.score_rate === null ? "—" : Math.round(doc.score_rate * 100) + "%";
      toast(t("已记录检查：得分率 {rate}", { rate: rate }) + (doc.issue_ids.length ?
        t("，已生成问题 {ids}", { ids: doc.issue_ids.map(function (i) { return "#" + i; }).join(" ") }) :
        t("，全部合格")));
      var m = plan.markers[stop.id];
      if (m) { m.props.inspected = true; m.layer.setIcon(stopIcon(m.props)); }
      if (plan.round) {
        plan.round.inspected = plan.round.inspected || {};
        plan.round.inspected[stop.id] = doc.id;
      }
      if (state.load && map.hasLayer(state.layers.issues)) { state.load("issues"); }
      showHome(state);
    }).catch(function (e) { toast("提交失败：" + e.message); go.disabled = false; });
  });
  return form;
}

/* One checklist item: pass / fail / not applicable, and for a fail a note and a photo. */
function checklistItem(form, item) {
  const row = el("fieldset", null, "ccmap-inspect-item");
  row.appendChild(el("legend", t(item.label)));
  const choices = el("div", null, "ccmap-inspect-choices");
  RESULTS.forEach(function (r) {
    const lab = el("label", null, "ccmap-choice " + r[0]);
    const radio = input("r_" + item.code, r[0], "radio");
    radio.value = r[0];
    if (r[0] === "pass") { radio.checked = true; }
    lab.appendChild(radio);
    lab.appendChild(el("span", r[1]));
    choices.appendChild(lab);
  });
  row.appendChild(choices);
  const extra = el("div", null, "ccmap-inspect-extra");
  const note = input("n_" + item.code, "");
  note.placeholder = t("情况说明");
  const photo = input("photo_" + item.code, "", "file");
  photo.accept = "image/jpeg,image/png";
  photo.setAttribute("capture", "environment");
  extra.appendChild(note);
  extra.appendChild(field(t("照片"), photo));
  extra.hidden = true;
  row.appendChild(extra);
  choices.addEventListener("change", function () {
    extra.hidden = form.elements["r_" + item.code].value !== "fail";
  });
  return row;
}

/* MCLP / LSCP: where to put volunteer stations or patrol posts. */
function postsForm(state) {
  var box = el("details", null, "ccmap-plan-section");
  box.appendChild(el("summary", t("站点选址（最大覆盖 / 最少站点）")));
  var form = el("form", null, "ccmap-plan-form");
  [[t("模型"), select("model", [["mclp", t("最大覆盖（选 p 个站点）")],
                             ["lscp", t("全覆盖所需最少站点")]])],
   [t("站点数 p"), input("p", "3", "number")],
   [t("服务距离（米）"), input("distance", "500", "number")],
   [t("覆盖对象"), select("demand", [["test_point", t("测评点位")], ["issues", t("未办结问题")]])],
   [t("候选站点"), select("candidate_kind", [["", t("测评点位")], ["market", t("农贸市场")],
                                          ["compound", t("居民小区")]])]]
    .forEach(function (f) { form.appendChild(field(f[0], f[1])); });
  var go = el("button", t("计算"), "ccmap-plan-primary");
  go.type = "submit";
  form.appendChild(go);
  var out = el("div", null, "ccmap-plan-note");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var v = form.elements;
    var q = "model=" + v.model.value + "&distance=" + Number(v.distance.value) +
      "&demand=" + v.demand.value +
      (v.model.value === "mclp" ? "&p=" + Number(v.p.value) : "") +
      (v.candidate_kind.value ? "&candidate_kind=" + v.candidate_kind.value : "");
    whileBusy(go, null, api("GET", "/api/plan/posts?" + q).then(function (doc) {
      drawPosts(state, doc);
      out.textContent = t("{n} 个站点覆盖 {pct}% 的{demand}（{distance} {m} 米内）", {
        n: doc.sites.length, pct: Math.round(doc.coverage_rate * 1000) / 10,
        demand: doc.demand === "issues" ? t("问题") : t("点位"),
        distance: doc.distance === "network" ? t("路网距离") : t("直线距离"), m: v.distance.value });
    }).catch(function (e) { toast(t("选址失败：") + e.message); }));
  });
  box.appendChild(form);
  box.appendChild(out);
  return box;
}

function drawPosts(state, doc) {
  const plan = state.plan;
  plan.posts.clearLayers();
  doc.demand_points.forEach(function (d) {
    L.circleMarker([d.lat, d.lon], { radius: 4, weight: 1, fillOpacity: 0.9,
                                     color: d.covered ? "#2e7d32" : "#c62828",
                                     fillColor: d.covered ? "#81c784" : "#ef5350",
                                     className: d.covered ? "ccmap-covered" : "ccmap-uncovered" })
      .bindTooltip(el("span", (d.name || "") + (d.covered ? t(" 已覆盖") : t(" 未覆盖"))))
      .addTo(plan.posts);
  });
  doc.sites.forEach(function (s) {
    L.marker([s.lat, s.lon], { icon: L.divIcon({ className: "", iconSize: [22, 22],
                                                 html: '<div class="ccmap-site">★</div>' }) })
      .bindTooltip(el("span", t("站点：{name}（覆盖 {n}）", { name: s.name, n: s.covers })))
      .addTo(plan.posts);
  });
}

function scoresBox() {
  var box = el("details", null, "ccmap-plan-section");
  box.appendChild(el("summary", t("测评得分率")));
  var level = select("level", [["community", t("按社区")], ["category", t("按点位类型")],
                               ["point", t("按点位")], ["unit", t("按责任单位")]]);
  var table = el("table", null, "ccmap-plan-scores");
  function load() {
    api("GET", "/api/plan/scores?level=" + level.value).then(function (doc) {
      table.textContent = "";
      var head = el("tr");
      [t("排名"), t("名称"), t("合格/适用"), t("得分率")].forEach(function (h) { head.appendChild(el("th", h)); });
      table.appendChild(head);
      if (!doc.rows.length) {
        var tr = el("tr");
        var td = el("td", t("暂无检查记录"));
        td.colSpan = 4;
        tr.appendChild(td);
        table.appendChild(tr);
      }
      doc.rows.forEach(function (r) {
        var tr = el("tr");
        [r.rank, r.name, r.passed + "/" + r.applicable,
         r.score_rate === null ? "—" : (r.score_rate * 100).toFixed(1) + "%"]
          .forEach(function (v) { tr.appendChild(el("td", String(v))); });
        table.appendChild(tr);
      });
    }).catch(function (e) { toast("得分率加载失败：" + e.message); });
  }
  box.addEventListener("toggle", function () { if (box.open) { load(); } });
  level.addEventListener("change", load);
  box.appendChild(level);
  box.appendChild(table);
  return box;
}
