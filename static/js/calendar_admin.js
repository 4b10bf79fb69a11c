/* The admin page's working calendar (工作日历: the office's own days off and 调休 workdays,
 * e.g. next year's schedule before the holiday package knows it) and the time limits
 * (处置时限) per category and urgency. Text only via textContent. */
import { api, button, el, t } from "./core.js";

const UNITS = { working_hours: t("工作时"), working_days: t("工作日"), hours: t("小时"),
                days: t("天") };
const message = document.getElementById("admin-message");
const dayForm = document.getElementById("calendar-form");
const yearInput = document.getElementById("calendar-year");
const limitsBody = document.querySelector("#time-limits tbody");

function fail(err) { message.textContent = t("saveFailed") + err.message; }

function loadDays() {
  const year = yearInput.value ? "&year=" + encodeURIComponent(yearInput.value) : "";
  return api("GET", "/api/calendar/days?limit=1000" + year).then(function (page) {
    const tbody = document.querySelector("#calendar-days tbody");
    tbody.textContent = "";
    page.items.forEach(function (d) {
      const tr = el("tr");
      [d.start_date, d.end_date, t(d.kind_label), d.note, d.created_by]
        .forEach(function (v) { tr.appendChild(el("td", v)); });
      const td = el("td");
      td.appendChild(button(t("删除"), "ccmap-small", function () {
        api("DELETE", "/api/calendar/days/" + d.id).then(loadDays).catch(fail);
      }));
      tr.appendChild(td);
      tbody.appendChild(tr);
    });
    document.getElementById("calendar-count").textContent =
      page.numberMatched > page.numberReturned
        ? t("共 {matched} 条，显示前 {returned} 条",
            { matched: page.numberMatched, returned: page.numberReturned })
        : t("共 {matched} 条", { matched: page.numberMatched });
  }).catch(function (err) { message.textContent = t("cannotLoad") + err.message; });
}

function unitSelect(current) {
  const select = el("select");
  Object.keys(UNITS).forEach(function (code) {
    const o = el("option", UNITS[code]);
    o.value = code;
    o.selected = code === current;
    select.appendChild(o);
  });
  return select;
}

function limitRow(lim) {
  const tr = el("tr", null, lim.office ? "office-limit" : "");
  tr.dataset.category = lim.category;
  tr.dataset.urgency = lim.urgency;
  tr.appendChild(el("td", t(lim.category_label)));
  tr.appendChild(el("td", t(lim.urgency_label)));
  const amount = el("input");
  amount.type = "number";
  amount.min = "0.1";
  amount.step = "any";
  amount.value = lim.amount;
  const unit = unitSelect(lim.unit);
  [amount, unit].forEach(function (input) {
    const td = el("td");
    td.appendChild(input);
    tr.appendChild(td);
  });
  tr.appendChild(el("td", t(lim.default.label)));
  const td = el("td");
  td.appendChild(button(t("保存"), "ccmap-small", function () {
    saveLimit(lim, Number(amount.value), unit.value);
  }));
  if (lim.office) {
    td.appendChild(button(t("恢复默认"), "ccmap-small", function () { saveLimit(lim, null, null); }));
  }
  tr.appendChild(td);
  return tr;
}

function saveLimit(lim, amount, unit) {
  api("PUT", "/api/time-limits",
      { limits: [{ category: lim.category, urgency: lim.urgency, amount: amount, unit: unit }] })
    .then(function (rows) { message.textContent = t("saved"); showLimits(rows); })
    .catch(fail);
}

function showLimits(rows) {
  limitsBody.textContent = "";
  rows.forEach(function (lim) { limitsBody.appendChild(limitRow(lim)); });
}

dayForm.addEventListener("submit", function (ev) {
  ev.preventDefault();
  const f = function (name) { return dayForm.elements.namedItem(name).value; };
  const day = { start_date: f("start_date"), kind: f("kind"), note: f("note") };
  if (f("end_date")) { day.end_date = f("end_date"); }
  api("POST", "/api/calendar/days", { days: [day] })
    .then(function () { message.textContent = t("saved"); dayForm.reset(); loadDays(); })
    .catch(fail);
});
yearInput.addEventListener("change", loadDays);
loadDays();
api("GET", "/api/time-limits").then(showLimits)
  .catch(function (err) { message.textContent = t("cannotLoad") + err.message; });
