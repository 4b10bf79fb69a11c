/* What every ccmap page shares: API calls (the session's CSRF header, the server's reason as
 * the error), paged GeoJSON, DOM building that never interprets text as HTML (el), escaping
 * for the few places that must write markup (esc), number and date formatting, and the Chinese
 * UI strings more than one page uses (t). Imported by each page script (ES modules, no
 * globals of ours). */

const STRINGS = {
  loading: "加载中…",
  cannotLoad: "无法加载：",
  saveFailed: "保存失败：",
  saved: "已保存",
  none: "（无）",
  uncoveredArea: "未覆盖区域",
  dashboard: "工作台",
  workload: "工作量",
  triage: "受理",
  admin: "系统管理",
  logout: "退出",
  fullscreen: "全屏",
  exitFullscreen: "退出全屏",
  loginFailed: "登录失败",
  noServer: "无法连接服务器",
  back: "‹ 返回",
  close: "关闭",
  submit: "提交",
  save: "保存",
  allTime: "全部时间",
  assetsMissing: "前端资源未安装（Leaflet 未找到）— 请运行 ./run.sh setup / " +
    "front-end assets are missing: run ./run.sh setup",
  layerFailed: "图层加载失败 / layer failed to load: "
};

/* The UI string `key` (Chinese); an unknown key stands for itself. */
export function t(key) {
  return Object.prototype.hasOwnProperty.call(STRINGS, key) ? STRINGS[key] : key;
}

/* --- the API --------------------------------------------------------------------------- */
export function csrfToken() {
  const m = document.cookie.match(/(?:^|; )ccmap_csrf=([^;]*)/);
  return m ? decodeURIComponent(m[1]) : "";
}

/* A JSON call to the API with the session's CSRF header; rejects with the server's reason
 * (its `detail`, and the overlaps a zone save reports). `isForm`: body is a FormData. */
export function api(method, url, body, isForm) {
  const headers = { "X-CSRF-Token": csrfToken() };
  if (body && !isForm) { headers["Content-Type"] = "application/json"; }
  return fetch(url, { method: method, credentials: "same-origin", headers: headers,
                      body: body ? (isForm ? body : JSON.stringify(body)) : undefined })
    .then(function (r) {
      return r.json().then(function (b) {
        if (!r.ok) {
          const extra = (b.overlaps || []).map(function (o) { return o.message; }).join("；");
          throw new Error((b.detail || ("HTTP " + r.status)) + (extra ? "：" + extra : ""));
        }
        return b;
      });
    });
}

/* GET a JSON document of the session (abortable with `signal`); rejects with the path and
 * the HTTP status. */
export function getJson(url, signal) {
  return fetch(url, { credentials: "same-origin", signal: signal }).then(function (r) {
    if (!r.ok) { throw new Error(url.split("?")[0] + ": HTTP " + r.status); }
    return r.json();
  });
}

/* Fetch a paged GeoJSON FeatureCollection (OGC API Features: numberMatched, links rel=next),
 * following `next` links until every feature is loaded or `max` features are; resolves to
 * the first page's document with all loaded features, `loaded` and `matched` (how many the
 * filters match; the same as loaded for an answer that is not paged). An AbortSignal
 * `signal` (optional) stops it between pages as well as during one. */
export function fetchCollection(url, max, signal) {
  let doc = null;
  function get(u) {
    return getJson(u, signal).then(function (page) {
      if (doc === null) { doc = page; } else { doc.features = doc.features.concat(page.features); }
      const next = (page.links || []).filter(function (l) { return l.rel === "next"; })[0];
      if (next && page.features.length && doc.features.length < (max || Infinity)) {
        const to = new URL(next.href, window.location.href);  // same origin behind a proxy
        return get(to.pathname + to.search);
      }
      doc.loaded = doc.features.length;
      doc.matched = typeof doc.numberMatched === "number" ? doc.numberMatched : doc.loaded;
      return doc;
    });
  }
  return get(url);
}

/* --- the DOM --------------------------------------------------------------------------- */
/* Create an element whose text (never HTML) is `text`. */
export function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) { node.textContent = String(text); }
  if (cls) { node.className = cls; }
  return node;
}

/* A button (type=button) that runs onClick. */
export function button(text, cls, onClick) {
  const b = el("button", text, cls);
  b.type = "button";
  if (onClick) { b.addEventListener("click", onClick); }
  return b;
}

/* A <select> of [value, label] pairs. */
export function selectOf(name, pairs) {
  const s = el("select");
  s.name = name;
  pairs.forEach(function (p) {
    const o = el("option", p[1]);
    o.value = p[0];
    s.appendChild(o);
  });
  return s;
}

/* A form's submit button and the line under it for what went wrong; returns that line. */
export function formEnd(form, label) {
  const submit = el("button", label || t("submit"));
  submit.type = "submit";
  form.appendChild(submit);
  const msg = el("div", null, "ccmap-form-message");
  form.appendChild(msg);
  return msg;
}

/* A table row: a header cell and a data cell. */
export function row(label, value) {
  const tr = el("tr");
  tr.appendChild(el("th", label));
  tr.appendChild(el("td", value));
  return tr;
}

/* Text made safe to put into HTML markup (only where a library wants markup: divIcon). */
export function esc(text) {
  return String(text === null || text === undefined ? "" : text)
    .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/* A message at the bottom of the map that stays until the next one. */
export function toast(text) {
  const box = document.getElementById("ccmap-toast");
  box.textContent = text;
  box.hidden = false;
}

/* A message across the top of the map (a layer failed, the front-end assets are missing). */
export function showBanner(message) {
  const banner = document.getElementById("ccmap-banner");
  if (!banner) { return; }
  banner.textContent = message;
  banner.hidden = false;
}

/* --- formatting ------------------------------------------------------------------------ */
/* A count with Chinese digit grouping (12,345). */
export function num(n) { return Number(n || 0).toLocaleString("zh-CN"); }

/* A rate (0.123) as a percentage with one decimal ("12.3%"). */
export function pct(v) { return (v * 100).toFixed(1) + "%"; }

/* Metres as kilometres with one decimal ("1.2"). */
export function km(m) { return (m / 1000).toFixed(1); }

/* An ISO timestamp as the page shows it ("2026-01-05 08:30:00"); "" for none. */
export function dateTime(iso) { return (iso || "").replace("T", " "); }

/* A Date as YYYY-MM-DD (local). */
export function isoDay(d) {
  return d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" +
    String(d.getDate()).padStart(2, "0");
}

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/* The day a YYYY-MM-DD text names (a Date at local midnight), or null if it names none. */
export function parseDay(text) {
  const m = DAY.exec(text);
  if (!m) { return null; }
  const d = new Date(+m[1], +m[2] - 1, +m[3]);
  return d.getFullYear() === +m[1] && d.getMonth() === +m[2] - 1 && d.getDate() === +m[3]
    ? d : null;
}

/* A button as a Leaflet control of `map` (top left), whose clicks stay off the map. */
export function mapButton(map, text, cls, onClick) {
  const ctl = L.control({ position: "topleft" });
  ctl.onAdd = function () {
    const b = button(text, cls, onClick);
    L.DomEvent.disableClickPropagation(b);
    return b;
  };
  ctl.addTo(map);
  return ctl;
}
