/* The evaluation indicators (考评指标) on the dashboard: the whole scope's line with the change
 * against the previous period (环比) and a table per unit, zone, community or category from
 * /api/indicators/report (a bad period: the server's reason). Rates come in percent (2 decimals, as bulletins print them); a rate
 * or score of a group with nothing due is null ("—"). All text via textContent. */
import { api, el, num, t, trTerms } from "./core.js";

/* The table's columns: [key, header, kind] (kind: count, rate, score). */
export const COLUMNS = [
  ["rank", t("排名"), "count"], ["name", t("名称"), "text"], ["registered", t("立案数"), "count"],
  ["due", t("应结案数"), "count"], ["closed", t("结案数"), "count"], ["closure_rate", t("结案率"), "rate"],
  ["closed_on_time", t("按期结案数"), "count"], ["on_time_rate", t("按期结案率"), "rate"],
  ["rework_rate", t("返工率"), "rate"], ["extension_rate", t("延期率"), "rate"],
  ["overdue", t("超期数"), "count"], ["score", t("综合指标值"), "score"]
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
  COLUMNS.forEach(function (c) { tr.appendChild(el("th", t(c[1]))); });
  tr.appendChild(el("th", t("综合指标值环比")));
  tr.appendChild(el("th", t("按期结案率环比")));
  return tr;
}

function summary(doc) {
  const s = doc.total;
  const c = s.change;
  const pp = function (v) {
    return v === null ? "" : t("（环比 {change} 个百分点）", { change: changeText(v) });
  };
  return t(doc.total.name) + t("本期（{period}，上期 {previous}）立案 {registered} 件，" +
    "应结案 {due} 件，结案 {closed} 件，结案率 {closure_rate}", {
    period: doc.period, previous: doc.previous_period.period, registered: num(s.registered),
    due: num(s.due), closed: num(s.closed), closure_rate: shown(s.closure_rate, "rate")
  }) + pp(c.closure_rate) + t("；按期结案 {closed_on_time} 件，按期结案率 {on_time_rate}", {
    closed_on_time: num(s.closed_on_time), on_time_rate: shown(s.on_time_rate, "rate")
  }) + pp(c.on_time_rate) + t("；返工率 {rework_rate}，延期率 {extension_rate}，超期 {overdue} " +
    "件；综合指标值 {score}", {
    rework_rate: shown(s.rework_rate, "rate"), extension_rate: shown(s.extension_rate, "rate"),
    overdue: num(s.overdue), score: shown(s.score, "score")
  }) + (c.score === null ? "" : t("（环比 {change}）", { change: changeText(c.score) })) +
    t("。");
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
    document.getElementById("indicator-formula").textContent = trTerms(doc.formula) +
      t(doc.exclude_deferred ? t("；应结案数不含缓办案件") : t("；应结案数含缓办案件"));
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
