"""The office's working time: its calendar (office hours from the settings, the days of the
holiday package and of its own table) and its time limits (the table over the defaults), and
the writes that change them — each checked whole, then written in one transaction, audited.

office_calendar is called on every request that computes a deadline: it costs one small query
(the calendar's stamp) while nobody changes the table; a process builds the calendar again
when the stamp moves, so every worker sees another worker's write.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol

from geo.calendar.limits import (
    URGENCIES,
    TimeLimit,
    check_limit,
    check_urgency,
    default_limit,
)
from geo.calendar.worktime import (
    DEFAULT_OFFICE_HOURS,
    PACKAGE_YEARS,
    UNIT_LABELS,
    LocalDays,
    WorkCalendar,
    parse_office_hours,
    to_beijing,
)
from geo.model.errors import ImportRejected, InvalidInput, RowProblem
from geo.model.kinds import issue_categories
from geo.model.timestamps import MAX_YEAR, MIN_YEAR
from geo.store import CalendarStore, Transactions

KINDS = {"off": "休息日", "work": "工作日"}
# what a CSV may write in its kind column
KIND_WORDS = {"off": "off", "休": "off", "休息": "off", "放假": "off", "假": "off",
              "work": "work", "班": "work", "上班": "work", "补班": "work"}
CSV_COLUMNS = {"start_date": ("start_date", "start", "开始日期", "日期"),
               "end_date": ("end_date", "end", "结束日期"),
               "kind": ("kind", "类型"), "note": ("note", "说明", "备注")}
MAX_ENTRIES = 5000  # entries in one request or file
MAX_NOTE = 200
_CACHE: dict[tuple[tuple[int, int], str], WorkCalendar] = {}
_CACHE_LOCK = threading.Lock()


class OfficeStore(CalendarStore, Transactions, Protocol):
    """What the calendar's writes need: its tables, and a transaction with a lock."""


def office_calendar(store: CalendarStore, office_hours: str = DEFAULT_OFFICE_HOURS
                    ) -> WorkCalendar:
    """The WorkCalendar in force: office_hours ('08:30-12:00,13:30-17:30') and the calendar
    table, built again only when the table (or database) changed since the last call.
    Never call it inside a transaction that writes calendar days (it would keep them)."""
    key = (store.calendar_stamp(), office_hours)
    found = _CACHE.get(key)
    if found is None:
        days = [LocalDays(r["start_date"], r["end_date"], r["kind"], r["note"], r["id"])
                for r in store.calendar_days()]
        found = WorkCalendar(parse_office_hours(office_hours), days)
        with _CACHE_LOCK:
            if len(_CACHE) >= 16:
                _CACHE.clear()
            _CACHE[key] = found
    return found


def deadline_answer(calendar: WorkCalendar, start: datetime, amount: float, unit: str,
                    office_hours: str) -> dict[str, Any]:
    """start (converted to Beijing time) plus amount of unit in this calendar, with warnings
    for a year whose holidays nobody has entered."""
    start = to_beijing(start)
    if not MIN_YEAR <= start.year <= MAX_YEAR:
        raise InvalidInput(f"起算时间 {start:%Y-%m-%d} 不在 {MIN_YEAR}–{MAX_YEAR} 年之间")
    deadline = calendar.add(start, amount, unit)
    return {"start": start.isoformat(timespec="seconds"),
            "deadline": deadline.isoformat(timespec="seconds"),
            "amount": amount, "unit": unit, "unit_label": UNIT_LABELS[unit],
            "office_hours": office_hours, "warnings": calendar.warnings(start, deadline),
            "package_years": list(PACKAGE_YEARS)}


# --- time limits ---------------------------------------------------------------------------
def time_limit(store: CalendarStore, category: str, urgency: str = "normal") -> TimeLimit:
    """The limit in force for a category and urgency: the office's, else the default."""
    own = store.time_limit(category, check_urgency(urgency))
    if own is not None:
        return TimeLimit(float(own["amount"]), str(own["unit"]))
    return default_limit(category, urgency)


def limits_table(store: CalendarStore) -> list[dict[str, Any]]:
    """Every category's limit for each urgency: the one in force, the default, and whether
    the office set its own."""
    own = {(r["category"], r["urgency"]): TimeLimit(float(r["amount"]), str(r["unit"]))
           for r in store.time_limits()}
    rows = []
    for code, cat in issue_categories().items():
        for urgency, label in URGENCIES.items():
            default = default_limit(code, urgency)
            limit = own.get((code, urgency), default)
            rows.append({"category": code, "category_label": cat["label"],
                         "urgency": urgency, "urgency_label": label, **limit.as_dict(),
                         "default": default.as_dict(), "office": (code, urgency) in own})
    return rows


def set_time_limits(store: CalendarStore, entries: Sequence[Mapping[str, Any]],
                    actor: str) -> None:
    """Set the office's limits ({category, urgency, amount, unit}; amount None: back to the
    default) all or none: InvalidInput for any bad or repeated entry, nothing written."""
    if not entries:
        raise InvalidInput("未提供任何时限")
    checked: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for e in entries:
        key = (str(e["category"]), str(e["urgency"]))
        if key in seen:
            raise InvalidInput(f"类别 {key[0]}（{key[1]}）的时限重复提交")
        seen.add(key)
        if e.get("amount") is None:
            check_urgency(key[1])
            default_limit(*key)  # an unknown category is refused here too
            checked.append({"category": key[0], "urgency": key[1], "amount": None,
                            "unit": None})
            continue
        limit = check_limit(key[0], key[1], float(e["amount"]), str(e.get("unit")))
        checked.append({"category": key[0], "urgency": key[1], "amount": limit.amount,
                        "unit": limit.unit})
    store.set_time_limits(checked, actor)


