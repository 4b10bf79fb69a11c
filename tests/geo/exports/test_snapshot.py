"""`ccmap export map`: offline HTML, PNG and PDF snapshots of the demo city."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from geo.demo.city import build_demo
from geo.exports.snapshot import external_urls
from geo.i18n import CJK
from geo.model.kinds import Kind
from geo.store import open_store
from server.cli import main
from tests.conftest import need_chromium, need_pdftotext


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A demo database on SQLite (the snapshot reads the store like the map page), shared by
    this module's tests, which only read it."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    store = open_store(url)
    build_demo(store)
    store.close()
    return url


def test_html_snapshot_is_self_contained(demo_url: str, tmp_path: Path) -> None:
    out = tmp_path / "map.html"
    assert main(["export", "map", "--out", str(out), "--db", demo_url]) == 0
    html = out.read_text(encoding="utf-8")
    assert external_urls(html) == []  # works with no network
    assert "L.map(" in html and "创城点位地图" in html and "OpenStreetMap" in html
    assert "L.control.scale({imperial: false})" in html  # a scale bar in metres only
    store = open_store(demo_url)
    try:
        market = store.features(Kind.market)[0].name
        issues = store.issue_count()
    finally:
        store.close()
    def inlined(text: str) -> bool:  # folium writes non-ASCII in JSON as \uXXXX escapes
        return text in html or json.dumps(text)[1:-1] in html

    assert inlined(market)  # the view's data is inlined
    assert inlined(f"问题（{issues}，按格汇总）")
    assert out.stat().st_size < 5_000_000  # issues aggregated, not thousands of markers


def test_bbox_limits_the_snapshot(demo_url: str, tmp_path: Path) -> None:
    whole, part = tmp_path / "whole.html", tmp_path / "part.html"
    assert main(["export", "map", "--out", str(whole), "--db", demo_url]) == 0
    assert main(["export", "map", "--out", str(part), "--db", demo_url,
                 "--bbox", "121.465,31.225,121.470,31.230"]) == 0
    assert part.stat().st_size < whole.stat().st_size
    assert main(["export", "map", "--out", str(tmp_path / "x.svg"), "--db", demo_url]) == 2


def _png_size(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_png_and_pdf_render_in_chromium(demo_url: str, tmp_path: Path) -> None:
    need_chromium()
    png, pdf = tmp_path / "map.png", tmp_path / "map.pdf"
    assert main(["export", "map", "--out", str(png), "--db", demo_url, "--width", "1200",
                 "--height", "800"]) == 0
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 60_000  # drawn, not blank
    assert _png_size(data) == (1200, 800)
    small = tmp_path / "small.png"
    assert main(["export", "map", "--out", str(small), "--db", demo_url, "--width", "500",
                 "--height", "300", "--scale", "2"]) == 0
    assert _png_size(small.read_bytes()) == (1000, 600)  # the chosen size at the chosen scale
    assert main(["export", "map", "--out", str(pdf), "--db", demo_url, "--paper", "A3"]) == 0
    assert pdf.read_bytes()[:4] == b"%PDF"
    need_pdftotext()
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "创城点位地图" in text and "图例" in text and "OpenStreetMap" in text


def _manifest(html: str) -> dict[str, object]:
    start = html.index('id="ccmap-snapshot-view">') + len('id="ccmap-snapshot-view">')
    doc: dict[str, object] = json.loads(html[start:html.index("</script>", start)])
    return doc


def test_layers_and_filters_choose_what_the_snapshot_shows(demo_url: str, tmp_path: Path
                                                           ) -> None:
    from geo.store import IssueQuery
    from geo.zones.gaps import analyse, gap_features, load_input

    out = tmp_path / "gaps.html"
    assert main(["export", "map", "--out", str(out), "--layers", "zone,gaps,hotspots,issues",
                 "--category", "illegal_ads", "--status", "closed", "--db", demo_url]) == 0
    html = out.read_text(encoding="utf-8")
    view = _manifest(html)
    store = open_store(demo_url)
    try:
        gaps = gap_features(analyse(load_input(store), with_geometry=True))
        query = IssueQuery(categories=["illegal_ads"], statuses=["closed"], limit=100_000)
        expected = len(store.query_issues(query)[0])
        zones = len(store.features(Kind.zone))
    finally:
        store.close()
    assert view["layers"] == ["zone", "issues", "gaps"]
    assert view["counts"] == {"zone": zones, "issues": expected, "gaps": len(gaps)}
    assert view["filters"] == "类型：小广告/牛皮癣；状态：结案"
    assert "快照未包含：热点分析" in html  # a layer a snapshot cannot draw is named, not hidden
    assert main(["export", "map", "--out", str(out), "--layers", "zone,nonsense",
                 "--db", demo_url]) == 2


def test_the_kept_browser_is_launched_again_when_it_went_away(tmp_path: Path) -> None:
    """One Chromium is kept for every render of the process; if it dies (crash, killed), the
    next render launches a new one instead of failing."""
    from geo.exports import snapshot

    need_chromium()
    page = tmp_path / "page.html"
    page.write_text("<html><body style='background:#e6194b'>地图</body></html>", "utf-8")
    snapshot.render(page, tmp_path / "a.png", 300, 200)
    first = snapshot._RENDERER._browser
    snapshot.render(page, tmp_path / "b.png", 300, 200)
    assert snapshot._RENDERER._browser is first  # kept, not launched per render
    snapshot._RENDERER._call(first.close)  # the browser goes away under the renderer
    snapshot.render(page, tmp_path / "c.png", 300, 200)
    assert _png_size((tmp_path / "c.png").read_bytes()) == (300, 200)
    assert snapshot._RENDERER._browser is not first


def test_an_english_snapshot_has_no_chinese_words(demo_url: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """--lang en (or CCMAP_LOCALE=en): the title, filter line, layer names, legend and
    tooltips in English; Chinese stays the default."""
    need_chromium()
    need_pdftotext()
    pdf, zh = tmp_path / "en.pdf", tmp_path / "zh.pdf"
    filters = ["--layers", "subdistrict,zone,street,gaps,hotspots,issues", "--category",
               "illegal_ads", "--status", "closed", "--from", "2026-01-01", "--db", demo_url]
    assert main(["export", "map", "--out", str(pdf), "--lang", "en", *filters]) == 0
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "Legend" in text and "Time: from 2026-01-01" in text
    assert "Filter: Type: Illegal small ads; Status: Closed" in text
    assert "Not in the snapshot: Hot spots" in text and "Main streets" in text
    assert not CJK.search(text), CJK.findall(text)
    assert main(["export", "map", "--out", str(zh), *filters]) == 0
    text = subprocess.run(["pdftotext", str(zh), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "图例" in text and "筛选：类型：" in text and "Legend" not in text
    monkeypatch.setenv("CCMAP_LOCALE", "en")
    html = tmp_path / "en.html"
    assert main(["export", "map", "--out", str(html), *filters]) == 0
    page = html.read_text(encoding="utf-8")
    assert '"{n} issues".replace(' in page and "个问题" not in page
    assert "Legend" in page and "图例" not in page
