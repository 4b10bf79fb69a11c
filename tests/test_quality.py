"""The code base stays ruff- and mypy-clean (the project's own promise in the README), keeps its
import contracts, and the page scripts keep ESLint's rules (static/eslint.config.mjs)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import missing

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "static"


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


def _eslint(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """ESLint of static/package.json's devDependencies (`npm ci` in static/), never fetched."""
    npx = shutil.which("npx")
    if npx is None or not (STATIC / "node_modules" / ".bin" / "eslint").exists():
        missing("ESLint not installed: run `npm ci` in static/ (Node.js, its devDependencies)")
    return subprocess.run([str(npx), "--no-install", "eslint", *args], cwd=STATIC, input=stdin,
                          capture_output=True, text=True, timeout=600)


def test_page_scripts_lint_clean() -> None:
    """ES modules, nothing of ours put on window, no function over 80 lines."""
    r = _eslint("js")
    assert r.returncode == 0, r.stdout + r.stderr


def test_eslint_rules_catch_globals_and_long_functions() -> None:
    """The config really forbids what the front end promises (a rule left out fails here)."""
    body = "".join(f"  x += {i};\n" for i in range(85))
    bad = ("window.ccmap = {};\nwindow.ccmap.state = 1;\nlet x = window.ccmapIssues;\n"
           f"export function long() {{\n{body}}}\n")
    r = _eslint("--stdin", "--stdin-filename", "js/bad.js", "--format", "json", stdin=bad)
    rules = [m["ruleId"] for m in json.loads(r.stdout)[0]["messages"]]
    assert rules.count("no-restricted-syntax") == 5, rules  # 2 writes, 3 reads of window.ccmap…
    assert rules.count("max-lines-per-function") == 1, rules
