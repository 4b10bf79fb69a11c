"""GET /api/health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from server.deps import StoreDep
from server.schemas.common import Health

router = APIRouter(tags=["health"])


@router.get("/api/health", response_model=Health)
def health(store: StoreDep) -> dict[str, Any]:
    """Liveness plus what the store holds."""
    backend = "postgis" if store.url.startswith("postgres") else "sqlite"
    return {"status": "ok", "database": backend, "layers": store.layer_counts(),
            "issues": store.issue_count()}
