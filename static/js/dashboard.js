/* Dashboard: KPIs with the previous period, trend bars, top categories, zones, the evaluation
 * indicators (indicators.js) and the ranking by either basis.
 * Clicking a category or a zone opens the map filtered to it. All text via textContent. */
import { el, getJson, pct, t, trTerms } from "./core.js";
import { indicatorHeader, indicatorRow, loadIndicators } from "./indicators.js";

var LABELS = { new: t("新增问题"), closed: t("结案"), overdue: t("超期"), recurring: t("回潮"),
               rectification_rate: t("整改率"), on_time_closure_rate: t("按期结案率"),
               recurrence_rate: t("回潮率") };

const get = getJson;

function render(doc) {
  document.getElementById("dash-title").textContent = t("本期概况（{period}）",
                                                        { period: doc.period });
  var kpis = document.getElementById("kpis");
  kpis.textContent = "";
  Object.keys(LABELS).forEach(function (k) {
    var card = el("div", null, "kpi");
    card.dataset.kpi = k;
    var rate = k.indexOf("rate") > 0;
    card.appendChild(el("div", t(LABELS[k]), "kpi-label"));
    card.appendChild(el("div", rate ? pct(doc.kpis[k]) : doc.kpis[k], "kpi-value"));
    var prev = doc.previous[k];
    card.appendChild(el("div", t("上期 {value}", { value: rate ? pct(prev) : prev }),
                        "kpi-prev"));
    kpis.appendChild(card);
  });
  var trend = document.getElementById("trend");
  trend.textContent = "";
  var max = Math.max.apply(null, doc.trend.map(function (w) {
    return Math.max(w.new, w.closed);
  }).concat([1]));
  // the bars' scale: the tallest bar's count (each bar's own count is its tooltip)
  var busiest = doc.trend.some(function (w) { return w.new || w.closed; });
  document.getElementById("trend-max").textContent = busiest
    ? t("（最高一周 {n} 件）", { n: max.toLocaleString() }) : t("（12 周内无问题）");
  doc.trend.forEach(function (w) {
    var col = el("div", null, "trend-col");
    var bars = el("div", null, "trend-bars");
    ["new", "closed"].forEach(function (key) {
      var bar = el("div", null, "trend-bar trend-" + key);
      bar.style.height = Math.round(120 * w[key] / max) + "px";
      bar.title = t(key === "new" ? t("新增 {n}") : t("结案 {n}"), { n: w[key] });
      bars.appendChild(bar);
    });
    col.appendChild(bars);
    col.appendChild(el("div", w.week.slice(5), "trend-label"));
    trend.appendChild(col);
  });
  fill("top-categories", doc.top_categories, function (c) {
    var a = el("a", t(c.label) + t("（{n}）", { n: c.count }));
    a.href = "/?category=" + encodeURIComponent(c.code);
    return a;
  });
  fill("worst-zones", doc.worst_zones, function (z) {
    var a = el("a", z.name + t("：{score} 分，{issues} 个问题",
                                 { score: z.score, issues: z.issues }));
    a.href = "/?zone_name=" + encodeURIComponent(z.name);
    return a;
  });
  fill("improved-zones", doc.most_improved, function (z) {
    var a = el("a", z.name + t("：{before} → {score} 分（+{gain}），{issues} 个问题",
                                  { before: z.previous_score, score: z.score,
                                    gain: z.gain, issues: z.issues }));
    a.title = t("上期 {n} 个问题；名次 ↑{change}", { n: z.previous_issues, change: z.change });
    a.href = "/?zone_name=" + encodeURIComponent(z.name);
    return a;
  }, t("（无：本期和上期各有至少 {n} 个问题的责任区中无得分上升）",
       { n: doc.improved_min_issues }));
}

function fill(id, rows, make, empty) {
  var list = document.getElementById(id);
  list.textContent = "";
  if (!rows.length) { list.appendChild(el("li", empty || t("none"))); }
  rows.forEach(function (r) {
    var li = el("li");
    li.appendChild(make(r));
    list.appendChild(li);
  });
}

var currentPeriod = "";
var ISSUE_HEADERS = [t("排名"), t("名称"), t("得分"), t("升降"), t("问题数"), t("整改率"), t("按期结案率"), t("回潮率")];
var issueFormula = "";

/* One row of the ranking by the issues' rates (basis issues). */
function issueRow(r) {
  var tr = el("tr");
  [r.rank, r.name, r.score, r.trend + (r.change ? Math.abs(r.change) : ""), r.issues,
   pct(r.rectification_rate), pct(r.on_time_closure_rate), pct(r.recurrence_rate)]
    .forEach(function (v) { tr.appendChild(el("td", v)); });
  return tr;
}

function ranking(period) {
  var level = document.getElementById("ranking-level").value;
  var basis = document.getElementById("ranking-basis").value;
  var q = "/api/ranking?level=" + level + "&basis=" + basis + (period ? "&period=" + period : "");
  get(q).then(function (rows) {
    var table = document.getElementById("ranking");
    table.tHead.textContent = "";
    if (basis === "indicators") {
      table.tHead.appendChild(indicatorHeader());
    } else {
      var head = el("tr");
      ISSUE_HEADERS.forEach(function (h) { head.appendChild(el("th", t(h))); });
      table.tHead.appendChild(head);
    }
    var tbody = table.tBodies[0];
    tbody.textContent = "";
    rows.forEach(function (r) {
      tbody.appendChild(basis === "indicators" ? indicatorRow(r) : issueRow(r));
    });
  });
  document.getElementById("formula").textContent = basis === "indicators"
    ? t("按考评指标的综合指标值排名（公式见上方考评指标）") : issueFormula;
  document.getElementById("ranking-csv").href = q + "&format=csv";
}

/* Say that the period's figures are on their way, or why they are not coming (a period the
 * server cannot read: the figures shown stay those of the last period that loaded). */
function status(text, isError) {
  var p = document.getElementById("dash-status");
  p.hidden = !text;
  p.textContent = text || "";
  p.classList.toggle("error", !!isError);
}

function load(period) {
  currentPeriod = period;
  status(t("加载中…"));
  get("/api/dashboard" + (period ? "?period=" + encodeURIComponent(period) : ""))
    .then(function (doc) { status(""); render(doc); },
          function (err) { status(err.message, true); });
  ranking(period ? encodeURIComponent(period) : "");
  loadIndicators(period);
}

get("/api/ranking/formula").then(function (f) {
  issueFormula = trTerms(f.formula) + t("（{notes}）", { notes: trTerms(f.notes) });
  if (document.getElementById("ranking-basis").value === "issues") {
    document.getElementById("formula").textContent = issueFormula;
  }
});
["ranking-level", "ranking-basis"].forEach(function (id) {
  document.getElementById(id).addEventListener("change", function () {
    ranking(currentPeriod ? encodeURIComponent(currentPeriod) : "");
  });
});
document.getElementById("indicator-level").addEventListener("change", function () {
  loadIndicators(currentPeriod);
});
document.getElementById("period-go").addEventListener("click", function () {
  load(document.getElementById("period").value.trim());
});
load("");
