"""The map page at city scale in headless Chromium: first view of the whole city and ten
pans/zooms, as a planner (editable zones) and as a viewer (read-only).

    python -m bench.bench_page --db sqlite:///var/city.db [--runs 3] [--json out.json]
                               [--roles planner,viewer] [--tiles cold|seeded] [--workers N]
                               [--profile] [--replay N] [--unit UNIT]

The database is served as it is with `ccmap serve` (basemap none: only ccmap's own requests
are counted; a new server for each role); a user of each role is added with the CLI, so the
database must be writable (serve a copy of one that must stay as it is). Each run is a fresh
browser context (cold cache), logged in through /api/auth/login, then:

- first view: from navigation to quiet, i.e. `window.__bench.state.loading === 0` and no request
  in flight; "time to idle" is the later of the last response's end and the moment `loading`
  last fell to 0 (the page's own clock, so JS work after the last response counts; the tile
  workers' requests end before their tiles count as loaded), bytes are the response headers
  and encoded bodies of every request, the tile workers' included (as on the wire), and the JS
  heap is `Performance.getMetrics` JSHeapUsedSize after a forced GC (what the page holds)
  plus the heaps of its workers after a GC (Runtime.getHeapUsage; the tile workers keep the
  decoded tiles);
- ten pans/zooms to new areas of the city (setView, no animation), each timed the same way
  from the call;
- with `--replay N`, back at the first view, the last N weeks of the week replay, a step at a
  time as its play button steps (the slider moved, the page's filter applied: every issue tile
  comes again for that week), each timed the same way from the slider's change;
- for each view, the CPU seconds spent by the `ccmap serve` process (not PostgreSQL's own
  backends) and by the Chromium processes (/proc), and the page's main-thread busy time
  (DevTools' TaskDuration, a wall time): on a machine loaded by other work the wall times grow,
  the CPU seconds hardly.

Each role gets a new server with a new disk tile cache (a temporary directory): its first run
meets it empty ("cold"), or, with `--tiles seeded`, filled by `ccmap tiles seed` as an operator
does after an import ("seeded"; the seeding time is printed); the later runs repeat
the same views on a server that has served them ("warm", medians); the browser starts empty
every run. `--roles unit --unit NAME` logs in as a unit's own user (包保单位: every issue
tile it asks is filtered by its unit). The figures are printed beside the issue's "before"
figures (the GeoJSON page measured by the issue filer on SQLite) and the targets. --profile
prints the biggest and slowest requests of the first view and of the slowest pan, the page's
JS self time by function (the first view's, and a pan's over the ten pans: "(program)" is
the browser's own work on the main thread, style, layout, painting), the browser's CPU per pan
by thread (renderer main thread, compositor, raster workers, …), and for each pan where its
time went by the Resource Timing of the page and its tile workers: the longest wait for a
connection, the wait for the first byte, when the last response ended and how long the page
drew after it. --trace records a Chromium trace of the first run's ten pans and prints, for
the busiest threads (the page's main thread, the tile workers, raster, compositor …), the
trace events that took their time (self time, ms a pan: e.g. `FinalizeFrame`, a tile worker
rasterising its canvas, or `Document::recalcStyle`); tracing slows the pans it records.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.serve import add_user, served

# (name, before, target, unit); before: today's GeoJSON path as measured by the issue filer
# (no target: CPU seconds, which a loaded machine does not inflate as it does wall times)
FIGURES: list[tuple[str, float | None, float | None, str]] = [
    ("first view: time to idle", 17.6, 2.0, "s"),
    ("first view: transferred", None, 3.0, "MB"),
    ("first view: JS heap held", 312.0, 150.0, "MB"),
    ("pans/zooms: slowest of 10", None, 0.5, "s"),
    ("pans/zooms: median", None, 0.5, "s"),
    ("first view: server CPU", None, None, "s"),
    ("first view: browser CPU", None, None, "s"),
    ("first view: page main thread busy", None, None, "s"),
    ("pans/zooms: server CPU, median", None, None, "s"),
    ("pans/zooms: browser CPU, median", None, None, "s")]
# new areas of the city after the first view: (fraction west→east, fraction south→north, zoom)
PANS = [(0.30, 0.40, 14), (0.70, 0.60, 15), (0.50, 0.20, 16), (0.15, 0.80, 13),
        (0.85, 0.30, 14), (0.40, 0.70, 17), (0.60, 0.45, 15), (0.25, 0.15, 13),
        (0.90, 0.85, 16), (0.55, 0.55, 14)]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
# installed before the page's scripts: a large resource-timing buffer (tiles are many), the
# map's state as the page announces it (its "ccmap:state" event, static/js/map.js) and a
# watcher that notes, on the page's clock, when state.loading last fell to 0
WATCH = """
performance.setResourceTimingBufferSize(1000000);
window.__bench = {zeroAt: 0, busy: false, state: null};
document.addEventListener("ccmap:state", function (e) { window.__bench.state = e.detail; });
setInterval(function () {
  var st = window.__bench.state;
  if (!st) { return; }
  if (st.loading !== 0) { window.__bench.busy = true; }
  else if (window.__bench.busy) { window.__bench.busy = false;
                                  window.__bench.zeroAt = performance.now(); }
}, 10);
"""
QUIET_MS = 400  # loading 0 and nothing in flight for this long: the view is done


@dataclass
class Net:
    """The page's requests as Playwright reports them, in order: the page's own and its
    workers' (the tile workers fetch the vector tiles; a DevTools session on the page does not
    see those)."""

    requests: list[Any] = field(default_factory=list)
    inflight: set[Any] = field(default_factory=set)
    _seen: dict[Any, dict[str, Any]] = field(default_factory=dict)

    def attach(self, page: Any) -> None:
        """Follow a page's request events."""
        page.on("request", self._sent)
        page.on("requestfinished", self._finished)
        page.on("requestfailed", self._failed)

    def _sent(self, request: Any) -> None:
        if request.redirected_from is not None:  # the same request, a new URL
            self.inflight.discard(request.redirected_from)
        self.requests.append(request)
        self.inflight.add(request)

    def _finished(self, request: Any) -> None:
        self.inflight.discard(request)

    def _failed(self, request: Any) -> None:
        self.inflight.discard(request)

    def since(self, mark: int) -> list[dict[str, Any]]:
        """The requests sent after the first `mark` ones: url, duration (s, None while in
        flight), bytes on the wire (response headers and encoded body) and failure."""
        out = []
        for request in self.requests[mark:]:
            if request not in self._seen:
                failed = request.failure
                done = request not in self.inflight
                sizes = request.sizes() if done and not failed else {}
                timing = request.timing
                self._seen[request] = {
                    "url": request.url, "failed": failed,
                    "seconds": timing["responseEnd"] / 1000 if done and
                    timing.get("responseEnd", -1) >= 0 else None,
                    "bytes": sizes.get("responseHeadersSize", 0) +
                    sizes.get("responseBodySize", 0)}
            out.append(self._seen[request])
        return out


