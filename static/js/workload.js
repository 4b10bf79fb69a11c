/* The per-unit workload table (GET /api/workload). */
import { el, getJson } from "./core.js";

var KEYS = ["unit", "zones", "zone_area_m2", "street_km", "alley_km", "markets",
            "test_points", "open_issues"];
getJson("/api/workload")
  .then(function (rows) {
    var tbody = document.querySelector("#workload tbody");
    rows.forEach(function (row) {
      var tr = el("tr");
      KEYS.forEach(function (k) {
        tr.appendChild(el("td", typeof row[k] === "number" ? row[k].toLocaleString() : row[k]));
      });
      tbody.appendChild(tr);
    });
  });
