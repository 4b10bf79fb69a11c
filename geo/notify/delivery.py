"""Sending what emit queued: e-mail over SMTP and webhooks as signed JSON POSTs, with retries.

`send_due` takes the pending deliveries whose next attempt is due (store.claim_deliveries:
several senders at once never take the same one), tries each once and records the attempt:
sent (sent_at), or — while attempts remain — pending again after an exponential back-off
(retry_minutes × 2^(attempt-1): 1, 2, 4, 8, 16 minutes by default), else failed with the last
error; an admin can send a failed one again (store.retry_delivery). A receiver that is down
loses nothing: its deliveries wait, and fail visibly after the last attempt.

A webhook POST carries the JSON body with the delivery's id and the headers X-Ccmap-Event,
X-Ccmap-Delivery and X-Ccmap-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes with
the webhook's secret>. Any 2xx answer is success; redirects are not followed (a 3xx is an
error). Without an SMTP host, e-mails stay pending until one is configured.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from geo.store import NotificationStore

log = logging.getLogger("ccmap.notify")
SIGNATURE_HEADER = "X-Ccmap-Signature"
USER_AGENT = "ccmap-webhook/1"


@dataclass(frozen=True)
class SmtpConfig:
    """The SMTP server e-mails go through (no host: e-mail is off, e-mails wait)."""

    host: str = ""
    port: int = 25
    user: str = ""
    password: str = ""
    sender: str = "ccmap@localhost"
    starttls: bool = False
    timeout: float = 10.0

    @property
    def enabled(self) -> bool:
        """Whether e-mails are sent."""
        return bool(self.host)


@dataclass(frozen=True)
class DeliveryPolicy:
    """Retries and limits of sending."""

    max_attempts: int = 6  # then the delivery is failed
    retry_minutes: float = 1.0  # the first back-off; it doubles after each failed attempt
    timeout: float = 10.0  # seconds a webhook receiver has to answer
    lease_minutes: float = 5.0  # a sender holds what it claimed this long at most
    batch: int = 100  # deliveries claimed per round


@dataclass
class SendReport:
    """What one send_due did: deliveries sent, to be retried, and failed for good."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts by name."""
        return asdict(self)

    def add(self, other: SendReport) -> None:
        """Add another round's counts to these."""
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed

    @property
    def total(self) -> int:
        """Deliveries attempted."""
        return self.sent + self.retrying + self.failed

    def count(self, state: str) -> None:
        """Count one delivery that ended an attempt in state (pending: to be retried)."""
        if state == "sent":
            self.sent += 1
        elif state == "failed":
            self.failed += 1
        else:
            self.retrying += 1


class DeliveryError(Exception):
    """An attempt that did not deliver; permanent: retrying cannot help."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def backoff(attempts: int, policy: DeliveryPolicy) -> timedelta:
    """How long to wait after the attempts-th failed attempt."""
    return timedelta(minutes=policy.retry_minutes * 2 ** max(attempts - 1, 0))


def signature(secret: str, body: bytes) -> str:
    """The X-Ccmap-Signature of a body: sha256=<hex HMAC-SHA256 with the secret>."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def webhook_body(delivery: dict[str, Any]) -> bytes:
    """The exact bytes POSTed (and signed): the payload with the delivery's id, UTF-8 JSON."""
    doc = {"delivery_id": delivery["id"], **(delivery["payload"] or {})}
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=str).encode("utf-8")


def send_due(store: NotificationStore, now: datetime | None = None,
             smtp: SmtpConfig | None = None, policy: DeliveryPolicy | None = None,
             limit: int | None = None) -> SendReport:
    """Send the deliveries due at now (default: the clock) once each, at most limit (default
    policy.batch); record every attempt. Runs off the event loop: it waits on the network."""
    smtp, policy = smtp or SmtpConfig(), policy or DeliveryPolicy()
    at = now or datetime.now()
    claimed = store.claim_deliveries(at, at + timedelta(minutes=policy.lease_minutes),
                                     pending_channels(smtp), limit or policy.batch)
    hooks = ({w["id"]: w for w in store.webhooks(active_only=False)}
             if any(d["channel"] == "webhook" for d in claimed) else {})
    report = SendReport()
    for delivery in claimed:
        error = attempt(delivery, hooks, smtp, policy)
        report.count(_record(store, delivery, error, now or datetime.now(), policy))
    return report


