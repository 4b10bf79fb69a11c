"""The one place where domain errors become HTTP responses."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from geo.model.errors import (
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


class ErrorPublic(BaseModel):
    """Every error answer: `detail` says why (a list of field errors for a malformed request);
    some errors add fields (`problems`: row-level report of a refused file, `retry_after` …)."""

    model_config = ConfigDict(extra="allow")
    detail: str | list[Any]


_DESCRIPTIONS = {
    400: "bad request (malformed parameter or file)", 401: "not logged in",
    403: "the caller's role or unit may not do this", 404: "not found or outside the scope",
    409: "conflicts with the current state (illegal transition, stale version)",
    413: "upload or output over a configured limit",
    422: "invalid input (field errors, unsafe file, content over a limit, rows refused)",
    423: "account locked", 429: "too many attempts",
}
# Documented on every operation, so that clients (and the schema fuzz test) know every answer
# (errors are JSON even where the route's own answer is GeoJSON, hence the explicit content)
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorPublic, "description": text, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ErrorPublic"}}}}
    for code, text in _DESCRIPTIONS.items()
}


class Open311Error(BaseModel):
    """One GeoReport v2 error: Open311 answers errors as a list of these."""

    code: int
    description: str


# GeoReport v2 routes answer errors in the standard's own shape
OPEN311_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": list[Open311Error], "description": text}
    for code, text in _DESCRIPTIONS.items()
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
