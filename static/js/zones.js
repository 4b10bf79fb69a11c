/* Zone editor for planners: draw, edit vertices, delete, undo, history and restore.
 * Saves go to /api/zones; the server validates and answers with warnings. */
import { api, button, dateTime, el, formEnd, mapButton, t, toast } from "./core.js";

var TYPES = { grid: t("网格"), sponsor_area: t("包保片区"), storefront_duty: t("门前三包/五包"),
              district_patch: t("分片管理") };
var FIELDS = [["name", t("责任区名称")], ["unit", t("责任单位")], ["responsible_person", t("责任人")],
              ["phone", t("联系电话")], ["notes", t("备注")]];

function warningsText(doc) {
  return (doc.warnings || []).map(function (w) { return w.message; }).join(t("；"));
}

/* After any zone change: the zones (tiles or the view's editable ones, whichever show),
 * the issues (re-routed in the changed area) and, if shown, the gaps of the view. */
function reloadAfterEdit(state) {
  state.load("zone");
  state.load("issues");
  if (state.layers.gaps && state.map.hasLayer(state.layers.gaps)) { state.load("gaps"); }
}

function afterSave(state, doc, verb) {
  var w = warningsText(doc);
  toast(t("责任区「{name}」已{verb}（版本 {version}）",
          { name: doc.properties.name, verb: verb, version: doc.version }) +
        (w ? t("：") + w : "") + (doc.rerouted_issues ? t("；重新分派问题 {n} 条",
                                                          { n: doc.rerouted_issues }) : ""));
  reloadAfterEdit(state);
}

/* The zone form; `props` pre-fills it when editing. */
function zoneForm(state, geometry, props, onSaved) {
  var form = el("form", null, "ccmap-report ccmap-zone-form");
  form.appendChild(el("div", props.id ? t("编辑责任区") : t("新建责任区"), "ccmap-popup-title"));
  FIELDS.forEach(function (f) {
    form.appendChild(el("label", f[1]));
    var input = el("input");
    input.name = f[0];
    input.value = props[f[0]] || "";
    if (f[0] === "name") { input.required = true; }
    form.appendChild(input);
  });
  form.appendChild(el("label", t("责任区类型")));
  var type = el("select");
  type.name = "zone_type";
  Object.keys(TYPES).forEach(function (code) {
    var o = el("option", TYPES[code]);
    o.value = code;
    o.selected = (props.zone_type || props.category) === code;
    type.appendChild(o);
  });
  form.appendChild(type);
  var msg = formEnd(form, t("save"));
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var body = { geometry: geometry, zone_type: type.value };
    FIELDS.forEach(function (f) { body[f[0]] = form[f[0]].value; });
    var req = props.id
      ? api("PUT", "/api/zones/" + props.id, L.extend(body, { version: props.version }))
      : api("POST", "/api/zones", body);
    req.then(function (doc) { state.map.closePopup(); onSaved(doc); })
      .catch(function (err) { msg.textContent = t("saveFailed") + err.message; });
  });
  return form;
}

/* A button that starts a split or a merge of the zone: the next line drawn splits it, the
 * next zone clicked merges with it. */
function pendingButton(state, props, action, text, title, ask) {
  const b = button(text, "ccmap-zone-edit ccmap-" + action, function () {
    state.map.closePopup();
    toast(ask);
    state.pending = { action: action, id: props.id };
    if (action === "split") { new L.Draw.Polyline(state.map, {}).enable(); }
  });
  b.title = title;
  return b;
}

/* A planner's zone popup: the details, edit/split/merge and the version history; while a
 * merge is pending, clicking the second zone merges instead. */
