"""Exports from the page: map snapshots of the current view and bulletins."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from geo.bulletin import write_bulletin
from geo.geojson import parse_bbox
from geo.snapshot import export_map
from server.auth import Analyst
from server.deps import StoreDep

router = APIRouter(tags=["exports"])
MEDIA = {"html": "text/html; charset=utf-8", "png": "image/png", "pdf": "application/pdf"}


def _file_response(path: Path, fmt: str, name: str) -> Response:
    return Response(path.read_bytes(), media_type=MEDIA[fmt],
                    headers={"Content-Disposition": f"attachment; filename={name}.{fmt}"})


@router.get("/api/export/map", response_model=None)
def map_snapshot(
    _: Analyst,
    store: StoreDep,
    format: Annotated[str, Query(pattern="^(html|png|pdf)$")] = "png",
    bbox: str | None = None,
    view: Annotated[str, Query(pattern="^(main|zones|issues)$")] = "main",
) -> Response:
    """A snapshot of the given extent (the page sends its current bbox)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"map.{format}"
        export_map(store, out, view, parse_bbox(bbox))
        return _file_response(out, format, "ccmap-map")


@router.get("/api/report", response_model=None)
def bulletin(
    _: Analyst,
    store: StoreDep,
    period: str,
    format: Annotated[str, Query(pattern="^(html|pdf)$")] = "pdf",
) -> Response:
    """The weekly (2026-W47) or monthly (2026-11) bulletin."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"bulletin.{format}"
        write_bulletin(store, period, out)
        return _file_response(out, format, f"bulletin-{period}")