def wait_quiet(page: Any, net: Net, timeout_s: float) -> str:
    """Until state.loading is 0 and no request is in flight, twice QUIET_MS apart; "" when
    it went quiet, else what was still going on at the time limit."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + timeout_s
    calm = 0
    while calm < 2:
        left = deadline - time.monotonic()
        try:
            page.wait_for_function("() => window.__bench.state && "
                                   "window.__bench.state.loading === 0",
                                   timeout=max(1.0, left) * 1000)
        except PlaywrightTimeout:
            left = 0
        if left <= 0:
            loading = page.evaluate("window.__bench.state && "
                                    "window.__bench.state.loading")
            return f"not quiet after {timeout_s:g} s: state.loading {loading}, " \
                   f"{len(net.inflight)} requests in flight"
        page.wait_for_timeout(QUIET_MS if calm else 50)  # also lets the CDP events arrive
        calm = calm + 1 if not net.inflight and page.evaluate(
            "window.__bench.state.loading") == 0 else 0
    return ""


def idle_ms(page: Any, since_ms: float) -> float:
    """Milliseconds from since_ms (page clock) until the page went idle: the later of the last
    response's end and the moment state.loading last fell to 0."""
    return float(page.evaluate("""(since) => {
        let last = since;
        for (const e of performance.getEntriesByType('resource')) {
            if (e.startTime >= since) { last = Math.max(last, e.responseEnd); }
        }
        const z = window.__bench.zeroAt;
        if (z >= since) { last = Math.max(last, z); }
        return last - since;
    }""", since_ms))


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) a process and its live descendants (a
    server's worker processes) have used so far, from /proc."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            parent[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    tree, total = {pid}, 0.0
    for child in sorted(parent):  # a child's pid is almost always above its parent's
        if parent[child] in tree:
            tree.add(child)
    for member in tree:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def browser_cpu_s() -> float:
    """CPU seconds used so far by the Chromium processes this benchmark started (renderers,
    GPU and network processes: the descendants of this process whose name says chrom)."""
    return sum(browser_threads().values())


def browser_threads() -> dict[str, float]:
    """CPU seconds used so far by the threads of this benchmark's Chromium processes, summed
    by process type and thread name (renderer/Compositor, gpu-process/VizCompositorTh, …)."""
    out: dict[str, float] = defaultdict(float)
    for pid in _browser_pids():
        cmdline = b""
        with contextlib.suppress(OSError):  # (Chromium rewrites its argv as one string)
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        found = re.search(rb"--type=([\w-]+)", cmdline)
        kind = found.group(1).decode() if found else "browser"
        for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
            with contextlib.suppress(OSError, ValueError):
                text = stat.read_text()
                name = text[text.index("(") + 1:text.rindex(")")]
                fields = text.rsplit(")", 1)[1].split()
                out[f"{kind}/{name}"] += (int(fields[11]) + int(fields[12])
                                          ) / os.sysconf("SC_CLK_TCK")
    return out


def _browser_pids() -> list[int]:
    """The Chromium processes descended from this one."""
    parent: dict[int, int] = {}
    names: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        pid = int(stat.parent.name)
        names[pid] = text[text.index("(") + 1:text.rindex(")")]
        parent[pid] = int(text.rsplit(")", 1)[1].split()[1])
    ours, me = [], os.getpid()
    for pid, name in names.items():
        up = pid
        while up > 1 and up != me:
            up = parent.get(up, 0)
        if up == me and "chrom" in name:
            ours.append(pid)
    return ours


def busy_s(cdp: Any) -> float:
    """Seconds the page's main thread has spent in tasks so far (DevTools' TaskDuration)."""
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return float(metrics["TaskDuration"])


def heap_mb(cdp: Any) -> tuple[float, float]:
    """JS heap used before and after a forced garbage collection, MB."""
    def used() -> float:
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        return float(metrics["JSHeapUsedSize"]) / 1e6
    before = used()
    cdp.send("HeapProfiler.collectGarbage")
    return before, used()


def worker_heap_mb(browser: Any, page: Any) -> float:
    """JS heap held by the page's workers (the tile workers keep the decoded tiles) after a
    GC, MB: DevTools' Runtime.getHeapUsage in each worker, through the browser's session (one
    context is open at a time, so its workers are this page's)."""
    cdp = browser.new_browser_cdp_session()
    answers: dict[str, list[dict[str, Any]]] = defaultdict(list)
    cdp.on("Target.receivedMessageFromTarget",
           lambda e: answers[e["sessionId"]].append(json.loads(e["message"])))
    total = 0.0
    try:
        for target in cdp.send("Target.getTargets")["targetInfos"]:
            if target["type"] != "worker":
                continue
            sid = cdp.send("Target.attachToTarget", {"targetId": target["targetId"],
                                                     "flatten": False})["sessionId"]
            for n, method in enumerate(("HeapProfiler.collectGarbage", "Runtime.getHeapUsage")):
                cdp.send("Target.sendMessageToTarget",
                         {"sessionId": sid, "message": json.dumps({"id": n, "method": method})})
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                used = [m["result"]["usedSize"] for m in answers[sid] if m.get("id") == 1]
                if used:
                    total += used[0] / 1e6
                    break
                page.wait_for_timeout(20)  # lets the answer's event arrive
            cdp.send("Target.detachFromTarget", {"sessionId": sid})
    finally:
        cdp.detach()
    return total


def summarize(requests: list[dict[str, Any]]) -> dict[str, Any]:
    """Bytes, counts and the requests by kind (path up to the layer) of a view."""
    by_kind: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for r in requests:
        path = r["url"].split("://", 1)[-1].split("/", 1)[-1].split("?")[0]
        parts = path.split("/")
        key = "/".join(parts[:3]) if parts[:2] == ["api", "tiles"] else \
            "/".join(parts[:2]) if parts[0] == "vendor" else path
        k = by_kind["/" + key]
        k[0] += 1
        k[1] += r["bytes"] / 1e6
        if r["seconds"] is not None:
            k[2] = max(k[2], r["seconds"] * 1000)
    return {"bytes": sum(r["bytes"] for r in requests), "requests": len(requests),
            "failed": sum(1 for r in requests if r["failed"]),
            "by_kind": {k: {"n": int(v[0]), "MB": round(v[1], 3), "slowest_ms": round(v[2])}
                        for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1][1])}}


