"""Request and response bodies of the account, unit, token and password routes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints


class UserCreate(BaseModel):
    """Body of POST /api/users."""

    username: str
    password: str
    role: str
    unit: str | None = None
    display_name: str = ""
    email: str | None = Field(None, max_length=254,
                              description="where notices go by e-mail (none: in-app only)")


class UserUpdate(BaseModel):
    """Body of PATCH /api/users/{username}; absent fields are left as they are."""

    role: str | None = None
    unit: str | None = None
    display_name: str | None = None
    active: bool | None = Field(None, description="false: disabled, its tokens revoked")
    password: str | None = Field(None, description="a reset: revokes the user's tokens and "
                                 "lifts a login lock")
    email: str | None = Field(None, max_length=254,
                              description="where notices go by e-mail; empty: none")


class UnitCreate(BaseModel):
    """Body of POST /api/units."""

    name: str
    kind: str = "unit"
    parent: str | None = None


class UnitsRegister(BaseModel):
    """Body of POST /api/units/register: which of the units the zones name to register."""

    names: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] | None = Field(
        None, max_length=10_000,
        description="units the zones name and the registry lacks; omitted: every one")


class UnregisteredUnit(BaseModel):
    """A unit the zones name that is not registered."""

    name: str
    zones: int = Field(description="zones that name it")


class UnitsRegistered(BaseModel):
    """The units POST /api/units/register registered."""

    registered: list[str]


class TokenCreate(BaseModel):
    """Body of POST /api/tokens: a named long-lived token for an integration."""

    name: str
    username: str | None = None


class LocaleChoice(BaseModel):
    """Body of PUT /api/me/locale: the UI language, or null to follow the browser."""

    locale: Literal["zh-CN", "en"] | None = Field(
        description="zh-CN or en; null: the browser's Accept-Language decides")


class PasswordChange(BaseModel):
    """Body of POST /api/auth/password."""

    current_password: str
    new_password: str


class UserPublic(BaseModel):
    """A user as the API shows it (never the password hash)."""

    username: str
    role: str
    role_label: str
    unit: str | None
    display_name: str | None
    active: bool
    email: str | None = None
    locale: str | None = Field(None, description="the user's UI language; null: the browser's")


class SessionStarted(UserPublic):
    """A browser login: the user, and the CSRF token the page's scripts send back in the
    X-CSRF-Token header (also set as a cookie; the session cookie is HttpOnly)."""

    csrf_token: str


class TokenPublic(BaseModel):
    """A token's metadata (the secret and its hash are never shown)."""

    id: int
    username: str
    name: str | None
    kind: str
    current: bool
    created_at: str
    expires_at: str | None


class TokenRevoked(TokenPublic):
    """A revoked token's metadata and a message."""

    detail: str


class UnitPublic(BaseModel):
    """A sponsor unit (包保单位), community or sub-district."""

    name: str
    kind: str
    parent: str | None


class AccessToken(BaseModel):
    """An OAuth2 bearer token (password flow) and its lifetime in seconds."""

    access_token: str
    token_type: str
    expires_in: int


class ApiTokenCreated(BaseModel):
    """A new long-lived API token: shown this once (only its hash is kept)."""

    name: str
    username: str
    token: str


class Message(BaseModel):
    """What was done, in English and Chinese."""

    detail: str


class AuditEntry(BaseModel):
    """One audit log row: who did what to which object, and the change."""

    id: int
    at: str
    actor: str
    action: str
    object_type: str
    object_id: str | None
    diff: Any
