/* Admin page: list and add users and units, read the audit log. Text only via textContent. */
import { api, dateTime, el, t } from "./core.js";

var ROLES = { admin: t("管理员"), planner: t("规划人员"), inspector: t("督导/网格员"), unit: t("包保单位"),
              viewer: t("领导（只读）") };
var KINDS = { unit: t("包保单位"), community: t("社区"), subdistrict: t("街道") };
var message = document.getElementById("admin-message");

var AUDIT_PAGE = 200;  // audit entries a page (the log of a city's centre holds millions)

/* Rows into a table's body (after those there with `keep`); the cell at index `raw` (if any)
 * is data shown as stored (an audit entry's change): marked translate="no". */
function fill(id, rows, cells, raw, keep) {
  var tbody = document.querySelector("#" + id + " tbody");
  if (!keep) { tbody.textContent = ""; }
  rows.forEach(function (row) {
    var tr = el("tr");
    cells(row).forEach(function (value, i) {
      var td = el("td", value);
      if (i === raw) { td.setAttribute("translate", "no"); }
      tr.appendChild(td);
    });
    tbody.appendChild(tr);
  });
}
/* Show only the rows of table `id` holding the text of its filter box (#id-filter), and say
 * how many of how many (#id-count): a city's centre has hundreds of users and units. */
function filterRows(id) {
  var words = document.getElementById(id + "-filter").value.trim().toLowerCase();
  var rows = document.querySelectorAll("#" + id + " tbody tr");
  var shown = 0;
  rows.forEach(function (tr) {
    tr.hidden = !!words && tr.textContent.toLowerCase().indexOf(words) < 0;
    if (!tr.hidden) { shown++; }
  });
  document.getElementById(id + "-count").textContent =
    t("显示 {n} / {total} 条", { n: shown, total: rows.length });
}
["users", "units"].forEach(function (id) {
  document.getElementById(id + "-filter").addEventListener("input", function () {
    filterRows(id);
  });
});
function load() {
  api("GET", "/api/users").then(function (rows) {
    fill("users", rows, function (u) {
      return [u.username, u.display_name, t(ROLES[u.role] || u.role), u.unit, u.email,
              t(u.active ? t("启用") : t("停用"))];
    });
    filterRows("users");
  });
  api("GET", "/api/units").then(function (rows) {
    fill("units", rows, function (u) { return [u.name, t(KINDS[u.kind] || u.kind), u.parent]; });
    filterRows("units");
  });
  api("GET", "/api/units/unregistered").then(showUnregistered);
  loadAudit(false);
}
/* The units the zones name that are not registered: each with its zones and a 登记 button,
 * and 全部登记 (a unit's own users can only be made for a registered unit). */
function showUnregistered(rows) {
  document.getElementById("unregistered").hidden = !rows.length;
  document.getElementById("unregistered-count").textContent =
    t("责任区中有 {n} 个责任单位未登记", { n: rows.length });
  var tbody = document.querySelector("#unregistered-units tbody");
  tbody.textContent = "";
  rows.forEach(function (u) {
    var tr = el("tr");
    tr.appendChild(el("td", u.name));
    tr.appendChild(el("td", String(u.zones)));
    var go = el("button", t("登记"), "ccmap-small");
    go.type = "button";
    go.addEventListener("click", function () { register([u.name]); });
    tr.appendChild(el("td")).appendChild(go);
    tbody.appendChild(tr);
  });
}
function register(names) {
  api("POST", "/api/units/register", names ? { names: names } : {})
    .then(function (done) {
      message.textContent = t("已登记 {n} 个单位", { n: done.registered.length });
      load();
    })
    .catch(function (err) { message.textContent = t("saveFailed") + err.message; });
}
document.getElementById("unregistered-all").addEventListener("click", function () {
  register(null);
});
/* The audit log, newest first, a page at a time: the first page, or (`more`) the next one
 * after those shown; says how many of how many are shown (X-Total-Count). */
function loadAudit(more) {
  var offset = more ? document.querySelectorAll("#audit tbody tr").length : 0;
  fetch("/api/audit?limit=" + AUDIT_PAGE + "&offset=" + offset, { credentials: "same-origin" })
    .then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      var total = Number(r.headers.get("X-Total-Count"));
      return r.json().then(function (rows) {
        fill("audit", rows, function (a) {
          return [dateTime(a.at), a.actor, a.action,
                  a.object_type + (a.object_id ? " " + a.object_id : ""), JSON.stringify(a.diff)];
        }, 4, more);
        var shown = offset + rows.length;
        document.getElementById("audit-count").textContent =
          t("显示最新 {n} 条，共 {total} 条", { n: shown, total: total });
        document.getElementById("audit-more").hidden = shown >= total;
      });
    })
    .catch(function (err) { message.textContent = t("cannotLoad") + err.message; });
}
document.getElementById("audit-more").addEventListener("click", function () {
  loadAudit(true);
});
/* How far the background tile seeding of the process that answered has got (/api/health). */
function tileStatus() {
  var out = document.getElementById("tile-status");
  api("GET", "/api/health").then(function (h) {
    var s = h.tile_reseed;
    if (!s) { out.textContent = t("后台预生成已关闭（CCMAP_TILE_RESEED_SECONDS=0）"); return; }
    if (!s.leader) { out.textContent = t("由本机另一服务进程预生成"); return; }
    if (!s.passes) { out.textContent = t("后台预生成即将开始"); return; }
    var city = s.city_seeded ? t("全市瓦片已预生成")
      : s.city_pending ? t("全市瓦片预生成中：剩余 {n} 块", { n: s.city_pending })
        : t("全市瓦片未预生成（可运行 ccmap tiles seed）");
    var parts = [city, t("待重建 {n} 块", { n: s.pending }),
                 t("本进程已生成 {n} 块", { n: s.built })];
    if (s.last_pass) { parts.push(t("上次 {at}", { at: dateTime(s.last_pass).slice(0, 19) })); }
    out.textContent = parts.join(t("；"));
  });
}
function bind(id, url) {
  var form = document.getElementById(id);
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var body = {};
    new FormData(form).forEach(function (v, k) { if (v !== "") { body[k] = v; } });
    api("POST", url, body)
      .then(function () { message.textContent = t("saved"); form.reset(); load(); })
      .catch(function (err) { message.textContent = t("saveFailed") + err.message; });
  });
}
bind("user-form", "/api/users");
bind("unit-form", "/api/units");
load();
tileStatus();
