"""The process's bounded worker pool, as routes use it: heavy work off the event loop.

Async routes `await in_pool(request, fn, ...)`. Plain `def` routes that do heavy work (exports,
route plans) declare `dependencies=[HeavyWork]`: at most CCMAP_WORKER_THREADS of them run at
once (Starlette's own thread pool, which runs plain `def` routes, has 40 threads).
Long uploads become jobs (`submit`), answered 202 with where to follow them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from geo.jobs.runner import JobPool

T = TypeVar("T")


def job_pool(request: Request) -> JobPool:
    """The app's JobPool (created by the app factory)."""
    pool: JobPool = request.app.state.jobs
    return pool


async def in_pool(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """Run fn(*args) in the bounded pool and wait for it without blocking the event loop."""
    return await asyncio.wrap_future(job_pool(request).submit(fn, *args))


def _heavy_limiter(app: FastAPI) -> anyio.CapacityLimiter:
    limiter: anyio.CapacityLimiter | None = getattr(app.state, "heavy_limiter", None)
    if limiter is None:  # made on the event loop, at first use
        limiter = anyio.CapacityLimiter(app.state.settings.worker_threads)
        app.state.heavy_limiter = limiter
    return limiter


async def heavy_slot(request: Request) -> AsyncIterator[None]:
    """Hold one of CCMAP_WORKER_THREADS slots while a heavy plain `def` route (an export, a
    route plan) runs in Starlette's thread pool; others wait here, on the event loop, without
    taking a thread."""
    async with _heavy_limiter(request.app):
        yield


HeavyWork = Depends(heavy_slot)


def accepted(job_id: int) -> JSONResponse:
    """202 Accepted for a job: its id and where to follow it (body and Location header)."""
    url = f"/api/jobs/{job_id}"
    return JSONResponse({"job_id": job_id, "status_url": url}, status_code=202,
                        headers={"Location": url})
