"""ccmap domain: layers, coordinates, import, analysis and map builders (no web framework)."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