def send_all_due(store: NotificationStore, now: datetime | None = None,
                 smtp: SmtpConfig | None = None, policy: DeliveryPolicy | None = None,
                 rounds: int = 100) -> SendReport:
    """send_due a batch at a time until a round finds less than a full batch due (a backlog,
    after a receiver was down or a first deadline scan, drains at once), at most rounds."""
    policy = policy or DeliveryPolicy()
    report = SendReport()
    for _ in range(rounds):
        done = send_due(store, now, smtp, policy)
        report.add(done)
        if done.total < policy.batch:
            break
    return report


def attempt(delivery: dict[str, Any], hooks: dict[int, dict[str, Any]], smtp: SmtpConfig,
            policy: DeliveryPolicy) -> DeliveryError | None:
    """Try one delivery once; None when it was delivered, else why not."""
    try:
        if delivery["channel"] == "email":
            send_email(delivery, smtp)
        elif delivery["channel"] == "webhook":
            post_webhook(delivery, hooks.get(delivery["webhook_id"]), policy.timeout)
        else:
            return DeliveryError(f"unknown channel {delivery['channel']!r}", permanent=True)
    except DeliveryError as exc:
        return exc
    except Exception as exc:  # a bug must not stop the other deliveries; the log has it
        log.exception("delivery %s", delivery["id"])
        return DeliveryError(f"{type(exc).__name__}: {exc}")
    return None


def _record(store: NotificationStore, delivery: dict[str, Any], error: DeliveryError | None,
            at: datetime, policy: DeliveryPolicy) -> str:
    """Store the outcome of an attempt; the delivery's new state."""
    attempts = int(delivery["attempts"]) + 1
    changes: dict[str, Any] = {"attempts": attempts}
    if error is None:
        changes.update(state="sent", sent_at=at, next_attempt_at=None, last_error=None)
    elif error.permanent or attempts >= policy.max_attempts:
        changes.update(state="failed", next_attempt_at=None, last_error=str(error)[:2000])
    else:
        changes.update(state="pending", next_attempt_at=at + backoff(attempts, policy),
                       last_error=str(error)[:2000])
    store.finish_delivery(delivery["id"], changes)
    if error is not None:
        log.warning("delivery %s (%s to %s), attempt %s: %s", delivery["id"],
                    delivery["channel"], delivery["target"], attempts, error)
    return str(changes["state"])


def send_email(delivery: dict[str, Any], smtp: SmtpConfig) -> None:
    """Send an e-mail delivery through the SMTP server (STARTTLS and login if configured)."""
    payload = delivery["payload"] or {}
    msg = EmailMessage()
    msg["From"] = smtp.sender
    msg["To"] = delivery["target"]
    msg["Subject"] = payload.get("subject", "")
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid("ccmap")
    msg["X-Ccmap-Delivery"] = str(delivery["id"])
    msg.set_content(payload.get("body", ""))
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as server:
            if smtp.starttls:
                server.starttls(context=ssl.create_default_context())
            if smtp.user:
                server.login(smtp.user, smtp.password)
            server.send_message(msg)
    except (smtplib.SMTPException, OSError, ValueError) as exc:
        raise DeliveryError(f"SMTP {smtp.host}:{smtp.port}: {exc}") from exc


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx answer is an error: the signed POST goes to the registered URL only."""

    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def post_webhook(delivery: dict[str, Any], hook: dict[str, Any] | None,
                 timeout: float) -> None:
    """POST a webhook delivery's signed JSON; DeliveryError unless the answer is 2xx."""
    if hook is None or not hook["active"]:
        raise DeliveryError("webhook 已删除 (the webhook was deleted)", permanent=True)
    url = str(delivery["target"])
    if not url.startswith(("http://", "https://")):
        raise DeliveryError(f"not an http(s) URL: {url!r}", permanent=True)
    body = webhook_body(delivery)
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
        "X-Ccmap-Event": str(delivery["event"]), "X-Ccmap-Delivery": str(delivery["id"]),
        SIGNATURE_HEADER: signature(str(hook["secret"]), body)})
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            answer.read(1024)
    except urllib.error.HTTPError as exc:
        text = exc.read(300).decode("utf-8", "replace") if exc.fp else ""
        raise DeliveryError(f"HTTP {exc.code} {exc.reason}: {text}".strip()) from exc
    except urllib.error.URLError as exc:
        raise DeliveryError(f"{url}: {exc.reason}") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryError(f"{url}: {type(exc).__name__}: {exc}") from exc


def pending_channels(smtp: SmtpConfig) -> Sequence[str]:
    """The channels send_due sends on with this SMTP configuration."""
    return ("webhook", "email") if smtp.enabled else ("webhook",)
