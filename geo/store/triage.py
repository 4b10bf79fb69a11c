"""Claims on issues, the open issues near a point, and the duplicates merged into an issue (a
mixin of SqlStore)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, or_, select, update

from geo.model.claims import claimed_conflict
from geo.model.errors import NotFound
from geo.model.records import Issue
from geo.model.users import User
from geo.store import BBox
from geo.store.rows import SqlParts, _audit, _issue
from geo.store.schema import issues as issues_t


def metres_per_degree(lat: float) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude at a latitude (WGS84 ellipsoid): over a
    few hundred metres, distances in these local units are the ground's within centimetres."""
    phi = math.radians(lat)
    return (111_412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi),
            111_132.92 - 559.82 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi))


class TriageRows(SqlParts):
    """Claims (who holds an issue until when), issues near a point, merged duplicates."""

    if TYPE_CHECKING:  # SqlStore's own (geo/store/sql.py)
        def _issue_bbox_clause(self, bbox: BBox) -> ColumnElement[bool]: ...
        def issue(self, issue_id: int, scope_unit: str | None = None) -> Issue: ...

    def set_claim(self, issue_id: int, user: User, until: datetime | None, now: datetime,
                  force: bool = False) -> Issue:
        """Claim an issue for the user until `until` (None: release the user's claim), unless
        someone else holds a claim live at `now` (Conflict naming them; `force`: an admin
        breaks it). Not a version of the issue: a claim changes who may write, not the case.
        Audited."""
        c = issues_t.c
        holder = user.username if until is not None else None
        free = or_(c.claimed_by.is_(None), c.claimed_until.is_(None), c.claimed_until <= now,
                   c.claimed_by == user.username)
        conds = [c.id == issue_id] if force else [c.id == issue_id, free]
        with self._begin() as conn:
            before = conn.execute(select(c.claimed_by, c.claimed_until)
                                  .where(c.id == issue_id)).first()
            if before is None:
                raise NotFound(f"问题 #{issue_id} 不存在")
            done = conn.execute(update(issues_t).where(*conds)
                                .values(claimed_by=holder, claimed_until=until))
            if done.rowcount == 0:
                raise claimed_conflict(issue_id, before.claimed_by, before.claimed_until)
            _audit(conn, user.actor, "claim" if holder else "release", "issue", str(issue_id),
                   {"claimed_by": [before.claimed_by, holder],
                    "claimed_until": [_iso(before.claimed_until), _iso(until)]})
        return self.issue(issue_id)

    def issues_near(self, lon: float, lat: float, radius_m: float, box: BBox,
                    statuses: Sequence[str], limit: int, exclude: int | None = None,
                    scope_unit: str | None = None) -> list[tuple[Issue, float]]:
        """The issues in these statuses within radius_m of (lon, lat), nearest first, at most
        `limit`, each with its distance in metres: found by the bbox index in `box` (which
        holds the circle), measured and ordered in SQL."""
        c = issues_t.c
        kx, ky = metres_per_degree(lat)
        dx, dy = (c.lon - lon) * kx, (c.lat - lat) * ky
        d2 = dx * dx + dy * dy
        q = select(issues_t).where(self._issue_bbox_clause(box), c.status.in_(statuses),
                                   d2 <= radius_m * radius_m)
        if exclude is not None:
            q = q.where(c.id != exclude)
        if scope_unit is not None:
            q = q.where(c.unit == scope_unit)
        q = q.order_by(d2, c.id).limit(limit)
        with self._connect() as conn:
            found = [_issue(r) for r in conn.execute(q)]
        return [(i, math.hypot((i.lon - lon) * kx, (i.lat - lat) * ky))
                for i in found]

    def duplicates_of(self, issue_id: int, limit: int = 100) -> list[Issue]:
        """The issues merged into this one as its duplicates, oldest first (at most limit)."""
        q = (select(issues_t).where(issues_t.c.duplicate_of == issue_id)
             .order_by(issues_t.c.id).limit(limit))
        with self._connect() as conn:
            return [_issue(r) for r in conn.execute(q)]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None
