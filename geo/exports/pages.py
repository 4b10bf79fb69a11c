"""The printable pages' templates (static/templates: the bulletin, the route sheet) in a
locale: `_("中文", name=value)`, `terms(text)` and `lang` (for <html lang>)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from geo.i18n import html_lang, translate_terms, translator
from geo.maps.mapview import STATIC


def render_page(template: str, context: dict[str, Any], locale: str) -> str:
    """A page of static/templates rendered with context in locale (HTML-escaped)."""
    env = Environment(loader=FileSystemLoader(STATIC / "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    env.globals.update({"_": translator(locale), "lang": html_lang(locale),
                        "terms": lambda text: translate_terms(text, locale)})
    return env.get_template(template).render(**context)
