"""PNG/PDF map snapshots without Chromium: a clear error naming the package, or a static
matplotlib rendering that still shows the map (zones, streets, points, issues, Chinese title)."""

from __future__ import annotations

import importlib.util
import logging
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.image import imread
from shapely.geometry import LineString, Point, box

import geo.exports.snapshot as snapshot
import geo.exports.static_render as static_render
from geo.exports.snapshot import ChromiumMissing, export_map
from geo.exports.static_render import metres_per_degree_lon
from geo.i18n import CJK
from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.store import Store
from server.cli import main
from tests.conftest import need_pdftotext

TITLE = "创城点位地图"
ISSUE_SPOTS = [(121.4705, 31.2315), (121.4725, 31.2335), (121.4745, 31.2305)]


@pytest.fixture
def city(store: Store) -> Store:
    """A small sub-district: one community, two zones, streets, an alley, test points and
    issues clustered inside zone 一号 (away from streets and points)."""
    store.add_features([
        Feature(Kind.community, box(121.465, 31.225, 121.485, 31.240), name="示范社区"),
        Feature(Kind.zone, box(121.468, 31.228, 121.476, 31.236), name="一号责任区"),
        Feature(Kind.zone, box(121.477, 31.228, 121.484, 31.236), name="二号责任区"),
        Feature(Kind.street, LineString([(121.465, 31.2265), (121.485, 31.2265)]),
                name="延安东路"),
        Feature(Kind.street, LineString([(121.4765, 31.225), (121.4765, 31.240)]),
                name="河南中路"),
        Feature(Kind.alley, LineString([(121.478, 31.238), (121.483, 31.238)]), name="小弄堂"),
        Feature(Kind.test_point, Point(121.480, 31.230), name="测评点一", category="market"),
        Feature(Kind.test_point, Point(121.482, 31.233), name="测评点二", category="market"),
    ])
    store.add_issues([Issue("illegal_ads", x + 0.00002 * i, y, status="reported")
                      for x, y in ISSUE_SPOTS for i in range(5)])
    return store


