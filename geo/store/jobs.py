"""Jobs of the worker pool, readable by every process (a mixin of SqlStore)."""

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

from geo.model.errors import InvalidInput, NotFound
from geo.model.lifecycle import ACTIVE_JOB_STATES
from geo.store.rows import (
    SqlParts,
    _job_conditions,
)
from geo.store.schema import jobs as jobs_t


class JobRows(SqlParts):
    """Jobs of the worker pool, readable by every process."""

    def add_job(self, kind: str, actor: str, unit: str | None = None,
                total: int | None = None, worker: str | None = None) -> int:
        """Record a queued job (not audited: the work it does audits itself)."""
        now = datetime.now()
        with self._begin() as conn:
            return int(conn.execute(insert(jobs_t).returning(jobs_t.c.id).values(
                kind=kind, state="queued", actor=actor, unit=unit, created_at=now,
                done=0, total=total, message="", worker=worker,
                heartbeat_at=now)).scalar_one())

    def update_job(self, job_id: int, **changes: Any) -> None:
        """Change a job's state, times, progress, message or result (a heartbeat too)."""
        allowed = {"state", "started_at", "finished_at", "done", "total", "message", "result",
                   "worker"}
        bad = set(changes) - allowed
        if bad:
            raise InvalidInput(f"不能修改任务的字段：{', '.join(sorted(bad))}")
        with self._begin() as conn:
            if conn.execute(update(jobs_t).where(jobs_t.c.id == job_id)
                            .values(**changes, heartbeat_at=datetime.now())).rowcount == 0:
                raise NotFound(f"任务 {job_id} 不存在")

    def heartbeat_jobs(self, job_ids: Sequence[int]) -> None:
        """Mark the queued/running jobs among job_ids alive now."""
        if not job_ids:
            return
        with self._begin() as conn:
            conn.execute(update(jobs_t).where(jobs_t.c.id.in_(list(job_ids)),
                                              jobs_t.c.state.in_(ACTIVE_JOB_STATES))
                         .values(heartbeat_at=datetime.now()))

    def fail_stale_jobs(self, before: datetime, message: str, result: dict[str, Any],
                        job_id: int | None = None) -> list[int]:
        """Mark failed the queued/running jobs (or job job_id only) whose heartbeat is older
        than before; return their ids. Nothing is written when none is stale."""
        t = jobs_t
        conds = [t.c.state.in_(ACTIVE_JOB_STATES),
                 func.coalesce(t.c.heartbeat_at, t.c.created_at) < before]
        if job_id is not None:
            conds.append(t.c.id == job_id)
        with self._begin() as conn:
            ids = [int(i) for i in conn.execute(select(t.c.id).where(*conds)).scalars()]
            if ids:  # the same conditions again: a job that beat meanwhile stays as it is
                conn.execute(update(t).where(t.c.id.in_(ids), *conds).values(
                    state="failed", message=message, result=result,
                    finished_at=datetime.now()))
        return ids

    def job(self, job_id: int) -> dict[str, Any]:
        """One job."""
        return self._row(jobs_t, job_id, NotFound(f"任务 {job_id} 不存在"))

    def jobs(self, actor: str | None = None, states: Sequence[str] | None = None,
             limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """Jobs, newest first (offset/limit page them)."""
        q = (select(jobs_t).where(*_job_conditions(actor, states))
             .order_by(jobs_t.c.id.desc()).offset(offset).limit(limit))
        with self._connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def job_count(self, actor: str | None = None, states: Sequence[str] | None = None) -> int:
        """How many jobs match the filters of jobs (counted in SQL)."""
        q = select(func.count()).select_from(jobs_t).where(*_job_conditions(actor, states))
        with self._connect() as conn:
            return int(conn.execute(q).scalar_one())
