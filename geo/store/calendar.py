"""An office's calendar days and time limits (a mixin of SqlStore).

calendar_days holds the office's own days off and extra workdays over the holiday package's;
every write bumps the layer version CALENDAR_VERSION, so a process keeps its working-time
calendar until another process changes the table (geo.calendar.office reads the version).
time_limits holds the office's 处置时限 per category and urgency over the reference defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select

from geo.model.errors import NotFound
from geo.store.rows import SqlParts, _audit, _bump_layers, _upsert
from geo.store.schema import calendar_days as days_t
from geo.store.schema import layer_versions as layer_versions_t
from geo.store.schema import time_limits as limits_t

CALENDAR_VERSION = "calendar"  # layer_versions: bumped by every write of calendar_days
DATABASE_ID = "database"  # layer_versions: the database's random identity (migration 0020)


def _day_conditions(since: date | None, until: date | None) -> list[Any]:
    """The entries that touch the days since..until (inclusive)."""
    conds: list[Any] = []
    if since is not None:
        conds.append(days_t.c.end_date >= since)
    if until is not None:
        conds.append(days_t.c.start_date <= until)
    return conds


class CalendarRows(SqlParts):
    """The office's calendar days (days off, extra workdays) and time limits."""

    def calendar_days(self, since: date | None = None, until: date | None = None,
                      limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Calendar entries touching since..until (None: unbounded), by start date."""
        q = (select(days_t).where(*_day_conditions(since, until))
             .order_by(days_t.c.start_date, days_t.c.id).offset(offset))
        if limit is not None:
            q = q.limit(limit)
        with self._connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def calendar_day_count(self, since: date | None = None, until: date | None = None) -> int:
        """How many entries calendar_days would list without a limit."""
        q = select(func.count()).select_from(days_t).where(*_day_conditions(since, until))
        with self._connect() as conn:
            return int(conn.execute(q).scalar_one())

    def add_calendar_days(self, days: Sequence[dict[str, Any]], actor: str) -> list[int]:
        """Insert entries {start_date, end_date, kind, note} (checked by the caller) with one
        audit row; their ids in order."""
        if not days:
            return []
        now = datetime.now()
        rows = [{"start_date": d["start_date"], "end_date": d["end_date"], "kind": d["kind"],
                 "note": d.get("note") or "", "created_by": actor, "created_at": now}
                for d in days]
        with self._begin() as conn:
            ids = [int(r[0]) for r in conn.execute(
                insert(days_t).returning(days_t.c.id), rows)]
            _audit(conn, actor, "create", "calendar_day",
                   str(ids[0]) if len(ids) == 1 else f"{ids[0]}-{ids[-1]}",
                   {"count": len(ids), "days": [
                       {"id": i, "start": str(r["start_date"]), "end": str(r["end_date"]),
                        "kind": r["kind"], "note": r["note"]}
                       for i, r in zip(ids[:500], rows, strict=False)]})
            _bump_layers(conn, [CALENDAR_VERSION])
        return ids

    def delete_calendar_day(self, day_id: int, actor: str) -> dict[str, Any]:
        """Delete one entry (NotFound if missing), audited; the entry as it was."""
        with self._begin() as conn:
            row = conn.execute(select(days_t).where(days_t.c.id == day_id)).first()
            if row is None:
                raise NotFound(f"工作日历条目 {day_id} 不存在")
            conn.execute(delete(days_t).where(days_t.c.id == day_id))
            old = dict(row._mapping)
            _audit(conn, actor, "delete", "calendar_day", str(day_id),
                   {"start": str(old["start_date"]), "end": str(old["end_date"]),
                    "kind": old["kind"], "note": old["note"]})
            _bump_layers(conn, [CALENDAR_VERSION])
        return old

    def calendar_stamp(self) -> tuple[int, int]:
        """(the database's identity, the calendar's version): changes with every write of
        calendar_days, and when the database is made again (read in one query)."""
        t = layer_versions_t.c
        with self._connect() as conn:
            found = dict(conn.execute(select(t.layer, t.version).where(
                t.layer.in_([DATABASE_ID, CALENDAR_VERSION]))).all())
        return int(found.get(DATABASE_ID, 0)), int(found.get(CALENDAR_VERSION, 0))

    def time_limits(self) -> list[dict[str, Any]]:
        """The office's limits {category, urgency, amount, unit}, by category and urgency."""
        q = select(limits_t).order_by(limits_t.c.category, limits_t.c.urgency)
        with self._connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def time_limit(self, category: str, urgency: str) -> dict[str, Any] | None:
        """The office's limit of one category and urgency, None when it keeps the default."""
        t = limits_t.c
        with self._connect() as conn:
            row = conn.execute(select(limits_t).where(t.category == category,
                                                      t.urgency == urgency)).first()
        return dict(row._mapping) if row else None

    def set_time_limits(self, limits: Sequence[dict[str, Any]], actor: str) -> None:
        """Set limits {category, urgency, amount, unit} (checked by the caller); an amount of
        None removes the office's limit (the default applies again). One audit row."""
        t = limits_t.c
        with self._begin() as conn:
            before = {(r.category, r.urgency): (r.amount, r.unit)
                      for r in conn.execute(select(limits_t))}
            gone = [x for x in limits if x["amount"] is None]
            for x in gone:
                conn.execute(delete(limits_t).where(t.category == x["category"],
                                                    t.urgency == x["urgency"]))
            _upsert(conn, limits_t, [
                {k: x[k] for k in ("category", "urgency", "amount", "unit")}
                for x in limits if x["amount"] is not None],
                lambda new: {"amount": new.amount, "unit": new.unit})
            _audit(conn, actor, "update", "time_limits", None, {"changes": [
                {"category": x["category"], "urgency": x["urgency"],
                 "from": list(before[(x["category"], x["urgency"])])
                 if (x["category"], x["urgency"]) in before else None,
                 "to": None if x["amount"] is None else [x["amount"], x["unit"]]}
                for x in limits]})
