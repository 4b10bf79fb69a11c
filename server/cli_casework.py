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
        raise InvalidInput(f"开始时间 {args.start!r} 不是 ISO 8601 格式的时间") from None
    hours = load_settings().office_hours
    doc = deadline_answer(office_calendar(store, hours), start, args.amount, args.unit, hours)
    return doc, "\n".join([doc["deadline"], *doc["warnings"]])


Argument = tuple[str, dict[str, Any]]
# `ccmap calendar` subcommands: name, help, what it runs, its arguments (and --db, --json)
CALENDAR_COMMANDS: list[tuple[str, str, Command, list[Argument]]] = [
    ("list", "the office's calendar entries", cmd_list, [("--year", {"type": int})]),
    ("add", "days off (--kind off) or workdays (--kind work)", cmd_add, [
        ("start", {"help": "first day, YYYY-MM-DD"}),
        ("end", {"nargs": "?", "help": "last day (default: the first)"}),
        ("--kind", {"required": True, "choices": ["off", "work"]}),
        ("--note", {"default": ""})]),
    ("import", "a CSV of entries (start_date,end_date,kind,note), all or none", cmd_import,
     [("file", {})]),
    ("delete", "delete an entry by id", cmd_delete, [("id", {"type": int})]),
    ("deadline", "START + AMOUNT UNIT in working time", cmd_deadline, [
        ("start", {"help": "ISO 8601 (Beijing time unless it has an offset)"}),
        ("amount", {"type": float}),
        ("unit", {"choices": ["working_hours", "working_days", "hours", "days"]})]),
]


def add_calendar_commands(sub: Any, db: Callable[[argparse.ArgumentParser], None],
                          with_store: Callable[[Command], Callable[[argparse.Namespace], int]]
                          ) -> None:
    """`ccmap calendar list|add|import|delete|deadline`."""
    cal = sub.add_parser("calendar", help="the office's days off and workdays (工作日历)"
                         ).add_subparsers(dest="command", required=True)
    for name, help_text, fn, arguments in CALENDAR_COMMANDS:
        sp = cal.add_parser(name, help=help_text)
        for flag, options in arguments:
            sp.add_argument(flag, **options)
        db(sp)
        sp.set_defaults(func=with_store(fn))