export function popup(props, details, state) {
  if (state.pending && state.pending.action === "merge" && state.pending.id !== props.id) {
    var first = state.pending.id;
    state.pending = null;
    var wait = el("div", t("正在合并…"));
    api("POST", "/api/zones/merge", { ids: [first, props.id] }).then(function (doc) {
      state.map.closePopup();
      toast(t("已合并为「{name}」", { name: doc.properties.name }));
      reloadAfterEdit(state);
    }).catch(function (err) { wait.textContent = t("合并失败：") + err.message; });
    return wait;
  }
  var box = el("div");
  box.appendChild(details);
  var edit = el("button", t("编辑信息"), "ccmap-zone-edit");
  edit.type = "button";
  var layer = state.layers.zone.getLayers().find(function (l) {
    return l.feature.properties.id === props.id;
  });
  edit.addEventListener("click", function () {
    var geometry = layer.toGeoJSON().geometry;
    state.map.openPopup(L.popup({ minWidth: 240 }).setLatLng(layer.getBounds().getCenter())
      .setContent(zoneForm(state, geometry, props, function (doc) {
        state.undo.push({ id: doc.id, version: doc.version - 1 });
        afterSave(state, doc, t("保存"));
      })));
  });
  box.appendChild(edit);
  box.appendChild(pendingButton(state, props, "split", t("分割"), t("画一条穿过责任区的线，把它分成两块"),
                                t("请画一条穿过「{name}」的分割线，双击结束", { name: props.name })));
  box.appendChild(pendingButton(state, props, "merge", t("合并"), t("再点击一个相邻责任区，把两者合并"),
                                t("请点击要与「{name}」合并的责任区", { name: props.name })));
  var list = el("ol", null, "ccmap-history");
  api("GET", "/api/zones/" + props.id + "/history").then(function (rows) {
    box.insertBefore(el("div", t("历史版本"), "ccmap-legend-title"), list);
    rows.forEach(function (r) {
      var li = el("li", "v" + r.version + " " + dateTime(r.at) + " " +
                  r.actor.replace("user:", "") + " " + r.action + " " +
                  (r.properties.unit || ""));
      if (r.version < props.version && r.geometry) {
        var b = el("button", t("恢复"), "ccmap-restore");
        b.type = "button";
        b.addEventListener("click", function () {
          api("POST", "/api/zones/" + props.id + "/restore", { version: r.version })
            .then(function (doc) { state.map.closePopup(); afterSave(state, doc, t("恢复")); })
            .catch(function (err) { toast("恢复失败：" + err.message); });
        });
        li.appendChild(b);
      }
      list.appendChild(li);
    });
  });
  box.appendChild(list);
  return box;
}

/* leaflet-draw checks whether its edit and delete buttons have zones to act on at every zone
 * added to or removed from the edited group: a list of the whole group and four DOM writes
 * each time, so a reload of a city view's ~1,000 editable zones (all removed, all added) made
 * a million-entry list and 8,000 DOM writes: 50-60 ms of a planner's pan on the page's main
 * thread. Now the check runs once, after the task that changed the group. */
function checkButtonsOnce() {
  const check = L.EditToolbar.prototype._checkDisabled;
  if (check.ccmapOnce) { return; }
  const once = function () {
    if (this.ccmapCheckDue) { return; }
    this.ccmapCheckDue = true;
    const toolbar = this;
    queueMicrotask(function () {
      toolbar.ccmapCheckDue = false;
      // (not once the toolbar has left the map: its buttons are gone)
      if (Object.keys(toolbar._modes || {}).length) { check.call(toolbar); }
    });
  };
  once.ccmapOnce = true;
  L.EditToolbar.include({ _checkDisabled: once });
}

export function init(state) {
  var map = state.map;
  state.undo = [];
  if (!L.Control.Draw) { return; }
  checkButtonsOnce();
  L.drawLocal.draw.toolbar.buttons.polygon = t("绘制责任区");
  L.drawLocal.edit.toolbar.buttons.edit = t("编辑责任区边界");
  L.drawLocal.edit.toolbar.buttons.remove = t("删除责任区");
  // (below the editing zoom, or where the view has none, the buttons are greyed out)
  L.drawLocal.edit.toolbar.buttons.editDisabled = t("此处没有可编辑的责任区");
  L.drawLocal.edit.toolbar.buttons.removeDisabled = t("此处没有可删除的责任区");
  var draw = new L.Control.Draw({
    position: "topleft",
    draw: { polygon: { allowIntersection: false, showArea: true }, polyline: false,
            rectangle: false, circle: false, marker: false, circlemarker: false },
    edit: { featureGroup: state.layers.zone }
  });
  map.addControl(draw);
  listenToDraw(state);
  mapButton(map, t("撤销上一步"), "ccmap-undo", function () { undo(state); });
  suggestControl(state);
}

