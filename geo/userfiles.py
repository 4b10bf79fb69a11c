"""Opening files that users supply: allow-listed drivers chosen by extension, checked content,
and limits on what a file may unpack to.

Nothing here lets GDAL or another library guess a format: a file is opened only with the one
driver its extension names, after its first bytes have been checked to match that format.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileLimits:
    """Content limits for one user file (None: no limit)."""

    max_unpacked_bytes: int | None = None  # everything inside an archive (.zip, .xlsx)
    max_rows: int | None = None  # rows of a table (CSV, xlsx)
    max_features: int | None = None  # features of a layer file
    max_vertices: int | None = None  # vertices of one geometry
