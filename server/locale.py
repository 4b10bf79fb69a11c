"""A request's locale (geo.i18n.negotiate): the logged-in user's setting (optional_user leaves
it on request.state), a ?lang= switch, Accept-Language, else zh-CN; and what every page
template gets for it (`_`, `lang`, the catalog its scripts' t() reads)."""

from __future__ import annotations

from typing import Any

from markupsafe import escape
from starlette.requests import Request

from geo.i18n import html_lang, negotiate, page_messages, translate

USER_LOCALE = "user_locale"


def remember_user_locale(request: Request, locale: str | None) -> None:
    """Note the authenticated user's own locale setting on the request."""
    setattr(request.state, USER_LOCALE, locale)


def request_locale(request: Request) -> str:
    """The locale this request is answered in."""
    return negotiate(getattr(request.state, USER_LOCALE, None),
                     request.query_params.get("lang"),
                     request.headers.get("accept-language"))


def gettext(locale: str) -> Any:
    """The templates' `_`: a Chinese text (formatted with its keyword arguments, which may be
    markup) in locale."""

    def _(text: str, **kw: Any) -> str:
        out = translate(text, locale)
        # with arguments: markup whose arguments are escaped unless they are markup themselves
        return escape(out).format(**kw) if kw else out

    return _


def template_context(request: Request) -> dict[str, Any]:
    """What every page template sees: `_`, `lang` (for <html lang>) and `i18n` (the
    catalog, embedded for the page's scripts; empty in Chinese)."""
    locale = request_locale(request)
    return {"_": gettext(locale), "lang": html_lang(locale), "locale": locale,
            "i18n": page_messages(locale)}
