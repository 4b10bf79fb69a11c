"""Files sent as downloads: one place for media types and Content-Disposition."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.responses import Response

from geo.exports.tables import table_bytes
from geo.i18n import DEFAULT
from server.schemas.common import BINARY, TEXT

MEDIA = {"html": "text/html; charset=utf-8", "png": "image/png", "pdf": "application/pdf",
         "csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         "gpkg": "application/geopackage+sqlite3", "geojson": "application/geo+json",
         "json": "application/json", "jpg": "image/jpeg", "bin": "application/octet-stream"}
TEXT_FORMATS = {"html", "csv"}


def download_responses(*formats: str, model: Any = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a route whose 200 answer is a file in one of formats: text
    (HTML, CSV) or binary; a `json` format is described by `model` (a pydantic model or a
    list of one). A route without `json` sets response_class=Response, so that no JSON
    answer is documented."""
    content = {MEDIA[f].split(";")[0]: {"schema": TEXT if f in TEXT_FORMATS else BINARY}
               for f in formats if f != "json"}
    described: dict[str, Any] = {"description": "the file", "content": content}
    if "json" in formats:
        described["model"] = model
        described["description"] = "the JSON document, or the file in the format asked for"
    return {200: described}


def attachment(data: bytes | str, filename: str, media_type: str | None = None) -> Response:
    """A download named filename (media type from its suffix unless given)."""
    media = media_type or MEDIA[filename.rsplit(".", 1)[-1]]
    return Response(data, media_type=media,
                    headers={"Content-Disposition": f"attachment; filename={filename}"})


def table_download(rows: list[list[Any]], fmt: str, name: str,
                   locale: str = DEFAULT) -> Response:
    """Rows (header first, written in Chinese: shown in locale) as a CSV or xlsx download
    named name.fmt."""
    data, media = table_bytes(rows, fmt, locale)
    return attachment(data, f"{name}.{fmt}", media)


def file_download(write: Callable[[Path], Any], filename: str) -> Response:
    """Let write() produce a file in a temporary folder, then send it as filename."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / filename
        write(out)
        return attachment(out.read_bytes(), filename)
