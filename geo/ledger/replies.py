"""Reply templates (回复模板): the public-facing text of a status change, per category and
status (either empty: any), with placeholders filled from the issue.

A template's text may name only the placeholders of PLACEHOLDERS, as `{name}` — no attribute,
index, conversion or format spec (`{id.__class__}`, `{id!r}`, `{id:>999}` are refused when the
template is saved, as are an unknown name and an unbalanced brace; `{{` and `}}` are literal
braces). Filling uses str.format_map over plain strings of those names only, so a template can
never reach anything of the issue but those values.
"""

from __future__ import annotations

import string
from datetime import datetime
from typing import Any

from geo.model.errors import InvalidInput
from geo.model.kinds import check_category, issue_categories
from geo.model.lifecycle import statuses
from geo.model.records import Issue
from geo.model.users import User, require
from geo.store import Store

PLACEHOLDERS = {"id": "问题编号", "category": "问题类型", "address": "地址",
                "deadline": "整改时限", "status": "状态", "unit": "责任单位",
                "reported_at": "上报时间", "description": "问题描述"}
MAX_TITLE, MAX_TEXT = 100, 2000
# the demo city's defaults (seeded when an office has none): (category, status, title, text)
DEFAULT_TEMPLATES = [
    (None, "accepted", "已受理立案",
     "您反映的问题（编号 {id}，{category}，{address}）已受理立案，我们将尽快派遣责任单位处置。"),
    (None, "rejected", "不予立案",
     "您反映的问题（编号 {id}）经核实不属于城市管理问题或已不存在，不予立案。感谢您的支持。"),
    (None, "dispatched", "已派遣",
     "您反映的问题（编号 {id}）已派遣至{unit}，处置时限为 {deadline}。"),
    (None, "closed", "已办结",
     "您反映的{category}问题（编号 {id}，{address}）已处置完毕并经核查结案，"
     "感谢您对创城工作的支持！"),
    ("street_vending", "closed", "占道经营已整治",
     "{address}的占道经营问题已由执法队员现场劝离整治，后续将加强巡查，防止反弹。"),
    ("illegal_parking", "dispatched", "乱停车已派遣",
     "{address}的车辆乱停放问题已派遣{unit}处置，请于 {deadline} 前完成整改。"),
]


def check_template(text: str) -> list[str]:
    """The placeholders a template's text uses; InvalidInput naming the first that is not
    allowed (unknown, with an attribute, index, conversion or format spec) or a bad brace."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise InvalidInput(f"模板正文的花括号不配对：{exc}"
                           "（要显示花括号本身，请连写两个）") from None
    used: list[str] = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            shown = "{" + name + ("!" + conversion if conversion else "") + (
                ":" + spec if spec else "") + "}"
            allowed = ", ".join("{" + k + "}" for k in PLACEHOLDERS)
            raise InvalidInput(f"不允许使用占位符 {shown}，可用占位符：{allowed}")
        used.append(name)
    return used


def fill(text: str, issue: Issue) -> str:
    """A template's text with the issue's values (text checked by check_template)."""
    check_template(text)
    return text.format_map(_values(issue))


def _values(issue: Issue) -> dict[str, str]:
    cats = issue_categories()
    return {"id": str(issue.id), "address": issue.address or "",
            "category": cats.get(issue.category, {}).get("label", issue.category),
            "deadline": _when(issue.deadline), "reported_at": _when(issue.reported_at),
            "status": statuses().get(issue.status, issue.status), "unit": issue.unit or "",
            "description": issue.description or ""}


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else ""


def checked(values: dict[str, Any]) -> dict[str, Any]:
    """A template's fields (category, status, title, text) checked: InvalidInput for an
    unknown category or status, an empty or long title or text, a placeholder not allowed."""
    category, status = values.get("category") or None, values.get("status") or None
    title, text = str(values.get("title") or "").strip(), str(values.get("text") or "")
    if category is not None:
        check_category(category)
    if status is not None and status not in statuses():
        raise InvalidInput(f"未知的状态 {status!r}，可选状态：{', '.join(statuses())}")
    if not title or len(title) > MAX_TITLE:
        raise InvalidInput(f"模板标题须为 1 至 {MAX_TITLE} 个字符")
    if not text.strip() or len(text) > MAX_TEXT:
        raise InvalidInput(f"模板正文须为 1 至 {MAX_TEXT} 个字符")
    check_template(text)
    return {"category": category, "status": status, "title": title, "text": text}


def save_template(store: Store, values: dict[str, Any], user: User,
                  template_id: int | None = None) -> dict[str, Any]:
    """Create (template_id None) or replace a template; admins only. The stored template."""
    require(user, "replies:write")
    row = checked(values)
    if template_id is None:
        return store.add_reply_template(row, user.actor)
    return store.update_reply_template(template_id, row, user.actor)


def delete_template(store: Store, template_id: int, user: User) -> dict[str, Any]:
    """Delete a template; admins only. The template as it was."""
    require(user, "replies:write")
    gone = store.reply_template(template_id)
    store.delete_reply_template(template_id, user.actor)
    return gone


def templates_for(store: Store, issue_id: int, user: User, status: str | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
    """The templates for an issue in the user's scope moving to `status` (default: its own
    status), most specific first, each with its text filled from the issue (`filled`)."""
    issue = store.issue(issue_id, scope_unit=user.scope_unit)
    status = status or issue.status
    if status not in statuses():
        raise InvalidInput(f"未知的状态 {status!r}，可选状态：{', '.join(statuses())}")
    return [{**t, "filled": fill(t["text"], issue)}
            for t in store.reply_templates(issue.category, status, limit=limit)]


def seed_templates(store: Store, actor: str = "system") -> int:
    """Store DEFAULT_TEMPLATES when there are no templates yet; how many were stored."""
    if store.reply_template_count():
        return 0
    for category, status, title, text in DEFAULT_TEMPLATES:
        store.add_reply_template(checked({"category": category, "status": status,
                                          "title": title, "text": text}), actor)
    return len(DEFAULT_TEMPLATES)

