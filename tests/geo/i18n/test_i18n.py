"""The English locale's mechanism (geo.i18n): catalog look-ups, placeholders, the
"English (中文)" rule, fallbacks, and how a request's locale is chosen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from geo import i18n
from geo.i18n import accept_language, compile_key, load_messages, negotiate, translate


def test_exact_keys_translate_and_chinese_is_the_identity() -> None:
    assert translate("登录", "en") == "Log in"
    assert translate("登录", "zh-CN") == "登录"
    assert translate("登录", "fr") == "登录"  # not a locale of ours: as written


def test_a_key_with_placeholders_matches_the_formatted_text() -> None:
    text = "权重个数 3 与需求点个数 5 不符：每个需求点须有一个权重"
    assert translate(text, "en") == ("3 weights for 5 demand points: weights must have one "
                                     "value per demand point")
    # a placeholder's value that is itself a catalog entry (a status label) is translated too
    assert translate("问题 #12 已结束（结案），不能改类别", "en") == (
        "issue #12 is Closed: a closed or rejected issue keeps its category")


def test_a_value_that_is_a_message_of_the_catalog_is_translated_too() -> None:
    """A summary quoting its rows' reasons comes out wholly English; a value the catalog
    cannot translate whole (user data) stays as it is."""
    reason = "日期重叠：2027-03-02 至 2027-03-02 与已有条目 #5（2027-03-01 至 2027-03-03）"
    assert translate(f"1 条日历条目有误，未写入任何条目：第 2 条：{reason}", "en") == (
        "1 calendar entries refused, nothing was written: entry 2: 2027-03-02..2027-03-02 "
        "overlaps stored entry #5 (2027-03-01..2027-03-03)")
    assert translate("不支持的文件类型 '.txt'，请使用 .csv 或 .xlsx", "en") == (
        "unsupported file type '.txt'; use .csv or .xlsx")
    assert translate("1 条日历条目有误，未写入任何条目：第 2 条：东关社区 3 件", "en") == (
        "1 calendar entries refused, nothing was written: entry 2: 东关社区 3 件")


def test_the_most_literal_key_wins() -> None:
    pattern = compile_key("共 {n} 条", "{n} in all")
    assert pattern.regex.fullmatch("共 12 条") and not pattern.regex.fullmatch("共 12 条!")
    # "{n} 件" and "增加 {n} 件" both match "增加 3 件": the longer literal text decides
    assert translate("增加 3 件", "en") == "up 3"


def test_english_with_a_chinese_aside_shows_the_english() -> None:
    assert translate("wrong username or password (用户名或密码错误)",
                     "en") == "wrong username or password"
    assert translate("login required (请先登录): POST /api/auth/token or /api/auth/login",
                     "en") == "login required: POST /api/auth/token or /api/auth/login"


def test_unknown_text_stays_as_written() -> None:
    assert translate("东关社区", "en") == "东关社区"  # user data: no entry
    assert translate("no such zone", "en") == "no such zone"
    assert translate("", "en") == ""


def test_catalog_files_merge_and_must_map_strings_to_strings(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"甲": "A", "乙": "B"}), "utf-8")
    (tmp_path / "b.json").write_text(json.dumps({"乙": "B2"}), "utf-8")
    assert load_messages(tmp_path) == {"甲": "A", "乙": "B2"}
    (tmp_path / "c.json").write_text(json.dumps({"丙": 3}), "utf-8")
    with pytest.raises(ValueError, match=r"c\.json"):
        load_messages(tmp_path)


def test_no_text_has_two_translations_in_the_shipped_files() -> None:
    # the files merge in name order: a key translated twice would show the later file's
    # English everywhere, whatever the earlier file's author meant
    first: dict[str, tuple[str, str]] = {}
    clashes = []
    for path in sorted((i18n.LOCALE_DIR / "en").glob("*.json")):
        for key, text in json.loads(path.read_text("utf-8")).items():
            seen = first.setdefault(key, (path.name, text))
            if seen[1] != text:
                clashes.append((key, seen, (path.name, text)))
    assert clashes == []


def test_the_shipped_catalog_is_english() -> None:
    merged = load_messages(i18n.LOCALE_DIR / "en")
    assert len(merged) > 500
    assert {k: v for k, v in merged.items() if i18n.CJK.search(v)} == {}


@pytest.mark.parametrize(("header", "locale"), [
    ("en", "en"), ("en-US,en;q=0.9", "en"), ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
    ("en;q=0.5, zh;q=0.8", "zh-CN"), ("fr-FR, en;q=0.3", "en"), ("de", None), ("", None),
    ("en;q=0, zh-TW", "zh-CN"), ("en;q=abc", None), (None, None),
])
def test_accept_language_follows_q_values(header: str | None, locale: str | None) -> None:
    assert accept_language(header) == locale


def test_negotiation_order() -> None:
    assert negotiate() == "zh-CN"
    assert negotiate(accept="en") == "en"
    assert negotiate(requested="en", accept="zh-CN") == "en"  # ?lang= beats the header
    assert negotiate(user_locale="zh-CN", requested="en", accept="en") == "zh-CN"
    assert negotiate(user_locale="en", accept="zh-CN") == "en"
    assert negotiate(user_locale=None, requested="xx", accept="en-GB") == "en"
