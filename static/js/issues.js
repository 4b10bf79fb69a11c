/* Issue ledger on the map: click-to-report, popups with history and next actions, links from
 * the dashboard that open the map filtered; the filter panel is filters.js. All user text is
 * inserted with textContent (core.js el). */
import { clockSection, reworkForm } from "./casework.js";
import { api, button, dateTime, el, fetchCollection, formEnd, row, selectOf, t, toast }
  from "./core.js";
import { filterControl } from "./filters.js";

const ACTIONS = { accepted: t("立案"), rejected: t("不予立案"), dispatched: t("派遣"), handled: t("处置完成"),
                  verified: t("核查通过"), returned: t("退回"), closed: t("结案"), deferred: t("挂账") };

/* A <select> of an object's {code: label}. */
function select(name, options) {
  return selectOf(name, Object.keys(options).map(function (c) { return [c, options[c]]; }));
}

// the notes ccmap itself writes, in Chinese, shown in the page's language (an issue's first)
const SYSTEM_NOTES = { "创建": t("创建") };

/* Popup of one issue: details, history (留痕), photos, who holds it (认领) and the allowed next
 * actions. */
export function popup(id, state) {
  const box = el("div", t("loading"), "ccmap-popup ccmap-issue");
  render(box, id, state);
  return box;
}

function render(box, id, state) {
  api("GET", "/api/issues/" + id).then(function (issue) {
    box.textContent = "";
    box.appendChild(el("div", "#" + issue.id + " " + t(issue.category_label),
                       "ccmap-popup-title"));
    box.appendChild(el("div", t(issue.status_label) + (issue.overdue ? t(" · 已超期") : "") +
                       (issue.recurring_of ? t(" · 回潮") : ""), "ccmap-popup-kind"));
    box.appendChild(issueTable(issue));
    box.appendChild(clockSection(issue, changed(state)));
    issue.photos.forEach(function (p) {
      const img = document.createElement("img");
      img.src = p.url;
      img.alt = { after: t("整改后"), before: t("整改前"), rework: t("核查(返工)") }[p.stage] || p.stage;
      img.className = "ccmap-photo";
      img.addEventListener("load", function () { refit(box, state); });
      box.appendChild(img);
    });
    box.appendChild(el("div", t("处理记录"), "ccmap-legend-title"));
    const list = el("ol", null, "ccmap-history");
    issue.history.forEach(function (h) {
      const label = (state.config.statuses[h.to_status] || {}).label || h.to_status;
      const note = SYSTEM_NOTES[h.note] || h.note;
      list.appendChild(el("li", dateTime(h.at) + " " + h.actor.replace("user:", "") +
                          " → " + t(label) + (note ? t("：") + note : "")));
    });
    box.appendChild(list);
    box.appendChild(actionButtons(state, issue, function () { render(box, id, state); }));
    refit(box, state);
  }).catch(function (err) { box.textContent = t("cannotLoad") + err.message; });
}

/* The open popup holding box fitted once its details arrive: no taller than the map allows
 * (it scrolls), and panned fully into view, clear of the title bar above. Not popup.update():
 * a popup bound with a function would build its content (and fetch it) again. */
function refit(box, state) {
  state.map.eachLayer(function (layer) {
    if (!(layer instanceof L.Popup) || !layer.isOpen() || !layer.getElement().contains(box)) {
      return;
    }
    const content = layer.getElement().querySelector(".leaflet-popup-content");
    content.style.maxHeight = Math.max(200, state.map.getSize().y - 300) + "px";
    content.style.overflowY = "auto";
    const view = state.map.getContainer().getBoundingClientRect();
    const r = layer.getElement().getBoundingClientRect();
    const top = view.top + 70;
    const dy = r.top < top ? r.top - top : Math.max(0, r.bottom - (view.bottom - 20));
    const dx = r.left < view.left + 20 ? r.left - view.left - 20
      : Math.max(0, r.right - (view.right - 20));
    if (dx || dy) { state.map.panBy([dx, dy], { animate: false }); }
  });
}

function issueTable(issue) {
  const table = el("table");
  [[t("问题描述"), issue.description], [t("地址"), issue.address],
   [t("来源"), t(issue.source_label)], [t("上报人"), issue.reporter],
   [t("定位精度"), issue.accuracy_m == null ? "" :
     t("±{m} 米", { m: Math.round(issue.accuracy_m) })],
   [t("上报时间"), dateTime(issue.reported_at)], [t("派遣时间"), dateTime(issue.dispatched_at)],
   [t("整改时限"), dateTime(issue.deadline)],
   [t("责任单位"), issue.unit || t("（未覆盖区域）")], [t("路长"), issue.cadre],
   [t("紧急程度"), issue.urgency === "urgent" ? t("紧急") : ""],
   [t("认领"), issue.claimed_by ? issue.claimed_by +
     t("（至 {until}）", { until: dateTime(issue.claimed_until) }) : ""],
   [t("关联举报"), (issue.linked_reports || []).map(function (r) {
     return "#" + r.id + " " + (r.reporter || t("未署名"));
   }).join(t("，"))]]
    .forEach(function (pair) {
      if (pair[1]) { table.appendChild(row(pair[0], pair[1])); }
    });
  return table;
}

