"""Tabular exports (CSV with BOM for Excel, and .xlsx) with Chinese headers, or English ones
(geo.i18n): the header row and the sheet's name are translated where a table is written."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, BinaryIO

from openpyxl import Workbook

from geo.i18n import DEFAULT, translate
from geo.model.kinds import issue_categories, sources
from geo.model.lifecycle import is_overdue, statuses
from geo.model.records import Issue

ISSUE_HEADERS = ["编号", "外部编号", "问题类型", "状态", "问题描述", "地址", "经度", "纬度",
                 "上报时间", "整改时限", "结案时间", "来源", "上报人", "责任单位", "责任区编号",
                 "路长", "是否超期", "回潮自"]


def issue_rows(issues: Iterable[Issue], now: datetime | None = None,
               locale: str = DEFAULT) -> list[list[Any]]:
    """The ledger as rows under ISSUE_HEADERS (labels in locale), header first."""
    return [list(ISSUE_HEADERS), *issue_lines(issues, now, locale)]


def issue_lines(issues: Iterable[Issue], now: datetime | None = None,
                locale: str = DEFAULT) -> Iterator[list[Any]]:
    """The ledger's rows under ISSUE_HEADERS, one per issue, as the issues come (category,
    status, source and overdue in locale)."""
    now = now or datetime.now()

    def _(text: str) -> str:
        return translate(text, locale)

    cats = {c: _(r["label"]) for c, r in issue_categories().items()}
    sts = {c: _(label) for c, label in statuses().items()}
    srcs = {c: _(label) for c, label in sources().items()}
    yes, no = _("是"), _("否")

    def when(value: datetime | None) -> str:
        return value.strftime("%Y-%m-%d %H:%M") if value else ""

    for i in issues:
        yield [i.id, i.external_id or "", cats.get(i.category, i.category),
               sts.get(i.status, i.status), i.description, i.address, i.lon, i.lat,
               when(i.reported_at), when(i.deadline), when(i.closed_at),
               srcs.get(i.source, i.source), i.reporter, i.unit or "", i.zone_id or "",
               i.cadre or "", yes if is_overdue(i.status, i.deadline, now, i.paused_at) else no,
               i.recurring_of or ""]


MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A cell a spreadsheet will not run: text starting with = + - @ tab or CR gets a leading
    apostrophe (OWASP CSV injection); numbers, dates and everything else stay as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def headed(rows: Iterable[list[Any]], locale: str) -> Iterator[list[Any]]:
    """The rows as they come, the first (the header, written in Chinese) in locale."""
    first = True
    for row in rows:
        yield [translate(v, locale) if isinstance(v, str) else v for v in row] if first else row
        first = False


def table_bytes(rows: Iterable[list[Any]], fmt: str, locale: str = DEFAULT
                ) -> tuple[bytes, str]:
    """Rows (header first) as CSV or xlsx bytes, with the media type; text cells through
    safe_cell, so user text cannot become a formula in Excel/WPS; the header in locale."""
    buf = io.BytesIO()
    write_table(buf, rows, fmt, locale)
    return buf.getvalue(), MEDIA_TYPES[fmt]


def write_table(out: BinaryIO, rows: Iterable[list[Any]], fmt: str,
                locale: str = DEFAULT) -> None:
    """Write rows (header first, in locale) as CSV (UTF-8 with BOM) or xlsx to out as they
    come, cells through safe_cell: a ledger of any size in constant memory (openpyxl's
    write-only mode keeps its rows in a temporary file)."""
    safe = ([safe_cell(v) for v in row] for row in headed(rows, locale))
    if fmt == "csv":
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        text.write("\ufeff")
        csv.writer(text).writerows(safe)
        text.detach()
        return
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(translate("问题台账", locale))
    for row in safe:
        ws.append(row)
    wb.save(out)


def csv_lines(rows: Iterable[list[Any]], locale: str = DEFAULT) -> Iterator[str]:
    """Rows (header first, in locale) as CSV text for Excel, line by line (the BOM first,
    cells through safe_cell): what a streamed download sends."""
    line = io.StringIO()
    writer = csv.writer(line)
    yield "\ufeff"
    for row in headed(rows, locale):
        writer.writerow([safe_cell(v) for v in row])
        yield line.getvalue()
        line.seek(0)
        line.truncate()


AUDIT_HEADERS = ["编号", "时间", "操作人", "操作", "对象类型", "对象", "变更内容"]


def audit_lines(batches: Iterable[list[dict[str, Any]]]) -> Iterator[list[Any]]:
    """Audit rows (store.audit_batches) under AUDIT_HEADERS, header first."""
    yield list(AUDIT_HEADERS)
    for rows in batches:
        for r in rows:
            yield [r["id"], r["at"].isoformat(timespec="seconds"), r["actor"], r["action"],
                   r["object_type"], r["object_id"] or "", r["diff"]]
