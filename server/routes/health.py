"""GET /api/health."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request

from server.deps import StoreDep
from server.schemas.common import Health

router = APIRouter(tags=["health"])


@router.get("/api/health", response_model=Health)
def health(store: StoreDep, request: Request) -> dict[str, Any]:
    """Liveness plus what the store holds, and what the tile reseeding has done."""
    backend = "postgis" if store.url.startswith("postgres") else "sqlite"
    reseeder = getattr(request.app.state, "reseeder", None)
    return {"status": "ok", "database": backend, "layers": store.layer_counts(),
            "issues": store.issue_count(),
            "tile_reseed": asdict(reseeder.status) if reseeder is not None else None}
