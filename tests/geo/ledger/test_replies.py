"""Reply templates (回复模板) of geo.ledger.replies: placeholders checked when a template is saved
and filled safely from the issue; per category and status, the most specific first; admins
keep them (both backends)."""

from __future__ import annotations

from datetime import datetime

import pytest

from geo.ledger import replies
from geo.model.errors import Forbidden, InvalidInput, NotFound
from geo.model.records import Issue
from geo.model.users import Role, User
from geo.store import Store

ADMIN = User("boss", Role.admin)
INSPECTOR = User("ins", Role.inspector)
UNIT = User("unit1", Role.unit, unit="区城管执法局")
ISSUE = Issue("street_vending", 121.47, 31.23, status="dispatched", address="示范街道福佑路",
              deadline=datetime(2026, 11, 24, 13, 0), unit="区城管执法局", id=42)


def test_allowed_placeholders_are_filled_from_the_issue() -> None:
    text = "编号 {id}：{category}，{address}，请于 {deadline} 前由{unit}整改（{status}）{{原文}}"
    assert replies.check_template(text) == ["id", "category", "address", "deadline", "unit",
                                            "status"]
    assert replies.fill(text, ISSUE) == (
        "编号 42：占道经营，示范街道福佑路，请于 2026-11-24 13:00 前由区城管执法局整改（派遣）"
        "{原文}")


def test_an_issue_value_is_never_read_as_a_template() -> None:
    tricky = Issue("clutter", 121.47, 31.23, address="{id.__class__}{0}{deadline}", id=7)
    assert replies.fill("地址：{address}", tricky) == "地址：{id.__class__}{0}{deadline}"


@pytest.mark.parametrize("text, bad", [
    ("您好 {name}", "{name}"),
    ("{id.__class__.__mro__}", "{id.__class__.__mro__}"),
    ("{address[0]}", "{address[0]}"),
    ("{id!r}", "{id!r}"),
    ("{id:>99999999}", "{id:>99999999}"),
    ("{0}", "{0}"),
    ("{}", "{}"),
])
def test_a_placeholder_not_allowed_is_refused(text: str, bad: str) -> None:
    with pytest.raises(InvalidInput, match="不允许使用占位符") as err:
        replies.check_template(text)
    assert bad in err.value.message and "{deadline}" in err.value.message


@pytest.mark.parametrize("text", ["未闭合 {id", "多余 }", "{"])
def test_an_unbalanced_brace_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="模板正文的花括号不配对"):
        replies.check_template(text)


def test_templates_apply_by_category_and_status_most_specific_first(store: Store) -> None:
    any_closed = replies.save_template(store, {"status": "closed", "title": "办结",
                                               "text": "{id} 已办结"}, ADMIN)
    vending = replies.save_template(store, {"category": "street_vending", "status": "closed",
                                            "title": "占道已整治",
                                            "text": "{address}已整治"}, ADMIN)
    anything = replies.save_template(store, {"title": "通用", "text": "感谢反映"}, ADMIN)
    replies.save_template(store, {"category": "graffiti", "status": "closed", "title": "涂鸦",
                                  "text": "已清除"}, ADMIN)
    iid = store.add_issues([ISSUE], actor="test")[0]
    found = replies.templates_for(store, iid, INSPECTOR, "closed")
    assert [t["id"] for t in found] == [vending["id"], any_closed["id"], anything["id"]]
    assert found[0]["filled"] == "示范街道福佑路已整治"
    assert found[1]["filled"] == f"{iid} 已办结"
    # without a status: the issue's own (dispatched): only the template for any status
    assert [t["id"] for t in replies.templates_for(store, iid, INSPECTOR)] == [anything["id"]]
    with pytest.raises(InvalidInput, match="未知的状态 'done'"):
        replies.templates_for(store, iid, INSPECTOR, "done")
    with pytest.raises(NotFound):  # outside a unit user's scope as any issue
        replies.templates_for(store, iid, User("u2", Role.unit, unit="区教育局"))


def test_saving_checks_every_field_and_writes_nothing_when_wrong(store: Store) -> None:
    audits = store.audit_count()
    for values, reason in [
        ({"category": "nope", "title": "t", "text": "x"}, "未知的问题类别 'nope'"),
        ({"status": "done", "title": "t", "text": "x"}, "未知的状态 'done'"),
        ({"title": " ", "text": "x"}, "模板标题须为"),
        ({"title": "t", "text": ""}, "模板正文须为"),
        ({"title": "t", "text": "x" * 2001}, "模板正文须为 1 至 2000 个字符"),
        ({"title": "t", "text": "{who}"}, "不允许使用占位符 {who}"),
    ]:
        with pytest.raises(InvalidInput, match=reason):
            replies.save_template(store, values, ADMIN)
    with pytest.raises(Forbidden):
        replies.save_template(store, {"title": "t", "text": "x"}, INSPECTOR)
    assert store.reply_template_count() == 0 and store.audit_count() == audits


def test_update_and_delete_are_audited(store: Store) -> None:
    saved = replies.save_template(store, {"title": "旧", "text": "旧文"}, ADMIN)
    changed = replies.save_template(store, {"status": "closed", "title": "新",
                                            "text": "{id} 新文"}, ADMIN, saved["id"])
    assert (changed["id"], changed["status"], changed["title"]) == (saved["id"], "closed", "新")
    with pytest.raises(InvalidInput):
        replies.save_template(store, {"title": "新", "text": "{x}"}, ADMIN, saved["id"])
    assert store.reply_template(saved["id"])["text"] == "{id} 新文"
    with pytest.raises(Forbidden):
        replies.delete_template(store, saved["id"], UNIT)
    replies.delete_template(store, saved["id"], ADMIN)
    with pytest.raises(NotFound, match=f"回复模板 {saved['id']} 不存在"):
        replies.delete_template(store, saved["id"], ADMIN)
    with pytest.raises(NotFound):
        replies.save_template(store, {"title": "t", "text": "x"}, ADMIN, saved["id"])
    log = store.audit_log(object_type="reply_template")
    assert [a["action"] for a in log] == ["delete", "update", "create"]
    assert log[1]["diff"]["title"] == ["旧", "新"]


def test_the_defaults_are_seeded_once_and_all_fill(store: Store) -> None:
    assert replies.seed_templates(store) == len(replies.DEFAULT_TEMPLATES)
    assert replies.seed_templates(store) == 0
    for t in store.reply_templates():
        assert replies.fill(t["text"], ISSUE)


def test_a_template_whose_audit_row_fails_is_not_kept(store: Store,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import geo.store.replies

    kept = replies.save_template(store, {"title": "旧", "text": "旧文"}, ADMIN)

    def broken(*_: object) -> None:
        raise RuntimeError("audit table unavailable")

    monkeypatch.setattr(geo.store.replies, "_audit", broken)
    for write in (lambda: replies.save_template(store, {"title": "t", "text": "x"}, ADMIN),
                  lambda: replies.save_template(store, {"title": "新", "text": "新文"}, ADMIN,
                                                kept["id"]),
                  lambda: replies.delete_template(store, kept["id"], ADMIN)):
        with pytest.raises(RuntimeError):
            write()
    assert store.reply_templates() == [kept]