/* Take back the last zone edit of this page (a new zone is deleted, an edit restored). */
function undo(state) {
  const last = state.undo.pop();
  if (!last) { toast("没有可撤销的操作"); return; }
  const req = last.created
    ? api("DELETE", "/api/zones/" + last.id)
    : api("POST", "/api/zones/" + last.id + "/restore", { version: last.version });
  req.then(function () { toast("已撤销"); reloadAfterEdit(state); })
    .catch(function (err) { toast("撤销失败：" + err.message); });
}

/* leaflet-draw's events: a new zone (or a split line), edited boundaries, deleted zones. */
function listenToDraw(state) {
  const map = state.map;
  // while the planner edits or deletes zones, the map does not replace them (a move would);
  // it catches up when the tool closes
  map.on(L.Draw.Event.EDITSTART + " " + L.Draw.Event.DELETESTART, function () {
    state.zoneEditing = true;
  });
  map.on(L.Draw.Event.EDITSTOP + " " + L.Draw.Event.DELETESTOP, function () {
    state.zoneEditing = false;
    if (state.zoneStale) { state.zoneStale = false; state.load("zone"); }
  });
  map.on(L.Draw.Event.CREATED, function (e) {
    var geometry = e.layer.toGeoJSON().geometry;
    if (e.layerType === "polyline" && state.pending && state.pending.action === "split") {
      var target = state.pending.id;
      state.pending = null;
      api("POST", "/api/zones/" + target + "/split", { line: geometry })
        .then(function (doc) {
          toast(t("已分割为 {n} 个责任区", { n: doc.zones.length }));
          reloadAfterEdit(state);
        })
        .catch(function (err) { toast("分割失败：" + err.message); });
      return;
    }
    L.popup({ minWidth: 240 }).setLatLng(e.layer.getBounds().getCenter())
      .setContent(zoneForm(state, geometry, {}, function (doc) {
        state.undo.push({ id: doc.id, created: true });
        afterSave(state, doc, t("新建"));
      })).openOn(map);
  });
  map.on(L.Draw.Event.EDITED, function (e) {
    e.layers.eachLayer(function (layer) {
      var p = layer.feature.properties;
      var body = { geometry: layer.toGeoJSON().geometry, name: p.name,
                   zone_type: p.zone_type || p.category, unit: p.unit,
                   responsible_person: p.responsible_person, phone: p.phone,
                   notes: p.notes, version: p.version };
      api("PUT", "/api/zones/" + p.id, body).then(function (doc) {
        state.undo.push({ id: doc.id, version: doc.version - 1 });
        afterSave(state, doc, t("修改边界"));
      }).catch(function (err) { toast(t("saveFailed") + err.message); state.load("zone"); });
    });
  });
  map.on(L.Draw.Event.DELETED, function (e) {
    e.layers.eachLayer(function (layer) {
      var p = layer.feature.properties;
      api("DELETE", "/api/zones/" + p.id).then(function () {
        state.undo.push({ id: p.id, version: p.version, deleted: true });
        toast(t("责任区「{name}」已删除（可撤销）", { name: p.name }));
        reloadAfterEdit(state);
      }).catch(function (err) { toast("删除失败：" + err.message); });
    });
  });
}

