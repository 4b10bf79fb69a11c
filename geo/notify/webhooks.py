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
        raise InvalidInput(f"webhook 地址须为 1 至 {MAX_URL} 个可打印字符，不能含空格")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise InvalidInput(f"webhook 地址 {text[:100]!r} 无效：{exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"webhook 地址须为带主机名的 http:// 或 https:// 地址，"
                           f"不能是 {text[:100]!r}")
    if parts.username or parts.password:
        raise InvalidInput("webhook 地址不能包含用户名或密码：接收方应以密钥生成的 "
                           "X-Ccmap-Signature 签名核验来源")
    return text


def check_events(events: Sequence[str] | None) -> list[str]:
    """The events subscribed to, in EVENTS order (None: all of them); InvalidInput for an
    unknown one or none."""
    if events is None:
        return list(EVENTS)
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise InvalidInput(f"未知的事件 {', '.join(unknown)}；可选事件：{', '.join(EVENTS)}")
    if not events:
        raise InvalidInput("webhook 至少须订阅一个事件")
    return [e for e in EVENTS if e in events]


def create_webhook(store: NoticeStore, url: str, events: Sequence[str] | None,
                   secret: str | None, user: User, now: datetime | None = None) -> NewWebhook:
    """Register a webhook (admins only); a secret is generated when none is given."""
    require(user, "users:admin")
    checked_url, checked_events = check_url(url), check_events(events)
    if secret is not None and (len(secret) < MIN_SECRET or len(secret) > 200
                               or not secret.isprintable()):
        raise InvalidInput(f"webhook 密钥须为 {MIN_SECRET} 至 200 个可打印字符"
                           "（也可不填，由系统生成）")
    key = secret or secrets.token_urlsafe(32)
    wid = store.add_webhook(checked_url, key, checked_events, user.actor, now or datetime.now())
    return NewWebhook(wid, checked_url, checked_events, key)


def delete_webhook(store: NoticeStore, webhook_id: int, user: User,
                   now: datetime | None = None) -> int:
    """Remove a webhook (admins only): it receives nothing more, its log stays, and its pending
    deliveries fail; how many did."""
    require(user, "users:admin")
    return store.delete_webhook(webhook_id, user.actor, now or datetime.now())
