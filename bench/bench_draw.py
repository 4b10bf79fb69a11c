"""Where the browser's drawing of the page's vector tiles goes, layer by layer, in headless
Chromium on the real code (static/js/mvt.js, tiledraw.js, tilestyles.js):

    python -m bench.bench_draw --db sqlite:///var/city.db [--repeats 5] [--json out.json]

The database is served with `ccmap serve` (as bench_page serves it; a viewer is added with
the CLI, so the database must be writable). A viewer's page makes bench_page's first view
and ten pans/zooms and notes the tile URLs each view asked for. Then, on the page, every
such tile is fetched once more (from the server's caches), decoded (mvt.js), and each of its
layers drawn alone onto a 512-pixel OffscreenCanvas and rasterised (createImageBitmap makes
Chromium rasterise the canvas's recorded drawing, as the tile workers' `FinalizeFrame`
does), best of --repeats. Printed: ms a view (the sum over its tiles) for decoding (best,
and the mean of the repeats: with the garbage collection that a decoder's allocations bring
on, which the best leaves out) and for
each layer's drawing and rasterising, and the whole tile drawn as the page draws it; and the
points (test points, issue cells and points) the view stamps, beside how many distinct ones
there are (of one look at one device pixel: what drawing each only once would save).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_page import CHROMIUM_ARGS, PANS
from bench.serve import add_user, served

# run on the page: fetch, decode and draw each tile the way tilework.js does, timing the parts
MEASURE = """async ([urls, repeats]) => {
  const mvt = await import("/static/js/mvt.js");
  const draw = await import("/static/js/tiledraw.js");
  const styles = await import("/static/js/tilestyles.js");
  const { CELL_LAYERS } = await import("/static/js/tilework.js");
  const st = window.__bench.state;
  const cfg = {statuses: st.config.statuses || {}, testPointColors: st.tpColors || {}};
  const made = {};
  const styleOf = (kind) => made[kind] || (made[kind] = styles.tileStyle(kind, cfg));
  // (issue cells are drawn in the issues' styles, as tilework.js draws them)
  const cellsOf = (name) => CELL_LAYERS.includes(name) ? "issues" : name;
  const canvas = new OffscreenCanvas(512, 512);
  const ctx = canvas.getContext("2d");
  const out = {decode: 0, decodeMean: 0, whole: 0, layers: {}, tiles: urls.length, features: {},
               points: 0, pixels: 0};
  const raster = async (fn) => {
    let best = Infinity;
    for (let r = 0; r < repeats; r++) {
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, 512, 512);
      const t = performance.now();
      fn();
      (await createImageBitmap(canvas)).close();
      best = Math.min(best, performance.now() - t);
    }
    return best;
  };
  for (const url of urls) {
    const z = Number(url.match(/tiles\\/[^/]+\\/(\\d+)\\//)[1]);
    const buf = await (await fetch(url, {credentials: "same-origin"})).arrayBuffer();
    let layers = null, best = Infinity, sum = 0;
    for (let r = 0; r < repeats; r++) {
      const t = performance.now();
      layers = mvt.readTile(buf);
      const ms = performance.now() - t;
      best = Math.min(best, ms);
      sum += ms;
    }
    out.decode += best;
    out.decodeMean += sum / repeats;  // (with the garbage collection the decoding brings on)
    const all = (name) => styleOf(cellsOf(name));
    out.whole += await raster(() => draw.drawTile(ctx, layers, all, z + 1, 512));
    for (const layer of layers) {
      const only = (name) => name === layer.name ? styleOf(cellsOf(name)) : null;
      const ms = await raster(() => draw.drawTile(ctx, [layer], only, z + 1, 512));
      out.layers[layer.name] = (out.layers[layer.name] || 0) + ms;
      out.features[layer.name] = (out.features[layer.name] || 0) + layer.length;
      // the points of one look that land on the same device pixel
      const looks = new Map(), seen = new Set(), scale = 512 / layer.extent;
      for (let i = 0; i < layer.length; i++) {
        if (layer.types[i] !== draw.POINT) { continue; }
        const look = styleOf(cellsOf(layer.name))(layer.props[i], z + 1);
        if (!looks.has(look)) { looks.set(look, looks.size); }
        const from = layer.partAt[layer.featureAt[i]], to = layer.partAt[layer.featureAt[i + 1]];
        for (let j = from; j + 1 < to; j += 2) {
          out.points += 1;
          seen.add(looks.get(look) + "|" + Math.round(layer.coords[j] * scale) + "|" +
                   Math.round(layer.coords[j + 1] * scale));
        }
      }
      out.pixels += seen.size;
    }
  }
  return out;
}"""


def views(page: Any, urls: list[str], timeout_s: float) -> list[tuple[str, list[str]]]:
    """The first view and the pans: each view's name and the tile URLs it asked for (`urls`:
    the page's tile requests so far, as they are noted)."""

    def settle() -> None:
        end = time.monotonic() + timeout_s
        quiet = 0
        while time.monotonic() < end and quiet < 5:
            busy = page.evaluate("() => !window.__bench.state || window.__bench.state.loading")
            quiet = 0 if busy else quiet + 1
            time.sleep(0.1)

    settle()
    out = [("first view", sorted(set(urls)))]
    bounds = page.evaluate("""() => { const b = window.__bench.state.map.getBounds();
        return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; }""")
    for fx, fy, z in PANS:
        urls.clear()
        lon = bounds[0] + fx * (bounds[2] - bounds[0])
        lat = bounds[1] + fy * (bounds[3] - bounds[1])
        page.evaluate("([lat, lon, z]) => window.__bench.state.map.setView([lat, lon], z, "
                      "{animate: false})", [lat, lon, z])
        time.sleep(0.2)
        settle()
        out.append((f"pan z{z}", sorted(set(urls))))
    return out


def main(argv: list[str] | None = None) -> int:
    """Serve --db, record the views' tiles, time their drawing layer by layer."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, help="database URL (sqlite:///… or postgresql://…)")
    ap.add_argument("--repeats", type=int, default=5, help="best of this many drawings")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--chromium", default=os.environ.get("CCMAP_CHROMIUM", "/usr/bin/chromium"))
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    username, password = add_user(args.db, role="viewer")
    with tempfile.TemporaryDirectory() as tmp, \
            served(args.db, Path(tmp) / "serve.log",
                   env={"CCMAP_BASEMAP": "none",
                        "CCMAP_TILE_CACHE_DIR": str(Path(tmp) / "tiles")}) as srv, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        r = context.request.post(srv.base + "/api/auth/login",
                                 form={"username": username, "password": password})
        if not r.ok:
            raise SystemExit(f"login failed: {r.status}")
        page = context.new_page()
        page.add_init_script("""window.__bench = {state: null};
            document.addEventListener("ccmap:state",
                                      (e) => { window.__bench.state = e.detail; });""")
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url) if ".mvt" in r.url else None)
        page.goto(srv.base + "/")
        results = []
        for name, urls in views(page, asked, args.timeout):
            got = page.evaluate(MEASURE, [urls, args.repeats]) if urls else None
            results.append({"view": name, **(got or {"tiles": 0})})
        browser.close()
    names = sorted({n for r in results for n in r.get("layers", {})})
    print(f"{'view':<12}{'tiles':>6}{'points':>8}{'pixels':>8}{'decode':>8}{'mean':>7}"
          f"{'whole':>8}" +
          "".join(f"{n[:12]:>13}" for n in names) + "   (ms a view, best of "
          f"{args.repeats})")
    for res in results:
        layers = res.get("layers", {})
        print(f"{res['view']:<12}{res['tiles']:>6}{res.get('points', 0):>8}"
              f"{res.get('pixels', 0):>8}{res.get('decode', 0):>8.1f}"
              f"{res.get('decodeMean', 0):>7.1f}"
              f"{res.get('whole', 0):>8.1f}" +
              "".join(f"{layers.get(n, 0):>13.1f}" for n in names))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
