/* The evaluation indicators (考评指标) on the dashboard: the whole scope's line with the change
 * against the previous period (环比) and a table per unit, zone, community or category from
 * /api/indicators/report (a bad period: the server's reason). Rates come in percent (2 decimals, as bulletins print them); a rate
 * or score of a group with nothing due is null ("—"). All text via textContent. */
import { api, el, num, t } from "./core.js";

/* The table's columns: [key, header, kind] (kind: count, rate, score). */
export const COLUMNS = [
  ["rank", "排名", "count"], ["name", "名称", "text"], ["registered", "立案数", "count"],
  ["due", "应结案数", "count"], ["closed", "结案数", "count"], ["closure_rate", "结案率", "rate"],
  ["closed_on_time", "按期结案数", "count"], ["on_time_rate", "按期结案率", "rate"],
  ["rework_rate", "返工率", "rate"], ["extension_rate", "延期率", "rate"],
  ["overdue", "超期数", "count"], ["score", "综合指标值", "score"]
];

/* A value of a column as the page shows it. */
export function shown(value, kind) {
  if (value === null || value === undefined) { return "—"; }
  if (kind === "rate") { return value.toFixed(2) + "%"; }
  if (kind === "score") { return value.toFixed(2); }
  return kind === "count" ? num(value) : String(value);
}

/* A change of a rate or score against the previous period: "↑1.20", "↓0.35", "→0.00" or
 * "—" (no value in one of the periods). */
export function changeText(value) {
  if (value === null || value === undefined) { return "—"; }
  return (value > 0 ? "↑" : value < 0 ? "↓" : "→") + Math.abs(value).toFixed(2);
}

/* A table row of one group: the columns, then 环比 of the score and of 按期结案率. */
export function indicatorRow(r) {
  const tr = el("tr");
  tr.dataset.name = r.name;
  COLUMNS.forEach(function (c) {
    const td = el("td", shown(r[c[0]], c[2]));
    td.dataset.key = c[0];
    tr.appendChild(td);
  });
  [["score", "score-change"], ["on_time_rate", "on-time-change"]].forEach(function (pair) {
    const v = r.change[pair[0]];
    const td = el("td", changeText(v), v > 0 ? "up" : v < 0 ? "down" : "");
    td.dataset.key = pair[1];
    tr.appendChild(td);
  });
  return tr;
}

/* The header row of indicatorRow's table. */
export function indicatorHeader() {
  const tr = el("tr");
  COLUMNS.forEach(function (c) { tr.appendChild(el("th", c[1])); });
  tr.appendChild(el("th", "综合指标值环比"));
  tr.appendChild(el("th", "按期结案率环比"));
  return tr;
}

function summary(doc) {
  const t = doc.total;
  const c = t.change;
  const pp = function (v) { return v === null ? "" : "（环比 " + changeText(v) + " 个百分点）"; };
  return doc.total.name + "本期（" + doc.period + "，上期 " + doc.previous_period.period +
    "）立案 " + num(t.registered) + " 件，应结案 " + num(t.due) + " 件，结案 " +
    num(t.closed) + " 件，结案率 " + shown(t.closure_rate, "rate") + pp(c.closure_rate) +
    "；按期结案 " + num(t.closed_on_time) + " 件，按期结案率 " +
    shown(t.on_time_rate, "rate") + pp(c.on_time_rate) + "；返工率 " +
    shown(t.rework_rate, "rate") + "，延期率 " + shown(t.extension_rate, "rate") +
    "，超期 " + num(t.overdue) + " 件；综合指标值 " + shown(t.score, "score") +
    (c.score === null ? "" : "（环比 " + changeText(c.score) + "）") + "。";
}

/* Load the indicators of the level chosen on the page for a period ("" = this week). */
export function loadIndicators(period) {
  const level = document.getElementById("indicator-level").value;
  const q = "?level=" + level + (period ? "&period=" + encodeURIComponent(period) : "");
  document.getElementById("indicators-csv").href = "/api/indicators" + q + "&format=csv";
  const said = document.getElementById("indicator-summary");
  return api("GET", "/api/indicators/report" + q).then(function (doc) {
    said.classList.remove("error");
    said.textContent = summary(doc);
    document.getElementById("indicator-formula").textContent = doc.formula +
      (doc.exclude_deferred ? "；应结案数不含缓办案件" : "；应结案数含缓办案件");
    const table = document.getElementById("indicators");
    table.tHead.textContent = "";
    table.tHead.appendChild(indicatorHeader());
    const body = table.tBodies[0];
    body.textContent = "";
    doc.rows.forEach(function (r) { body.appendChild(indicatorRow(r)); });
    if (!doc.rows.length) { body.appendChild(el("tr")).appendChild(el("td", t("none"))); }
    return doc;
  }).catch(function (err) {  // a bad period: the server's reason
    said.textContent = t("cannotLoad") + err.message;
    said.classList.add("error");
  });
}
