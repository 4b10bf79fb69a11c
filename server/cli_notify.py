"""`ccmap notify send|scan`: what the server's background loop does, once (for cron, for a
server run with CCMAP_NOTIFY_SEND_SECONDS=0, or to catch up by hand)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from typing import Any

from geo.model.errors import CcmapError
from geo.model.timestamps import to_local
from geo.store import Store


def _moment(text: str) -> datetime:
    try:
        return to_local(datetime.fromisoformat(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO time: {text!r}") from exc
    except CcmapError as exc:
        raise argparse.ArgumentTypeError(exc.message) from exc


def _send(args: argparse.Namespace, store: Store) -> tuple[dict[str, Any], str]:
    """Send the e-mails and webhook calls that are due, once."""
    from server.notifier import send
    from server.settings import load_settings

    report = send(store, load_settings(), args.now).as_dict()
    return report, ("deliveries: " + ", ".join(f"{k} {v}" for k, v in report.items())
                    + f"; pending {store.delivery_count('pending')}, "
                    f"failed {store.delivery_count('failed')} in all")


def _scan(args: argparse.Namespace, store: Store) -> tuple[dict[str, Any], str]:
    """Notify the cases due soon or overdue that have not been notified yet."""
    from server.notifier import scan
    from server.settings import load_settings

    counts = scan(store, load_settings(), args.now, notify=not args.record_only)
    verb = "recorded without notifying" if args.record_only else "notified"
    return counts, f"{verb}: overdue {counts['overdue']}, due soon {counts['due_soon']}"


def add_notify_commands(sub: Any, db: Callable[[argparse.ArgumentParser], None],
                        run: Callable[[Callable[..., tuple[dict[str, Any], str]]],
                                      Callable[[argparse.Namespace], int]]) -> None:
    """Register `ccmap notify …` under the top-level subparsers."""
    notify = sub.add_parser("notify", help="notifications: send due e-mails and webhooks, "
                            "scan deadlines").add_subparsers(dest="command", required=True)
    for name, fn, text in (
            ("send", _send, "send the e-mails and webhook calls that are due, once"),
            ("scan", _scan, "notify the cases due within CCMAP_NOTIFY_DUE_SOON_HOURS working "
                            "hours or overdue, once each per deadline")):
        sp = notify.add_parser(name, help=text)
        sp.add_argument("--now", type=_moment, metavar="ISO",
                        help="act as of this time (default: the clock)")
        if name == "scan":
            sp.add_argument("--record-only", action="store_true",
                            help="record the cases as notified without telling anyone (once, "
                                 "before switching notifications on over an old ledger)")
        db(sp)
        sp.set_defaults(func=run(fn))