# the Resource Timing of the requests started since `since` (ms since the epoch), in ms since
# the epoch: [url, start, sent (a connection free, the request on it), first byte, last byte]
TIMINGS = """(since) => performance.getEntriesByType('resource')
    .map((e) => [e.name, ...[e.startTime, e.requestStart, e.responseStart, e.responseEnd]
                           .map((t) => performance.timeOrigin + t)])
    .filter((e) => e[1] >= since)"""


def phases(page: Any, since_ms: float, idle_s: float) -> dict[str, float]:
    """Where a view's time went, from the Resource Timing of the page and of its workers (the
    tile requests): the longest wait for a connection (Chromium keeps 6 a host over HTTP/1.1),
    the median and longest wait for the first byte once sent, when the last response ended,
    and what came after it (drawing until `loading` fell to 0); milliseconds."""
    since = page.evaluate("(t) => performance.timeOrigin + t", since_ms)
    rows = page.evaluate(TIMINGS, since)
    for worker in page.workers:
        with contextlib.suppress(Exception):  # a worker gone meanwhile
            rows += worker.evaluate(TIMINGS, since)
    sent = [r for r in rows if r[2] > 0]  # (0: answered by a cache, never sent)
    if not sent:
        return {}
    last = max(r[4] for r in rows) - since
    return {"requests": len(rows),
            "queued_max": max(r[2] - r[1] for r in sent),
            "server_median": statistics.median(r[3] - r[2] for r in sent),
            "server_max": max(r[3] - r[2] for r in sent),
            "last_response": last, "after": idle_s * 1000 - last}


