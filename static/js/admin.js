/* Admin page: list and add users and units, read the audit log. Text only via textContent. */
import { api, dateTime, el, t } from "./core.js";

var ROLES = { admin: "管理员", planner: "规划人员", inspector: "督导/网格员", unit: "包保单位",
              viewer: "领导（只读）" };
var KINDS = { unit: "包保单位", community: "社区", subdistrict: "街道" };
var message = document.getElementById("admin-message");

function fill(id, rows, cells) {
  var tbody = document.querySelector("#" + id + " tbody");
  tbody.textContent = "";
  rows.forEach(function (row) {
    var tr = el("tr");
    cells(row).forEach(function (value) { tr.appendChild(el("td", value)); });
    tbody.appendChild(tr);
  });
}
function load() {
  api("GET", "/api/users").then(function (rows) {
    fill("users", rows, function (u) {
      return [u.username, u.display_name, ROLES[u.role] || u.role, u.unit, u.email,
              u.active ? "启用" : "停用"];
    });
  });
  api("GET", "/api/units").then(function (rows) {
    fill("units", rows, function (u) { return [u.name, KINDS[u.kind] || u.kind, u.parent]; });
  });
  api("GET", "/api/audit?limit=200").then(function (rows) {
    fill("audit", rows, function (a) {
      return [dateTime(a.at), a.actor, a.action,
              a.object_type + (a.object_id ? " " + a.object_id : ""), JSON.stringify(a.diff)];
    });
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