# --- calendar days -------------------------------------------------------------------------
def _day(value: Any, what: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value or "").strip().replace("/", "-")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{what} {value!r} 不是有效日期（格式如 2027-01-01）") from None


def check_entry(raw: Mapping[str, Any]) -> dict[str, Any]:
    """An entry {start_date, end_date (default: start_date), kind off|work, note} as dates;
    InvalidInput saying what is wrong."""
    start = _day(raw.get("start_date"), "start_date")
    end = _day(raw.get("end_date"), "end_date") if raw.get("end_date") else start
    kind = KIND_WORDS.get(str(raw.get("kind") or "").strip().lower())
    if kind is None:
        raise InvalidInput(f"类型须为 off（休息日）或 work（调休上班），不是 {raw.get('kind')!r}")
    if end < start:
        raise InvalidInput(f"{start} 至 {end}：结束日期早于开始日期")
    if (end - start).days > 366:
        raise InvalidInput(f"{start} 至 {end}：时间跨度超过一年")
    note = str(raw.get("note") or "").strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"说明超过 {MAX_NOTE} 个字符")
    return {"start_date": start, "end_date": end, "kind": kind, "note": note}


def _overlaps(new: Sequence[tuple[int, dict[str, Any]]], existing: Iterable[dict[str, Any]]
              ) -> list[RowProblem]:
    """A problem for each new entry that overlaps another new one or a stored one."""
    spans = [(0, f"已有条目 #{r['id']}（{r['start_date']} 至 {r['end_date']}）",
              r["start_date"], r["end_date"]) for r in existing]
    spans += [(n, f"本次第 {n} 条（{e['start_date']} 至 {e['end_date']}）", e["start_date"],
               e["end_date"]) for n, e in new]
    problems = []
    for n, e in new:  # n counts from 1: 0 marks a stored entry
        clash = [name for entry, name, a, b in spans
                 if entry != n and a <= e["end_date"] and e["start_date"] <= b]
        if clash:
            problems.append(RowProblem(n, f"日期重叠：{e['start_date']} 至 {e['end_date']} 与"
                                          f"{'、'.join(clash)}", "start_date"))
    return problems


def add_calendar_days(store: OfficeStore, rows: Sequence[Mapping[str, Any]],
                      actor: str) -> list[int]:
    """Add entries, all or none: every bad entry and every overlap (with each other or with
    a stored entry) is reported in one ImportRejected (HTTP 422), and nothing is written."""
    if not rows:
        raise InvalidInput("未提供任何日历条目")
    if len(rows) > MAX_ENTRIES:
        raise InvalidInput(f"一次提交的日历条目超过 {MAX_ENTRIES} 条")
    problems: list[RowProblem] = []
    good: list[tuple[int, dict[str, Any]]] = []
    for n, raw in enumerate(rows, start=1):
        try:
            good.append((n, check_entry(raw)))
        except InvalidInput as exc:
            problems.append(RowProblem(n, exc.message))
    with store.transaction():
        store.lock("calendar_days")  # two offices' clerks: the second sees the first's
        if good:
            existing = store.calendar_days(since=min(e["start_date"] for _, e in good),
                                           until=max(e["end_date"] for _, e in good))
            problems += _overlaps(good, existing)
        if problems:
            problems.sort(key=lambda p: p.row)
            listed = "；".join(f"第 {p.row} 条：{p.reason}" for p in problems[:5])
            raise ImportRejected(f"{len({p.row for p in problems})} 条日历条目有误，"
                                 f"未写入任何条目：{listed}", problems)
        return store.add_calendar_days([e for _, e in good], actor)


def read_days_csv(data: bytes) -> list[dict[str, Any]]:
    """The entries of a CSV file (UTF-8, with or without BOM): columns start_date, end_date,
    kind, note (or 开始日期, 结束日期, 类型, 说明); rows as written (checked when added)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("日历文件须为 UTF-8 编码的文本（CSV）") from None
    reader = csv.DictReader(io.StringIO(text))
    header = {(h or "").strip().lower(): h for h in reader.fieldnames or []}
    columns = {}
    for field, names in CSV_COLUMNS.items():
        found = next((header[n] for n in names if n in header), None)
        if found is not None:
            columns[field] = found
    missing = [f for f in ("start_date", "kind") if f not in columns]
    if missing:
        raise InvalidInput(f"日历文件缺少列：{', '.join(missing)}"
                           "（应有 start_date、end_date、kind、note 列）")
    return [{f: (row.get(col) or "").strip() for f, col in columns.items()}
            for row in reader if any((v or "").strip() for v in row.values())]


def day_public(row: Mapping[str, Any]) -> dict[str, Any]:
    """A calendar entry as the API and CLI show it."""
    return {"id": row["id"], "start_date": row["start_date"].isoformat(),
            "end_date": row["end_date"].isoformat(), "kind": row["kind"],
            "kind_label": KINDS.get(row["kind"], row["kind"]), "note": row["note"],
            "created_by": row["created_by"],
            "created_at": row["created_at"].isoformat(timespec="seconds")}