def js_profile(profile: dict[str, Any], top: int = 12) -> list[tuple[str, float]]:
    """Self time (ms) by function of a CDP CPU profile, largest first."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    self_ms: dict[str, float] = defaultdict(float)
    deltas = profile.get("timeDeltas", [])
    for sample, delta in zip(profile.get("samples", []), deltas, strict=False):
        cf = nodes[sample]["callFrame"]
        url = cf["url"].rsplit("/", 1)[-1]
        name = f"{cf['functionName'] or '(anonymous)'} {url}:{cf['lineNumber'] + 1}" if url \
            else cf["functionName"] or "(program)"
        self_ms[name] += delta / 1000
    return sorted(self_ms.items(), key=lambda kv: -kv[1])[:top]


TRACE_CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "v8",
                    "blink", "cc", "viz", "toplevel", "gpu", "renderer.scheduler"]


def trace_summary(path: Path, pans: int, threads: int = 6, events: int = 8
                  ) -> list[tuple[str, float, list[tuple[str, float]]]]:
    """Of a Chromium trace: the busiest threads (top-level events' time, ms a pan) with the
    events that took it (self time: an event's duration less its nested events', ms a pan)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    trace = doc["traceEvents"] if isinstance(doc, dict) else doc
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in trace
             if e.get("ph") == "M" and e.get("name") == "thread_name"}
    by_thread: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for e in trace:
        if e.get("ph") == "X" and "dur" in e:
            by_thread[(e["pid"], e["tid"])].append(e)
    out = []
    for key, found in by_thread.items():
        found.sort(key=lambda e: (e["ts"], -e["dur"]))
        own: dict[str, float] = defaultdict(float)
        open_: list[dict[str, Any]] = []
        top = 0.0
        for e in found:
            while open_ and open_[-1]["ts"] + open_[-1]["dur"] <= e["ts"]:
                open_.pop()
            if open_:  # nested: its time is not its parent's own
                parent = open_[-1]
                own[parent["name"]] -= min(e["dur"], parent["ts"] + parent["dur"] - e["ts"])
            else:
                top += e["dur"]
            own[e["name"]] += e["dur"]
            open_.append(e)
        busiest = sorted(own.items(), key=lambda kv: -kv[1])[:events]
        out.append((names.get(key, str(key)), top / 1000 / pans,
                    [(name, us / 1000 / pans) for name, us in busiest if us > 0]))
    return sorted(out, key=lambda t: -t[1])[:threads]


@contextlib.contextmanager
def map_page(browser: Any, base: str, username: str,
             password: str) -> Iterator[tuple[Any, Any, Net]]:
    """A fresh browser context (1400 x 900, zh-CN) logged in as `username`, and a page in it
    with WATCH installed and its requests followed: (context, page, net); closed on exit.
    The map is not opened yet (page.goto(base + "/"))."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    try:
        r = context.request.post(base + "/api/auth/login",
                                 form={"username": username, "password": password})
        if not r.ok:
            raise RuntimeError(f"login failed: {r.status} {r.text()[:200]}")
        page = context.new_page()
        page.add_init_script(WATCH)
        net = Net()
        net.attach(page)
        yield context, page, net
    finally:
        context.close()


def view_bounds(page: Any) -> list[float]:
    """The map's view: [west, south, east, north]."""
    return list(page.evaluate("""() => { const b = window.__bench.state.map.getBounds();
        return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; }"""))


