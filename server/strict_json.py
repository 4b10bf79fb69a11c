"""Refuse JSON request bodies with NaN or Infinity (Python's json accepts them; JSON does not)."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import MalformedJSON, error_response
from server.uploads import too_large


class NonFinite(ValueError):
    """A JSON body holds NaN, Infinity or -Infinity."""


def _refuse(token: str) -> Any:
    raise NonFinite(token)


def nonfinite_token(body: bytes) -> str | None:
    """NaN/Infinity/-Infinity when the JSON body holds one, else None (also for bad JSON,
    which the route's own parser reports)."""
    try:
        json.loads(body, parse_constant=_refuse)
    except NonFinite as exc:
        return str(exc)
    except ValueError:
        return None
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return True  # FastAPI parses a body without a content type as JSON


class StrictJSONMiddleware:
    """ASGI middleware: a JSON body with NaN/±Infinity gets 422 before any route sees it; a
    body over max_bytes gets 413. Other requests pass through untouched (and unbuffered)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS") \
                or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message, receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                error = too_large(self.max_bytes, what="请求体")
                await error_response(error)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        token = nonfinite_token(body) if body else None
        if token is not None:
            await error_response(MalformedJSON(f"{token} 不是有效的 JSON 数值：请发送有限数值"
                                               "（或 null）"))(scope, receive, send)
            return
        await self.app(scope, _replay([body], None, receive), send)


def _replay(bodies: list[bytes], last: Message | None, receive: Receive) -> Receive:
    pending: list[Message] = [{"type": "http.request", "body": b, "more_body": False}
                              for b in bodies] + ([last] if last else [])

    async def again() -> Message:
        return pending.pop(0) if pending else await receive()

    return again
