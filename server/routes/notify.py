"""Notifications: the caller's in-app list (the bell), and for admins the webhooks and the
delivery log of e-mails and webhook calls (geo.notify)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from geo.i18n import translate
from geo.notify import webhooks
from geo.notify.events import EVENT_LABELS
from geo.notify.texts import localize
from server.auth import Admin, CurrentUser
from server.deps import Id, StoreDep
from server.locale import request_locale
from server.paging import page_links
from server.params import Page, PageDep
from server.schemas.notify import (
    DeliveryPage,
    DeliveryPublic,
    NotificationPage,
    NotificationPublic,
    NotificationsRead,
    WebhookCreate,
    WebhookCreated,
    WebhookDeleted,
    WebhookPublic,
)

router = APIRouter(tags=["notifications"])
UnreadQuery = Annotated[bool | None, Query(
    description="true: only unread notices; false: only read ones (default: all)")]
StateQuery = Annotated[Literal["pending", "sent", "failed"] | None, Query(
    description="only deliveries in this state (default: all)")]


def _fields(row: dict[str, Any], model: type[BaseModel], **extra: Any) -> dict[str, Any]:
    """The fields of a store row that a response model shows."""
    return {**{k: row.get(k) for k in model.model_fields}, **extra}


def _notice(row: dict[str, Any], locale: str) -> dict[str, Any]:
    """A notice as its reader sees it: its text and event in the reader's language."""
    return _fields(row, NotificationPublic, message=localize(row["message"], locale),
                   event_label=translate(EVENT_LABELS.get(row["event"], ""), locale))


def _next(request: Request, page: Page, matched: int) -> str | None:
    links = page_links(request, page, matched, "application/json")
    return next((link.href for link in links if link.rel == "next"), None)


@router.get("/api/notifications", response_model=NotificationPage)
def list_notifications(user: CurrentUser, store: StoreDep, request: Request, page: PageDep,
                       unread: UnreadQuery = None) -> dict[str, Any]:
    """The caller's own notices, newest first, a page at a time, with how many are unread."""
    matched = store.notification_count(user.username, unread)
    rows = (store.notifications(user.username, unread, page.limit, page.offset)
            if page.offset < matched else [])
    return {"numberMatched": matched, "numberReturned": len(rows),
            "unread": store.notification_count(user.username, True),
            "items": [_notice(r, request_locale(request)) for r in rows],
            "next": _next(request, page, matched)}


@router.post("/api/notifications/read-all", response_model=NotificationsRead)
def read_all(user: CurrentUser, store: StoreDep) -> dict[str, Any]:
    """Mark every unread notice of the caller read."""
    marked = store.read_all_notifications(user.username, datetime.now())
    return {"marked": marked, "unread": store.notification_count(user.username, True)}


@router.post("/api/notifications/{notification_id}/read", response_model=NotificationPublic)
def read_one(notification_id: Id, user: CurrentUser, store: StoreDep,
             request: Request) -> dict[str, Any]:
    """Mark one of the caller's notices read (404 for anyone else's)."""
    return _notice(store.read_notification(notification_id, user.username, datetime.now()),
                   request_locale(request))


@router.get("/api/webhooks", response_model=list[WebhookPublic])
def list_webhooks(_: Admin, store: StoreDep) -> list[dict[str, Any]]:
    """The active webhooks (never their secrets)."""
    return [_fields(w, WebhookPublic) for w in store.webhooks()]


@router.post("/api/webhooks", status_code=201, response_model=WebhookCreated)
def create_webhook(body: WebhookCreate, admin: Admin, store: StoreDep) -> dict[str, Any]:
    """Register a webhook for some events (default all); the secret is shown this once."""
    new = webhooks.create_webhook(store, body.url, body.events, body.secret, admin)
    row = next(w for w in store.webhooks() if w["id"] == new.id)
    return _fields(row, WebhookCreated)


@router.delete("/api/webhooks/{webhook_id}", response_model=WebhookDeleted)
def delete_webhook(webhook_id: Id, admin: Admin, store: StoreDep) -> dict[str, Any]:
    """Remove a webhook: it receives nothing more, its delivery log stays and its pending
    deliveries fail."""
    return {"id": webhook_id,
            "pending_failed": webhooks.delete_webhook(store, webhook_id, admin)}


@router.get("/api/deliveries", response_model=DeliveryPage)
def list_deliveries(_: Admin, store: StoreDep, request: Request, page: PageDep,
                    state: StateQuery = None) -> dict[str, Any]:
    """The delivery log of e-mails and webhook calls, newest first, a page at a time (ccmap's
    own reasons for a failure in the caller's language)."""
    matched = store.delivery_count(state)
    rows = store.deliveries(state, page.limit, page.offset) if page.offset < matched else []
    locale = request_locale(request)
    return {"numberMatched": matched, "numberReturned": len(rows),
            "items": [_fields(r, DeliveryPublic, last_error=translate(r["last_error"], locale)
                              if r["last_error"] else None) for r in rows],
            "next": _next(request, page, matched)}


@router.post("/api/deliveries/{delivery_id}/retry", response_model=DeliveryPublic)
def retry_delivery(delivery_id: Id, admin: Admin, store: StoreDep) -> dict[str, Any]:
    """Send a failed delivery again (a fresh series of attempts); 409 for one already sent."""
    return _fields(store.retry_delivery(delivery_id, datetime.now(), admin.actor),
                   DeliveryPublic)
