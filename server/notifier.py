"""The notifications of a server process and the CLI: settings → geo.notify's configuration,
and the background loop that `create_app`'s lifespan starts (server/app.py)."""

from __future__ import annotations

from datetime import datetime

from geo.calendar.office import office_calendar
from geo.calendar.worktime import WorkCalendar
from geo.notify.background import BackgroundLoop, Task
from geo.notify.deadlines import scan_deadlines
from geo.notify.delivery import DeliveryPolicy, SendReport, SmtpConfig, send_all_due
from geo.store import Store
from server.settings import Settings


def smtp_config(settings: Settings) -> SmtpConfig:
    """The SMTP server of CCMAP_SMTP_* (no host: e-mail off)."""
    return SmtpConfig(host=settings.smtp_host, port=settings.smtp_port, user=settings.smtp_user,
                      password=settings.smtp_password, sender=settings.smtp_from,
                      starttls=settings.smtp_starttls, timeout=settings.notify_timeout_seconds)


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    """Retries and timeouts of CCMAP_NOTIFY_*."""
    return DeliveryPolicy(max_attempts=settings.notify_max_attempts,
                          retry_minutes=settings.notify_retry_minutes,
                          timeout=settings.notify_timeout_seconds)


def work_calendar(store: Store, settings: Settings) -> WorkCalendar:
    """The office's working-time calendar the deadline scan counts in: CCMAP_OFFICE_HOURS,
    the holiday package's days and the office's own (geo.calendar.office)."""
    return office_calendar(store, settings.office_hours)


def send(store: Store, settings: Settings, now: datetime | None = None) -> SendReport:
    """Send the e-mails and webhook calls due at now, each once (a batch at a time)."""
    return send_all_due(store, now, smtp_config(settings), delivery_policy(settings))


def scan(store: Store, settings: Settings, now: datetime | None = None,
         notify: bool = True) -> dict[str, int]:
    """Notify the cases due soon or overdue at now that have not been yet (notify False: only
    record them as notified)."""
    return scan_deadlines(store, now, work_calendar(store, settings),
                          settings.notify_due_soon_hours, notify=notify)


def start_notifier(store: Store, settings: Settings) -> BackgroundLoop | None:
    """Start this process's background loop (None when CCMAP_NOTIFY_SEND_SECONDS is 0)."""
    if not settings.notify_send_seconds:
        return None
    loop = BackgroundLoop([Task("deadline scan", settings.notify_scan_minutes * 60,
                            lambda: scan(store, settings)),
                       Task("send", 0.0, lambda: send(store, settings))],
                      tick=settings.notify_send_seconds)
    loop.start()
    return loop
