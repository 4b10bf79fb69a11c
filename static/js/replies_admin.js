/* The admin page's reply templates (回复模板): list, add and delete them. Text only via
 * textContent. */
import { api, button, el, t } from "./core.js";

const choices = JSON.parse(document.getElementById("reply-config").textContent);
const message = document.getElementById("admin-message");
const form = document.getElementById("reply-form");

function fillSelect(select, labels) {
  Object.keys(labels).forEach(function (code) {
    const o = el("option", t(labels[code]));
    o.value = code;
    select.appendChild(o);
  });
}

function load() {
  api("GET", "/api/reply-templates?limit=1000").then(function (page) {
    const tbody = document.querySelector("#reply-templates tbody");
    tbody.textContent = "";
    page.items.forEach(function (tpl) {
      const tr = el("tr");
      [t(choices.categories[tpl.category] || t("任意")), t(choices.statuses[tpl.status] || t("任意")),
       tpl.title, tpl.text].forEach(function (v) { tr.appendChild(el("td", v)); });
      const td = el("td");
      td.appendChild(button(t("删除"), null, function () {
        api("DELETE", "/api/reply-templates/" + tpl.id).then(load)
          .catch(function (err) { message.textContent = t("saveFailed") + err.message; });
      }));
      tr.appendChild(td);
      tbody.appendChild(tr);
    });
  }).catch(function (err) { message.textContent = t("cannotLoad") + err.message; });
}

const field = function (name) { return form.elements.namedItem(name); };
fillSelect(field("category"), choices.categories);
fillSelect(field("status"), choices.statuses);
form.addEventListener("submit", function (ev) {
  ev.preventDefault();
  const body = { title: field("title").value, text: field("text").value,
                 category: field("category").value || null,
                 status: field("status").value || null };
  api("POST", "/api/reply-templates", body)
    .then(function () { message.textContent = t("saved"); form.reset(); load(); })
    .catch(function (err) { message.textContent = t("saveFailed") + err.message; });
});
load();
