"""/docs: Swagger UI from the locally served swagger-ui-dist package (no CDN on an intranet)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from server.security import csp_nonce, with_nonce

router = APIRouter(include_in_schema=False)
SWAGGER = "/vendor/swagger-ui-dist"


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    """The interactive API documentation, its init script allowed by the CSP nonce."""
    page = get_swagger_ui_html(
        openapi_url=request.app.openapi_url, title=f"{request.app.title} – API",
        swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER}/swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None})  # the default validator is online
    return HTMLResponse(with_nonce(bytes(page.body).decode("utf-8"), csp_nonce(request)))
