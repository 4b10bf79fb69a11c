"""The one place where errors become HTTP responses: every CcmapError subclass has its status
code here (STATUS), rendered as {"detail": …} (error_response) by the app's handler and by the
body-checking middleware, in GeoReport v2's shape on the Open311 routes (Open311Route), or in
OGC API's exception shape {"code", "description"} on the /ogc routes (OgcRoute)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict

from geo.i18n import DEFAULT, translate
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
from server.locale import request_locale


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


ENTRY_TEXTS = ("reason", "hint", "message")  # the texts of a listed entry (row problem, …)


def localized_entries(entries: Any, locale: str) -> Any:
    """A list of entries (row problems, zone warnings, overlaps) with their reasons, hints and
    messages in locale; anything else as it is."""
    if locale == DEFAULT or not isinstance(entries, list):
        return entries
    done: dict[str, str] = {}  # a big import repeats a few reasons on thousands of rows

    def text(value: str) -> str:
        if value not in done:
            done[value] = translate(value, locale)
        return done[value]

    return [{**e, **{k: text(e[k]) for k in ENTRY_TEXTS if isinstance(e.get(k), str)}}
            if isinstance(e, dict) else e for e in entries]


def localized_fields(doc: dict[str, Any], locale: str) -> dict[str, Any]:
    """A document (an error's body, an import's report) with the entries of each of its lists
    in locale (localized_entries)."""
    return {k: localized_entries(v, locale) for k, v in doc.items()}


def localized(exc: CcmapError, locale: str) -> dict[str, Any]:
    """An error's body in locale: its message (written in Chinese or "English (中文)") and
    the texts of the entries it lists (row problems, overlaps), translated (geo.i18n) — the
    one place error texts are translated."""
    return localized_fields({"detail": translate(exc.message, locale), **exc.detail}, locale)


def error_response(exc: CcmapError, locale: str = DEFAULT) -> JSONResponse:
    """An error as ccmap answers it: {"detail": message, …its fields} in locale, with its
    status code (and WWW-Authenticate on a 401, Retry-After when the error says when to
    retry)."""
    status = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if "retry_after" in exc.detail:
        headers["Retry-After"] = str(exc.detail["retry_after"])
    return JSONResponse(localized(exc, locale), status_code=status, headers=headers)


def open311_error(exc: CcmapError, locale: str = DEFAULT) -> JSONResponse:
    """An error in GeoReport v2's shape: a list of one {code, description} (and Retry-After
    when the error says when to retry)."""
    code = status_of(exc)
    headers = {"Retry-After": str(exc.detail["retry_after"])} if "retry_after" in exc.detail \
        else {}
    return JSONResponse([{"code": code, "description": translate(exc.message, locale)}],
                        status_code=code, headers=headers)


class ShapedErrorRoute(APIRoute):
    """A route of a standard with its own error shape: `answer` renders what its handler
    raises (None: the app's handlers answer as everywhere else)."""

    def answer(self, exc: Exception, request: Request) -> Response | None:
        """The standard's answer to exc, or None."""
        raise NotImplementedError

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, with its errors answered by `answer`."""
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except (CcmapError, RequestValidationError) as exc:
                shaped = self.answer(exc, request)
                if shaped is None:
                    raise
                return shaped

        return handle


class Open311Route(ShapedErrorRoute):
    """A GeoReport v2 route: its errors are answered in the standard's shape."""

    def answer(self, exc: Exception, request: Request) -> Response | None:
        """CcmapError in GeoReport v2's shape (open311_error)."""
        if isinstance(exc, CcmapError):
            return open311_error(exc, request_locale(request))
        return None


class OgcException(BaseModel):
    """An error of the OGC API routes, in the standard's exception shape."""

    code: str
    description: str


# OGC API routes: a bad parameter is a 400 (Part 1, /req/core/query-param-invalid), so the
# errors answered 422 elsewhere are 400 there
OGC_STATUS = {422: 400}
OGC_CODES = {400: "InvalidParameterValue", 401: "Unauthorized", 403: "Forbidden",
             404: "NotFound", 409: "Conflict", 413: "TooLarge", 423: "Locked",
             429: "TooManyRequests"}
OGC_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": OgcException, "description": text, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/OgcException"}}}}
    for code, text in _DESCRIPTIONS.items() if code not in OGC_STATUS
}


def ogc_error(status: int, description: str) -> JSONResponse:
    """An error in OGC API's exception shape: {"code", "description"}."""
    status = OGC_STATUS.get(status, status)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    return JSONResponse({"code": OGC_CODES.get(status, "InvalidParameterValue"),
                         "description": description}, status_code=status, headers=headers)


def _field_errors(exc: RequestValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: "
                     f"{e.get('msg', 'invalid')}" for e in exc.errors())


class OgcRoute(ShapedErrorRoute):
    """An OGC API route: its errors (also a malformed parameter) are answered in the OGC
    exception shape."""

    def answer(self, exc: Exception, request: Request) -> Response | None:
        """CcmapError and parameter errors in the OGC exception shape (ogc_error)."""
        if isinstance(exc, CcmapError):
            return ogc_error(status_of(exc), exc.message)
        assert isinstance(exc, RequestValidationError)
        return ogc_error(400, _field_errors(exc))


def install_error_handlers(app: FastAPI) -> None:
    """Register a handler that maps every CcmapError subclass to its status code."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CcmapError)
        return error_response(exc, request_locale(request))

    app.add_exception_handler(CcmapError, handle)
