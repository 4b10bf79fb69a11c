"""`pip install .` (not editable) gives a ccmap that runs from any directory: the wheel carries
data/, the templates, our JS/CSS and the npm packages the pages load (setup.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# run in the installed copy, from an empty directory: the demo, then the page's assets
CHECK = """
import json, sys
import geo, server.cli
from fastapi.testclient import TestClient
from server.app import create_app
from server.settings import Settings
from geo.store import open_store
code = server.cli.main(["demo", "--no-serve"])
settings = Settings()
store = open_store(settings.database_url)
with TestClient(create_app(settings, store=store)) as c:
    pages = {p: c.get(p).status_code for p in
             ["/login", "/vendor/leaflet/dist/leaflet.js", "/static/js/tiles.js"]}
    english = "Password" in c.get("/login", headers={"Accept-Language": "en"}).text
print(json.dumps({"code": code, "geo": geo.__file__, "db": settings.database_url,
                  "issues": store.issue_count(), "pages": pages, "english": english}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # no build isolation: the build needs only setuptools (>= 77, a dev dependency), and
    # the test must not depend on the network
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps",
                        "--no-build-isolation", "-w", str(out), "-q"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    [built] = out.glob("ccmap-*.whl")
    return built


def test_an_installed_wheel_builds_and_serves_the_demo_from_any_directory(
        wheel: Path, tmp_path: Path) -> None:
    target, cwd = tmp_path / "site", tmp_path / "anywhere"
    cwd.mkdir()
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "--target", str(target), str(wheel)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCMAP_")}
    env["PYTHONPATH"] = str(target)  # before the editable checkout of this venv
    r = subprocess.run([sys.executable, "-c", CHECK], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert Path(got["geo"]).is_relative_to(target)  # the installed copy, not the checkout
    assert got["code"] == 0 and got["issues"] > 5000
    assert got["db"] == f"sqlite:///{cwd / 'var' / 'ccmap.db'}"  # var/ where it was started
    assert (cwd / "var" / "ccmap.db").is_file()
    assert got["pages"] == {"/login": 200, "/vendor/leaflet/dist/leaflet.js": 200,
                            "/static/js/tiles.js": 200}
    assert got["english"]  # the English catalogs (data/locales) ship in the wheel
