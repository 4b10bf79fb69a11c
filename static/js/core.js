/* What every ccmap page shares: API calls (the session's CSRF header, the server's reason as
 * the error), paged GeoJSON, DOM building that never interprets text as HTML (el), escaping
 * for the few places that must write markup (esc), number and date formatting, and the UI
 * strings (t): written in Chinese, translated through the catalog the page embeds for its
 * locale (<script type="application/json" id="ccmap-i18n">, data/locales/<locale>/*.json).
 * Imported by each page script (ES modules, no globals of ours). */

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
  field: "外业巡查",
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
  assetsMissing: "前端资源未安装（Leaflet 未找到）— 请运行 ./run.sh setup",
  layerFailed: "图层加载失败："
};

function has(obj, key) { return Object.prototype.hasOwnProperty.call(obj, key); }

/* The page's catalog {"中文": "translation"} (empty in Chinese, the default). */
const CATALOG = (function () {
  const node = document.getElementById("ccmap-i18n");
  try { return node ? JSON.parse(node.textContent) : {}; } catch { return {}; }
})();

/* The page's locale ("zh-CN" or "en"), from <html lang>. */
export const LOCALE = document.documentElement.lang || "zh-CN";

const CJK_ASIDE = /\s*[(（][^()（）]*[\u3400-\u9fff][^()（）]*[)）]/g;
const CJK = /[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]/;

let patterns = null;

function escapeRe(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

/* The catalog's keys with placeholders ("问题 #{id} 已超期") as regexes, the most literal
 * first (as geo/i18n does for the server's texts). */
function compiled() {
  if (patterns !== null) { return patterns; }
  patterns = Object.keys(CATALOG).filter(function (k) { return /\{[^{}\s]+\}/.test(k); })
    .map(function (k) {
      const names = [];
      const source = k.split(/(\{[^{}\s]+\})/).map(function (part, i) {
        if (i % 2) { names.push(part); return "([\\s\\S]+?)"; }
        return escapeRe(part);
      }).join("");
      return { re: new RegExp("^" + source + "$"), names: names, to: CATALOG[k],
               literal: k.replace(/\{[^{}\s]+\}/g, "").length };
    }).sort(function (a, b) { return b.literal - a.literal; });
  return patterns;
}

/* A text written in Chinese (by the page or the server), in the page's language: its catalog
 * entry, a catalog key with placeholders that matches it, for a text written
 * "English (中文)" the English, else itself. */
export function tr(text) {
  if (text === null || text === undefined) { return text; }
  const s = String(text);
  if (has(CATALOG, s)) { return CATALOG[s]; }
  if (LOCALE !== "zh-CN" && CJK.test(s)) {
    const hit = compiled().find(function (p) { return p.re.test(s); });
    if (hit) {
      const values = hit.re.exec(s).slice(1);
      let out = hit.to;
      hit.names.forEach(function (name, i) {
        out = out.split(name).join(has(CATALOG, values[i]) ? CATALOG[values[i]] : values[i]);
      });
      return out;
    }
    const english = s.replace(CJK_ASIDE, "").trim();
    if (english && !CJK.test(english)) { return english; }
  }
  return s;
}

let terms = null;

/* A text made of UI terms and numbers (a formula: "得分 = 100 × (0.4×整改率 + …)") in the
 * page's language: every catalog term in it replaced, the longest first. */
export function trTerms(text) {
  if (LOCALE === "zh-CN" || !text) { return text; }
  if (terms === null) {
    terms = Object.keys(CATALOG).filter(function (k) { return CJK.test(k) && k.indexOf("{") < 0; })
      .sort(function (a, b) { return b.length - a.length; });
  }
  let out = String(text);
  terms.forEach(function (k) {
    if (out.indexOf(k) >= 0) { out = out.split(k).join(CATALOG[k]); }
  });
  return out;
}

/* The UI string `key` (a name of STRINGS or the Chinese text itself) in the page's language,
 * its {name} placeholders filled from `params`; an unknown key stands for itself. */
export function t(key, params) {
  const text = tr(has(STRINGS, key) ? STRINGS[key] : key);
  if (!params) { return text; }
  return text.replace(/\{(\w+)\}/g, function (m, name) {
    return has(params, name) ? String(params[name]) : m;
  });
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
          const extra = (b.overlaps || []).map(function (o) { return o.message; }).join(t("；"));
          throw new Error((b.detail || ("HTTP " + r.status)) + (extra ? t("：") + extra : ""));
        }
        return b;
      });
    });
}

/* GET a JSON document of the session (abortable with `signal`); rejects with the server's
 * reason (its `detail`, e.g. a period it cannot read), else the path and the HTTP status;
 * the error's `status` is the HTTP status. */
export function getJson(url, signal) {
  return fetch(url, { credentials: "same-origin", signal: signal }).then(function (r) {
    if (r.ok) { return r.json(); }
    return r.json().catch(function () { return {}; }).then(function (b) {
      const err = new Error(typeof b.detail === "string" ? b.detail
        : url.split("?")[0] + ": HTTP " + r.status);
      err.status = r.status;
      throw err;
    });
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

/* A labelled field appended to form: the label, then a `tag` element with the given
 * properties (name, type, required …); returns the field. */
export function labelled(form, label, tag, props) {
  form.appendChild(el("label", label));
  const field = Object.assign(el(tag), props);
  form.appendChild(field);
  return field;
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
