"""Login (OAuth2 password flow and browser sessions), logout, password change, /api/me."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm

from geo.accounts.logins import authenticate, change_password
from geo.accounts.preferences import set_locale
from geo.model.errors import NotFound
from geo.model.users import ROLE_LABELS, User, may, new_secret, token_hash
from server.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    CurrentUser,
    lockout_policy,
    password_change_limit,
    password_policy,
    secure_cookies,
)
from server.deps import SettingsDep, StoreDep
from server.schemas.accounts import (
    AccessToken,
    LocaleChoice,
    Message,
    PasswordChange,
    SessionStarted,
    TokenPublic,
    TokenRevoked,
    UserPublic,
)

router = APIRouter(tags=["auth"])


def presented_token(request: Request) -> str:
    """The secret this request authenticated with: its bearer token or its session cookie."""
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else \
        request.cookies.get(SESSION_COOKIE, "")


def token_public(row: dict[str, Any]) -> dict[str, Any]:
    """A token's metadata as the API shows it (the secret and its hash are never shown)."""
    return {"id": row["id"], "username": row["username"], "name": row["name"],
            "kind": row["kind"], "current": row.get("current", False),
            "created_at": row["created_at"].isoformat(timespec="seconds"),
            "expires_at": row["expires_at"] and row["expires_at"].isoformat(timespec="seconds")}


def user_public(user: User) -> dict[str, Any]:
    """A user as the API shows it (never the hash)."""
    return {"username": user.username, "role": user.role.value,
            "role_label": ROLE_LABELS[user.role], "unit": user.unit,
            "display_name": user.display_name, "active": user.active, "email": user.email,
            "locale": user.locale}


@router.post("/api/auth/token", response_model=AccessToken)
def issue_token(form: Annotated[OAuth2PasswordRequestForm, Depends()], store: StoreDep,
                settings: SettingsDep) -> dict[str, Any]:
    """OAuth2 password flow: a bearer token for scripts and integrations."""
    now = datetime.now()
    user = authenticate(store, form.username, form.password, now, lockout_policy(settings),
                        via="token")
    token, digest = new_secret()
    assert user.id is not None
    expires = now + timedelta(hours=settings.access_token_hours)
    store.add_token(user.id, digest, "access", expires)
    store.record_audit(user.actor, "login", "token", None, {"kind": "access"})
    return {"access_token": token, "token_type": "bearer",
            "expires_in": int(settings.access_token_hours * 3600)}


@router.post("/api/auth/login", response_model=SessionStarted)
def login(request: Request, username: Annotated[str, Form()],
          password: Annotated[str, Form()], store: StoreDep,
          settings: SettingsDep) -> JSONResponse:
    """Browser login: an HttpOnly session cookie and a CSRF cookie for the page's scripts."""
    now = datetime.now()
    user = authenticate(store, username, password, now, lockout_policy(settings),
                        via="session")
    token, digest = new_secret()
    csrf = secrets.token_urlsafe(24)
    assert user.id is not None
    store.add_token(user.id, digest, "session", now + timedelta(hours=settings.session_hours),
                    csrf=csrf)
    store.record_audit(user.actor, "login", "session", None, {})
    response = JSONResponse({**user_public(user), "csrf_token": csrf})
    secure = secure_cookies(request, settings)
    max_age = int(settings.session_hours * 3600)
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, secure=secure,
                        samesite="lax")
    response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age, httponly=False, secure=secure,
                        samesite="lax")
    return response


@router.post("/api/auth/logout", response_model=Message)
def logout(request: Request, user: CurrentUser, store: StoreDep) -> JSONResponse:
    """End this session or revoke this bearer token."""
    store.revoke_tokens(token_hash=token_hash(presented_token(request)))
    store.record_audit(user.actor, "logout", "session", None, {})
    response = JSONResponse({"detail": "logged out (已退出)"})
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response


@router.post("/api/auth/password", response_model=Message)
def change_own_password(body: PasswordChange, request: Request, user: CurrentUser,
                        store: StoreDep, settings: SettingsDep) -> dict[str, str]:
    """Change one's own password (wrong current passwords are rate-limited: 429); every
    other session and token of the user is revoked."""
    change_password(store, user, body.current_password, body.new_password, datetime.now(),
                    password_change_limit(settings), password_policy(settings))
    assert user.id is not None
    store.revoke_tokens(user_id=user.id, keep=token_hash(presented_token(request)))
    return {"detail": "password changed (密码已修改)"}


@router.get("/api/auth/tokens", response_model=list[TokenPublic])
def my_tokens(request: Request, user: CurrentUser, store: StoreDep) -> list[dict[str, Any]]:
    """One's own live sessions, access and API tokens (metadata only; `current` marks the
    one this request used)."""
    assert user.id is not None
    return [token_public(t) for t in store.tokens(
        user.id, datetime.now(), current=token_hash(presented_token(request)))]


@router.delete("/api/auth/tokens/{token_id}", response_model=TokenRevoked)
def revoke_token(token_id: int, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    """Revoke one of one's own tokens (an admin: anyone's); it stops working at once."""
    # not an admin: only one's own tokens; another's answers "not found", like a missing one
    owner = None if may(user, "users:admin") else user.id
    revoked = store.revoke_token(token_id, user.actor, owner_id=owner)
    if revoked is None:
        raise NotFound(f"令牌 {token_id} 不存在")
    return {**token_public(revoked), "detail": "token revoked (令牌已撤销)"}


@router.get("/api/me", response_model=UserPublic)
def me(user: CurrentUser) -> dict[str, Any]:
    """The logged-in user."""
    return user_public(user)


@router.put("/api/me/locale", response_model=UserPublic)
def my_locale(body: LocaleChoice, user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    """Set one's own UI language ("en", "zh-CN"; null: the browser's Accept-Language);
    audited."""
    return user_public(set_locale(store, user, body.locale))
