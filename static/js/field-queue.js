/* The field app's queue (外业巡查): reports and inspections made on the device are kept in
 * IndexedDB, each under its client-made UUID, until the server has them.
 *
 * An item: {id (the client_id), kind: "report" | "inspection", state, created_at, position
 * {lon, lat, accuracy}, body (what is POSTed), photos [{id, blob, name, sent}], server_id,
 * error}. States: waiting → sending → sent; failed (the network or the server failed: sent
 * again at the next sync) and conflict (the server refused it for a reason the inspector
 * must see: 403/404/409, e.g. the point left the round; sent again only on 重试). Each item
 * is sent on its own and a failure stops only that item. The server is idempotent by the
 * client_id (POST /api/issues, POST /api/inspections, photos with ?client_id=), so an item
 * sent twice (the page closed mid-send, a lost answer) is stored once. */
import { csrfToken, t } from "./core.js";

const DB_NAME = "ccmap-field";
const STORE = "queue";
export const STATES = {
  waiting: t("等待同步"), sending: t("正在发送"), sent: t("已同步"), failed: t("失败"),
  conflict: t("冲突")
};
const CONFLICT = [403, 404, 409];  // the case changed meanwhile: shown, never overwritten

let opened = null;

function db() {
  if (!opened) {
    opened = new Promise(function (resolve, reject) {
      const req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = function () {
        req.result.createObjectStore(STORE, { keyPath: "id" }).createIndex("created_at",
                                                                           "created_at");
      };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }
  return opened;
}

function request(mode, run) {
  return db().then(function (d) {
    return new Promise(function (resolve, reject) {
      const tx = d.transaction(STORE, mode);
      const req = run(tx.objectStore(STORE));
      tx.oncomplete = function () { resolve(req ? req.result : undefined); };
      tx.onerror = tx.onabort = function () { reject(tx.error); };
    });
  });
}

/* Every item, oldest first. */
export function items() {
  return request("readonly", function (s) { return s.index("created_at").getAll(); });
}

/* Store (add or replace) an item. */
export function put(item) {
  return request("readwrite", function (s) { return s.put(item); });
}

/* Remove an item (the inspector gave it up). */
export function remove(id) {
  return request("readwrite", function (s) { return s.delete(id); });
}

/* A new item of `kind` with a fresh client id, waiting. */
export function newItem(kind, body, position, photos) {
  return {
    id: crypto.randomUUID(), kind: kind, state: "waiting", created_at: new Date().toISOString(),
    position: position, body: body, photos: photos || [], server_id: null, error: ""
  };
}

class SendError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

function send(method, url, body, isForm) {
  const headers = { "X-CSRF-Token": csrfToken() };
  if (!isForm) { headers["Content-Type"] = "application/json"; }
  return fetch(url, { method: method, credentials: "same-origin", headers: headers,
                      body: isForm ? body : JSON.stringify(body) })
    .catch(function () { throw new SendError(t("网络不可用"), 0); })
    .then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (b) {
        if (!r.ok) {
          const why = typeof b.detail === "string" ? b.detail : "HTTP " + r.status;
          throw new SendError(r.status === 401 ? t("登录已过期，请重新登录") : why, r.status);
        }
        return b;
      });
    });
}

/* The item's GPS accuracy radius in metres, or null when the device gave none. */
function accuracy(item) {
  const a = item.position && item.position.accuracy;
  return typeof a === "number" && isFinite(a) && a >= 0 ? a : null;
}

function sendReport(item) {
  const first = item.server_id ? Promise.resolve() :
    send("POST", "/api/issues", Object.assign({}, item.body, { client_id: item.id,
                                                               accuracy_m: accuracy(item) }))
      .then(function (issue) { item.server_id = issue.id; return put(item); });
  return first.then(function () {
    return item.photos.reduce(function (chain, photo) {
      return chain.then(function () {
        if (photo.sent) { return null; }
        const form = new FormData();
        form.append("file", photo.blob, photo.name);
        form.append("stage", "before");
        return send("POST", "/api/issues/" + item.server_id + "/photos?client_id=" + photo.id,
                    form, true).then(function () { photo.sent = true; return put(item); });
      });
    }, Promise.resolve());
  });
}

function sendInspection(item) {
  const where = item.position || {};
  const device = where.lon === undefined ? {} :
    { lon: where.lon, lat: where.lat, accuracy_m: accuracy(item) };
  return send("POST", "/api/inspections", Object.assign({}, item.body, device,
                                                        { client_id: item.id }))
    .then(function (record) { item.server_id = record.id; });
}

/* Send one item; it ends sent, failed or conflict (stored each time), never lost. */
export function sendItem(item, changed) {
  item.state = "sending";
  item.error = "";
  return put(item).then(function () {
    changed(item);
    return item.kind === "report" ? sendReport(item) : sendInspection(item);
  }).then(function () {
    item.state = "sent";
    item.sent_at = new Date().toISOString();
  }, function (err) {
    item.state = err.status && CONFLICT.indexOf(err.status) >= 0 ? "conflict" : "failed";
    item.error = err.message || String(err);
  }).then(function () {
    return put(item);
  }).then(function () { changed(item); });
}

let running = null;

/* Send every item that waits or failed (and those being sent when the page was closed),
 * one after another; resolves when all were tried. A sync already running is joined. */
export function sync(changed) {
  if (running) { return running; }
  running = items().then(function (all) {
    return all.filter(function (i) {
      return i.state === "waiting" || i.state === "failed" || i.state === "sending";
    }).reduce(function (chain, item) {
      return chain.then(function () { return sendItem(item, changed); });
    }, Promise.resolve());
  }).finally(function () { running = null; });
  return running;
}
