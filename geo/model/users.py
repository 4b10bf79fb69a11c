"""Users, units and roles, and what each role may do: the account vocabulary every package
speaks (the store keeps them, the routes check them)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from geo.model.errors import Forbidden, InvalidInput


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
    # 延期: a unit applies for its own cases (an admin on its behalf); a supervisor decides
    "extensions:apply": frozenset({Role.admin, Role.unit}),
    "extensions:decide": frozenset({Role.admin, Role.inspector}),
    "users:admin": frozenset({Role.admin}),
    "audit:read": frozenset({Role.admin}),
    "replies:write": frozenset({Role.admin}),  # reply templates (回复模板)
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
    email: str | None = None  # where notices go by e-mail (geo.notify); None: in-app only
    locale: str | None = None  # the user's UI language (geo.i18n.LOCALES); None: the browser's

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


def may(user: User, permission: str) -> bool:
    """Whether the user's role holds the permission."""
    return user.role in PERMISSIONS[permission]


def require(user: User, permission: str) -> None:
    """Raise Forbidden unless the user's role holds the permission."""
    if not may(user, permission):
        raise Forbidden(f"角色 {user.role.value}（{ROLE_LABELS[user.role]}）无权执行 "
                        f"{permission}")


def parse_role(value: str) -> Role:
    """A Role from its name, or InvalidInput listing the roles."""
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput(f"未知的角色 {value!r}，可选角色：{', '.join(r.value for r in Role)}"
                           ) from None


EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def check_email(value: str | None) -> str | None:
    """An e-mail address as stored (trimmed; None for none), or InvalidInput saying why."""
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > 254 or not text.isprintable() or not EMAIL.fullmatch(text):
        raise InvalidInput(f"邮箱格式不正确：{text[:80]!r}")
    return text


def new_secret() -> tuple[str, str]:
    """A random token for a client and the SHA-256 hash the store keeps instead."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    """SHA-256 hex digest of a token (tokens are random, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()
