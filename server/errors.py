"""The one place where errors become HTTP responses: every CcmapError subclass has its status
code here (STATUS), rendered as {"detail": …} (error_response) by the app's handler and by the
body-checking middleware, or in GeoReport v2's shape on the Open311 routes (Open311Route)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict

from geo.model.errors import (
    CcmapError,
    Conflict,
    Forbidden,
    ImportRejected,
    InvalidGeometry,
    InvalidInput,
    InvalidPeriod,
    LimitExceeded,
    Locked,
    NotFound,
    TooLarge,
    TooManyRequests,
    Unauthorized,
    UnsafeFile,
)


class MalformedJSON(CcmapError):
    """A JSON body that FastAPI would misread (NaN, Infinity): refused like a bad field."""


STATUS: dict[type[CcmapError], int] = {
    MalformedJSON: 422,
    NotFound: 404,
    InvalidGeometry: 422,
    InvalidPeriod: 422,  # before InvalidInput, its base: the first match wins
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


def status_of(exc: CcmapError) -> int:
    """The HTTP status code of an error (400 for a kind not listed)."""
    return next((s for t, s in STATUS.items() if isinstance(exc, t)), 400)


def error_response(exc: CcmapError) -> JSONResponse:
    """An error as ccmap answers it: {"detail": message, …its fields}, with its status code
    (and WWW-Authenticate on a 401, Retry-After when the error says when to retry)."""
    status = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if "retry_after" in exc.detail:
        headers["Retry-After"] = str(exc.detail["retry_after"])
    return JSONResponse({"detail": exc.message, **exc.detail}, status_code=status,
                        headers=headers)


def open311_error(exc: CcmapError) -> JSONResponse:
    """An error in GeoReport v2's shape: a list of one {code, description} (and Retry-After
    when the error says when to retry)."""
    code = status_of(exc)
    headers = {"Retry-After": str(exc.detail["retry_after"])} if "retry_after" in exc.detail \
        else {}
    return JSONResponse([{"code": code, "description": exc.message}], status_code=code,
                        headers=headers)


class Open311Route(APIRoute):
    """A GeoReport v2 route: its errors are answered in the standard's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, with CcmapError answered by open311_error."""
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except CcmapError as exc:
                return open311_error(exc)

        return handle


def install_error_handlers(app: FastAPI) -> None:
    """Register a handler that maps every CcmapError subclass to its status code."""

    async def handle(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CcmapError)
        return error_response(exc)

    app.add_exception_handler(CcmapError, handle)
