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


def test_import_contracts_kept() -> None:
    """import-linter's contracts in pyproject.toml: geo never imports server or the web
    framework, geo's packages import only the packages below them, no cycles in a package."""
    script = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(script), "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 kept, 0 broken" in r.stdout, r.stdout
