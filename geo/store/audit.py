"""The append-only audit trail (a mixin of SqlStore)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import (
    func,
    select,
)

from geo.store.rows import (
    SqlParts,
    _audit,
    _audit_conditions,
)
from geo.store.schema import audit as audit_t


class AuditRows(SqlParts):
    """The append-only audit trail."""

    def record_audit(self, actor: str, action: str, object_type: str,
                     object_id: str | None, diff: dict[str, Any]) -> None:
        """Append one audit row on its own (for actions that write nothing else)."""
        with self._begin() as conn:
            _audit(conn, actor, action, object_type, object_id, diff)

    def audit_log(self, actor: str | None = None, object_type: str | None = None,
                  since: datetime | None = None, until: datetime | None = None,
                  limit: int | None = 1000, offset: int = 0) -> list[dict[str, Any]]:
        """Audit rows, newest first, filtered (offset/limit page them; limit None: all)."""
        conds = _audit_conditions(actor, object_type, since, until)
        q = select(audit_t).where(*conds).order_by(audit_t.c.id.desc()).offset(offset)
        if limit is not None:
            q = q.limit(limit)
        with self._connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def audit_batches(self, actor: str | None = None, object_type: str | None = None,
                      since: datetime | None = None, until: datetime | None = None,
                      offset: int = 0, size: int = 5000) -> Iterator[list[dict[str, Any]]]:
        """The audit rows of audit_log(limit=None), newest first, in lists of at most `size`
        (one query read a batch at a time)."""
        conds = _audit_conditions(actor, object_type, since, until)
        q = select(audit_t).where(*conds).order_by(audit_t.c.id.desc()).offset(offset)
        for rows in self._batches(q, size):
            yield [dict(r._mapping) for r in rows]

    def audit_count(self, actor: str | None = None, object_type: str | None = None,
                    since: datetime | None = None, until: datetime | None = None) -> int:
        """How many audit rows match the filters of audit_log (counted in SQL)."""
        q = select(func.count()).select_from(audit_t).where(
            *_audit_conditions(actor, object_type, since, until))
        with self._connect() as conn:
            return int(conn.execute(q).scalar_one())
