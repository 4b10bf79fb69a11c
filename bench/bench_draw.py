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
from pathlib import Path
from typing import Any

from bench.bench_page import CHROMIUM_ARGS, PANS, Net, map_page, pan_to, view_bounds, wait_quiet
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


def views(page: Any, net: Net, timeout_s: float) -> list[tuple[str, list[str]]]:
    """Once the opened map is quiet, bench_page's pans, each waited for: each view's name and
    the tile URLs it asked for (the page's and its tile workers' requests, as `net` saw them)."""

    def tiles_since(mark: int) -> list[str]:
        return sorted({r["url"] for r in net.since(mark) if ".mvt" in r["url"]})

    def quiet() -> None:
        stuck = wait_quiet(page, net, timeout_s)
        if stuck:
            raise SystemExit(f"the map did not settle: {stuck}")

    quiet()
    out = [("first view", tiles_since(0))]
    bounds = view_bounds(page)
    for fx, fy, z in PANS:
        mark = len(net.requests)
        pan_to(page, bounds, fx, fy, z)
        quiet()
        out.append((f"pan z{z}", tiles_since(mark)))
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
        with map_page(browser, srv.base, username, password) as (_, page, net):
            page.goto(srv.base + "/", wait_until="commit")
            measured = [(name, page.evaluate(MEASURE, [urls, args.repeats]) if urls else None)
                        for name, urls in views(page, net, args.timeout)]
        results = [{"view": name, **(got or {"tiles": 0})} for name, got in measured]
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
