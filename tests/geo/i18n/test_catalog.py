"""No UI text is left untranslated: every Chinese text of the page scripts, of the page
templates, of the reference tables' labels and of the errors' messages has an English
translation (data/locales/en/*.json)."""

from __future__ import annotations

import re

from geo.i18n import CJK, PLACEHOLDER, load_messages, page_messages, translate
from geo.i18n import LOCALE_DIR as LOCALES
from tests.geo.i18n.texts import (
    ROOT,
    error_messages,
    raised_messages,
    reference_labels,
    script_texts,
    template_texts,
    untranslated_template_text,
)

CATALOG = load_messages(LOCALES / "en")


def test_every_chinese_text_of_the_page_scripts_is_in_the_catalog_the_pages_embed() -> None:
    embedded = page_messages("en")
    missing = {text: where for text, where in script_texts().items() if text not in embedded}
    assert not missing, missing


def test_the_page_templates_write_chinese_only_through_underscore() -> None:
    folder = ROOT / "server" / "templates"
    left = {p.name: untranslated_template_text(p) for p in folder.glob("*.html")}
    assert not {k: v for k, v in left.items() if v}, left
    missing = {k: v for k, v in template_texts(folder).items() if k not in CATALOG}
    assert not missing, missing


def test_the_bulletin_template_translates_every_key() -> None:
    missing = {k: v for k, v in template_texts(ROOT / "static" / "templates").items()
               if CJK.search(k) and k not in CATALOG}
    assert not missing, missing


def test_every_reference_label_is_translated() -> None:
    assert sorted(label for label in reference_labels() if label not in CATALOG) == []


def test_every_error_message_comes_out_in_english() -> None:
    """Each Chinese message raised in geo/ and server/, formatted with ASCII values, has no
    Chinese left once translated (a catalog entry, or the "English (中文)" rule)."""
    left = {}
    for text, where in error_messages().items():
        sample = re.sub(r"\{x\}", "v1", text)
        english = translate(sample, "en")
        if CJK.search(english):
            left[where] = (sample, english)
    assert not left, left


def test_keys_with_placeholders_name_them_in_the_translation() -> None:
    for key, value in CATALOG.items():
        if PLACEHOLDER.search(key):
            assert set(PLACEHOLDER.findall(key)) >= set(PLACEHOLDER.findall(value)), key


# three or more English words in a row: a sentence, not an identifier (JPEG, EPSG:4326, photo_id)
ENGLISH_RUN = re.compile(r"[A-Za-z]{2,}(?:[ ,:;'-]+[A-Za-z]+){2,}")
# the standards' own APIs, read by their clients' software, answer in the standards' English
# (GeoReport v2 for Open311 apps, OGC API Features for QGIS): see README "English"
STANDARD_APIS = ("geo/ogc/", "geo/ledger/open311.py", "server/routes/open311.py")


def test_every_error_message_is_written_in_chinese() -> None:
    """zh-CN is the default: an error a user meets (HTTP detail, the CLI, a row of an import
    report) reads in Chinese, not in English or in both at once; English comes from the
    catalog (the test above)."""
    left = {where: text for text, where in raised_messages().items()
            if not where.startswith(STANDARD_APIS)
            and ENGLISH_RUN.search(text.replace("{x}", " "))}
    assert not left, left
