"""The one place where domain errors become HTTP responses."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from geo.errors import CcmapError, Conflict, ImportRejected, InvalidInput, NotFound, TooLarge

STATUS: dict[type[CcmapError], int] = {
    NotFound: 404,
    InvalidInput: 400,
    ImportRejected: 422,
    TooLarge: 413,
    Conflict: 409,
}


def install_error_handlers(app: FastAPI) -> None:
    """Register a handler that maps every CcmapError subclass to its status code."""

    async def handle(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CcmapError)
        status = next((s for t, s in STATUS.items() if isinstance(exc, t)), 400)
        return JSONResponse({"detail": exc.message, **exc.detail}, status_code=status)

    app.add_exception_handler(CcmapError, handle)