@pytest.fixture
def no_chromium(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """CCMAP_CHROMIUM points at a file that does not exist; the fallback is allowed."""
    path = tmp_path / "no-such-chromium"
    monkeypatch.setenv("CCMAP_CHROMIUM", str(path))
    monkeypatch.delenv(snapshot.FALLBACK_ENV, raising=False)
    return path


def _over(base: np.ndarray, color: str, alpha: float) -> np.ndarray:
    return (1 - alpha) * base + alpha * np.array(to_rgb(color))


def _share(img: np.ndarray, rgb: np.ndarray, tol: float = 0.025) -> float:
    """Share of the image's pixels within tol of the colour (every channel)."""
    return float(np.mean(np.all(np.abs(img[..., :3] - rgb) <= tol, axis=-1)))


def test_png_falls_back_to_matplotlib_and_draws_the_map(
        city: Store, no_chromium: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "map.png"
    with caplog.at_level(logging.WARNING, logger="geo.exports.snapshot"):
        doc = export_map(city, out, width=800, height=600, scale=1.0)
    assert doc["renderer"] == "matplotlib" and doc["missing"] == "chromium"
    assert "`chromium` package" in caplog.text and "matplotlib" in caplog.text
    assert any("CCMAP_CHROMIUM" in w for w in doc["warnings"])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and doc["bytes"] == out.stat().st_size

    img = imread(out)
    assert img.shape[:2] == (600, 800)  # the requested pixel size
    assert float(img[..., :3].std()) > 0.05  # not blank
    # background → community fill → zone fill: the zones' light blue covers much of the map
    zone_fill = _over(_over(np.array(to_rgb(static_render.BACKGROUND)), "#6a3d9a", 0.03),
                      "#1f78b4", 0.15)
    assert _share(img, zone_fill) > 0.05
    assert _share(img, np.array(to_rgb("#1f78b4")), tol=0.06) > 0.0005  # zone outlines
    # issue cells (red, 55 % opaque) drawn over the zone
    issue = _over(zone_fill, static_render.ISSUE_COLOR, 0.55)
    assert _share(img, issue) > 0.0005
    # streets: dark red lines
    street = _over(zone_fill, "#c0392b", 0.75)
    assert _share(img, street, tol=0.06) > 0.0005


def test_png_scale_multiplies_the_pixel_size(city: Store, no_chromium: Path,
                                             tmp_path: Path) -> None:
    out = tmp_path / "map@2x.png"
    export_map(city, out, view="zones", width=400, height=300, scale=2.0)
    assert imread(out).shape[:2] == (600, 800)


@pytest.mark.parametrize(("paper", "landscape", "size"), [
    ("A4", False, (595.3, 841.9)), ("A3", True, (1190.6, 841.9))])
def test_pdf_fallback_has_the_paper_size_and_extractable_chinese(
        city: Store, no_chromium: Path, tmp_path: Path, paper: str, landscape: bool,
        size: tuple[float, float]) -> None:
    out = tmp_path / "map.pdf"
    doc = export_map(city, out, paper=paper, landscape=landscape)
    assert doc["renderer"] == "matplotlib"
    data = out.read_bytes()
    assert data[:4] == b"%PDF"
    box_ = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    assert box_ is not None
    assert (float(box_[1]), float(box_[2])) == pytest.approx(size, abs=1.0)
    need_pdftotext()
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert TITLE in text and "图例" in text and "OpenStreetMap" in text
    assert "责任区" in text and "问题" in text and " m" in text  # legend and scale bar


def test_cli_exports_png_without_chromium(city: Store, no_chromium: Path,
                                          tmp_path: Path) -> None:
    out = tmp_path / "cli.png"
    assert main(["export", "map", "--out", str(out), "--db", city.url, "--width", "600",
                 "--height", "400"]) == 0
    assert imread(out).shape[:2] == (400, 600)


def test_without_fallback_the_error_names_the_package(
        city: Store, no_chromium: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "map.png"
    with pytest.raises(ChromiumMissing) as err:
        export_map(city, out, fallback=False)
    assert err.value.package == "chromium"
    assert "Chromium not found" in err.value.message
    assert "install Debian's `chromium` package" in err.value.message
    assert "CCMAP_CHROMIUM" in err.value.message and not out.exists()
    monkeypatch.setenv(snapshot.FALLBACK_ENV, "0")
    assert main(["export", "map", "--out", str(out), "--db", city.url]) == 2
    assert "`chromium` package" in capsys.readouterr().err and not out.exists()
    # HTML needs no browser either way
    doc = export_map(city, tmp_path / "map.html")
    assert doc["renderer"] == "html" and TITLE in (tmp_path / "map.html").read_text("utf-8")


def test_missing_playwright_also_falls_back(city: Store, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")  # a browser is there, but nothing to drive it
    monkeypatch.setenv("CCMAP_CHROMIUM", str(fake))
    monkeypatch.delenv(snapshot.FALLBACK_ENV, raising=False)
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name == "playwright" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ChromiumMissing, match="Playwright not installed"):
        export_map(city, tmp_path / "strict.png", fallback=False)
    doc = export_map(city, tmp_path / "map.png", width=400, height=300)
    assert doc["renderer"] == "matplotlib" and doc["missing"] == "playwright"


def test_without_a_cjk_font_it_still_renders_and_warns(
        city: Store, no_chromium: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(static_render, "cjk_font", lambda: None)
    out = tmp_path / "map.png"
    doc = export_map(city, out, width=400, height=300)
    assert any("CJK font" in w and "fonts-noto-cjk" in w for w in doc["warnings"])
    assert float(imread(out)[..., :3].std()) > 0.05


def test_scale_bar_lengths() -> None:
    # one degree of longitude at Shanghai's latitude is about 95.3 km (WGS84)
    assert metres_per_degree_lon(31.23) == pytest.approx(95_290, rel=0.002)
    assert metres_per_degree_lon(0.0) == pytest.approx(111_319.5, rel=1e-4)
    nice = static_render._nice_length
    assert [nice(x) for x in (430.0, 999.0, 1000.0, 1900.0, 7.5)] == [200, 500, 1000, 1000, 5]


def test_an_english_fallback_pdf_has_no_chinese_words(city: Store, no_chromium: Path,
                                                       tmp_path: Path) -> None:
    from geo.store import IssueQuery

    out, zh = tmp_path / "en.pdf", tmp_path / "zh.pdf"
    shown = ["community", "zone", "street", "alley", "test_point", "gaps", "issues"]
    doc = export_map(city, out, layers=shown, issues=IssueQuery(categories=["illegal_ads"]),
                     locale="en")
    assert doc["renderer"] == "matplotlib"
    need_pdftotext()
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "Civilised City Map (Type: Illegal small ads)" in text and "Legend" in text
    assert "Static rendering (matplotlib)" in text and "Coverage gap: " in text
    assert not CJK.search(text), CJK.findall(text)
    export_map(city, zh, layers=shown, issues=IssueQuery(categories=["illegal_ads"]))
    text = subprocess.run(["pdftotext", str(zh), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert f"{TITLE}（类型：小广告/牛皮癣）" in text and "图例" in text and "覆盖缺口·" in text
