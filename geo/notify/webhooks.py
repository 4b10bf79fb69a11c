"""Webhooks an admin registers: checked here (an http(s) URL, known events, a long enough
secret), kept by the store (audited without the secret)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from geo.model.errors import InvalidInput
from geo.model.users import User, require
from geo.notify.events import EVENTS, NoticeStore

MIN_SECRET = 16  # characters of a secret given by the admin
MAX_URL = 2000


@dataclass(frozen=True)
class NewWebhook:
    """A registered webhook: its id, and its secret (shown this once)."""

    id: int
    url: str
    events: list[str]
    secret: str


def check_url(url: str) -> str:
    """A webhook URL as stored, or InvalidInput: http(s), a host, no credentials or spaces."""
    text = url.strip()
    if not text or len(text) > MAX_URL or any(ch.isspace() or not ch.isprintable()
                                              for ch in text):
        raise InvalidInput(f"webhook URL must be 1 to {MAX_URL} printable characters without "
                           "spaces")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise InvalidInput(f"webhook URL {text[:100]!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"webhook URL must be http:// or https:// with a host, not "
                           f"{text[:100]!r} (地址须为 http(s))")
    if parts.username or parts.password:
        raise InvalidInput("webhook URL must not hold a user name or password: the receiver "
                           "checks the X-Ccmap-Signature made with the secret instead")
    return text


def check_events(events: Sequence[str] | None) -> list[str]:
    """The events subscribed to, in EVENTS order (None: all of them); InvalidInput for an
    unknown one or none."""
    if events is None:
        return list(EVENTS)
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise InvalidInput(f"unknown events {', '.join(unknown)}; events: {', '.join(EVENTS)}")
    if not events:
        raise InvalidInput("a webhook needs at least one event")
    return [e for e in EVENTS if e in events]


def create_webhook(store: NoticeStore, url: str, events: Sequence[str] | None,
                   secret: str | None, user: User, now: datetime | None = None) -> NewWebhook:
    """Register a webhook (admins only); a secret is generated when none is given."""
    require(user, "users:admin")
    checked_url, checked_events = check_url(url), check_events(events)
    if secret is not None and (len(secret) < MIN_SECRET or len(secret) > 200
                               or not secret.isprintable()):
        raise InvalidInput(f"a webhook secret must be {MIN_SECRET} to 200 printable "
                           "characters (or left out: one is generated)")
    key = secret or secrets.token_urlsafe(32)
    wid = store.add_webhook(checked_url, key, checked_events, user.actor, now or datetime.now())
    return NewWebhook(wid, checked_url, checked_events, key)


def delete_webhook(store: NoticeStore, webhook_id: int, user: User,
                   now: datetime | None = None) -> int:
    """Remove a webhook (admins only): it receives nothing more, its log stays, and its pending
    deliveries fail; how many did."""
    require(user, "users:admin")
    return store.delete_webhook(webhook_id, user.actor, now or datetime.now())
