"""The one place where domain errors become HTTP responses."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from geo.errors import (
    CcmapError,
    Conflict,
    Forbidden,
    ImportRejected,
    InvalidGeometry,
    InvalidInput,
    LimitExceeded,
    Locked,
    NotFound,
    TooLarge,
    TooManyRequests,
    Unauthorized,
    UnsafeFile,
)

STATUS: dict[type[CcmapError], int] = {
    NotFound: 404,
    InvalidGeometry: 422,
    InvalidInput: 400,
    ImportRejected: 422,
    TooLarge: 413,
    UnsafeFile: 422,
    LimitExceeded: 422,
    Conflict: 409,
    Unauthorized: 401,
    Forbidden: 403,
    Locked: 423,
    TooManyRequests: 429,
}


def install_error_handlers(app: FastAPI) -> None:
    """Register a handler that maps every CcmapError subclass to its status code."""

    async def handle(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CcmapError)
        status = next((s for t, s in STATUS.items() if isinstance(exc, t)), 400)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
        if "retry_after" in exc.detail:
            headers["Retry-After"] = str(exc.detail["retry_after"])
        return JSONResponse({"detail": exc.message, **exc.detail}, status_code=status,
                            headers=headers)

    app.add_exception_handler(CcmapError, handle)
