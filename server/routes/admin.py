"""Administration: users, units, API tokens and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from geo.accounts.logins import check_username, choose_password
from geo.accounts.units import register_zone_units, unregistered_units
from geo.exports.tables import audit_lines, csv_lines
from geo.model.errors import InvalidInput, NotFound
from geo.model.users import Unit, User, check_email, new_secret, parse_role
from server.auth import Admin, Auditor, Reader, password_policy
from server.deps import SettingsDep, StoreDep
from server.downloads import MEDIA, attachment
from server.locale import request_locale
from server.paging import link_headers, paged_download_responses
from server.params import (
    LimitQuery,
    OffsetQuery,
    SinceQuery,
    UntilQuery,
    checked_page,
    format_query,
)
from server.routes.auth import token_public, user_public
from server.schemas.accounts import (
    ApiTokenCreated,
    AuditEntry,
    TokenCreate,
    TokenPublic,
    UnitCreate,
    UnitPublic,
    UnitsRegister,
    UnitsRegistered,
    UnregisteredUnit,
    UserCreate,
    UserPublic,
    UserUpdate,
)

AUDIT_CSV = "attachment; filename=audit.csv"
router = APIRouter(tags=["admin"])


def _check_unit(store: StoreDep, role: str, unit: str | None) -> None:
    if role == "unit" and not unit:
        raise InvalidInput("包保单位用户必须指定单位")
    if unit and unit not in {u.name for u in store.units()}:
        raise InvalidInput(f"未知的单位 {unit!r}：请先创建（POST /api/units）")


@router.get("/api/users", response_model=list[UserPublic])
def list_users(_: Admin, store: StoreDep) -> list[dict[str, Any]]:
    """Every user."""
    return [user_public(u) for u in store.users()]


@router.post("/api/users", status_code=201, response_model=UserPublic)
def create_user(body: UserCreate, admin: Admin, store: StoreDep,
                settings: SettingsDep) -> dict[str, Any]:
    """Create a user (the username and password must pass the policies)."""
    role = parse_role(body.role)
    _check_unit(store, role.value, body.unit)
    username = check_username(body.username.strip())
    user = User(username, role, unit=body.unit, display_name=body.display_name,
                password_hash=choose_password(body.password, username, password_policy(settings),
                                              (body.display_name,)),
                email=check_email(body.email))
    store.add_user(user, actor=admin.actor)
    return user_public(user)


# {username:path}: names made before the username rule (e.g. "a/b") can still be managed
@router.patch("/api/users/{username:path}", response_model=UserPublic)
def update_user(username: str, body: UserUpdate, admin: Admin, store: StoreDep,
                settings: SettingsDep) -> dict[str, Any]:
    """Change a user's role, unit, name, active flag or password (409 for the last admin)."""
    existing = store.user(username)
    if existing is None:
        raise NotFound(f"用户 {username!r} 不存在")
    changes: dict[str, Any] = body.model_dump(exclude_none=True, exclude={"password"})
    if "role" in changes:
        changes["role"] = parse_role(changes["role"]).value
    if "email" in changes:
        changes["email"] = check_email(changes["email"])
    _check_unit(store, changes.get("role", existing.role.value),
                changes.get("unit", existing.unit))
    if body.password is not None:
        changes["password_hash"] = choose_password(
            body.password, username, password_policy(settings),
            (changes.get("display_name", existing.display_name),))
    user = store.update_user(username, changes, actor=admin.actor)
    if body.active is False or body.password is not None:
        assert user.id is not None
        store.revoke_tokens(user_id=user.id)
    if body.password is not None:  # an admin's reset also lifts a login lock
        store.clear_attempts("login", username)
    return user_public(user)


@router.get("/api/users/{username:path}/tokens", response_model=list[TokenPublic])
def user_tokens(username: str, _: Admin, store: StoreDep) -> list[dict[str, Any]]:
    """A user's live sessions, access and API tokens (metadata only); revoke one with
    DELETE /api/auth/tokens/{id}."""
    user = store.user(username)
    if user is None or user.id is None:
        raise NotFound(f"用户 {username!r} 不存在")
    return [token_public(t) for t in store.tokens(user.id, datetime.now())]


