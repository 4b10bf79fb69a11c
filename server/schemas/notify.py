"""Request and response bodies of the notification routes: the in-app list, webhooks and the
delivery log."""

from __future__ import annotations

from pydantic import BaseModel, Field

from server.schemas.common import LocalTimeText


class NotificationPublic(BaseModel):
    """One in-app notice of the caller."""

    id: int
    at: LocalTimeText
    event: str = Field(description="dispatched | due_soon | overdue | rework | "
                                   "extension_decided")
    event_label: str
    issue_id: int | None
    message: str
    read_at: LocalTimeText | None


class NotificationPage(BaseModel):
    """A page of the caller's notices, newest first: numberMatched counts every notice of the
    filter, `unread` every unread one; follow `next` while it is set."""

    numberMatched: int
    numberReturned: int
    unread: int
    items: list[NotificationPublic]
    next: str | None = Field(description="the next page's URL, or null on the last page")


class NotificationsRead(BaseModel):
    """POST /api/notifications/read-all: how many notices were marked read."""

    marked: int
    unread: int


class WebhookCreate(BaseModel):
    """Body of POST /api/webhooks."""

    url: str = Field(max_length=2000, description="http:// or https:// URL that receives "
                     "the JSON POSTs")
    events: list[str] | None = Field(None, description="events to send (default: all): "
                                     "dispatched, due_soon, overdue, rework, "
                                     "extension_decided")
    secret: str | None = Field(None, max_length=200, description="the HMAC-SHA256 key "
                               "(16-200 characters); generated when left out")


class WebhookPublic(BaseModel):
    """A registered webhook (its secret is shown only when it is created)."""

    id: int
    url: str
    events: list[str]
    active: bool
    created_by: str
    created_at: LocalTimeText


class WebhookCreated(WebhookPublic):
    """A new webhook with its secret, shown this once: the receiver checks
    X-Ccmap-Signature: sha256=<hex HMAC-SHA256 of the body> with it."""

    secret: str


class WebhookDeleted(BaseModel):
    """A removed webhook: it receives nothing more; its pending deliveries failed."""

    id: int
    pending_failed: int


class DeliveryPublic(BaseModel):
    """One e-mail or webhook send and its attempts."""

    id: int
    channel: str = Field(description="email | webhook")
    target: str = Field(description="the e-mail address or the webhook URL")
    event: str
    webhook_id: int | None
    issue_id: int | None
    state: str = Field(description="pending | sent | failed")
    attempts: int
    created_at: LocalTimeText
    next_attempt_at: LocalTimeText | None
    sent_at: LocalTimeText | None
    last_error: str | None


class DeliveryPage(BaseModel):
    """A page of the delivery log, newest first; follow `next` while it is set."""

    numberMatched: int
    numberReturned: int
    items: list[DeliveryPublic]
    next: str | None = Field(description="the next page's URL, or null on the last page")

