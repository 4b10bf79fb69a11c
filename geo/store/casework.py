"""延期 (extension) applications and their decisions (a mixin of SqlStore).

An application is `pending` until a supervisor decides it `approved` or `rejected`; the row
keeps both halves (who applied, why, for which deadline; who decided, when, with what note,
and the deadline before and after). geo.ledger.casework runs the workflows around them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select, update

from geo.model.errors import Conflict, InvalidInput, NotFound
from geo.store.rows import SqlParts, _audit
from geo.store.schema import extensions as extensions_t

EXTENSION_STATES = ("pending", "approved", "rejected")
# extension_counts(by=…): the extension's own unit (at the time of the application), or a
# column of its issue
COUNT_GROUPS = {"unit": None, "category": "category", "community": "community",
                "zone": "zone_id"}


def _extension_conditions(state: str | None, units: Sequence[str], issue_id: int | None,
                          scope_unit: str | None) -> list[ColumnElement[bool]]:
    c = extensions_t.c
    conds: list[ColumnElement[bool]] = []
    if state is not None:
        if state not in EXTENSION_STATES:
            raise InvalidInput(f"未知的延期申请状态 {state!r}，可选状态："
                               f"{', '.join(EXTENSION_STATES)}")
        conds.append(c.state == state)
    if units:
        conds.append(c.unit.in_(list(units)))
    if issue_id is not None:
        conds.append(c.issue_id == issue_id)
    if scope_unit is not None:
        conds.append(c.unit == scope_unit)
    return conds


class ExtensionRows(SqlParts):
    """延期 applications and decisions."""

    def add_extension(self, issue_id: int, unit: str | None, reason: str,
                      requested_deadline: datetime, old_deadline: datetime | None,
                      actor: str, at: datetime) -> int:
        """Store a pending application with its audit row; its id."""
        row = {"issue_id": issue_id, "unit": unit, "reason": reason,
               "requested_deadline": requested_deadline, "requested_by": actor,
               "requested_at": at, "state": "pending", "old_deadline": old_deadline}
        with self._begin() as conn:
            ext_id = int(conn.execute(insert(extensions_t).returning(extensions_t.c.id),
                                      row).scalar_one())
            _audit(conn, actor, "apply", "extension", str(ext_id), {
                "issue_id": issue_id, "unit": unit, "reason": reason,
                "requested_deadline": requested_deadline.isoformat(),
                "old_deadline": old_deadline.isoformat() if old_deadline else None})
        return ext_id

    def extension(self, extension_id: int) -> dict[str, Any]:
        """One application (NotFound if missing)."""
        return self._row(extensions_t, extension_id,
                         NotFound(f"延期申请 {extension_id} 不存在"))

    def extensions(self, state: str | None = None, units: Sequence[str] = (),
                   issue_id: int | None = None, scope_unit: str | None = None,
                   limit: int | None = 50, offset: int = 0) -> list[dict[str, Any]]:
        """Applications, newest first, filtered by state, units, issue and a unit user's scope
        (offset/limit page them; limit None: all)."""
        c = extensions_t.c
        q = (select(extensions_t)
             .where(*_extension_conditions(state, units, issue_id, scope_unit))
             .order_by(c.requested_at.desc(), c.id.desc()).offset(offset))
        if limit is not None:
            q = q.limit(limit)
        with self._connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def extension_total(self, state: str | None = None, units: Sequence[str] = (),
                        issue_id: int | None = None, scope_unit: str | None = None) -> int:
        """How many applications `extensions` would list without a limit."""
        q = select(func.count()).select_from(extensions_t).where(
            *_extension_conditions(state, units, issue_id, scope_unit))
        with self._connect() as conn:
            return int(conn.execute(q).scalar_one())

    def decide_extension(self, extension_id: int, approve: bool, note: str, actor: str,
                         at: datetime, new_deadline: datetime | None) -> dict[str, Any]:
        """Record the decision of a pending application with its audit row (Conflict if it is
        decided already); the application as decided."""
        c = extensions_t.c
        state = "approved" if approve else "rejected"
        with self._begin() as conn:
            done = conn.execute(update(extensions_t)
                                .where(c.id == extension_id, c.state == "pending")
                                .values(state=state, decided_by=actor, decided_at=at,
                                        decision_note=note, new_deadline=new_deadline))
            if done.rowcount == 0:
                old = conn.execute(select(c.state).where(c.id == extension_id)).scalar()
                if old is None:
                    raise NotFound(f"延期申请 {extension_id} 不存在")
                raise Conflict(f"延期申请 #{extension_id} 已处理（{old}）")
            _audit(conn, actor, "decide", "extension", str(extension_id), {
                "state": state, "note": note,
                "new_deadline": new_deadline.isoformat() if new_deadline else None})
            row = conn.execute(select(extensions_t).where(c.id == extension_id)).one()
        return dict(row._mapping)

