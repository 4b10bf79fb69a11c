/* The service worker of the offline inspection app (外业巡查), served as /field/sw.js with
 * Service-Worker-Allowed: /field and registered with that scope (server/routes/field.py).
 *
 * It keeps three caches: the app shell (the page, its scripts, styles, Leaflet and icons),
 * the app's data (the round with its stops and checklists: GET answers of /api/field/ and
 * /api/checklists), and the vector tiles of the round's area that the page put into
 * TILE_CACHE, bounded by the page (CCMAP_FIELD_TILE_CACHE_MB). Every GET it handles goes to
 * the network first, so an online page always shows today's data, and falls back to the
 * cache when the network is down. Writes (POST) are never cached or replayed here: the page
 * keeps them in IndexedDB and its queue sends them. A classic script (not a module), so
 * every browser that installs the app can run it. */
"use strict";

const VERSION = "ccmap-field-v2";  // v2: the tile workers' scripts
const SHELL_CACHE = VERSION + "-shell";
const DATA_CACHE = "ccmap-field-data";
const TILE_CACHE = "ccmap-field-tiles";  // filled by the page (static/js/field.js)
const SHELL = [
  "/field", "/field/manifest.webmanifest", "/field/icons/192.png", "/field/icons/512.png",
  "/static/js/field.js", "/static/js/field-queue.js", "/static/js/core.js",
  "/static/js/tiles.js", "/static/js/tilework.js", "/static/js/mvt.js",
  "/static/js/tiledraw.js", "/static/js/tilestyles.js", "/static/css/pages.css",
  "/static/css/field.css",
  "/vendor/leaflet/dist/leaflet.js", "/vendor/leaflet/dist/leaflet.css",
  "/vendor/pbf/dist/pbf.js"
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.addAll(SHELL))
    .then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => {
    return k.startsWith("ccmap-field-v") && k !== SHELL_CACHE;
  }).map((k) => caches.delete(k)))).then(() => self.clients.claim()));
});

/* Which cache a GET of this same-origin path belongs to (null: not the app's). */
const cacheOf = (path) => {
  if (path.startsWith("/api/tiles/")) { return TILE_CACHE; }
  if (path.startsWith("/api/field/") || path.startsWith("/api/checklists")) {
    return DATA_CACHE;
  }
  if (path === "/field" || SHELL.indexOf(path) >= 0 || path.startsWith("/vendor/leaflet/")) {
    return SHELL_CACHE;
  }
  return null;
};

/* The network's answer (kept in `name`, tiles excepted: the page bounds that cache), else
 * the cached one; the page itself is looked up without its query string. */
const networkFirst = (request, name, path) => {
  return fetch(request).then((response) => {
    if (response.ok && !response.redirected && name !== TILE_CACHE) {
      const copy = response.clone();
      caches.open(name).then((cache) => cache.put(request, copy));
    }
    return response;
  }).catch((err) => {
    return caches.open(name).then((cache) => cache.match(request, {
      ignoreSearch: path === "/field", ignoreVary: true
    })).then((hit) => {
      if (hit) { return hit; }
      throw err;
    });
  });
};

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") { return; }
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  const name = cacheOf(url.pathname);
  if (name) { event.respondWith(networkFirst(request, name, url.pathname)); }
});