def pan_to(page: Any, bounds: list[float], fx: float, fy: float, z: int) -> tuple[float, float,
                                                                                   float]:
    """Move the map to zoom z at the fraction (fx, fy) of `bounds` (a PANS entry), at once;
    (lon, lat, when it moved on the page's clock, ms) — idle_ms and phases count from then."""
    lon = bounds[0] + fx * (bounds[2] - bounds[0])
    lat = bounds[1] + fy * (bounds[3] - bounds[1])
    start = page.evaluate("""([lat, lon, z]) => {
        window.__bench.busy = false; window.__bench.zeroAt = -1;
        const t = performance.now();
        window.__bench.state.map.setView([lat, lon], z, {animate: false});
        return t; }""", [lat, lon, z])
    return lon, lat, float(start)


def first_view(browser: Any, page: Any, net: Net, cdp: Any, base: str, server_pid: int,
               timeout_s: float, profile: bool) -> dict[str, Any]:
    """Open the map (page of map_page) and wait until it is quiet: the first view's figures."""
    if profile:
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 200})
        cdp.send("Profiler.start")
    cpu0, busy0, browser0 = cpu_s(server_pid), busy_s(cdp), browser_cpu_s()
    page.goto(base + "/", wait_until="commit")
    stuck = wait_quiet(page, net, timeout_s)
    first: dict[str, Any] = {"idle_s": idle_ms(page, 0.0) / 1000 if not stuck
                             else float("inf"), "stuck": stuck,
                             "server_cpu_s": cpu_s(server_pid) - cpu0,
                             "browser_cpu_s": browser_cpu_s() - browser0,
                             "page_busy_s": busy_s(cdp) - busy0}
    if profile:
        first["js"] = js_profile(cdp.send("Profiler.stop")["profile"])
    first.update(summarize(net.since(0)))
    first["heap_mb_before_gc"], first["page_heap_mb"] = heap_mb(cdp)
    first["worker_heap_mb"] = worker_heap_mb(browser, page)
    first["heap_mb"] = first["page_heap_mb"] + first["worker_heap_mb"]
    first["zoom"] = page.evaluate("window.__bench.state.map.getZoom()")
    first["counts"] = page.evaluate("window.__bench.state.counts")
    first["partial"] = page.evaluate(
        "(document.getElementById('ccmap-partial') || {}).innerText || ''")
    return first


def one_run(browser: Any, base: str, server_pid: int, username: str, password: str,
            timeout_s: float, profile: bool, replay: int = 0,
            trace: Path | None = None) -> dict[str, Any]:
    """First view and the pans in a fresh context; the figures of this run."""
    with map_page(browser, base, username, password) as (context, page, net):
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        first = first_view(browser, page, net, cdp, base, server_pid, timeout_s, profile)
        bounds = view_bounds(page)
        pans = []
        threads0 = browser_threads() if profile else {}
        if profile:  # the page's JS over the ten pans
            cdp.send("Profiler.start")
        if trace is not None:
            browser.start_tracing(page=page, path=str(trace), categories=TRACE_CATEGORIES)
        for fx, fy, z in PANS:
            mark = len(net.requests)
            cpu0, busy0, browser0 = cpu_s(server_pid), busy_s(cdp), browser_cpu_s()
            lon, lat, start = pan_to(page, bounds, fx, fy, z)
            stuck = wait_quiet(page, net, timeout_s)
            pan = {"zoom": z, "center": [round(lon, 5), round(lat, 5)], "stuck": stuck,
                   "idle_s": idle_ms(page, start) / 1000 if not stuck else float("inf"),
                   "server_cpu_s": cpu_s(server_pid) - cpu0, "page_busy_s": busy_s(cdp) - busy0,
                   "browser_cpu_s": browser_cpu_s() - browser0,
                   **summarize(net.since(mark)),
                   "counts": page.evaluate("window.__bench.state.counts"),
                   "partial": page.evaluate(
                       "(document.getElementById('ccmap-partial') || {}).innerText || ''")}
            if profile and not stuck:
                pan["phases"] = phases(page, start, pan["idle_s"])
            pans.append(pan)
        if trace is not None:
            browser.stop_tracing()
            first["pan_trace"] = trace_summary(trace, len(PANS))
            first["pan_trace_file"] = str(trace)
        if profile:  # where the browser's CPU of the ten pans went, by thread
            first["pan_js"] = [(name, ms / len(PANS)) for name, ms in
                               js_profile(cdp.send("Profiler.stop")["profile"], top=20)]
            spent = {k: v - threads0.get(k, 0.0) for k, v in browser_threads().items()}
            first["pan_threads"] = sorted(((k, round(v / len(PANS), 3)) for k, v in spent.items()
                                           if v > 0), key=lambda kv: -kv[1])[:10]
        first["heap_mb_after_pans"] = heap_mb(cdp)[1]
        steps = replayed(page, net, server_pid, cdp, first["zoom"], bounds, replay, timeout_s)
        return {"first": first, "pans": pans, "replay": steps, "errors": errors}