/* What the popup does after a change: close, say what happened, reload the issues. */
function changed(state) {
  return function (message) {
    state.map.closePopup();
    toast(message);
    state.load("issues");
  };
}

/* A button for each status the issue may move to next (立案, 派遣 …), which opens the note
 * form (退回 of a handled case — 核查 failed, 返工 — opens the form that asks for the reason
 * and a photo), and the claim button (认领 / 释放). */
function actionButtons(state, issue, reload) {
  const wrap = el("div"), actions = el("div", null, "ccmap-actions");
  const form = el("div", null, "ccmap-note-form");
  (issue.allowed_next || []).forEach(function (to) {
    if (to === "returned" && issue.status === "handled") {
      const rework = reworkForm(issue, changed(state));
      rework.hidden = true;
      const rb = button(t("退回返工"), null, function () { rework.hidden = !rework.hidden; });
      rb.dataset.to = to;
      actions.appendChild(rb);
      actions.appendChild(rework);
      return;
    }
    const b = button(ACTIONS[to] || to, null, function () { noteForm(state, issue, to, form); });
    b.dataset.to = to;
    actions.appendChild(b);
  });
  if ((issue.allowed_next || []).length || issue.claimed_by) {
    actions.appendChild(button(issue.claimed_by ? t("释放认领") : t("认领"), "ccmap-claim", function () {
      api(issue.claimed_by ? "DELETE" : "POST", "/api/issues/" + issue.id + "/claim")
        .then(function (c) {
          toast("#" + issue.id + (c.claimed_by ? t(" 已认领，至 {until}",
                                                   { until: dateTime(c.claimed_until) })
                                              : t(" 已释放认领")));
          reload();
        })
        .catch(function (err) { toast(err.message); });
    }));
  }
  wrap.appendChild(actions);
  wrap.appendChild(form);
  return wrap;
}

/* The note of a status change (the public-facing reply): typed, or filled from a reply
 * template (回复模板) of the issue's category and the new status. */
function noteForm(state, issue, to, box) {
  const id = issue.id, label = ACTIONS[to] || to;
  box.textContent = "";
  const form = el("form", null, "ccmap-report");
  form.appendChild(el("label", t("{action}：处理说明（对外回复，可选）", { action: label })));
  const pick = selectOf("template", [["", t("选择回复模板…")]]);
  pick.hidden = true;
  form.appendChild(pick);
  const note = el("textarea");
  note.name = "note";
  form.appendChild(note);
  api("GET", "/api/issues/" + id + "/reply-templates?next_status=" + encodeURIComponent(to))
    .then(function (list) {
      list.forEach(function (tpl) {
        const o = el("option", tpl.title);
        o.value = tpl.filled;
        pick.appendChild(o);
      });
      pick.hidden = !list.length;
    }).catch(function () { pick.hidden = true; });
  pick.addEventListener("change", function () { if (pick.value) { note.value = pick.value; } });
  const msg = formEnd(form, t("确认{action}", { action: label }));
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    api("POST", "/api/issues/" + id + "/transitions",
        { to: to, version: issue.version, note: note.value })
      .then(function (updated) {
        state.map.closePopup();
        toast(t("#{id} 已{action}，当前状态：{status}",
                { id: id, action: label, status: t(updated.status_label) }));
        state.load("issues");
      })
      .catch(function (err) { msg.textContent = err.message; });
  });
  box.appendChild(form);
  note.focus();
}

function reportForm(state, latlng) {
  var cfg = state.config;
  var form = el("form", null, "ccmap-report");
  form.appendChild(el("div", t("上报问题"), "ccmap-popup-title"));
  form.appendChild(el("label", t("问题类型")));
  form.appendChild(select("category", cfg.issueCategories));
  form.appendChild(el("label", t("来源")));
  form.appendChild(select("source", cfg.sources));
  form.appendChild(el("label", t("问题描述")));
  var desc = el("textarea");
  desc.name = "description";
  form.appendChild(desc);
  form.appendChild(el("label", t("现场照片（JPEG/PNG）")));
  var photo = el("input");
  photo.type = "file";
  photo.accept = "image/jpeg,image/png";
  photo.name = "photo";
  form.appendChild(photo);
  const msg = formEnd(form, t("submit"));
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var body = { category: form.category.value, source: form.source.value,
                 description: desc.value, lon: latlng.lng, lat: latlng.lat,
                 coords: cfg.coords };
    api("POST", "/api/issues", body).then(function (issue) {
      var done = Promise.resolve();
      if (photo.files.length) {
        var fd = new FormData();
        fd.append("file", photo.files[0]);
        fd.append("stage", "before");
        done = api("POST", "/api/issues/" + issue.id + "/photos", fd, true);
      }
      return done.then(function () {
        state.map.closePopup();
        toast(t("已上报 #{id}，责任单位：{unit}",
                { id: issue.id, unit: issue.unit || t("uncoveredArea") }) +
              (issue.duplicate_candidates.length ? t("；附近已有同类问题 #{ids}，可能重复",
                { ids: issue.duplicate_candidates.join(", #") }) : ""));
        state.load("issues");
      });
    }).catch(function (err) { msg.textContent = t("上报失败：") + err.message; });
  });
  return form;
}

