"""ccmap's domain, in packages by concept (no web framework; see README "Architecture"):

model (the vocabulary) < tiling < store < layers < zones | accounts < ledger < jobs < planner
< analytics < maps < exports < demo — each package imports only those to its left.
"""

from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT_DIR / "data"
STATIC_DIR = ROOT_DIR / "static"
