"""Exports from the page: map snapshots of the current view and bulletins."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from geo.bulletin import write_bulletin
from geo.snapshot import export_map
from geo.store import IssueQuery
from server.auth import Analyst
from server.deps import StoreDep
from server.routes.issues import issue_query

router = APIRouter(tags=["exports"])
MEDIA = {"html": "text/html; charset=utf-8", "png": "image/png", "pdf": "application/pdf"}


def _file_response(path: Path, fmt: str, name: str) -> Response:
    return Response(path.read_bytes(), media_type=MEDIA[fmt],
                    headers={"Content-Disposition": f"attachment; filename={name}.{fmt}"})


@router.get("/api/export/map", response_model=None)
def map_snapshot(
    _: Analyst,
    store: StoreDep,
    query: Annotated[IssueQuery, Depends(issue_query)],
    format: Annotated[str, Query(pattern="^(html|png|pdf)$")] = "png",
    view: Annotated[str, Query(pattern="^(main|zones|issues)$")] = "main",
    layers: Annotated[str | None, Query(description="visible layers, comma-separated")] = None,
    paper: Annotated[str, Query(pattern="^(A4|A3)$")] = "A4",
    landscape: bool = True,
    width: Annotated[int, Query(ge=200, le=6000)] = 1600,
    height: Annotated[int, Query(ge=200, le=6000)] = 1100,
    scale: Annotated[float, Query(ge=0.5, le=4)] = 1.0,
) -> Response:
    """A snapshot of what the page shows: its extent (bbox), visible layers and issue filters
    (the same query parameters as the issue list); PNG at a size and scale, PDF on A4/A3."""
    options: dict[str, Any] = {}
    if format == "png":
        options = {"width": width, "height": height, "scale": scale}
    elif format == "pdf":
        options = {"paper": paper, "landscape": landscape}
    shown = [x for x in layers.split(",") if x] if layers is not None else None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"map.{format}"
        export_map(store, out, view, query.bbox, issues=query, layers=shown, **options)
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
