"""Response bodies shared by several routes: health, jobs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Health(BaseModel):
    """Liveness and what the store holds."""

    status: str
    database: str
    layers: dict[str, int]
    issues: int


class JobPublic(BaseModel):
    """A background job (an import): its state, progress and, when done, its report."""

    id: int
    kind: str
    state: str
    done: int | float | None
    total: int | float | None
    message: str | None
    result: Any
    created_at: str | None
    started_at: str | None
    finished_at: str | None
