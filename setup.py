"""Build hook: the wheel carries data/ and the served static files (geo/_assets/), so that
`pip install .` (not editable) gives a ccmap that runs from any directory. The metadata is in
pyproject.toml."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
STATIC_PARTS = ["js", "css", "templates", "package.json", "package-lock.json"]


class BuildWithAssets(build_py):
    """build_py, then data/ and static/ (our JS, CSS and templates, and the npm packages of
    static/package.json, installed with `npm ci` if they are not yet) into geo/_assets/."""

    def run(self) -> None:
        if not self.editable_mode:  # no module left over from an earlier build of the tree
            shutil.rmtree(self.build_lib, ignore_errors=True)
        super().run()
        if self.editable_mode:  # an editable install reads data/ and static/ where they are
            return
        static = HERE / "static"
        wanted = json.loads((static / "package.json").read_text("utf-8"))["dependencies"]
        modules = static / "node_modules"
        if not all((modules / name / "package.json").is_file() for name in wanted):
            npm = shutil.which("npm")
            if npm is None:
                raise SystemExit("building ccmap needs its front-end packages: run `npm ci` in "
                                 "static/ (Node.js and npm), then build again")
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=static, check=True)
        assets = Path(self.build_lib) / "geo" / "_assets"
        shutil.rmtree(assets, ignore_errors=True)
        shutil.copytree(HERE / "data", assets / "data")
        for part in STATIC_PARTS:
            source = static / part
            if source.is_dir():
                shutil.copytree(source, assets / "static" / part)
            else:
                shutil.copy2(source, assets / "static" / part)
        for name in wanted:
            shutil.copytree(modules / name, assets / "static" / "node_modules" / name)


setup(cmdclass={"build_py": BuildWithAssets})
