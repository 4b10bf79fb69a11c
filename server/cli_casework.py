"""`ccmap calendar …`: the office's own days off and workdays (local holidays, and the years
the holiday package does not know yet), and deadlines in working time."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from geo.model.errors import InvalidInput
from geo.store import Store

Command = Callable[[argparse.Namespace, Store], tuple[dict[str, Any], str]]


def _lines(rows: list[dict[str, Any]]) -> str:
    return "\n".join(["id\tstart\tend\tkind\tnote"] + [
        f"{r['id']}\t{r['start_date']}\t{r['end_date']}\t{r['kind']}\t{r['note']}"
        for r in rows])


def cmd_list(args: argparse.Namespace, store: Store) -> tuple[dict[str, Any], str]:
    """The office's calendar entries (of one year with --year), by start date."""
    from geo.calendar.office import day_public

    span = (date(args.year, 1, 1), date(args.year, 12, 31)) if args.year else (None, None)
    rows = [day_public(r) for r in store.calendar_days(*span)]
    return {"days": rows}, _lines(rows) if rows else "no calendar entries"


def cmd_add(args: argparse.Namespace, store: Store) -> tuple[dict[str, Any], str]:
    """Add one entry: START [END] are days off (--kind off) or workdays (--kind work)."""
    from geo.calendar.office import add_calendar_days

    ids = add_calendar_days(store, [{"start_date": args.start, "end_date": args.end,
                                     "kind": args.kind, "note": args.note}], args.actor)
    return {"ids": ids}, f"added calendar entry {ids[0]}"


def cmd_import(args: argparse.Namespace, store: Store) -> tuple[dict[str, Any], str]:
    """Add every entry of a CSV file (start_date,end_date,kind,note), all or none."""
    from geo.calendar.office import add_calendar_days, read_days_csv

    rows = read_days_csv(Path(args.file).read_bytes())
    ids = add_calendar_days(store, rows, args.actor)
    return {"ids": ids, "count": len(ids)}, f"imported {len(ids)} calendar entries"


def cmd_delete(args: argparse.Namespace, store: Store) -> tuple[dict[str, Any], str]:
    """Delete one entry by id."""
    from geo.calendar.office import day_public

    old = day_public(store.delete_calendar_day(args.id, args.actor))
    return old, f"deleted calendar entry {args.id} ({old['start_date']}..{old['end_date']})"


def cmd_deadline(args: argparse.Namespace, store: Store) -> tuple[dict[str, Any], str]:
    """START plus AMOUNT UNIT in the office's working time (as GET /api/calendar/deadline)."""
    from geo.calendar.office import deadline_answer, office_calendar
    from server.settings import load_settings

    try:
        start = datetime.fromisoformat(args.start)
    except ValueError:
        raise InvalidInput(f"start {args.start!r} is not an ISO 8601 time") from None
    hours = load_settings().office_hours
    doc = deadline_answer(office_calendar(store, hours), start, args.amount, args.unit, hours)
    return doc, "\n".join([doc["deadline"], *doc["warnings"]])


def add_calendar_commands(sub: Any, db: Callable[[argparse.ArgumentParser], None],
                          with_store: Callable[[Command], Callable[[argparse.Namespace], int]]
                          ) -> None:
    """`ccmap calendar list|add|import|delete|deadline`."""
    cal = sub.add_parser("calendar", help="the office's days off and workdays (工作日历)"
                         ).add_subparsers(dest="command", required=True)
    sp = cal.add_parser("list", help="the office's calendar entries")
    sp.add_argument("--year", type=int)
    db(sp)
    sp.set_defaults(func=with_store(cmd_list))
    sp = cal.add_parser("add", help="days off (--kind off) or workdays (--kind work)")
    sp.add_argument("start", help="first day, YYYY-MM-DD")
    sp.add_argument("end", nargs="?", help="last day (default: the first)")
    sp.add_argument("--kind", required=True, choices=["off", "work"])
    sp.add_argument("--note", default="")
    db(sp)
    sp.set_defaults(func=with_store(cmd_add))
    sp = cal.add_parser("import", help="a CSV of entries (start_date,end_date,kind,note), "
                        "all or none")
    sp.add_argument("file")
    db(sp)
    sp.set_defaults(func=with_store(cmd_import))
    sp = cal.add_parser("delete", help="delete an entry by id")
    sp.add_argument("id", type=int)
    db(sp)
    sp.set_defaults(func=with_store(cmd_delete))
    sp = cal.add_parser("deadline", help="START + AMOUNT UNIT in working time")
    sp.add_argument("start", help="ISO 8601 (Beijing time unless it has an offset)")
    sp.add_argument("amount", type=float)
    sp.add_argument("unit", choices=["working_hours", "working_days", "hours", "days"])
    db(sp)
    sp.set_defaults(func=with_store(cmd_deadline))
