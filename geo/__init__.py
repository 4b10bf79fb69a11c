"""ccmap's domain, in packages by concept (no web framework; see README "Architecture"):

model (the vocabulary) | i18n (the English locale) < tiling < store < layers < zones | accounts
< ledger < jobs < planner < analytics < maps < exports < demo — each package imports only those
to its left.
"""

from pathlib import Path

_HERE = Path(__file__).resolve().parent
# a source checkout (editable install, tests) reads data/ and static/ where they are; an
# installed wheel carries them in geo/_assets/ (setup.py)
CHECKOUT: Path | None = _HERE.parent if (_HERE.parent / "pyproject.toml").is_file() else None
ROOT_DIR = CHECKOUT if CHECKOUT is not None else _HERE / "_assets"
DATA_DIR = ROOT_DIR / "data"
STATIC_DIR = ROOT_DIR / "static"
