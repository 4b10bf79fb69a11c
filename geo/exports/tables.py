"""Tabular exports (CSV with BOM for Excel, and .xlsx) with Chinese headers."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from openpyxl import Workbook

from geo.model.kinds import issue_categories, sources
from geo.model.lifecycle import is_overdue, statuses
from geo.model.records import Issue

ISSUE_HEADERS = ["编号", "外部编号", "问题类型", "状态", "问题描述", "地址", "经度", "纬度",
                 "上报时间", "整改时限", "结案时间", "来源", "上报人", "责任单位", "责任区编号",
                 "路长", "是否超期", "回潮自"]


def issue_rows(issues: Sequence[Issue], now: datetime | None = None) -> list[list[Any]]:
    """The ledger as rows under ISSUE_HEADERS (labels in Chinese), header first."""
    now = now or datetime.now()
    cats, sts, srcs = issue_categories(), statuses(), sources()

    def when(value: datetime | None) -> str:
        return value.strftime("%Y-%m-%d %H:%M") if value else ""

    rows: list[list[Any]] = [list(ISSUE_HEADERS)]
    for i in issues:
        rows.append([i.id, i.external_id or "", cats.get(i.category, {}).get("label", i.category),
                     sts.get(i.status, i.status), i.description, i.address, i.lon, i.lat,
                     when(i.reported_at), when(i.deadline), when(i.closed_at),
                     srcs.get(i.source, i.source), i.reporter, i.unit or "", i.zone_id or "",
                     i.cadre or "", "是" if is_overdue(i.status, i.deadline, now) else "否",
                     i.recurring_of or ""])
    return rows


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A cell a spreadsheet will not run: text starting with = + - @ tab or CR gets a leading
    apostrophe (OWASP CSV injection); numbers, dates and everything else stay as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def table_bytes(rows: list[list[Any]], fmt: str) -> tuple[bytes, str]:
    """Rows (header first) as CSV or xlsx bytes, with the media type; text cells through
    safe_cell, so user text cannot become a formula in Excel/WPS."""
    rows = [[safe_cell(v) for v in row] for row in rows]
    if fmt == "csv":
        out = io.StringIO()
        csv.writer(out).writerows(rows)
        return ("\ufeff" + out.getvalue()).encode("utf-8"), "text/csv; charset=utf-8"
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("问题台账")
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
