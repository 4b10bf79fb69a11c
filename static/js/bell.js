/* The notification bell (通知) in a page's header: the caller's unread count, refreshed every
 * minute; a click opens the newest notices (unread ones marked), a notice clicked is marked
 * read, "全部已读" marks them all. Notices are text (textContent), never HTML. On the pages of
 * server/templates (base.html loads this module) it mounts itself into the header bar; the map
 * page's title bar calls mountBell (static/js/map.js). Not logged in: no bell. */
import { api, button, dateTime, el, getJson, t } from "./core.js";

const LIST_URL = "/api/notifications?limit=20";
const POLL_MS = 60000;
const CSS = "/static/css/bell.css";

function ensureCss() {
  if (document.querySelector('link[href="' + CSS + '"]')) { return; }
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = CSS;
  document.head.appendChild(link);
}

function setCount(parts, unread) {
  parts.count.textContent = unread > 99 ? "99+" : String(unread);
  parts.count.hidden = unread === 0;
  parts.toggle.title = unread ? t("通知：{n} 条未读", { n: unread }) : t("通知：没有未读");
}

function item(parts, n) {
  const li = el("li", null, "ccmap-bell-item" + (n.read_at ? "" : " unread"));
  li.appendChild(el("div", n.message, "ccmap-bell-text"));
  li.appendChild(el("div", t(n.event_label) + " · " + dateTime(n.at).slice(0, 19),
                    "ccmap-bell-meta"));
  li.addEventListener("click", function () {
    if (n.read_at) { return; }
    api("POST", "/api/notifications/" + n.id + "/read").then(function (read) {
      n.read_at = read.read_at;
      li.classList.remove("unread");
      return refresh(parts);
    }).catch(function (err) { parts.status.textContent = err.message; });
  });
  return li;
}

function render(parts, doc) {
  parts.list.textContent = "";
  doc.items.forEach(function (n) { parts.list.appendChild(item(parts, n)); });
  parts.status.textContent = doc.numberMatched === 0 ? t("暂无通知")
    : t("共 {matched} 条，显示最新 {returned} 条",
        { matched: doc.numberMatched, returned: doc.numberReturned });
}

function refresh(parts) {
  return getJson(LIST_URL).then(function (doc) {
    setCount(parts, doc.unread);
    if (!parts.panel.hidden) { render(parts, doc); }
    return doc;
  });
}

function build() {
  const parts = { wrap: el("span", null, "ccmap-bell") };
  parts.toggle = button(t("通知"), "ccmap-bell-button");
  parts.toggle.setAttribute("aria-haspopup", "true");
  parts.count = el("span", "", "ccmap-bell-count");
  parts.count.hidden = true;
  parts.toggle.appendChild(parts.count);
  parts.panel = el("div", null, "ccmap-bell-panel");
  parts.panel.hidden = true;
  parts.panel.setAttribute("role", "dialog");
  parts.panel.setAttribute("aria-label", t("通知"));
  const head = el("div", null, "ccmap-bell-head");
  head.appendChild(el("strong", t("通知")));
  head.appendChild(button(t("全部已读"), "ccmap-bell-readall", function () {
    api("POST", "/api/notifications/read-all").then(function () { return refresh(parts); })
      .catch(function (err) { parts.status.textContent = err.message; });
  }));
  parts.panel.appendChild(head);
  parts.list = el("ul", null, "ccmap-bell-list");
  parts.panel.appendChild(parts.list);
  parts.status = el("div", "", "ccmap-bell-status");
  parts.panel.appendChild(parts.status);
  parts.wrap.appendChild(parts.toggle);
  parts.wrap.appendChild(parts.panel);
  parts.toggle.addEventListener("click", function () {
    parts.panel.hidden = !parts.panel.hidden;
    parts.toggle.setAttribute("aria-expanded", String(!parts.panel.hidden));
    if (!parts.panel.hidden) {
      refresh(parts).catch(function (err) { parts.status.textContent = err.message; });
    }
  });
  return parts;
}

/* Put the bell at the end of `container`, shown once the caller's notices load (not logged
 * in, or no container: nothing). It takes its place at once, hidden, so what is added to the
 * container after it stays after it however long the notices take. Resolves to the bell's
 * element, or null. */
export function mountBell(container) {
  if (!container || container.querySelector(".ccmap-bell")) { return Promise.resolve(null); }
  ensureCss();
  const parts = build();
  parts.wrap.hidden = true;
  container.appendChild(parts.wrap);
  return refresh(parts).then(function () {
    parts.wrap.hidden = false;
    setInterval(function () { refresh(parts).catch(function () {}); }, POLL_MS);
    return parts.wrap;
  }).catch(function () { parts.wrap.remove(); return null; });
}

mountBell(document.querySelector("header.bar"));
