/* The per-unit workload table (GET /api/workload): a city's hundred-odd units, sorted by any
 * column (a click on its name; again: the other way), areas in km². */
import { button, el, getJson } from "./core.js";

var KEYS = ["unit", "zones", "zone_area_m2", "street_km", "alley_km", "markets",
            "test_points", "open_issues"];
var rows = [];
var sorted = { key: null, down: false };

/* Decimals a column shows, always as many (a column of figures reads down its digits). */
var DECIMALS = { zone_area_m2: 3, street_km: 1, alley_km: 1 };

/* A cell's text: areas in km² (a unit's zones cover square kilometres), numbers grouped. */
function show(key, value) {
  if (typeof value !== "number") { return value; }
  var d = DECIMALS[key] || 0;
  return (key === "zone_area_m2" ? value / 1e6 : value).toLocaleString(
    undefined, { minimumFractionDigits: d, maximumFractionDigits: d });
}

function draw() {
  var tbody = document.querySelector("#workload tbody");
  tbody.textContent = "";
  rows.forEach(function (row) {
    var tr = el("tr");
    KEYS.forEach(function (k) {
      tr.appendChild(el("td", show(k, row[k]), k === "unit" ? null : "num"));
    });
    tbody.appendChild(tr);
  });
}

/* Sort by the column of `key`: numbers largest first, names in order; the same column again
 * reverses it. The header says which (aria-sort). */
function sortBy(key) {
  var down = sorted.key === key ? !sorted.down : key !== "unit";
  sorted = { key: key, down: down };
  rows.sort(function (a, b) {
    var x = a[key], y = b[key];
    var c = typeof x === "number" && typeof y === "number" ? x - y
      : String(x || "").localeCompare(String(y || ""), "zh-CN");
    return down ? -c : c;
  });
  document.querySelectorAll("#workload thead th").forEach(function (th, i) {
    th.setAttribute("aria-sort", KEYS[i] !== key ? "none" : down ? "descending" : "ascending");
  });
  draw();
}

document.querySelectorAll("#workload thead th").forEach(function (th, i) {
  var name = th.textContent;
  th.textContent = "";
  th.appendChild(button(name, "ccmap-sort", function () { sortBy(KEYS[i]); }));
  th.setAttribute("aria-sort", "none");
});

getJson("/api/workload").then(function (doc) {
  rows = doc;
  document.getElementById("workload-loading").hidden = true;
  draw();
}, function (err) {
  document.getElementById("workload-loading").textContent = err.message;
});
