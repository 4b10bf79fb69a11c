/* The language switch in a page's header (issue 18): the logged-in user's own UI language
 * (PUT /api/me/locale; "follow the browser" clears it), the page reloads in it. On the pages
 * of server/templates (base.html loads this module) it mounts itself into the header bar; the
 * map page's title bar calls mountLocaleSwitch (static/js/map.js). Not logged in: none. */
import { api, el, getJson, t } from "./core.js";

// each language named in itself (not translated)
const CHOICES = [["zh-CN", "中文"], ["en", "English"]];

/* Put the switch at the end of `container` once the user is known; resolves to it or null. */
export function mountLocaleSwitch(container) {
  if (!container || container.querySelector(".ccmap-locale")) { return Promise.resolve(null); }
  return getJson("/api/me").then(function (me) {
    const select = el("select", null, "ccmap-locale");
    select.setAttribute("aria-label", t("界面语言"));
    select.title = t("界面语言");
    const follow = el("option", t("跟随浏览器"));
    follow.value = "";
    select.appendChild(follow);
    CHOICES.forEach(function (c) {
      const o = el("option", c[1]);
      o.value = c[0];
      o.lang = c[0];
      o.setAttribute("translate", "no");
      select.appendChild(o);
    });
    select.value = me.locale || "";
    select.addEventListener("change", function () {
      api("PUT", "/api/me/locale", { locale: select.value || null })
        .then(function () { window.location.reload(); })
        .catch(function (err) { select.title = err.message; });
    });
    container.appendChild(select);
    return select;
  }).catch(function () { return null; });
}

mountLocaleSwitch(document.querySelector("header.bar"));