/* 建议划分: draft zones for the uncovered area, to accept one by one or discard. */
function suggestControl(state) {
  var map = state.map;
  var drafts = L.featureGroup().addTo(map);
  var ctl = L.control({ position: "topleft" });
  ctl.onAdd = function () {
    var box = el("div", null, "ccmap-suggest");
    var b = el("button", t("建议划分未覆盖区域"), "ccmap-undo ccmap-suggest-button");
    b.type = "button";
    var discard = el("button", t("放弃建议"), "ccmap-undo ccmap-discard");
    discard.type = "button";
    discard.hidden = true;
    L.DomEvent.disableClickPropagation(box);
    b.addEventListener("click", function () {
      var k = parseInt(window.prompt("划分为几个责任区？", "3"), 10);
      if (!(k >= 1)) { return; }
      api("POST", "/api/zones/suggest", { k: k }).then(function (fc) {
        drafts.clearLayers();
        L.geoJSON(fc, {
          style: { color: "#00838f", weight: 3, dashArray: "10 6", fillOpacity: 0.15 },
          onEachFeature: function (f, lyr) {
            lyr.bindPopup(function () { return draftPopup(state, f, lyr, drafts); });
          }
        }).eachLayer(function (l) { drafts.addLayer(l); });
        discard.hidden = false;
        toast(t("已生成 {n} 个建议责任区（按道路长度和测评点位均衡）", { n: fc.features.length }));
      }).catch(function (err) { toast("无法生成建议：" + err.message); });
    });
    discard.addEventListener("click", function () {
      drafts.clearLayers();
      discard.hidden = true;
    });
    box.appendChild(b);
    box.appendChild(discard);
    return box;
  };
  ctl.addTo(map);
  state.drafts = drafts;
}

function draftPopup(state, f, lyr, drafts) {
  var p = f.properties;
  var box = el("div", null, "ccmap-popup");
  box.appendChild(el("div", p.name, "ccmap-popup-title"));
  box.appendChild(el("div", t("道路 {street} m，测评点位 {points} 个，面积 {area} m²", {
    street: Math.round(p.street_m), points: p.test_points, area: Math.round(p.area_m2) })));
  var accept = el("button", t("采用并填写责任信息"), "ccmap-zone-edit ccmap-accept");
  accept.type = "button";
  accept.addEventListener("click", function () {
    state.map.openPopup(L.popup({ minWidth: 240 }).setLatLng(lyr.getBounds().getCenter())
      .setContent(zoneForm(state, f.geometry, { name: p.name }, function (doc) {
        drafts.removeLayer(lyr);
        state.undo.push({ id: doc.id, created: true });
        afterSave(state, doc, t("新建"));
      })));
  });
  box.appendChild(accept);
  return box;
}

/* 分配: a street/alley to a cadre (路长), a point to a unit. */
export function assignButton(kind, props, state) {
  var line = kind === "street" || kind === "alley";
  var b = el("button", line ? t("指定路长") : t("指定责任单位"), "ccmap-zone-edit ccmap-assign");
  b.type = "button";
  b.addEventListener("click", function () {
    var who = window.prompt(line ? t("路长/街长姓名") : t("责任单位名称"),
                            (line ? props.cadre : props.unit) || "");
    if (who === null) { return; }
    var values = line ? { cadre: who } : { unit: who };
    api("PUT", "/api/features/" + props.id + "/assignment",
        { values: values, version: props.version })
      .then(function (doc) {
        state.map.closePopup();
        toast(t("「{name}」已指定", { name: doc.properties.name || "" }) +
              (line ? t("路长：") : t("责任单位：")) + who);
        state.load(kind);
      })
      .catch(function (err) { toast("指定失败：" + err.message); });
  });
  return b;
}

/* 按责任区拆分: cut a street at zone boundaries so its parts get their own cadres. */
export function splitSegmentButton(props, state, kind) {
  var b = el("button", t("按责任区拆分"), "ccmap-zone-edit ccmap-split-segment");
  b.type = "button";
  b.addEventListener("click", function () {
    api("POST", "/api/features/" + props.id + "/split-at-zones").then(function (doc) {
      state.map.closePopup();
      toast(t("「{name}」已拆分为 {n} 段",
                  { name: props.name || t("路段"), n: doc.features.length }));
      state.load(kind);
    }).catch(function (err) { toast("拆分失败：" + err.message); });
  });
  return b;
}