@router.get("/api/units", response_model=list[UnitPublic])
def list_units(_: Reader, store: StoreDep) -> list[dict[str, Any]]:
    """Every unit, community and sub-district."""
    return [{"name": u.name, "kind": u.kind, "parent": u.parent} for u in store.units()]


@router.post("/api/units", status_code=201, response_model=UnitPublic)
def create_unit(body: UnitCreate, admin: Admin, store: StoreDep) -> dict[str, Any]:
    """Create a unit (kind unit, community or subdistrict)."""
    if body.kind not in ("unit", "community", "subdistrict"):
        raise InvalidInput("单位类型须为 unit、community 或 subdistrict")
    if not body.name.strip():
        raise InvalidInput("单位名称不能为空")
    store.add_unit(Unit(body.name.strip(), body.kind, body.parent), actor=admin.actor)
    return body.model_dump()


@router.get("/api/units/unregistered", response_model=list[UnregisteredUnit])
def units_unregistered(_: Admin, store: StoreDep) -> list[dict[str, object]]:
    """The units the zones name (their `unit`) that are not registered, most zones first: a
    unit's own users can only be made for a registered unit."""
    return unregistered_units(store)


@router.post("/api/units/register", response_model=UnitsRegistered)
def units_register(body: UnitsRegister, admin: Admin, store: StoreDep) -> dict[str, Any]:
    """Register units the zones name as 包保单位 (`names`, or every one not registered), in one
    transaction, each audited; 400 with nothing written for a name that is not one of them."""
    return {"registered": register_zone_units(store, body.names, admin.actor)}


@router.post("/api/tokens", status_code=201, response_model=ApiTokenCreated)
def create_api_token(body: TokenCreate, admin: Admin, store: StoreDep) -> dict[str, Any]:
    """A long-lived API token for an integration (shown once; only its hash is kept)."""
    owner = store.user(body.username) if body.username else admin
    if owner is None or owner.id is None:
        raise NotFound(f"用户 {body.username!r} 不存在")
    token, digest = new_secret()
    store.add_token(owner.id, digest, "api", None, name=body.name)
    store.record_audit(admin.actor, "create", "api_token", body.name,
                       {"owner": owner.username})
    return {"name": body.name, "username": owner.username, "token": token}


@router.get("/api/audit", response_model=None,
            responses=paged_download_responses("json", "csv", model=list[AuditEntry]))
def audit_log(
    _: Auditor,
    store: StoreDep,
    settings: SettingsDep,
    request: Request,
    actor: str | None = None,
    object_type: str | None = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    limit: LimitQuery = None,
    offset: OffsetQuery = 0,
    format: Annotated[str, format_query("json", "csv")] = "json",
) -> list[dict[str, Any]] | Response:
    """The audit log, newest first: JSON one page at a time (X-Total-Count, and a Link header
    with rel="next" while more remain), or CSV (Chinese headers) of every matching row unless
    a limit is given."""
    if format == "csv" and limit is None:  # every matching row, streamed a batch at a time
        return StreamingResponse(
            csv_lines(audit_lines(store.audit_batches(actor, object_type, since, until, offset)),
                      request_locale(request)),
            media_type=MEDIA["csv"], headers={"Content-Disposition": AUDIT_CSV})
    page = checked_page(settings, limit, offset)
    rows = store.audit_log(actor, object_type, since, until, page.limit, page.offset)
    if format == "json":
        matched = store.audit_count(actor, object_type, since, until)
        return JSONResponse([{**r, "at": r["at"].isoformat(timespec="seconds")} for r in rows],
                            headers=link_headers(request, page, matched))
    return attachment("".join(csv_lines(audit_lines([rows]), request_locale(request))),
                      "audit.csv")