def replayed(page: Any, net: Net, server_pid: int, cdp: Any, zoom: float, bounds: list[float],
             weeks: int, timeout_s: float) -> list[dict[str, Any]]:
    """Back at the first view (zoom, bounds), step the week replay through its last `weeks`
    weeks as its play button does; each step's figures, timed from the slider's change."""
    if weeks <= 0:
        return []
    page.evaluate("""([lat, lon, z]) => window.__bench.state.map.setView([lat, lon], z,
                                                                         {animate: false})""",
                  [(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2, zoom])
    wait_quiet(page, net, timeout_s)
    top = int(page.evaluate("+document.querySelector('.ccmap-week-slider').max"))
    steps = []
    for value in range(max(0, top - weeks), top):
        mark = len(net.requests)
        cpu0, busy0, browser0 = cpu_s(server_pid), busy_s(cdp), browser_cpu_s()
        start = page.evaluate("""(value) => {
            window.__bench.busy = false; window.__bench.zeroAt = -1;
            const slider = document.querySelector('.ccmap-week-slider');
            const t = performance.now();
            slider.value = String(value);
            slider.dispatchEvent(new Event('change', {bubbles: true}));
            return t; }""", value)
        stuck = wait_quiet(page, net, timeout_s)
        steps.append({"week": page.inner_text(".ccmap-week-label"), "stuck": stuck,
                      "idle_s": idle_ms(page, start) / 1000 if not stuck else float("inf"),
                      "server_cpu_s": cpu_s(server_pid) - cpu0,
                      "page_busy_s": busy_s(cdp) - busy0,
                      "browser_cpu_s": browser_cpu_s() - browser0, **summarize(net.since(mark))})
    return steps


def figures(runs: list[dict[str, Any]]) -> list[float]:
    """The FIGURES of a role: medians over the runs."""
    def med(values: list[float]) -> float:
        return float(statistics.median(values))
    return [med([r["first"]["idle_s"] for r in runs]),
            med([r["first"]["bytes"] / 1e6 for r in runs]),
            med([r["first"]["heap_mb"] for r in runs]),
            med([max(p["idle_s"] for p in r["pans"]) for r in runs]),
            med([statistics.median(p["idle_s"] for p in r["pans"]) for r in runs]),
            med([r["first"]["server_cpu_s"] for r in runs]),
            med([r["first"]["browser_cpu_s"] for r in runs]),
            med([r["first"]["page_busy_s"] for r in runs]),
            med([statistics.median(p["server_cpu_s"] for p in r["pans"]) for r in runs]),
            med([statistics.median(p["browser_cpu_s"] for p in r["pans"]) for r in runs])]


def columns(roles: dict[str, list[dict[str, Any]]], first: str = "cold"
            ) -> dict[str, list[dict[str, Any]]]:
    """The runs behind each column: a role's first run meets a new server with an empty tile
    cache ("cold") or one filled by `ccmap tiles seed` ("seeded"), the later ones a server
    that has served those views before ("warm"); the browser starts empty every run."""
    out = {}
    for role, runs in roles.items():
        out[f"{role} {first}"] = runs[:1]
        if len(runs) > 1:
            out[f"{role} warm"] = runs[1:]
    return out


def print_table(db: str, roles: dict[str, list[dict[str, Any]]], load: list[float],
                first: str = "cold") -> None:
    """Figures of each role beside the issue's before figures and the targets."""
    cols = columns(roles, first)
    names = list(cols)
    print(f"\nmap page, {db} ({len(next(iter(roles.values())))} runs a role, warm: median of "
          f"the runs after the first; load average {load[0]:.1f} at the start, "
          f"{load[1]:.1f} at the end)")
    print(f"{'':36}{'before':>9}" + "".join(f"{n:>15}" for n in names) + f"{'target':>11}")
    values = {n: figures(runs) for n, runs in cols.items()}
    for i, (name, before, target, unit) in enumerate(FIGURES):
        b = f"{before:g} {unit}" if before is not None else "-"
        row = "".join(
            f"{values[n][i]:>12.2f} {unit:<2}"
            + ("*" if target is not None and values[n][i] > target else " ") for n in names)
        goal = f"≤ {target:g} {unit}" if target is not None else ""
        print(f"{name:36}{b:>9}{row}{goal:>11}")
    print("  (* over target; before: the GeoJSON page measured by the issue filer, SQLite)")
    print(f"\n{'pan/zoom (s to idle)':36}{'zoom':>9}" + "".join(f"{n:>15}" for n in names))
    for k, (_, _, z) in enumerate(PANS):
        cells = "".join(f"{statistics.median(r['pans'][k]['idle_s'] for r in cols[n]):>14.3f} "
                        for n in names)
        print(f"{'  ' + str(k + 1):36}{z:>9}{cells}")
    first_run = next(iter(cols.values()))[0]
    if first_run.get("replay"):
        print(f"\n{'week replay step (s to idle)':36}{'':>9}" + "".join(f"{n:>15}" for n in names))
        for k, step in enumerate(first_run["replay"]):
            cells = "".join(
                f"{statistics.median(r['replay'][k]['idle_s'] for r in cols[n]):>14.3f} "
                for n in names)
            print(f"{'  ' + step['week']:36}{'':>9}{cells}")
        for n in names:
            idle = [st["idle_s"] for r in cols[n] for st in r["replay"]]
            cpu = [st["server_cpu_s"] for r in cols[n] for st in r["replay"]]
            print(f"  {n}: steps median {statistics.median(idle):.3f} s, slowest "
                  f"{max(idle):.3f} s, server CPU a step median {statistics.median(cpu):.3f} s")


def print_profile(role: str, run: dict[str, Any]) -> None:
    """Where the time and bytes of one run went."""
    first = run["first"]
    print(f"\n[{role}] first view at z{first['zoom']}: {first['requests']} requests, "
          f"{first['bytes'] / 1e6:.2f} MB, {first['failed']} failed; heap "
          f"{first['heap_mb_before_gc']:.0f} MB before GC, {first['page_heap_mb']:.0f} MB after "
          f"and {first['worker_heap_mb']:.0f} MB in its workers, "
          f"{first['heap_mb_after_pans']:.0f} MB after the pans")
    print(f"  counts {first['counts']}")
    if first["partial"]:
        print(f"  partial notice: {first['partial']!r}")
    for key, v in list(first["by_kind"].items())[:12]:
        print(f"  {key:44s} {v['n']:5d} req {v['MB']:8.3f} MB  slowest {v['slowest_ms']:6d} ms")
    for name, ms in first.get("js", []):
        print(f"  JS {ms:8.1f} ms  {name}")
    for name, ms in first.get("pan_js", []):
        print(f"  JS a pan {ms:8.1f} ms  {name}")
    for name, secs in first.get("pan_threads", []):
        print(f"  browser CPU a pan {secs:6.3f} s  thread {name}")
    print("  pan  zoom   idle  requests  queued (max)  first byte (median, max)  last response"
          "  after it (ms)")
    for k, pan in enumerate(run["pans"]):
        ph = pan.get("phases")
        if ph:
            print(f"  {k + 1:3d}  {pan['zoom']:4d}  {pan['idle_s'] * 1000:5.0f}  "
                  f"{ph['requests']:8d}  {ph['queued_max']:12.0f}  {ph['server_median']:10.0f}"
                  f" {ph['server_max']:13.0f}  {ph['last_response']:13.0f}  {ph['after']:13.0f}")
    slow = max(run["pans"], key=lambda p: p["idle_s"])
    print(f"  slowest pan: z{slow['zoom']} at {slow['center']}: {slow['idle_s']:.3f} s, "
          f"{slow['requests']} requests, {slow['bytes'] / 1e6:.2f} MB")
    for key, v in list(slow["by_kind"].items())[:8]:
        print(f"    {key:42s} {v['n']:5d} req {v['MB']:8.3f} MB  slowest {v['slowest_ms']:6d} ms")
    if run["errors"]:
        print(f"  page errors: {run['errors'][:3]}")


def print_trace(role: str, run: dict[str, Any]) -> None:
    """Where the traced pans' time went, by thread and event (ms a pan)."""
    print(f"\n[{role}] the first run's pans, traced (ms a pan; a thread's events' self time; "
          f"the trace: {run['first']['pan_trace_file']}, for DevTools' Performance panel):")
    for thread, ms, busiest in run["first"].get("pan_trace", []):
        print(f"  {thread}: {ms:.1f}")
        for name, t in busiest:
            print(f"    {t:7.1f}  {name}")


def trace_file(role: str) -> Path:
    """Where a role's trace is kept (to open in DevTools after the summary)."""
    return Path(tempfile.gettempdir()) / f"bench_page-trace-{os.getpid()}-{role}.json"


def seed(db: str, env: dict[str, str]) -> float:
    """Run `ccmap tiles seed` on db with env (its disk tile cache); the seconds it took."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "server.cli", "tiles", "seed", "--db", db],
                   check=True, env={**os.environ, **env}, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    """Serve --db, drive the page in Chromium, print the figures."""
    ap = argparse.ArgumentParser(prog="python -m bench.bench_page",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--db", required=True, help="database URL (sqlite:///… or postgresql://…)")
    ap.add_argument("--runs", type=int, default=3, help="fresh browser contexts per role")
    ap.add_argument("--json", type=Path, help="write every run's figures here")
    ap.add_argument("--roles", default="planner,viewer",
                    help="comma-separated roles to log in as (a user of each is added)")
    ap.add_argument("--timeout", type=float, default=60,
                    help="seconds one view may take to settle (then it counts as inf)")
    ap.add_argument("--profile", action="store_true",
                    help="print requests by size/time and the JS self time of the first run")
    ap.add_argument("--trace", action="store_true",
                    help="record a Chromium trace of the first run's pans and print where "
                         "each busy thread's time went (slows the pans it records)")
    ap.add_argument("--tiles", choices=("cold", "seeded"), default="cold",
                    help="each role's server starts with an empty disk tile cache (cold) or "
                         "one filled by `ccmap tiles seed` (seeded)")
    ap.add_argument("--workers", type=int, help="server processes (ccmap serve --workers N: "
                    "they share the disk tile cache; default: the server's, one per core)")
    ap.add_argument("--replay", type=int, default=0, metavar="N",
                    help="after the pans, step the week replay through its last N weeks")
    ap.add_argument("--unit", help="the unit of the role `unit`'s user (包保单位)")
    ap.add_argument("--chromium", default=os.environ.get("CCMAP_CHROMIUM", "/usr/bin/chromium"))
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    if "unit" in roles and not args.unit:
        ap.error("--roles unit needs --unit NAME (the unit whose user logs in)")
    users = {role: add_user(args.db, role, unit=args.unit if role == "unit" else None)
             for role in roles}
    results: dict[str, list[dict[str, Any]]] = {role: [] for role in roles}
    log = Path(tempfile.gettempdir()) / f"bench_page-serve-{os.getpid()}.log"
    load = [os.getloadavg()[0]]  # other work on the machine slows every figure: say how much
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, headless=True,
                                    args=CHROMIUM_ARGS)
        try:
            for role in roles:  # a new server for each role, a new disk tile cache
                cache = Path(tempfile.mkdtemp(prefix="bench_page-tiles-"))
                # (no background reseeding: bench/__init__.py; cold is cold)
                env = {"CCMAP_BASEMAP": "none", "CCMAP_TILE_CACHE_DIR": str(cache)}
                if args.tiles == "seeded":
                    seed_s = seed(args.db, env)
                    print(f"ccmap tiles seed: {seed_s:.1f} s into {cache}", flush=True)
                with served(args.db, log, env=env, workers=args.workers) as server:
                    print(f"serving {args.db} at {server.base} (start-up "
                          f"{server.startup_s:.1f} s, log {log})", flush=True)
                    for i in range(args.runs):
                        run = one_run(browser, server.base, server.process.pid,
                                      *users[role], args.timeout, args.profile and i == 0,
                                      args.replay,
                                      trace=trace_file(role) if args.trace and i == 0
                                      else None)
                        results[role].append(run)
                        f = run["first"]
                        print(f"  run {i + 1} {role:8s} first view {f['idle_s']:.2f} s "
                              f"{f['bytes'] / 1e6:.2f} MB heap {f['heap_mb']:.0f} MB; pans "
                              + " ".join(f"{p['idle_s']:.2f}" for p in run["pans"])
                              + ("; replay " + " ".join(f"{st['idle_s']:.2f}"
                                                        for st in run["replay"])
                                 if run["replay"] else ""), flush=True)
                        for view in [f, *run["pans"], *run["replay"]]:
                            if view["stuck"]:
                                print(f"    {view['stuck']}", flush=True)
                shutil.rmtree(cache, ignore_errors=True)
        finally:
            browser.close()
    load.append(os.getloadavg()[0])
    print_table(args.db, results, load, args.tiles)
    if args.profile:
        for role, runs in results.items():
            print_profile(role, runs[0])
    if args.trace:
        for role, runs in results.items():
            print_trace(role, runs[0])
    if args.json:
        args.json.write_text(json.dumps({"db": args.db, "pans": PANS, "load_average": load,
                                         "runs": results,
                                         "figures": {c: dict(zip([f[0] for f in FIGURES],
                                                                 figures(v), strict=True))
                                                     for c, v in columns(results, args.tiles
                                                                         ).items()}},
                                        ensure_ascii=False, indent=1, default=str) + "\n",
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
