"""Who is calling: Bearer tokens (scripts, integrations) or a session cookie plus CSRF header."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from geo.accounts.logins import LockoutPolicy, PasswordPolicy
from geo.model.errors import Forbidden, Unauthorized
from geo.model.users import User, require, token_hash
from server.deps import SettingsDep, StoreDep
from server.locale import remember_user_locale
from server.settings import Settings

SESSION_COOKIE = "ccmap_session"
CSRF_COOKIE = "ccmap_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def lockout_policy(settings: Settings) -> LockoutPolicy:
    """The lockout rule from settings."""
    from datetime import timedelta

    return LockoutPolicy(settings.lockout_attempts,
                         timedelta(minutes=settings.lockout_window_minutes),
                         timedelta(minutes=settings.lockout_minutes))


def password_change_limit(settings: Settings) -> LockoutPolicy:
    """Wrong current passwords allowed per window when changing one's password."""
    from datetime import timedelta

    window = timedelta(minutes=settings.lockout_window_minutes)
    return LockoutPolicy(settings.password_change_attempts, window, window)


def password_policy(settings: Settings) -> PasswordPolicy:
    """What a new password must pass, from settings."""
    return PasswordPolicy(min_length=settings.password_min_length)


def optional_user(request: Request, store: StoreDep) -> User | None:
    """The authenticated user, None when no credentials were sent; 401/403 for bad ones."""
    now = datetime.now()
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        found = store.token_user(token_hash(auth[7:].strip()), ("access", "api"), now)
        if found is None:
            raise Unauthorized("令牌无效或已过期")
        remember_user_locale(request, found[0].locale)
        return found[0]
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    found = store.token_user(token_hash(cookie), ("session",), now)
    if found is None:
        raise Unauthorized("会话已过期，请重新登录")
    user, csrf = found
    remember_user_locale(request, user.locale)
    if request.method not in SAFE_METHODS and not secrets.compare_digest(
            request.headers.get(CSRF_HEADER, ""), csrf or "-"):
        raise Forbidden(f"CSRF 令牌缺失或错误：请在 {CSRF_HEADER} 请求头中发送 "
                        f"{CSRF_COOKIE} Cookie 的值")
    return user


async def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    """The authenticated user, or 401."""
    if user is None:
        raise Unauthorized("login required (请先登录): POST /api/auth/token or /api/auth/login")
    return user


def allowed(permission: str) -> Callable[[User], Awaitable[User]]:
    """A dependency that returns the user if their role holds the permission, else 403."""

    async def check(user: Annotated[User, Depends(current_user)]) -> User:
        require(user, permission)
        return user

    return check


CurrentUser = Annotated[User, Depends(current_user)]
MaybeUser = Annotated[User | None, Depends(optional_user)]
Reader = Annotated[User, Depends(allowed("read"))]
LayerWriter = Annotated[User, Depends(allowed("layers:write"))]
Admin = Annotated[User, Depends(allowed("users:admin"))]
Auditor = Annotated[User, Depends(allowed("audit:read"))]
Analyst = Annotated[User, Depends(allowed("analysis:read"))]
Planner = Annotated[User, Depends(allowed("plan:write"))]
Inspector = Annotated[User, Depends(allowed("inspections:write"))]


def secure_cookies(request: Request, settings: SettingsDep) -> bool:
    """Whether cookies get the Secure flag for this request."""
    if settings.cookie_secure == "auto":
        return request.url.scheme == "https"
    return settings.cookie_secure.lower() in ("1", "true", "yes")
