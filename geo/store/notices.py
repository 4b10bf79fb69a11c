"""Notifications (a mixin of SqlStore): each user's in-app notices, webhooks, the e-mail and
webhook deliveries with their attempts, and the deadline notices each issue has had.

Both backends in one implementation. Claiming due deliveries is one UPDATE … WHERE id IN
(SELECT … LIMIT n) RETURNING: on PostgreSQL the inner SELECT skips rows another sender holds
(FOR UPDATE SKIP LOCKED); on SQLite the UPDATE takes the database's one write lock, so two
senders never claim the same row either.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from geo.model.errors import Conflict, InvalidInput, NotFound
from geo.model.records import Issue
from geo.model.users import Role, User
from geo.store.rows import _OPEN_ISSUE, SqlParts, _audit, _issue, _user
from geo.store.schema import deliveries as deliveries_t
from geo.store.schema import issue_notices as notices_t
from geo.store.schema import issues as issues_t
from geo.store.schema import notifications as notifications_t
from geo.store.schema import users as users_t
from geo.store.schema import webhooks as webhooks_t

DELIVERY_STATES = ("pending", "sent", "failed")
# what clear() (the demo's rebuild) deletes of this module's tables, in this order
NOTICE_TABLES = (deliveries_t, webhooks_t, notifications_t, notices_t)
DEADLINE_EVENTS = ("due_soon", "overdue")


class NoticeRows(SqlParts):
    """In-app notifications, webhooks, deliveries and deadline notices."""

    # --- who is told, and the in-app list ------------------------------------------------
    def unit_users(self, units: Sequence[str]) -> list[User]:
        """The active users of the unit role in these units, by username."""
        if not units:
            return []
        c = users_t.c
        q = (select(users_t).where(c.role == Role.unit.value, c.active.is_(True),
                                   c.unit.in_(sorted(set(units)))).order_by(c.username))
        with self._connect() as conn:
            return [_user(r) for r in conn.execute(q)]

    def add_notifications(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert in-app notices (username, at, event, issue_id, message); how many."""
        if rows:
            with self._begin() as conn:
                conn.execute(insert(notifications_t), list(rows))
        return len(rows)

    def notifications(self, username: str, unread: bool | None = None, limit: int = 50,
                      offset: int = 0) -> list[dict[str, Any]]:
        """A user's notices, newest first (unread True: only unread ones; False: only read)."""
        t = notifications_t
        q = (select(t).where(*_notice_conditions(username, unread))
             .order_by(t.c.at.desc(), t.c.id.desc()).offset(offset).limit(limit))
        with self._connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def notification_count(self, username: str, unread: bool | None = None) -> int:
        """How many notices of the user match (counted in SQL)."""
        q = (select(func.count()).select_from(notifications_t)
             .where(*_notice_conditions(username, unread)))
        with self._connect() as conn:
            return int(conn.execute(q).scalar_one())

    def read_notification(self, notification_id: int, username: str,
                          now: datetime) -> dict[str, Any]:
        """Mark one of the user's notices read (kept as it is if it was); NotFound when it is
        not the user's."""
        t = notifications_t
        mine = (t.c.id == notification_id) & (t.c.username == username)
        with self._begin() as conn:
            conn.execute(update(t).where(mine, t.c.read_at.is_(None)).values(read_at=now))
            row = conn.execute(select(t).where(mine)).first()
        if row is None:
            raise NotFound(f"通知 {notification_id} 不存在")
        return dict(row._mapping)

    def read_all_notifications(self, username: str, now: datetime) -> int:
        """Mark every unread notice of the user read; how many were."""
        t = notifications_t
        with self._begin() as conn:
            return int(conn.execute(update(t).where(*_notice_conditions(username, True))
                                    .values(read_at=now)).rowcount)

    # --- webhooks ------------------------------------------------------------------------
    def add_webhook(self, url: str, secret: str, events: Sequence[str], actor: str,
                    now: datetime) -> int:
        """Store an active webhook; audited (the URL and events, never the secret)."""
        with self._begin() as conn:
            wid = int(conn.execute(insert(webhooks_t).returning(webhooks_t.c.id).values(
                url=url, secret=secret, events=list(events), active=True, created_by=actor,
                created_at=now)).scalar_one())
            _audit(conn, actor, "create", "webhook", str(wid),
                   {"url": url, "events": list(events)})
        return wid

    def webhooks(self, active_only: bool = True) -> list[dict[str, Any]]:
        """Webhooks by id with their secrets (active ones only unless active_only=False)."""
        q = select(webhooks_t).order_by(webhooks_t.c.id)
        if active_only:
            q = q.where(webhooks_t.c.active.is_(True))
        with self._connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def delete_webhook(self, webhook_id: int, actor: str, now: datetime) -> int:
        """Deactivate a webhook (its delivery log stays); its pending deliveries fail with
        the reason. Audited; NotFound for no active webhook of that id. How many failed."""
        w, d = webhooks_t, deliveries_t
        with self._begin() as conn:
            if not conn.execute(update(w).where(w.c.id == webhook_id, w.c.active.is_(True))
                                .values(active=False)).rowcount:
                raise NotFound(f"推送 {webhook_id} 不存在")
            dropped = int(conn.execute(update(d).where(
                d.c.webhook_id == webhook_id, d.c.state == "pending").values(
                state="failed", next_attempt_at=None,
                last_error=f"推送已删除（{actor} 于 {now:%Y-%m-%d %H:%M} 删除）"))
                .rowcount)
            _audit(conn, actor, "delete", "webhook", str(webhook_id),
                   {"pending_deliveries_failed": dropped})
        return dropped

    # --- deliveries ----------------------------------------------------------------------
    def add_deliveries(self, rows: Sequence[dict[str, Any]]) -> int:
        """Queue e-mail and webhook sends (channel, target, event, webhook_id, issue_id,
        payload, created_at, next_attempt_at) as pending, no attempt yet; how many."""
        if rows:
            with self._begin() as conn:
                # every row with every key: an executemany takes its columns from the first
                conn.execute(insert(deliveries_t),
                             [{"webhook_id": None, "issue_id": None, **r, "state": "pending",
                               "attempts": 0} for r in rows])
        return len(rows)

    def deliveries(self, state: str | None = None, limit: int = 50,
                   offset: int = 0) -> list[dict[str, Any]]:
        """The delivery log, newest first (one state, or all)."""
        t = deliveries_t
        q = (select(t).where(*_delivery_conditions(state)).order_by(t.c.id.desc())
             .offset(offset).limit(limit))
        with self._connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def delivery_count(self, state: str | None = None) -> int:
        """How many deliveries are in the state (all: None), counted in SQL."""
        q = (select(func.count()).select_from(deliveries_t)
             .where(*_delivery_conditions(state)))
        with self._connect() as conn:
            return int(conn.execute(q).scalar_one())

    def delivery(self, delivery_id: int) -> dict[str, Any]:
        """One delivery (NotFound if missing)."""
        return self._row(deliveries_t, delivery_id,
                         NotFound(f"推送记录 {delivery_id} 不存在"))

    def claim_deliveries(self, now: datetime, lease_until: datetime,
                         channels: Sequence[str], limit: int) -> list[dict[str, Any]]:
        """Take at most limit pending deliveries of these channels due at now (oldest due
        first) for one sender: their next attempt moves to lease_until, so no other sender
        takes them meanwhile, and a sender that dies leaves them due again then. By id."""
        t = deliveries_t
        due = (select(t.c.id).where(t.c.state == "pending", t.c.next_attempt_at <= now,
                                    t.c.channel.in_(list(channels)))
               .order_by(t.c.next_attempt_at, t.c.id).limit(limit))
        if self.postgis:
            due = due.with_for_update(skip_locked=True)
        if not channels or limit < 1:
            return []
        with self._begin() as conn:
            rows = conn.execute(update(t).where(t.c.id.in_(due.scalar_subquery()))
                                .values(next_attempt_at=lease_until).returning(*t.c)).all()
        return sorted((dict(r._mapping) for r in rows), key=lambda r: r["id"])

    def finish_delivery(self, delivery_id: int, changes: dict[str, Any]) -> None:
        """Record an attempt: state, attempts, next_attempt_at, sent_at and last_error."""
        allowed = {"state", "attempts", "next_attempt_at", "sent_at", "last_error"}
        if set(changes) - allowed:
            raise InvalidInput("不能修改推送记录的字段："
                               f"{', '.join(sorted(set(changes) - allowed))}")
        with self._begin() as conn:
            conn.execute(update(deliveries_t).where(deliveries_t.c.id == delivery_id)
                         .values(changes))

    def retry_delivery(self, delivery_id: int, now: datetime, actor: str) -> dict[str, Any]:
        """Send a failed (or pending) delivery again from now with a fresh count of attempts;
        Conflict for one already sent, or of a deleted webhook. Audited."""
        t = deliveries_t
        with self._begin() as conn:
            row = conn.execute(select(t).where(t.c.id == delivery_id)).first()
            if row is None:
                raise NotFound(f"推送记录 {delivery_id} 不存在")
            if row.state == "sent":
                raise Conflict(f"推送记录 {delivery_id} 已于 "
                               f"{row.sent_at:%Y-%m-%d %H:%M:%S} 发送成功，无需重试")
            if row.webhook_id is not None and not conn.execute(
                    select(webhooks_t.c.active).where(webhooks_t.c.id == row.webhook_id)
            ).scalar():
                raise Conflict(f"推送记录 {delivery_id} 所属的推送已删除，不能重试")
            conn.execute(update(t).where(t.c.id == delivery_id).values(
                state="pending", attempts=0, next_attempt_at=now))
            _audit(conn, actor, "retry", "delivery", str(delivery_id),
                   {"state": row.state, "attempts": row.attempts})
            return dict(conn.execute(select(t).where(t.c.id == delivery_id)).one()._mapping)

    # --- deadline notices ----------------------------------------------------------------
    def deadline_candidates(self, event: str, now: datetime, cutoff: datetime,
                            limit: int) -> list[Issue]:
        """Open issues (unhandled, clock running) that are overdue at now (event overdue) or
        due between now and cutoff (due_soon) and have had no such notice for their present
        deadline: at most limit, by deadline (the partial index of open issues by deadline)."""
        if event not in DEADLINE_EVENTS:
            raise InvalidInput(f"不是期限提醒事件：{event}")
        c, n = issues_t.c, notices_t.c
        due = c.deadline < now if event == "overdue" else c.deadline.between(now, cutoff)
        noticed = exists().where(n.issue_id == c.id, n.event == event,
                                 n.deadline == c.deadline)
        q = (select(issues_t).where(_OPEN_ISSUE, due, c.paused_at.is_(None), ~noticed)
             .order_by(c.deadline, c.id).limit(limit))
        with self._connect() as conn:
            return [_issue(r) for r in conn.execute(q)]

    def add_issue_notices(self, event: str, issues: Sequence[tuple[int, datetime]]
                          ) -> set[int]:
        """Record that issues (id, deadline) had the event's notice for that deadline, where
        not recorded yet; the ids recorded now (a notice another process recorded first is
        left out, so it is sent once)."""
        if not issues:
            return set()
        dialect_insert = pg_insert if self.postgis else sqlite_insert
        stmt = (dialect_insert(notices_t)
                .values([{"issue_id": i, "event": event, "deadline": d} for i, d in issues])
                .on_conflict_do_nothing(index_elements=["issue_id", "event", "deadline"])
                .returning(notices_t.c.issue_id))
        with self._begin() as conn:
            return {int(i) for i in conn.execute(stmt).scalars()}


def _notice_conditions(username: str, unread: bool | None) -> list[Any]:
    c = notifications_t.c
    conds: list[Any] = [c.username == username]
    if unread is not None:
        conds.append(c.read_at.is_(None) if unread else c.read_at.is_not(None))
    return conds


def _delivery_conditions(state: str | None) -> list[Any]:
    if state is None:
        return []
    if state not in DELIVERY_STATES:
        raise InvalidInput(f"未知的推送记录状态 {state!r}，可选状态："
                           f"{', '.join(DELIVERY_STATES)}")
    return [deliveries_t.c.state == state]
