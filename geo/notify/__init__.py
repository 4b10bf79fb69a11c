"""Notifications (通知): who is told of what happens to a case, and how it reaches them.

`events.emit(store, event, issue, actor, **details)` is the one entry point: called inside the
caller's transaction when a case is dispatched (派遣), comes back for rework (返工), has an
extension decided (延期审批), or — from the deadline scan (`deadlines.scan_deadlines`) — is
due within N working hours or overdue (超期). It writes each recipient's in-app notice and
queues an e-mail (users with an address) and a webhook call (each active webhook subscribed to
the event) as pending deliveries; it never touches the network. `delivery.send_due` sends what
is due — e-mail over SMTP, webhooks as JSON POSTs signed with HMAC-SHA256 — and retries with
exponential back-off until a delivery is sent or, after the last attempt, failed.
`background.BackgroundLoop` runs both in a thread of the server process; `webhooks` checks what an
admin registers.
"""
