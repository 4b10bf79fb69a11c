"""Units, users, login attempts and tokens (a mixin of SqlStore)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    bindparam,
    case,
    delete,
    func,
    insert,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from geo.model.audit import changes as audit_changes
from geo.model.errors import Conflict, InvalidInput, NotFound
from geo.model.kinds import Kind
from geo.model.users import Role, Unit, User
from geo.store import Attempts
from geo.store.rows import (
    SqlParts,
    _audit,
    _user,
)
from geo.store.schema import features as features_t
from geo.store.schema import login_attempts as attempts_t
from geo.store.schema import tokens as tokens_t
from geo.store.schema import units as units_t
from geo.store.schema import users as users_t

LAST_ADMIN = "不能停用唯一的在用管理员，也不能取消其管理员角色：请先将另一位用户设为管理员"

# built once: every request reads its caller's token (building the statement each time took
# a third of the lookup)
_TOKEN_USER = (
    select(users_t, tokens_t.c.csrf)
    .join(tokens_t, tokens_t.c.user_id == users_t.c.id)
    .where(tokens_t.c.token_hash == bindparam("token_hash"),
           tokens_t.c.kind.in_(bindparam("kinds", expanding=True)),
           users_t.c.active.is_(True),
           or_(tokens_t.c.expires_at.is_(None), tokens_t.c.expires_at > bindparam("now"))))


def _insert_units(conn: Connection, units: Sequence[Unit], actor: str) -> list[int]:
    """Insert and audit each unit on `conn`; their new ids."""
    ids = []
    for u in units:
        row = {"name": u.name, "kind": u.kind, "parent": u.parent}
        uid = int(conn.execute(insert(units_t).returning(units_t.c.id), row).scalar_one())
        _audit(conn, actor, "create", "unit", str(uid), row)
        ids.append(uid)
    return ids


class AccountRows(SqlParts):
    """Units, users, login attempts and tokens."""

    def add_unit(self, unit: Unit, actor: str = "system") -> int:
        """Create a unit; Conflict if the name exists."""
        try:
            with self._begin() as conn:
                return _insert_units(conn, [unit], actor)[0]
        except IntegrityError:
            raise Conflict(f"单位 {unit.name!r} 已存在") from None

    def units(self) -> list[Unit]:
        """All units by name."""
        with self._connect() as conn:
            return [Unit(**r._mapping) for r in conn.execute(
                select(units_t).order_by(units_t.c.name))]

    def add_units(self, units: Sequence[Unit], actor: str = "system") -> int:
        """Create many units in one transaction, each audited; Conflict (and none created)
        if a name exists."""
        if not units:
            return 0
        try:
            with self._begin() as conn:
                return len(_insert_units(conn, units, actor))
        except IntegrityError:
            raise Conflict("部分单位名称已存在，均未创建") from None

    def zone_units_unregistered(self) -> list[tuple[str, int]]:
        """(unit, zones) of the units the zones name that are not registered, most zones
        first (counted in SQL)."""
        c = features_t.c
        unit = c.properties["unit"].as_string()
        q = (select(unit, func.count()).where(
                c.kind == Kind.zone.value, unit.is_not(None), unit != "",
                unit.not_in(select(units_t.c.name)))
             .group_by(unit).order_by(func.count().desc(), unit))
        with self._connect() as conn:
            return [(str(r[0]), int(r[1])) for r in conn.execute(q)]

    def add_user(self, user: User, actor: str = "system") -> int:
        """Create a user (password_hash already set); Conflict if the username exists."""
        row = {c.name: getattr(user, c.name) for c in users_t.columns if c.name != "id"}
        row["role"] = Role(user.role).value
        try:
            with self._begin() as conn:
                uid = int(conn.execute(insert(users_t).returning(users_t.c.id), row).scalar_one())
                _audit(conn, actor, "create", "user", user.username,
                       {k: v for k, v in row.items() if k in ("role", "unit", "display_name")})
                return uid
        except IntegrityError:
            raise Conflict(f"用户 {user.username!r} 已存在") from None

    def user(self, username: str) -> User | None:
        """The user with this username, or None."""
        with self._connect() as conn:
            row = conn.execute(select(users_t).where(users_t.c.username == username)).first()
        return _user(row) if row else None

    def users(self) -> list[User]:
        """All users by username."""
        with self._connect() as conn:
            return [_user(r) for r in conn.execute(select(users_t).order_by(users_t.c.username))]

    def update_user(self, username: str, changes: dict[str, Any], actor: str) -> User:
        """Change role/unit/display_name/active/password_hash/email/locale; audited with a
        diff."""
        allowed = {"role", "unit", "display_name", "active", "password_hash", "email", "locale"}
        bad = set(changes) - allowed
        if bad:
            raise InvalidInput(f"不能修改字段：{', '.join(sorted(bad))}")
        demoting = "role" in changes or "active" in changes
        with self._begin() as conn:
            if demoting and self.postgis:
                # lock the active admins' rows: two admins demoting each other take turns
                conn.execute(select(users_t.c.id).where(
                    users_t.c.role == Role.admin.value, users_t.c.active.is_(True)
                ).with_for_update())
            row = conn.execute(select(users_t).where(users_t.c.username == username)).first()
            if row is None:
                raise NotFound(f"用户 {username!r} 不存在")
            before = _user(row)
            # SQLite: the UPDATE takes the write lock, so the count after it is current
            conn.execute(update(users_t).where(users_t.c.username == username).values(changes))
            if demoting and before.role is Role.admin and before.active and not conn.execute(
                    select(func.count()).select_from(users_t).where(
                        users_t.c.role == Role.admin.value, users_t.c.active.is_(True))
            ).scalar_one():
                raise Conflict(LAST_ADMIN)
            old = {k: getattr(before, k) for k in changes}
            _audit(conn, actor, "update", "user", username,
                   audit_changes(old, changes, secret={"password_hash"}))
        found = self.user(username)
        assert found is not None
        return found

    def reserve_attempt(self, purpose: str, username: str, now: datetime, limit: int,
                        window: timedelta, duration: timedelta) -> Attempts:
        """Count one attempt in one UPDATE (row-locked on PostgreSQL, the write lock on
        SQLite), so concurrent attempts can never pass `limit` between them."""
        c = attempts_t.c
        key = (c.purpose == purpose) & (c.username == username[:200])
        dialect_insert = pg_insert if self.postgis else sqlite_insert
        locked = c.locked_until.is_not(None) & (c.locked_until > now)
        # not locked here, so a lock that is set has expired: the count starts again
        stale = or_(c.first_failed_at <= now - window, c.locked_until.is_not(None))
        with self._begin() as conn:
            conn.execute(dialect_insert(attempts_t).values(
                purpose=purpose, username=username[:200], failed_count=0, first_failed_at=now,
                locked_until=None).on_conflict_do_nothing(
                index_elements=["purpose", "username"]))
            row = conn.execute(update(attempts_t).where(key).values(
                failed_count=case((locked, c.failed_count), (stale, 1),
                                  else_=c.failed_count + 1),
                first_failed_at=case((locked, c.first_failed_at), (stale, now),
                                     else_=c.first_failed_at),
                locked_until=case((locked, c.locked_until), (stale, null()),
                                  (c.failed_count + 1 > limit, now + duration), else_=null()),
            ).returning(c.failed_count, c.locked_until)).one()
        return Attempts(int(row.failed_count), row.locked_until)

    def fail_attempt(self, purpose: str, username: str, now: datetime, limit: int,
                     duration: timedelta) -> datetime | None:
        """Lock once `limit` attempts are counted; a login's lock shows on the user too."""
        c = attempts_t.c
        with self._begin() as conn:
            row = conn.execute(update(attempts_t).where(
                c.purpose == purpose, c.username == username[:200], c.failed_count >= limit,
                or_(c.locked_until.is_(None), c.locked_until <= now),
            ).values(locked_until=now + duration).returning(
                c.failed_count, c.first_failed_at, c.locked_until)).first()
            if row is None:
                return None
            if purpose == "login":
                conn.execute(update(users_t).where(users_t.c.username == username).values(
                    failed_count=row.failed_count, first_failed_at=row.first_failed_at,
                    locked_until=row.locked_until))
            locked_until: datetime = row.locked_until
            return locked_until

    def clear_attempts(self, purpose: str, username: str,
                       prune_before: datetime | None = None) -> None:
        """Forget one name's attempts (and, with prune_before, every stale unlocked row)."""
        c = attempts_t.c
        forget = (c.purpose == purpose) & (c.username == username[:200])
        if prune_before is not None:
            forget = forget | ((c.first_failed_at < prune_before) & or_(
                c.locked_until.is_(None), c.locked_until < prune_before))
        with self._begin() as conn:
            conn.execute(delete(attempts_t).where(forget))
            if purpose == "login":
                u = users_t.c
                conn.execute(update(users_t).where(
                    u.username == username, (u.failed_count != 0) | u.locked_until.is_not(None)
                ).values(failed_count=0, first_failed_at=None, locked_until=None))

    def add_token(self, user_id: int, token_hash: str, kind: str, expires_at: datetime | None,
                  name: str = "", csrf: str | None = None) -> None:
        """Store a hashed session, access or API token."""
        with self._begin() as conn:
            conn.execute(insert(tokens_t).values(
                token_hash=token_hash, user_id=user_id, kind=kind, name=name, csrf=csrf,
                created_at=datetime.now(), expires_at=expires_at))

    def token_user(self, token_hash: str, kinds: Sequence[str],
                   now: datetime) -> tuple[User, str | None] | None:
        """The active user owning an unexpired token of one of the kinds, and its CSRF value."""
        with self._read() as conn:
            row = conn.execute(_TOKEN_USER, {"token_hash": token_hash, "kinds": list(kinds),
                                             "now": now}).first()
        return (_user(row), row._mapping["csrf"]) if row else None

    def revoke_tokens(self, user_id: int | None = None, token_hash: str | None = None,
                      keep: str | None = None) -> int:
        """Delete one token (by hash) or all of a user's tokens except `keep`."""
        q = delete(tokens_t)
        if token_hash is not None:
            q = q.where(tokens_t.c.token_hash == token_hash)
        elif user_id is not None:
            q = q.where(tokens_t.c.user_id == user_id)
            if keep is not None:
                q = q.where(tokens_t.c.token_hash != keep)
        else:
            raise InvalidInput("revoke_tokens 须指定用户或令牌")
        with self._begin() as conn:
            return int(conn.execute(q).rowcount)

    def tokens(self, user_id: int | None = None, now: datetime | None = None,
               current: str | None = None) -> list[dict[str, Any]]:
        """Token metadata, oldest first (never the hash); `current` flags the caller's own."""
        t = tokens_t.c
        q = (select(t.id, users_t.c.username, t.name, t.kind, t.created_at, t.expires_at,
                    (t.token_hash == (current or "")).label("current"))
             .join(users_t, users_t.c.id == t.user_id).order_by(t.id))
        if user_id is not None:
            q = q.where(t.user_id == user_id)
        if now is not None:
            q = q.where(or_(t.expires_at.is_(None), t.expires_at > now))
        with self._connect() as conn:
            return [{**r._mapping, "current": bool(r.current)} for r in conn.execute(q)]

    def revoke_token(self, token_id: int, actor: str,
                     owner_id: int | None = None) -> dict[str, Any] | None:
        """Delete one token by id (of `owner_id` only, when given) with its audit row."""
        t = tokens_t.c
        q = delete(tokens_t).where(t.id == token_id)
        if owner_id is not None:
            q = q.where(t.user_id == owner_id)
        with self._begin() as conn:
            row = conn.execute(q.returning(t.user_id, t.name, t.kind, t.created_at,
                                           t.expires_at)).first()
            if row is None:
                return None
            owner = conn.execute(select(users_t.c.username).where(
                users_t.c.id == row.user_id)).scalar()
            meta = {"id": token_id, "username": owner, "name": row.name, "kind": row.kind,
                    "created_at": row.created_at, "expires_at": row.expires_at}
            _audit(conn, actor, "revoke", "token", str(token_id),
                   {"owner": owner, "kind": row.kind, "name": row.name})
            return meta
