"""Users, units, roles and what each role may do; password hashing and lockout rules."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from geo.errors import Forbidden, InvalidInput, Locked, Unauthorized

if TYPE_CHECKING:
    from geo.store import Store

DEMO_PASSWORD = "ccmap-demo"
_hasher = PasswordHasher()


class Role(StrEnum):
    """The five roles of the issue: admin, planner, inspector, unit, viewer."""

    admin = "admin"
    planner = "planner"  # 规划/创城办
    inspector = "inspector"  # 督导/网格员
    unit = "unit"  # 包保单位/社区
    viewer = "viewer"  # 领导


ROLE_LABELS = {Role.admin: "管理员", Role.planner: "规划人员", Role.inspector: "督导/网格员",
               Role.unit: "包保单位", Role.viewer: "领导（只读）"}

# permission → roles that hold it; the one table every endpoint checks against
PERMISSIONS: dict[str, frozenset[Role]] = {
    "read": frozenset(Role),
    # city-wide analyses name every unit's zones: not for a unit user (its scope is its own)
    "analysis:read": frozenset({Role.admin, Role.planner, Role.inspector, Role.viewer}),
    "layers:write": frozenset({Role.admin, Role.planner}),
    "zones:write": frozenset({Role.admin, Role.planner}),
    "issues:write": frozenset({Role.admin, Role.inspector}),
    "issues:handle": frozenset({Role.admin, Role.inspector, Role.unit}),
    "plan:write": frozenset({Role.admin, Role.planner}),
    "inspections:write": frozenset({Role.admin, Role.inspector}),
    "users:admin": frozenset({Role.admin}),
    "audit:read": frozenset({Role.admin}),
}


@dataclass
class User:
    """An account. `unit` scopes a unit user to its own unit's zones and issues."""

    username: str
    role: Role
    unit: str | None = None
    display_name: str = ""
    active: bool = True
    failed_count: int = 0
    first_failed_at: datetime | None = None
    locked_until: datetime | None = None
    password_hash: str = ""
    id: int | None = None

    @property
    def scope_unit(self) -> str | None:
        """The unit whose rows this user is limited to, or None for everyone else."""
        return self.unit if self.role is Role.unit else None

    @property
    def actor(self) -> str:
        """How this user is named in the audit log."""
        return f"user:{self.username}"


@dataclass
class Unit:
    """A sponsor unit (包保单位), community (社区) or sub-district (街道)."""

    name: str
    kind: str = "unit"  # unit | community | subdistrict
    parent: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class LockoutPolicy:
    """After `attempts` failures within `window`, the account is locked for `duration`."""

    attempts: int = 5
    window: timedelta = timedelta(minutes=15)
    duration: timedelta = timedelta(minutes=15)


def require(user: User, permission: str) -> None:
    """Raise Forbidden unless the user's role holds the permission."""
    if user.role not in PERMISSIONS[permission]:
        raise Forbidden(f"role {user.role.value} ({ROLE_LABELS[user.role]}) may not do "
                        f"{permission}")


def parse_role(value: str) -> Role:
    """A Role from its name, or InvalidInput listing the roles."""
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput(f"unknown role {value!r}; roles: "
                           + ", ".join(r.value for r in Role)) from None


def hash_password(password: str) -> str:
    """An argon2id hash of the password, after checking the minimum policy."""
    if len(password) < 8:
        raise InvalidInput("password must have at least 8 characters (密码至少 8 位)")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when the password matches the stored hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_secret() -> tuple[str, str]:
    """A random token for a client and the SHA-256 hash the store keeps instead."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    """SHA-256 hex digest of a token (tokens are random, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(store: Store, username: str, password: str, now: datetime,
                 policy: LockoutPolicy) -> User:
    """The user if the password is right; counts failures and locks the account per policy."""
    user = store.user(username)
    if user is None or not user.active:
        verify_password(_DUMMY_HASH, password)  # same cost whether or not the user exists
        raise Unauthorized("wrong username or password (用户名或密码错误)")
    if user.locked_until and user.locked_until > now:
        raise Locked(f"account locked after repeated failures until "
                     f"{user.locked_until:%Y-%m-%d %H:%M} (账户已锁定)",
                     retry_after=int((user.locked_until - now).total_seconds()) + 1)
    if verify_password(user.password_hash, password):
        if user.failed_count or user.locked_until:
            store.set_login_state(user.username, 0, None, None)
        return user
    first = user.first_failed_at
    count = user.failed_count + 1
    if first is None or now - first > policy.window:
        first, count = now, 1
    locked = now + policy.duration if count >= policy.attempts else None
    store.set_login_state(user.username, count, first, locked)
    raise Unauthorized("wrong username or password (用户名或密码错误)")


_DUMMY_HASH = _hasher.hash("not-a-real-password")


def create_demo_users(store: Store, unit: str) -> list[User]:
    """The demo accounts, one per role, all with the documented demo password."""
    password = hash_password(DEMO_PASSWORD)
    users = [
        User("admin", Role.admin, display_name="系统管理员"),
        User("planner", Role.planner, display_name="创城办规划员"),
        User("inspector", Role.inspector, display_name="督导组网格员"),
        User("unit1", Role.unit, unit=unit, display_name=f"{unit}联络员"),
        User("viewer", Role.viewer, display_name="街道领导"),
    ]
    for u in users:
        u.password_hash = password
        u.id = store.add_user(u, actor="demo")
    return users
