/* Dashboard: KPIs with the previous period, trend bars, top categories, zones, the evaluation
 * indicators (indicators.js) and the ranking by either basis.
 * Clicking a category or a zone opens the map filtered to it. All text via textContent. */
import { el, getJson, pct, t } from "./core.js";
import { indicatorHeader, indicatorRow, loadIndicators } from "./indicators.js";

var LABELS = { new: "新增问题", closed: "结案", overdue: "超期", recurring: "回潮",
               rectification_rate: "整改率", on_time_closure_rate: "按期结案率",
               recurrence_rate: "回潮率" };

const get = getJson;

function render(doc) {
  document.getElementById("dash-title").textContent = "本期概况（" + doc.period + "）";
  var kpis = document.getElementById("kpis");
  kpis.textContent = "";
  Object.keys(LABELS).forEach(function (k) {
    var card = el("div", null, "kpi");
    card.dataset.kpi = k;
    var rate = k.indexOf("rate") > 0;
    card.appendChild(el("div", LABELS[k], "kpi-label"));
    card.appendChild(el("div", rate ? pct(doc.kpis[k]) : doc.kpis[k], "kpi-value"));
    var prev = doc.previous[k];
    card.appendChild(el("div", "上期 " + (rate ? pct(prev) : prev), "kpi-prev"));
    kpis.appendChild(card);
  });
  var trend = document.getElementById("trend");
  trend.textContent = "";
  var max = Math.max.apply(null, doc.trend.map(function (t) {
    return Math.max(t.new, t.closed);
  }).concat([1]));
  doc.trend.forEach(function (t) {
    var col = el("div", null, "trend-col");
    var bars = el("div", null, "trend-bars");
    [["new", "#c0392b"], ["closed", "#3cb44b"]].forEach(function (pair) {
      var bar = el("div", null, "trend-bar");
      bar.style.height = Math.round(120 * t[pair[0]] / max) + "px";
      bar.style.background = pair[1];
      bar.title = (pair[0] === "new" ? "新增 " : "结案 ") + t[pair[0]];
      bars.appendChild(bar);
    });
    col.appendChild(bars);
    col.appendChild(el("div", t.week.slice(5), "trend-label"));
    trend.appendChild(col);
  });
  fill("top-categories", doc.top_categories, function (c) {
    var a = el("a", c.label + "（" + c.count + "）");
    a.href = "/?category=" + encodeURIComponent(c.code);
    return a;
  });
  fill("worst-zones", doc.worst_zones, function (z) {
    var a = el("a", z.name + "：" + z.score + " 分，" + z.issues + " 个问题");
    a.href = "/?zone_name=" + encodeURIComponent(z.name);
    return a;
  });
  fill("improved-zones", doc.most_improved, function (z) {
    return el("span", z.name + "：↑" + z.change + " 名，" + z.score + " 分");
  });
}

function fill(id, rows, make) {
  var list = document.getElementById(id);
  list.textContent = "";
  if (!rows.length) { list.appendChild(el("li", t("none"))); }
  rows.forEach(function (r) {
    var li = el("li");
    li.appendChild(make(r));
    list.appendChild(li);
  });
}

var currentPeriod = "";
var ISSUE_HEADERS = ["排名", "名称", "得分", "升降", "问题数", "整改率", "按期结案率", "回潮率"];
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
      ISSUE_HEADERS.forEach(function (h) { head.appendChild(el("th", h)); });
      table.tHead.appendChild(head);
    }
    var tbody = table.tBodies[0];
    tbody.textContent = "";
    rows.forEach(function (r) {
      tbody.appendChild(basis === "indicators" ? indicatorRow(r) : issueRow(r));
    });
  });
  document.getElementById("formula").textContent = basis === "indicators"
    ? "按考评指标的综合指标值排名（公式见上方考评指标）" : issueFormula;
  document.getElementById("ranking-csv").href = q + "&format=csv";
}

function load(period) {
  currentPeriod = period;
  get("/api/dashboard" + (period ? "?period=" + encodeURIComponent(period) : ""))
    .then(render);
  ranking(period ? encodeURIComponent(period) : "");
  loadIndicators(period);
}

get("/api/ranking/formula").then(function (f) {
  issueFormula = f.formula + "（" + f.notes + "）";
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
