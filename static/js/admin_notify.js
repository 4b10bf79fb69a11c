/* Admin page, notifications: the webhooks (add, remove; a new one's secret shown once) and the
 * delivery log of e-mails and webhook calls (by state, a page at a time, retry a failed one).
 * Text only via textContent. */
import { api, button, dateTime, el, t } from "./core.js";

const EVENTS = { dispatched: t("派遣"), due_soon: t("即将到期"), overdue: t("超期"), rework: t("返工"),
                 extension_decided: t("延期审批") };
const STATES = { pending: t("待发送"), sent: t("已发送"), failed: t("失败") };
const CHANNELS = { email: t("邮件"), webhook: "Webhook" };
const message = document.getElementById("admin-message");
const stateSelect = document.getElementById("delivery-state");
const more = document.getElementById("deliveries-more");
let nextPage = null;

/* A stored time to the second ("2026-12-03 21:22:59"). */
function when(iso) { return dateTime(iso).slice(0, 19); }

function cells(tr, values) {
  values.forEach(function (v) { tr.appendChild(el("td", v)); });
  return tr;
}

function fail(err) { message.textContent = t("saveFailed") + err.message; }

function loadWebhooks() {
  return api("GET", "/api/webhooks").then(function (rows) {
    const tbody = document.querySelector("#webhooks tbody");
    tbody.textContent = "";
    rows.forEach(function (w) {
      const tr = cells(el("tr"), [w.id, w.url,
        w.events.map(function (e) { return t(EVENTS[e] || e); }).join(t("、")), w.created_by,
        when(w.created_at)]);
      const td = el("td");
      td.appendChild(button(t("删除"), "ccmap-small", function () {
        api("DELETE", "/api/webhooks/" + w.id)
          .then(function () { loadWebhooks(); loadDeliveries(); }).catch(fail);
      }));
      tr.appendChild(td);
      tbody.appendChild(tr);
    });
  });
}

function deliveryRow(d) {
  const tr = cells(el("tr", null, "delivery-" + d.state), [d.id,
    t(CHANNELS[d.channel] || d.channel), d.target, t(EVENTS[d.event] || d.event),
    d.issue_id ? "#" + d.issue_id : "", t(STATES[d.state] || d.state), d.attempts, when(d.next_attempt_at), when(d.sent_at),
    d.last_error]);
  const td = el("td");
  if (d.state !== "sent") {
    td.appendChild(button(t("重试"), "ccmap-small", function () {
      api("POST", "/api/deliveries/" + d.id + "/retry")
        .then(function () {
          message.textContent = t("已安排重新发送 #{id}", { id: d.id });
          loadDeliveries();
        })
        .catch(fail);
    }));
  }
  tr.appendChild(td);
  return tr;
}

function showDeliveries(doc, append) {
  const tbody = document.querySelector("#deliveries tbody");
  if (!append) { tbody.textContent = ""; }
  doc.items.forEach(function (d) { tbody.appendChild(deliveryRow(d)); });
  nextPage = doc.next;
  more.hidden = !nextPage;
}

function loadDeliveries() {
  const state = stateSelect.value;
  return api("GET", "/api/deliveries?limit=50" + (state ? "&state=" + state : ""))
    .then(function (doc) { showDeliveries(doc, false); });
}

function eventBoxes() {
  const box = document.getElementById("webhook-events");
  Object.keys(EVENTS).forEach(function (code) {
    const label = el("label", null, "ccmap-check");
    const input = el("input");
    input.type = "checkbox";
    input.name = "events";
    input.value = code;
    input.checked = true;
    input.defaultChecked = true;  // a reset after adding ticks them all again
    label.appendChild(input);
    label.appendChild(document.createTextNode(t(EVENTS[code])));
    box.appendChild(label);
  });
}

function bindWebhookForm() {
  const form = document.getElementById("webhook-form");
  const secretLine = document.getElementById("webhook-secret");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    const data = new FormData(form);
    const body = { url: data.get("url"), events: data.getAll("events") };
    if (data.get("secret")) { body.secret = data.get("secret"); }
    api("POST", "/api/webhooks", body).then(function (w) {
      secretLine.textContent = t("已添加推送 #{id}，密钥（只显示这一次，请保存）：{secret}",
                                 { id: w.id, secret: w.secret });
      form.reset();
      loadWebhooks();
    }).catch(fail);
  });
}

stateSelect.addEventListener("change", loadDeliveries);
more.addEventListener("click", function () {
  if (!nextPage) { return; }
  const to = new URL(nextPage, window.location.href);
  api("GET", to.pathname + to.search).then(function (doc) { showDeliveries(doc, true); })
    .catch(fail);
});
eventBoxes();
bindWebhookForm();
loadWebhooks().catch(fail);
loadDeliveries().catch(fail);
