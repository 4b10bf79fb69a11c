/* The per-unit workload table (GET /api/workload). */
(function () {
  "use strict";
  var KEYS = ["unit", "zones", "zone_area_m2", "street_km", "alley_km", "markets",
              "test_points", "open_issues"];
  fetch("/api/workload", { credentials: "same-origin" })
    .then(function (r) { return r.json(); })
    .then(function (rows) {
      var tbody = document.querySelector("#workload tbody");
      rows.forEach(function (row) {
        var tr = document.createElement("tr");
        KEYS.forEach(function (k) {
          var td = document.createElement("td");
          td.textContent = typeof row[k] === "number" ? row[k].toLocaleString() : row[k];
          tr.appendChild(td);
        });
        tbody.appendChild(tr);
      });
    });
})();
