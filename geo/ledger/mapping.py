"""Bulk import of issue ledgers (CSV or .xlsx) with column, category and status mapping.

Columns are mapped onto our fields (external_id, category, description, lon, lat, address,
reported_at, closed_at, status, source, reporter) by ``field_map`` or by the usual English and
Chinese names. Category names are mapped by a JSON object (foreign name → code); names that are
neither mapped nor our own codes or Chinese labels go to ``other`` and are counted in
``unmapped_categories``. Row numbers are spreadsheet line numbers (the header is line 1).
Rows with errors are reported and left out; the good rows are written in one transaction.
Rows whose external_id is already stored are skipped, so re-importing a file is idempotent.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.layers.userfiles import (
    CSV,
    TABLE_FORMATS,
    FileLimits,
    TableChunks,
    check_path,
    file_format,
    read_csv_file,
    read_xlsx_file,
    table_chunks,
    user_name,
)
from geo.model.errors import InvalidInput, RowProblem
from geo.model.kinds import issue_categories, sources
from geo.model.lifecycle import statuses
from geo.model.records import Issue

FIELDS = ("external_id", "category", "description", "lon", "lat", "address", "reported_at",
          "closed_at", "status", "source", "reporter")
ALIASES: dict[str, tuple[str, ...]] = {
    "external_id": ("external_id", "id", "编号", "案件编号", "工单号"),
    "category": ("category", "问题类型", "类别", "问题类别"),
    "description": ("description", "描述", "问题描述", "内容"),
    "lon": ("lon", "lng", "longitude", "经度", "x"),
    "lat": ("lat", "latitude", "纬度", "y"),
    "address": ("address", "地址", "位置"),
    "reported_at": ("reported_at", "上报时间", "发现时间", "created"),
    "closed_at": ("closed_at", "结案时间", "closed"),
    "status": ("status", "状态"),
    "source": ("source", "来源", "问题来源"),
    "reporter": ("reporter", "上报人", "发现人"),
}
FALLBACK_CATEGORY = "other"
DEFAULT_SOURCE = "public_report"  # a hotline export's channels (Call, App...) are public reports
# foreign status words (lower case) → our status
STATUS_WORDS = {
    "open": "reported", "new": "reported", "pending": "reported", "submitted": "reported",
    "accepted": "accepted", "assigned": "dispatched", "in progress": "dispatched",
    "dispatched": "dispatched", "resolved": "handled", "handled": "handled",
    "verified": "verified", "closed": "closed", "completed": "closed", "done": "closed",
    "cancelled": "rejected", "canceled": "rejected", "rejected": "rejected",
    "returned": "returned", "deferred": "deferred", "referred out": "rejected",
    "forwarded": "rejected", "待处理": "reported", "处理中": "dispatched",
    "已办结": "closed", "已结案": "closed",
}
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d",
                "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%m/%d/%y %H:%M",
                "%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M:%S %p", "%d.%m.%Y %H:%M", "%d.%m.%Y",
                "%Y年%m月%d日 %H:%M", "%Y年%m月%d日")


@dataclass
class IssueImport:
    """Parsed rows ready to write, and the report."""

    issues: list[Issue] = field(default_factory=list)
    errors: list[RowProblem] = field(default_factory=list)
    skipped: int = 0
    unmapped_categories: dict[str, int] = field(default_factory=dict)
    date_formats: dict[str, str] = field(default_factory=dict)

    def report(self, imported: int) -> dict[str, Any]:
        """The JSON report of an import."""
        return {"imported": imported, "skipped": self.skipped,
                "errors": len({e.row for e in self.errors}),
                "row_errors": [e.as_dict() for e in self.errors],
                "unmapped_categories": self.unmapped_categories,
                "fallback_category": FALLBACK_CATEGORY, "date_formats": self.date_formats}


def load_category_map(path: Path | None) -> dict[str, str]:
    """Read a --category-map JSON file (foreign name → category code) and check its codes."""
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"无法读取类别对照表 {path}：{exc}") from None
    return load_category_map_data(text)


def load_category_map_data(text: str | None) -> dict[str, str]:
    """Parse a category map JSON object (foreign name → category code) and check its codes."""
    if not text:
        return {}
    try:
        mapping = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"类别对照表不是有效的 JSON：{exc}") from None
    if not isinstance(mapping, dict):
        raise InvalidInput("类别对照表须为 JSON 对象 {\"外部名称\": \"类别代码\"}")
    bad = sorted({v for v in mapping.values() if v not in issue_categories()})
    if bad:
        raise InvalidInput(f"类别对照表含未知的类别代码：{', '.join(map(str, bad))}")
    return {str(k): str(v) for k, v in mapping.items()}


def read_table(data: bytes, filename: str, limits: FileLimits | None = None) -> pd.DataFrame:
    """A CSV (UTF-8 or GB18030) or .xlsx sheet as a DataFrame of strings."""
    with tempfile.TemporaryDirectory(prefix="ccmap-table-") as tmp:
        path = Path(tmp) / "upload.bin"  # the format comes from filename, not this name
        path.write_bytes(data)
        return read_table_file(path, filename, limits)


def read_table_file(path: Path, filename: str,
                    limits: FileLimits | None = None) -> pd.DataFrame:
    """read_table for a file on disk; `filename` (the user's name for it) picks the reader."""
    name = user_name(filename)
    fmt = file_format(filename, TABLE_FORMATS, ".csv 或 .xlsx")
    check_path(path, name)
    limits = limits or FileLimits()
    reader = read_csv_file if fmt == CSV else read_xlsx_file
    return reader(path, name, limits).fillna("")


def open_table(path: Path, filename: str, limits: FileLimits | None = None,
               chunk_rows: int = 50_000) -> TableChunks:
    """A checked CSV/xlsx on disk (`filename`, the user's name for it, picks the reader),
    counted and ready to read `chunk_rows` rows at a time."""
    name = user_name(filename)
    fmt = file_format(filename, TABLE_FORMATS, ".csv 或 .xlsx")
    check_path(path, name)
    return table_chunks(path, name, fmt, limits or FileLimits(), chunk_rows)


@dataclass
class ParseState:
    """What the parse of one chunk of a file hands the next: the date formats found in the
    first rows, the external ids seen so far and the unmapped category names counted."""

    date_formats: dict[str, str] = field(default_factory=dict)
    seen_ids: set[str] = field(default_factory=set)
    unmapped: Counter[str] = field(default_factory=Counter)


ROW_COLUMNS = ("row", "category", "lon", "lat", "status", "description", "address",
               "reported_at", "deadline", "closed_at", "source", "reporter", "external_id")


def parse_issues(frame: pd.DataFrame, field_map: dict[str, str] | None = None,
                 category_map: dict[str, str] | None = None,
                 date_format: str | None = None,
                 progress: Callable[[int, int], None] | None = None) -> IssueImport:
    """Map and validate every row (vectorized); rows with errors are reported, not returned.

    progress(rows done, rows in all) is called every few thousand rows."""
    good, result = parse_frame(frame, field_map, category_map, date_format)
    n = len(frame)
    row: Any
    for k, row in enumerate(good.itertuples(index=False)):
        if progress is not None and k % 5000 == 0:
            progress(int(k), n)
        result.issues.append(Issue(
            category=row.category, lon=float(row.lon), lat=float(row.lat), status=row.status,
            description=row.description, address=row.address,
            reported_at=row.reported_at.to_pydatetime(), deadline=row.deadline.to_pydatetime(),
            closed_at=None if pd.isna(row.closed_at) else row.closed_at.to_pydatetime(),
            source=row.source, reporter=row.reporter,
            external_id=row.external_id if isinstance(row.external_id, str) else None))
    return result


def parse_frame(frame: pd.DataFrame, field_map: dict[str, str] | None = None,
                category_map: dict[str, str] | None = None, date_format: str | None = None,
                first_row: int = 2, state: ParseState | None = None
                ) -> tuple[pd.DataFrame, IssueImport]:
    """Map and validate the rows of a table (or of one chunk of it: its first row is
    `first_row`, and `state` carries what earlier chunks found); the good rows as columns
    (ROW_COLUMNS: deadlines set, external_id None where empty) and the report so far."""
    state = state if state is not None else ParseState()
    columns = _columns(frame, field_map or {})
    n = len(frame)
    result = IssueImport()
    rows = np.arange(n) + first_row
    bad = np.zeros(n, dtype=bool)

    def col(name: str) -> pd.Series:
        return frame[columns[name]].astype(str).str.strip() if name in columns else \
            pd.Series([""] * n, index=frame.index)

    def fail(mask: np.ndarray, column: str | None, reason: str) -> None:
        for r in rows[mask & ~bad]:
            result.errors.append(RowProblem(int(r), reason, column))
        bad[mask] = True

    lon = pd.to_numeric(col("lon"), errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(col("lat"), errors="coerce").to_numpy(dtype=float)
    fail(np.isnan(lon) | np.isnan(lat), columns.get("lon"), "坐标缺失或不是数字")
    fail((np.abs(lon) > 180) | (np.abs(lat) > 90), columns.get("lon"),
         "坐标超出范围（经度 -180 至 180，纬度 -90 至 90）")

    cats = _map_categories(col("category"), category_map or {}, result)
    state.unmapped.update(result.unmapped_categories)
    result.unmapped_categories = dict(state.unmapped.most_common())
    raw_status = col("status")
    status = _map_statuses(raw_status)
    fail(status.isna().to_numpy() & (raw_status != "").to_numpy(), columns.get("status"),
         "状态无法识别（请使用本系统的状态代码、中文名称或 Open、Closed、Pending 等）")
    status = status.fillna("reported")

    dates = {}
    for name in ("reported_at", "closed_at"):
        raw = col(name)
        given = date_format or state.date_formats.get(name)
        dates[name] = _dates(raw, given, name, result)
        state.date_formats.update(result.date_formats)
        fail(dates[name].isna().to_numpy() & (raw != "").to_numpy(), columns.get(name),
             "日期无法识别")
    result.date_formats = dict(state.date_formats)

    known_sources = sources()
    labels = {v: k for k, v in known_sources.items()}
    source = col("source").map(
        lambda s: s if s in known_sources else labels.get(s, DEFAULT_SOURCE))

    ext = col("external_id")
    given_id = (ext != "").to_numpy()
    seen_ids = state.seen_ids
    seen = np.fromiter((e in seen_ids for e in ext.tolist()), dtype=bool, count=n)
    dup = (ext.duplicated(keep="first").to_numpy() | seen) & given_id
    fail(dup, columns.get("external_id"), "外部编号（external_id）在本文件中重复")
    state.seen_ids.update(ext[given_id].tolist())

    keep = ~bad
    reported = dates["reported_at"][keep].fillna(pd.Timestamp.now())
    cat = cats[keep]
    hours = cat.map({k: float(v["time_limit_hours"]) for k, v in issue_categories().items()})
    good = pd.DataFrame({
        "row": rows[keep], "category": cat.to_numpy(dtype=object), "lon": lon[keep],
        "lat": lat[keep], "status": status[keep].to_numpy(dtype=object),
        "description": col("description")[keep].to_numpy(dtype=object),
        "address": col("address")[keep].to_numpy(dtype=object),
        "reported_at": reported.to_numpy(),
        "deadline": (reported + pd.to_timedelta(hours, unit="h")).to_numpy(),
        "closed_at": dates["closed_at"][keep].to_numpy(),
        "source": source[keep].to_numpy(dtype=object),
        "reporter": col("reporter")[keep].to_numpy(dtype=object),
        "external_id": np.array([v or None for v in ext[keep].tolist()], dtype=object)})
    result.errors.sort(key=lambda e: e.row)
    return good, result


def _columns(frame: pd.DataFrame, field_map: dict[str, str]) -> dict[str, str]:
    unknown = [f for f in field_map if f not in FIELDS]
    if unknown:
        raise InvalidInput(f"--map 字段 {unknown[0]!r} 无效，可用字段：{', '.join(FIELDS)}")
    missing = [c for c in field_map.values() if c not in frame.columns]
    if missing:
        raise InvalidInput(f"文件中没有列 {missing[0]!r}，现有列："
                           f"{', '.join(map(str, frame.columns))}")
    out = dict(field_map)
    lower = {str(c).strip().lower(): c for c in frame.columns}
    for f in FIELDS:
        if f not in out:
            hit = next((lower[a.lower()] for a in ALIASES[f] if a.lower() in lower), None)
            if hit is not None and hit not in out.values():
                out[f] = hit
    for needed in ("lon", "lat", "category"):
        if needed not in out:
            raise InvalidInput(f"缺少 {needed} 列：请用 --map {needed}=列名 指定，现有列："
                               f"{', '.join(map(str, frame.columns))}")
    return out


def _map_categories(raw: pd.Series, mapping: dict[str, str], result: IssueImport) -> pd.Series:
    cats = issue_categories()
    by_label = {str(v["label"]): k for k, v in cats.items()}

    def one(name: str) -> str | None:
        return mapping.get(name) or (name if name in cats else by_label.get(name))

    mapped = raw.map(one)
    unmapped = raw[mapped.isna()]
    result.unmapped_categories = dict(Counter(unmapped.replace("", "(empty)")).most_common())
    return mapped.fillna(FALLBACK_CATEGORY)


def _map_statuses(raw: pd.Series) -> pd.Series:
    codes = statuses()
    by_label = {v: k for k, v in codes.items()}

    def one(word: str) -> str | None:
        if word in codes:
            return word
        return by_label.get(word) or STATUS_WORDS.get(word.lower())

    return raw.map(one)


def _dates(raw: pd.Series, given: str | None, name: str, result: IssueImport) -> pd.Series:
    """Parse with the given format, or the candidate format that parses the most values."""
    present = raw[raw != ""]
    if present.empty:
        return pd.Series(pd.NaT, index=raw.index)
    sample = present.head(500)
    if given == "excel-serial":
        result.date_formats[name] = given
        return pd.to_datetime(pd.to_numeric(raw, errors="coerce"), unit="D", origin="1899-12-30")
    if given:
        fmt = given
    else:
        numeric = pd.to_numeric(sample, errors="coerce")
        if numeric.notna().all() and numeric.between(20000, 80000).all():
            result.date_formats[name] = "excel-serial"
            days = pd.to_numeric(raw, errors="coerce")
            return pd.to_datetime(days, unit="D", origin="1899-12-30")
        scores = {f: pd.to_datetime(sample, format=f, errors="coerce").notna().sum()
                  for f in DATE_FORMATS}
        fmt = max(scores, key=lambda f: scores[f])
        if scores[fmt] == 0:
            fmt = "mixed"
    result.date_formats[name] = fmt
    parsed = pd.to_datetime(raw.where(raw != ""), format=fmt, errors="coerce")
    return parsed.dt.tz_localize(None) if parsed.dt.tz is not None else parsed
