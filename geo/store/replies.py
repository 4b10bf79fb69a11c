"""Reply templates (回复模板) for the public-facing note of a status change (a mixin of
SqlStore)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, delete, func, insert, or_, select, update

from geo.model.errors import NotFound
from geo.store.rows import SqlParts, _audit
from geo.store.schema import reply_templates as templates_t

TEMPLATE_FIELDS = ("category", "status", "title", "text")


class ReplyTemplateRows(SqlParts):
    """Reply templates: per category and status (NULL: any), a title and a text."""

    def add_reply_template(self, values: dict[str, Any], actor: str) -> dict[str, Any]:
        """Store a template (category, status, title, text); the stored row. Audited."""
        row = {k: values.get(k) for k in TEMPLATE_FIELDS}
        with self._begin() as conn:
            tid = int(conn.execute(insert(templates_t).returning(templates_t.c.id).values(
                **row, created_by=actor, created_at=datetime.now())).scalar_one())
            _audit(conn, actor, "create", "reply_template", str(tid), row)
        return self.reply_template(tid)

    def update_reply_template(self, template_id: int, values: dict[str, Any],
                              actor: str) -> dict[str, Any]:
        """Replace a template's category, status, title and text; the stored row. Audited."""
        row = {k: values.get(k) for k in TEMPLATE_FIELDS}
        before = self.reply_template(template_id)
        with self._begin() as conn:
            conn.execute(update(templates_t).where(templates_t.c.id == template_id)
                         .values(**row))
            _audit(conn, actor, "update", "reply_template", str(template_id),
                   {k: [before[k], row[k]] for k in TEMPLATE_FIELDS if before[k] != row[k]})
        return self.reply_template(template_id)

    def delete_reply_template(self, template_id: int, actor: str) -> None:
        """Delete a template (NotFound if there is none). Audited."""
        before = self.reply_template(template_id)
        with self._begin() as conn:
            conn.execute(delete(templates_t).where(templates_t.c.id == template_id))
            _audit(conn, actor, "delete", "reply_template", str(template_id),
                   {k: before[k] for k in TEMPLATE_FIELDS})

    def reply_template(self, template_id: int) -> dict[str, Any]:
        """One template (NotFound if there is none)."""
        return self._row(templates_t, template_id,
                         NotFound(f"回复模板 {template_id} 不存在"))

    def reply_templates(self, category: str | None = None, status: str | None = None,
                        limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Templates that apply to an issue of this category in (or moving to) this status
        (a template without one applies to any; given neither, every template): the most
        specific first, then by id."""
        t = templates_t.c
        q = (select(templates_t).where(*_applies(category, status))
             .order_by(case((t.category.is_(None), 1), else_=0),
                       case((t.status.is_(None), 1), else_=0), t.id).offset(offset))
        if limit is not None:
            q = q.limit(limit)
        with self._connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def reply_template_count(self, category: str | None = None,
                             status: str | None = None) -> int:
        """How many templates reply_templates would list without a limit."""
        q = select(func.count()).select_from(templates_t).where(*_applies(category, status))
        with self._connect() as conn:
            return int(conn.execute(q).scalar_one())


def _applies(category: str | None, status: str | None) -> list[ColumnElement[bool]]:
    t = templates_t.c
    conds: list[ColumnElement[bool]] = []
    if category is not None:
        conds.append(or_(t.category.is_(None), t.category == category))
    if status is not None:
        conds.append(or_(t.status.is_(None), t.status == status))
    return conds
