"""The English locale (issue 18): zh-CN is the default and the language the code is written in;
data/locales/en/*.json map Chinese UI text to English ({"中文原文": "English"}, merged), and
`translate` turns a text made in Chinese into the user's language. Keys may hold placeholders
("找不到问题 {id}") that match the formatted text; `negotiate` picks a request's locale."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from geo import DATA_DIR

DEFAULT = "zh-CN"
LOCALES = ("zh-CN", "en")
LOCALE_DIR = DATA_DIR / "locales"
PLACEHOLDER = re.compile(r"\{[^{}\s]+\}")
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
# a parenthesised part with Chinese in it: a message written "English (中文)" shows the English
_CJK_ASIDE = re.compile(r"\s*[(（][^()（）]*[\u3400-\u9fff][^()（）]*[)）]")


@dataclass(frozen=True)
class Pattern:
    """A catalog key with placeholders, compiled: the regex and the translation's template."""

    regex: re.Pattern[str]
    names: tuple[str, ...]
    template: str


@dataclass(frozen=True)
class Catalog:
    """One locale's translations: exact keys, and keys with placeholders as patterns (the
    most literal text first, so the most specific key wins)."""

    exact: dict[str, str]
    patterns: tuple[Pattern, ...]


def load_messages(folder: Path, files: list[Path] | None = None) -> dict[str, str]:
    """Every {"中文": "translation"} of the JSON files in folder (or of `files`), merged in
    file-name order."""
    merged: dict[str, str] = {}
    for path in sorted(folder.glob("*.json") if files is None else files):
        data = json.loads(path.read_text("utf-8"))
        if not isinstance(data, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise ValueError(f"{path}: a locale file maps strings to strings")
        merged.update(data)
    return merged


def compile_key(key: str, template: str) -> Pattern:
    """The regex matching the texts a key with placeholders formats to."""
    parts: list[str] = []
    names: list[str] = []
    at = 0
    for m in PLACEHOLDER.finditer(key):
        parts.append(re.escape(key[at:m.start()]))
        parts.append("(.+?)")
        names.append(m.group())
        at = m.end()
    parts.append(re.escape(key[at:]))
    return Pattern(re.compile("".join(parts), re.DOTALL), tuple(names), template)


@cache
def catalog(locale: str) -> Catalog | None:
    """The catalog of a locale (None for the default, whose texts are the keys)."""
    if locale == DEFAULT or locale not in LOCALES:
        return None
    messages = _messages(locale)
    # every key is tried as it is first: some texts show braces literally ("{id} 编号")
    exact = dict(messages)
    patterns = sorted((compile_key(k, v) for k, v in messages.items() if PLACEHOLDER.search(k)),
                      key=lambda p: -len(PLACEHOLDER.sub("", p.regex.pattern)))
    return Catalog(exact, tuple(patterns))


# catalog files of texts only the server writes (error bodies, exports, PDFs, OGC, Open311):
# the pages' t() never meets them, so the pages do not embed them
SERVER_FILES = ("errors", "bulletin", "exports", "ogc", "open311", "printouts")


def page_messages(locale: str) -> dict[str, str]:
    """The catalog a page embeds for its scripts' t(): every file but SERVER_FILES (the
    server translates what it sends); empty for the default."""
    return {} if locale not in LOCALES or locale == DEFAULT else _page_messages(locale)


@cache
def _page_messages(locale: str) -> dict[str, str]:
    folder = LOCALE_DIR / locale
    return load_messages(folder, [p for p in folder.glob("*.json")
                                  if not p.stem.startswith(SERVER_FILES)])


def messages(locale: str) -> dict[str, str]:
    """The whole catalog of a locale as {key: translation} (what translate() reads; the pages
    embed page_messages); empty for the default. Do not change it: it is shared."""
    return {} if locale not in LOCALES or locale == DEFAULT else _messages(locale)


@cache
def _messages(locale: str) -> dict[str, str]:
    return load_messages(LOCALE_DIR / locale)


def translate(text: str, locale: str) -> str:
    """text (written in Chinese) in `locale`: its catalog entry, a placeholder key matching it
    (the placeholders' values translated where the catalog has them), the English of a
    message written "English (中文)", else text itself."""
    cat = catalog(locale)
    if cat is None or not text or not CJK.search(text):
        return text
    found = _lookup(cat, text)
    if found is not None:
        return found
    english = _CJK_ASIDE.sub("", text).strip()
    return english if english and not CJK.search(english) else text


def _lookup(cat: Catalog, text: str) -> str | None:
    """text's catalog entry, or the first placeholder key matching it with its values
    translated (_value); None when no key matches."""
    found = cat.exact.get(text)
    if found is not None:
        return found
    for p in cat.patterns:
        m = p.regex.fullmatch(text)
        if m:
            out = p.template
            for name, value in zip(p.names, m.groups(), strict=True):
                out = out.replace(name, _value(cat, value, len(text)))
            return out
    return None


def _value(cat: Catalog, value: str, outer: int) -> str:
    """A placeholder's value (shorter than the text it is in, `outer`) translated: its catalog
    entry (a status label); else, when it is a message of the catalog itself (a row's reason
    quoted in a summary), its translation if that leaves no Chinese; else as it is (user
    data: a name, an address)."""
    found = cat.exact.get(value)
    if found is not None:
        return found
    if len(value) < outer and CJK.search(value):
        inner = _lookup(cat, value)
        if inner is not None and not CJK.search(inner):
            return inner
    return value


def translator(locale: str) -> Callable[..., str]:
    """`_(text, **values)`: a text written in Chinese in locale, then formatted with the
    values (str.format; user data goes in as a value, never into the key)."""

    def _(text: str, /, **values: Any) -> str:
        out = translate(text, locale)
        return out.format(**values) if values else out

    return _


@cache
def _terms(locale: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(((k, v) for k, v in _messages(locale).items()
                         if CJK.search(k) and not PLACEHOLDER.search(k)),
                        key=lambda kv: -len(kv[0])))


def translate_terms(text: str, locale: str) -> str:
    """A text made of UI terms and numbers (a formula: "得分 = 100 × (0.4×整改率 + …)") in
    locale: every catalog term in it replaced, the longest first."""
    if catalog(locale) is None or not CJK.search(text):
        return text
    for key, value in _terms(locale):
        if key in text:
            text = text.replace(key, value)
    return text


def normalize(tag: str | None) -> str | None:
    """The supported locale a language tag names (en, en-GB → en; zh, zh-CN, zh-Hans → zh-CN),
    or None."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-")[0].lower()
    return {"en": "en", "zh": "zh-CN"}.get(primary)


def accept_language(header: str | None) -> str | None:
    """The supported locale an Accept-Language header prefers most (q-values, ties in header
    order), or None when it names none."""
    best: tuple[float, int, str] | None = None
    for i, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        locale = normalize(tag)
        if locale is not None and q > 0 and (best is None or (-q, i) < (-best[0], best[1])):
            best = (q, i, locale)
    return best[2] if best else None


def negotiate(user_locale: str | None = None, requested: str | None = None,
              accept: str | None = None) -> str:
    """A request's locale: the user's own setting, else an explicit ?lang= switch, else the
    Accept-Language header's preference, else zh-CN."""
    return normalize(user_locale) or normalize(requested) or accept_language(accept) or DEFAULT


def html_lang(locale: str) -> str:
    """The <html lang> of a locale."""
    return locale if locale in LOCALES else DEFAULT
