"""The assessment planner's rounds and inspections (a mixin of SqlStore)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    func,
    insert,
    select,
    update,
)

from geo.model.errors import NotFound
from geo.model.records import Issue
from geo.store.rows import (
    SqlParts,
    _audit,
    _insert_issues,
    _inspection_conditions,
    _issue_row,
)
from geo.store.schema import inspections as inspections_t
from geo.store.schema import rounds as rounds_t


class PlanRows(SqlParts):
    """The assessment planner's rounds and inspections."""

    def add_round(self, name: str, plan: dict[str, Any], actor: str) -> int:
        """Store a planned inspection round; return its id."""
        with self._begin() as conn:
            rid = int(conn.execute(insert(rounds_t).returning(rounds_t.c.id).values(
                name=name, created_at=datetime.now(), created_by=actor, plan=plan)).scalar_one())
            _audit(conn, actor, "create", "round", str(rid),
                   {"name": name, "stops": sum(len(t["stops"]) for t in plan["teams"])})
            return rid

    def round(self, round_id: int) -> dict[str, Any]:
        """One round with its plan."""
        return self._row(rounds_t, round_id, NotFound(f"检查轮次 {round_id} 不存在"))

    def rounds(self) -> list[dict[str, Any]]:
        """Every round, newest first."""
        with self._connect() as conn:
            return [dict(r._mapping) for r in
                    conn.execute(select(rounds_t).order_by(rounds_t.c.id.desc()))]

    def add_inspection(self, record: dict[str, Any], issues: Sequence[Issue],
                       actor: str) -> tuple[int, list[int]]:
        """Store an inspection and the issues of its failed items in one transaction.

        `record["items"]` entries whose `issue` is k get `issue_id` = the id of issues[k], and
        that issue the external id `inspection:<inspection id>:<item code>`.
        """
        with self._begin() as conn:
            iid = int(conn.execute(insert(inspections_t).returning(inspections_t.c.id).values(
                **{**record, "items": [], "issue_ids": []})).scalar_one())
            codes = {it["issue"]: it["code"] for it in record["items"]
                     if it.get("issue") is not None}
            rows = [{**_issue_row(i), "external_id": f"inspection:{iid}:{codes[k]}"}
                    for k, i in enumerate(issues)]
            self._issue_partitions(conn, [r["reported_at"] for r in rows])
            ids = _insert_issues(conn, rows, actor) if rows else []
            items = [{**{k: v for k, v in it.items() if k != "issue"},
                      "issue_id": ids[it["issue"]] if it.get("issue") is not None else None}
                     for it in record["items"]]
            conn.execute(update(inspections_t).where(inspections_t.c.id == iid)
                         .values(items=items, issue_ids=ids))
            _audit(conn, actor, "create", "inspection", str(iid),
                   {"feature_id": record["feature_id"], "failed": record["failed"],
                    "issue_ids": ids})
            return iid, ids

    def inspection_by_client_key(self, client_key: str) -> dict[str, Any] | None:
        """The inspection stored with this client key, or None."""
        t = inspections_t
        with self._connect() as conn:
            row = conn.execute(select(t).where(t.c.client_key == client_key)).first()
        return None if row is None else dict(row._mapping)

    def inspections(self, feature_id: int | None = None, round_id: int | None = None,
                    since: datetime | None = None, until: datetime | None = None,
                    limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Inspection records, oldest first, filtered by point, round and time (offset/limit
        page them; limit None: all)."""
        t = inspections_t
        q = (select(t).where(*_inspection_conditions(feature_id, round_id, since, until))
             .order_by(t.c.inspected_at, t.c.id).offset(offset))
        if limit is not None:
            q = q.limit(limit)
        with self._connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def inspection_count(self, feature_id: int | None = None, round_id: int | None = None,
                         since: datetime | None = None, until: datetime | None = None) -> int:
        """How many inspection records match the filters of inspections (counted in SQL)."""
        q = select(func.count()).select_from(inspections_t).where(
            *_inspection_conditions(feature_id, round_id, since, until))
        with self._connect() as conn:
            return int(conn.execute(q).scalar_one())
