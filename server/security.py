"""Security headers (a per-response CSP nonce) and the log filter that hides API keys."""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo.maps.basemaps import resolve_basemap, tile_origins
from server.settings import Settings

NONCE_KEY = "csp_nonce"
# URL parameters whose values must never reach a log line (also new_password, refresh_token…)
SECRET_PARAMS = ("api_key", "apikey", "access_token", "token", "password", "passwd", "secret")
_SECRET_RE = re.compile(r"(?i)\b([\w.-]*?(?:" + "|".join(SECRET_PARAMS) + r"))=[\"']?[^&\s\"']*")
_SCRIPT_TAG = re.compile(r"<script\b", re.IGNORECASE)


def content_security_policy(settings: Settings, nonce: str) -> str:
    """The CSP of a response: own origin only, basemap tiles as images, scripts by nonce.

    Styles keep 'unsafe-inline': Leaflet and its plugins write style attributes into the
    markup they build, and folium emits <style> blocks (CSS cannot run script).
    """
    basemap = resolve_basemap(settings.basemap, settings.tianditu_key)
    images = " ".join(["'self'", "data:", "blob:", *tile_origins(basemap)])
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        "style-src 'self' 'unsafe-inline'",
        f"img-src {images}",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ])


class SecurityHeaders:
    """ASGI middleware: CSP with a fresh nonce (request.state.csp_nonce), nosniff, no framing."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        # the policy is fixed per app except for the nonce; "{nonce}" is filled in per response
        self.policy = content_security_policy(settings, "{nonce}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(18)
        scope.setdefault("state", {})[NONCE_KEY] = nonce
        policy = self.policy.replace("{nonce}", nonce)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", policy)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
                headers.setdefault("X-Frame-Options", "DENY")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def csp_nonce(request: Request) -> str:
    """The nonce of this response's CSP ("" when the middleware is not installed)."""
    return str(getattr(request.state, NONCE_KEY, ""))


def with_nonce(html: str, nonce: str) -> str:
    """Give every <script> tag of html the nonce.

    Only for HTML built entirely by ccmap or a library from trusted values (the folium map
    shell, Swagger UI's page): markup injected from user data would get the nonce too.
    """
    if not nonce:
        return html
    return _SCRIPT_TAG.sub(f'<script nonce="{nonce}"', html)


def redact(text: str) -> str:
    """text with the value of every api_key=, access_token=, password=… parameter as ***."""
    return _SECRET_RE.sub(r"\1=***", text)


class RedactSecrets(logging.Filter):
    """Log filter: hide secret URL parameters in the message and its arguments.

    uvicorn's access log passes the request path with its query string as an argument, and
    its formatter unpacks the arguments, so they are redacted in place rather than merged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record (always kept)."""
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redact_arg(v) for k, v in record.args.items()}
        return True


def _redact_arg(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's default logging config with RedactSecrets on its handlers and the process id
    on each line."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    # with `--workers N`, each line says which process wrote it
    for formatter in config["formatters"].values():
        formatter["fmt"] = formatter["fmt"].replace("%(levelprefix)s ",
                                                    "%(levelprefix)s [%(process)d] ", 1)
    config.setdefault("filters", {})["redact"] = {"()": RedactSecrets}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact")
    return config