function reportControl(state) {
  var map = state.map;
  // while picking a location a transparent layer over the features takes the click, so
  // no feature popup opens instead of the report form
  var capture = el("div", null, "ccmap-capture");
  capture.hidden = true;
  map.getContainer().appendChild(capture);
  var ctl = L.control({ position: "topleft" });
  ctl.onAdd = function () {
    var b = el("button", t("上报问题"), "ccmap-report-button");
    b.type = "button";
    b.title = t("点击按钮后在地图上点选问题位置");
    L.DomEvent.disableClickPropagation(b);
    b.addEventListener("click", function () { setReporting(!state.reporting); });
    state.reportButton = b;
    return b;
  };
  function setReporting(on) {
    state.reporting = on;
    capture.hidden = !on;
    state.reportButton.classList.toggle("active", on);
    state.reportButton.textContent = on ? t("请在地图上点选位置…") : t("上报问题");
  }
  capture.addEventListener("click", function (ev) {
    // the map never sees this click: as a click on the map, it would close the form's popup
    L.DomEvent.stop(ev);
    var latlng = map.mouseEventToLatLng(ev);
    setReporting(false);
    L.popup({ minWidth: 260 }).setLatLng(latlng).setContent(reportForm(state, latlng))
      .openOn(map);
  });
  ctl.addTo(map);
}

/* Links from the dashboard open the map filtered: ?category=CODE or ?zone_name=NAME. */
function applyUrlFilter(state) {
  var params = new URLSearchParams(window.location.search);
  var category = params.get("category");
  if (category) {
    var sel = document.querySelector(".ccmap-filter select[name=category]");
    if (sel) { sel.value = category; }
    state.issueFilter = "&category=" + encodeURIComponent(category);
  }
  var zoneName = params.get("zone_name");
  if (zoneName) {
    state.afterFirstLoad = function () {
      // zones drawn from vector tiles have no GeoJSON on the page: ask for this one
      var zones = state.layers.zone.getLayers
        ? Promise.resolve(state.layers.zone.getLayers())
        : fetchCollection("/api/layers/zone?coords=" +
            encodeURIComponent(state.config.coords) + "&properties=" +
            encodeURIComponent(JSON.stringify({ name: zoneName })), 1)
          .then(function (doc) { return L.geoJSON(doc).getLayers(); });
      zones.then(function (layers) {
        var zone = layers.find(function (l) { return l.feature.properties.name === zoneName; });
        if (!zone) { toast(t("找不到责任区「{name}」", { name: zoneName })); return; }
        var form = document.querySelector(".ccmap-filter");
        if (form) {  // the panel shows the zone, and later filters keep it
          form.zone.value = String(zone.feature.properties.id);
          form.zone_name.value = zoneName;
        }
        state.issueFilter = "&zone=" + zone.feature.properties.id;
        state.map.fitBounds(zone.getBounds(), { maxZoom: 18 });
        toast(t("只显示「{name}」的问题", { name: zoneName }));
      });
    };
  }
}

/* ?issue=ID (a link to one case): the map centred on it with its popup open (WGS84 position:
 * on a GCJ-02 basemap the centre is off by the basemap's shift, the popup is the same). */
function openLinkedIssue(state) {
  const id = Number(new URLSearchParams(window.location.search).get("issue"));
  if (!id) { return; }
  api("GET", "/api/issues/" + id).then(function (issue) {
    const at = L.latLng(issue.lat, issue.lon);
    state.map.setView(at, Math.max(state.map.getZoom(), 17), { animate: false });
    L.popup({ minWidth: 280, maxWidth: 360 }).setLatLng(at).setContent(popup(id, state))
      .openOn(state.map);
  }).catch(function (err) { toast(t("无法打开问题 #{id}：", { id: id }) + err.message); });
}

export function init(state) {
  state.issueFilter = "";
  filterControl(state);
  if (state.config.canReport) { reportControl(state); }
  applyUrlFilter(state);
  openLinkedIssue(state);
}
