"""Files sent as downloads: one place for media types and Content-Disposition."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.responses import Response

from geo.exports.tables import table_bytes

MEDIA = {"html": "text/html; charset=utf-8", "png": "image/png", "pdf": "application/pdf",
         "csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         "gpkg": "application/geopackage+sqlite3", "geojson": "application/geo+json",
         "json": "application/json", "jpg": "image/jpeg"}


def download_responses(*formats: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a route whose 200 answer is a file in one of formats."""
    return {200: {"description": "the file", "content": {MEDIA[f].split(";")[0]: {}
                                                        for f in formats}}}


def attachment(data: bytes | str, filename: str, media_type: str | None = None) -> Response:
    """A download named filename (media type from its suffix unless given)."""
    media = media_type or MEDIA[filename.rsplit(".", 1)[-1]]
    return Response(data, media_type=media,
                    headers={"Content-Disposition": f"attachment; filename={filename}"})


def table_download(rows: list[list[Any]], fmt: str, name: str) -> Response:
    """Rows (header first) as a CSV or xlsx download named name.fmt."""
    data, media = table_bytes(rows, fmt)
    return attachment(data, f"{name}.{fmt}", media)


def file_download(write: Callable[[Path], Any], filename: str) -> Response:
    """Let write() produce a file in a temporary folder, then send it as filename."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / filename
        write(out)
        return attachment(out.read_bytes(), filename)
