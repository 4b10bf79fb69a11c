"""The events of a case that are notified, who is told, and `emit`, which writes it all.

Recipients (in-app, and by e-mail when the user has an address):
* dispatched (派遣), due_soon (即将到期), overdue (超期), rework (返工): the active users of the
  issue's unit (role unit) — the people who must act;
* extension_decided (延期审批): the applicant and the users of the issue's unit.
The user whose action caused the event is not told of it. Admins, inspectors and planners get
no per-case notices: the centre follows overdue and rework cases in the ledger, the dashboard
and the indicators, and an integration (a 12345 hotline platform, a messaging bot) subscribes
with a webhook, which receives every event it chose, whatever the unit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from geo.i18n import DEFAULT, translate, translator
from geo.model.errors import InvalidInput
from geo.model.kinds import issue_categories
from geo.model.lifecycle import statuses
from geo.model.records import Issue
from geo.model.users import User
from geo.notify.texts import NO_UNIT, UNSET, compose, localize
from geo.store import AccountStore, NotificationStore, Transactions

EVENTS = ("dispatched", "due_soon", "overdue", "rework", "extension_decided")
EVENT_LABELS = {"dispatched": "派遣", "due_soon": "即将到期", "overdue": "超期", "rework": "返工",
                "extension_decided": "延期审批"}
SYSTEM_ACTOR = "system:notify"  # the actor of the deadline scan's notices
SUBJECT = "【创城点位地图】{event}：问题 #{id}"  # an e-mail's subject
# the fields of an issue a webhook receives
ISSUE_FIELDS = ("id", "category", "status", "urgency", "unit", "community", "address",
                "description", "lon", "lat", "reported_at", "deadline", "dispatched_at",
                "rework_count", "extension_count")


class NoticeStore(Transactions, AccountStore, NotificationStore, Protocol):
    """What notifying asks of storage: users, the notices and deliveries, one transaction."""


@dataclass(frozen=True)
class Emitted:
    """What an emit wrote: in-app notices and queued deliveries (e-mail and webhook)."""

    notifications: int
    deliveries: int


def emit(store: NoticeStore, event: str, issue: Issue, actor: str, *,
         now: datetime | None = None, **details: Any) -> Emitted:
    """Notify an event of one issue inside the caller's transaction (a rollback takes the
    notices with it): the in-app notices of its recipients and their pending e-mails and
    webhook calls, sent later by geo.notify.delivery (no network here).

    details by event: dispatched and rework: note (the transition's note); due_soon: hours
    (the working hours ahead); extension_decided: decision ("approved" | "rejected"),
    applicant (the applicant's username or actor, "user:NAME"), new_deadline, note."""
    return emit_many(store, event, [issue], actor, now=now, **details)


def emit_many(store: NoticeStore, event: str, issues: Sequence[Issue], actor: str, *,
              now: datetime | None = None, **details: Any) -> Emitted:
    """emit for several issues at once, with the same details (the deadline scan's batches):
    one query for their recipients, one insert of notices, one of deliveries."""
    if event not in EVENTS:
        raise InvalidInput(f"未知的通知事件 {event!r}；可选事件：{', '.join(EVENTS)}")
    at = now or datetime.now()
    issues = [i for i in issues if i.id is not None]
    if not issues:
        return Emitted(0, 0)
    with store.transaction():
        people = _recipients(store, event, issues, actor, details)
        hooks = [w for w in store.webhooks() if event in (w["events"] or ())]
        notes: list[dict[str, Any]] = []
        sends: list[dict[str, Any]] = []
        for issue in issues:
            text = message(event, issue, details)
            queued = {"event": event, "issue_id": issue.id, "created_at": at,
                      "next_attempt_at": at}
            for user in people[issue.id]:
                notes.append({"username": user.username, "at": at, "event": event,
                              "issue_id": issue.id, "message": text})
                if user.email:
                    sends.append({**queued, "channel": "email", "target": user.email,
                                  "webhook_id": None,
                                  "payload": email_payload(event, issue, user, text)})
            body = webhook_payload(event, issue, actor, at, text, details) if hooks else {}
            sends += [{**queued, "channel": "webhook", "target": w["url"],
                       "webhook_id": w["id"], "payload": body} for w in hooks]
        store.add_notifications(notes)
        store.add_deliveries(sends)
    return Emitted(len(notes), len(sends))


def _recipients(store: NoticeStore, event: str, issues: Sequence[Issue], actor: str,
                details: dict[str, Any]) -> dict[int | None, list[User]]:
    """Per issue id, who is told (see the module's rules), each user once, never the actor."""
    staff: dict[str | None, list[User]] = defaultdict(list)
    for user in store.unit_users(sorted({i.unit for i in issues if i.unit})):
        staff[user.unit].append(user)
    extra: list[User] = []
    if event == "extension_decided" and details.get("applicant"):
        applicant = store.user(str(details["applicant"]).removeprefix("user:"))
        if applicant is not None and applicant.active:
            extra.append(applicant)
    out: dict[int | None, list[User]] = {}
    for issue in issues:
        seen: dict[str, User] = {}
        for user in [*extra, *(staff[issue.unit] if issue.unit else [])]:
            if user.actor != actor:
                seen.setdefault(user.username, user)
        out[issue.id] = list(seen.values())
    return out


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if isinstance(moment, datetime) else UNSET


def message(event: str, issue: Issue, details: dict[str, Any]) -> str:
    """The notice's text (Chinese), as the in-app list, the e-mail and the webhook show it
    (geo.notify.texts shows it in the reader's language)."""
    label = issue_categories().get(issue.category, {}).get("label", issue.category)
    head = {"id": issue.id, "category": label, "address": issue.address}
    note = str(details.get("note") or "").strip()
    deadline = _when(issue.deadline)
    if event == "dispatched":
        return compose(event, head, note, unit=issue.unit or NO_UNIT, deadline=deadline)
    if event == "due_soon":
        hours = details.get("hours")
        if isinstance(hours, int | float):
            return compose("due_soon_hours", head, note, deadline=deadline, hours=f"{hours:g}")
        return compose(event, head, note, deadline=deadline)
    if event == "overdue":
        return compose(event, head, note, deadline=deadline)
    if event == "rework":
        if issue.rework_count:
            return compose("rework_count", head, note, count=issue.rework_count)
        return compose(event, head, note)
    if details.get("decision") == "approved":
        new = details.get("new_deadline") or issue.deadline
        return compose("approved", head, note, deadline=_when(new))
    return compose("rejected", head, note, deadline=deadline)


def email_payload(event: str, issue: Issue, user: User, text: str) -> dict[str, Any]:
    """What an e-mail delivery sends: subject and plain-text body (to the delivery's
    target), in the recipient's language (users.locale; Chinese when unset)."""
    locale = user.locale or DEFAULT
    _ = translator(locale)
    label = issue_categories().get(issue.category, {}).get("label", issue.category)
    status = statuses().get(issue.status, issue.status)
    lines = [(user.display_name or user.username) + _("："), "",
             localize(text, locale), "",
             _("类别：{value}", value=translate(label, locale)),
             _("状态：{value}", value=translate(status, locale)),
             _("地址：{value}", value=issue.address or "—"),
             _("责任单位：{value}", value=issue.unit or "—"),
             _("处置期限：{value}", value=translate(_when(issue.deadline), locale)), "",
             _("此邮件由创城点位地图自动发送，请勿直接回复。")]
    return {"username": user.username,
            "subject": _(SUBJECT, event=translate(EVENT_LABELS[event], locale), id=issue.id),
            "body": "\n".join(lines)}


def webhook_payload(event: str, issue: Issue, actor: str, at: datetime, text: str,
                    details: dict[str, Any]) -> dict[str, Any]:
    """The JSON a webhook receives (the sender adds the delivery's id)."""
    fields = {k: _jsonable(getattr(issue, k)) for k in ISSUE_FIELDS}
    fields["category_label"] = issue_categories().get(issue.category, {}).get("label")
    return {"event": event, "event_label": EVENT_LABELS[event], "at": at.isoformat(),
            "actor": actor, "message": text, "issue": fields,
            "details": {k: _jsonable(v) for k, v in details.items()}}


def _jsonable(value: Any) -> Any:
    """A value as JSON holds it: times as ISO text, anything unknown as its text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)
