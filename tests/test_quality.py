"""The code base stays ruff- and mypy-clean (the project's own promise in the README)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_ruff_clean() -> None:
    r = _run("ruff", "check", "--no-cache", ".")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_clean() -> None:
    r = _run("mypy")
    assert r.returncode == 0, r.stdout + r.stderr


def test_geo_never_imports_the_web_framework() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "geo").rglob("*.py")
                 if "fastapi" in p.read_text(encoding="utf-8")
                 or "starlette" in p.read_text(encoding="utf-8")]
    assert offenders == []
