"""`ccmap report`: the weekly bulletin in HTML and PDF, with Chinese text and photos."""

from __future__ import annotations

import base64
import io
import re
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from geo.demo.city import build_demo
from geo.exports.snapshot import describe_filters
from geo.store import IssueQuery, open_store
from server.cli import main
from tests.conftest import need_chromium, need_pdftotext


def _photo() -> bytes:
    """A real (decodable) photo of 64 x 48, so that the PDF embeds it as an image."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(out, "PNG")
    return out.getvalue()


PNG = _photo()


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A demo database and the ISO week of its last full week, with a photo on a closed issue
    (shared by this module's tests, which only read it)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    store = open_store(url)
    build_demo(store)
    last_week = datetime.now() - timedelta(days=7)
    year, week, _ = last_week.isocalendar()
    start = datetime.fromisocalendar(year, week, 1)
    closed, _ = store.query_issues(IssueQuery(since=start, until=start + timedelta(days=7),
                                              statuses=["closed"], limit=1))
    store.add_photo(closed[0].id or 0, "after", "after.png", "image/png", PNG, "test")
    store.close()
    return url, f"{year}-W{week:02d}"


def test_html_bulletin_has_every_section(demo_url: tuple[str, str], tmp_path: Path) -> None:
    url, period = demo_url
    out = tmp_path / "bulletin.html"
    assert main(["report", "--period", period, "--out", str(out), "--db", url]) == 0
    html = out.read_text(encoding="utf-8")
    for heading in ("创城工作周通报", "一、总体情况", "二、考评指标", "各责任单位考评指标",
                    "三、问题分布图", "四、社区排名", "五、超期未整改问题", "六、回潮问题",
                    "七、本期结案问题", "© OpenStreetMap contributors"):
        assert heading in html
    # the after-photo of a closed issue: the issues with photos come first of the closed
    assert '<img alt="after" style="height:60px"\n  src="data:image/png;base64,' in html
    # two print maps (issues, coverage gaps), 1400 x 900, drawn by matplotlib
    assert 'alt="问题分布图"' in html and 'alt="覆盖缺口图"' in html
    for alt in ("问题分布图", "覆盖缺口图"):
        data = re.search(rf'alt="{alt}" src="data:image/png;base64,([^"]+)"', html)
        assert data, alt
        assert Image.open(io.BytesIO(base64.b64decode(data[1]))).size == (1400, 900)
    assert main(["report", "--period", "2026-11", "--out", str(tmp_path / "m.html"),
                 "--db", url]) == 0
    assert "创城工作简报（2026-11）" in (tmp_path / "m.html").read_text(encoding="utf-8")
    assert main(["report", "--period", "soon", "--out", str(out), "--db", url]) == 2


def test_pdf_bulletin_text_is_extractable_chinese(demo_url: tuple[str, str],
                                                  tmp_path: Path) -> None:
    need_chromium()
    need_pdftotext()
    url, period = demo_url
    out = tmp_path / "bulletin.pdf"
    assert main(["report", "--period", period, "--out", str(out), "--db", url]) == 0
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert f"创城工作周通报（{period}）" in text
    assert "社区排名" in text and "福佑社区" in text and "整改率" in text
    assert "考评指标" in text and "按期结案率" in text and "环比" in text
    images = subprocess.run(["pdfimages", "-list", str(out)], capture_output=True, text=True,
                            check=True).stdout
    assert "责任区覆盖缺口图" in text
    sizes = sorted((int(line.split()[3]), int(line.split()[4]))
                   for line in images.splitlines()[2:] if line.split()[2] == "image")
    assert sizes == [(64, 48), (1400, 900), (1400, 900)]  # the after-photo and the two maps


def test_a_periods_last_day_is_the_day_before_its_exclusive_end() -> None:
    week = IssueQuery(since=datetime(2026, 11, 23), until=datetime(2026, 11, 30))
    assert describe_filters(week) == "时间：2026-11-23 至 2026-11-29"  # W48, Monday to Sunday
    assert describe_filters(IssueQuery(until=datetime(2026, 11, 30, 15, 30))) == \
        "时间： 至 2026-11-30"  # counted up to 15:30 that day
