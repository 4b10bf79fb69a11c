"""The words of a notice (通知). A notice is stored once, in Chinese, when its event happens;
it is shown in the reader's language when it is read: `compose` writes it from the catalog
keys below (data/locales/en/notify.json), and `localize` takes a stored text — older rows
too, whose words are the same — apart by the same keys and puts it together again in a
locale. User data (the address, the unit, the note) is left as it is."""

from __future__ import annotations

from functools import cache
from typing import Any

from geo.i18n import CJK, DEFAULT, Pattern, catalog, compile_key, translate

HEAD = "问题 #{id}「{category}」"
HEAD_AT = "问题 #{id}「{category}」（{address}）"
# the sentence of each event (and variant): {head} is HEAD or HEAD_AT
BODIES = {
    "dispatched": "{head}已派遣至{unit}，处置期限 {deadline}",
    "due_soon": "{head}将于 {deadline} 到期，请抓紧处置",
    "due_soon_hours": "{head}将于 {deadline} 到期（不足 {hours} 个工作时），请抓紧处置",
    "overdue": "{head}已超过处置期限 {deadline}（超期）",
    "rework": "{head}核查未通过，退回返工",
    "rework_count": "{head}核查未通过，退回返工（第 {count} 次返工）",
    "approved": "{head}的延期申请已批准，新的处置期限 {deadline}",
    "rejected": "{head}的延期申请未获批准，处置期限仍为 {deadline}",
}
NOTE = "。说明："  # between the sentence and the transition's note (user data)
NO_UNIT = "（未指定单位）"
UNSET = "未设定"  # a deadline not set
TRANSLATED = ("{category}", "{unit}", "{deadline}")  # the values that are UI words


def compose(body: str, head: dict[str, Any], note: str = "", **values: Any) -> str:
    """A notice's text (Chinese): BODIES[body] about the issue in head (id, category,
    address or None), with the note (if any) after it."""
    at = HEAD_AT if head.get("address") else HEAD
    text = BODIES[body].format(head=at.format(**head), **values)
    return f"{text}{NOTE}{note}" if note else text


@cache
def _patterns(keys: tuple[str, ...]) -> tuple[Pattern, ...]:
    """The keys as regexes (their Chinese as the template), the most literal first."""
    found = [compile_key(k, k) for k in keys]
    return tuple(sorted(found, key=lambda p: -len(p.regex.pattern)))


def _fill(text: str, keys: tuple[str, ...], locale: str, head: bool) -> str | None:
    """text matched against keys and written again in locale (None: none matches)."""
    for p in _patterns(keys):
        m = p.regex.fullmatch(text)
        if m is None:
            continue
        out = translate(p.template, locale)
        for name, value in zip(p.names, m.groups(), strict=True):
            if name == "{head}" and head:
                value = _fill(value, (HEAD_AT, HEAD), locale, head=False) or value
            elif name in TRANSLATED:
                value = translate(value, locale)
            out = out.replace(name, value)
        return out
    return None


def localize(text: str, locale: str) -> str:
    """A stored notice's text in locale (its words translated, user data kept); a text of
    another shape goes through the catalog as it is."""
    if locale == DEFAULT or catalog(locale) is None or not CJK.search(text):
        return text
    sentence, sep, note = text.partition(NOTE)
    out = _fill(sentence, tuple(BODIES.values()), locale, head=True)
    if out is None:
        return translate(text, locale)
    return out + translate(NOTE, locale) + note if sep else out
