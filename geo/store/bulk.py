"""Bulk writes of imported issues as columns (a mixin of SqlStore).

A streamed ledger import (geo/ledger/streamed_import.py) writes each chunk of rows in one
transaction:
SQLite with one executemany of plain values, PostgreSQL with COPY, both without building an
Issue object or a SQLAlchemy row per issue. Ids are taken in the transaction (SQLite: after the
write lock, from max(id); PostgreSQL: from the table's sequence), so each chunk's issues, their
history rows and the audit row are written together or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, func, select, text

from geo.store import BBox
from geo.store.schema import issues as issues_t

if TYPE_CHECKING:  # pandas is imported by the functions that use it (not at start-up)
    import pandas as pd

CELL_DEG = 0.0005  # geo/store/sql.py's base heatmap cell
SQL_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a DateTime on SQLite
# the columns a chunk brings (geo.ledger.mapping.ROW_COLUMNS less `row`) and routing adds
WRITE_COLUMNS = ("external_id", "category", "description", "address", "lon", "lat",
                 "reported_at", "deadline", "closed_at", "status", "source", "reporter",
                 "zone_id", "unit", "recurring_of", "flags", "cadre", "community")
TIMES = ("reported_at", "deadline", "closed_at")


class BulkIssueMixin:
    """Column-wise reads and writes of issues for streamed imports."""

    postgis: bool
    _issue_months: set[date]  # months whose partition of issues is known to exist (PostGIS)

    def _begin(self) -> AbstractContextManager[Connection]:  # provided by SqlStore
        raise NotImplementedError

    def _connect(self) -> AbstractContextManager[Connection]:  # provided by SqlStore
        raise NotImplementedError

    def prepare_issue_months(self, times: pd.Series | Sequence[datetime | None]) -> None:
        """PostgreSQL: make the month partitions of issues reported at these times (migration
        0013), in a transaction of its own unless inside transaction(): called before a chunk's
        transaction, so the chunk itself creates no table. SQLite: nothing to do."""
        if self.postgis:
            with self._begin() as conn:
                self._issue_partitions(conn, times)

    def _issue_partitions(self, conn: Connection,
                          times: pd.Series | Sequence[datetime | None]) -> None:
        """In conn's transaction, the partitions of the months of `times` that this store has
        not seen yet (an issue of a month without one would land in the DEFAULT partition:
        stored all the same, but unpruned until store.analyze splits it off)."""
        if not self.postgis:
            return
        months = issue_months(times) - self._issue_months
        if months:
            conn.execute(text("SELECT ccmap_issue_partitions(CAST(:months AS date[]))"),
                         {"months": sorted(months)})
            self._issue_months |= months

    def max_issue_id(self) -> int:
        """The highest issue id stored (0: none)."""
        with self._connect() as conn:
            return int(conn.execute(select(func.max(issues_t.c.id))).scalar() or 0)

    def closed_issue_columns(self, bbox: BBox, closed_since: datetime, closed_until: datetime,
                             max_id: int) -> dict[str, NDArray[Any]]:
        """Closed issues (id ≤ max_id) inside bbox closed in [closed_since, closed_until], as
        columns id, lon, lat, category, closed_at (datetime64), in id order."""
        c = issues_t.c
        minx, miny, maxx, maxy = bbox
        rows = select(c.id, c.lon, c.lat, c.category, c.closed_at).where(
            c.status == "closed", c.closed_at.is_not(None), c.closed_at >= closed_since,
            c.closed_at <= closed_until, c.id <= max_id, c.lon >= minx, c.lon <= maxx,
            c.lat >= miny, c.lat <= maxy).order_by(c.id)
        with self._connect() as conn:
            got = conn.execute(rows).all()
        return {"id": np.array([r[0] for r in got], dtype=np.int64),
                "lon": np.array([r[1] for r in got], dtype=float),
                "lat": np.array([r[2] for r in got], dtype=float),
                "category": np.array([r[3] for r in got], dtype=object),
                "closed_at": np.array([r[4] for r in got], dtype="datetime64[us]")}

    def write_issue_columns(self, rows: pd.DataFrame, actor: str) -> list[int]:
        """Insert issues given as columns (WRITE_COLUMNS; flags as lists) with their history
        rows and one audit row, in the caller's transaction (or one of its own); their ids."""
        from geo.store.rows import _audit, _id_span, _issues_added

        n = len(rows)
        if n == 0:
            return []
        with self._begin() as conn:
            self._issue_partitions(conn, rows["reported_at"])
            ids = self._new_issue_ids(conn, n)
            values = _issue_values(rows, ids)
            history = _history_values(rows, ids, actor)
            if self.postgis:
                _copy(conn, "issues", [*WRITE_COLUMNS, "id", "version", "cell_x", "cell_y"],
                      values)
                _copy(conn, "issue_history",
                      ["issue_id", "at", "actor", "from_status", "to_status", "note"], history)
            else:
                cols = [*WRITE_COLUMNS, "id", "version", "cell_x", "cell_y"]
                conn.exec_driver_sql(
                    f"INSERT INTO issues ({', '.join(cols)}) VALUES "
                    f"({', '.join('?' * len(cols))})", values)
                conn.exec_driver_sql(
                    "INSERT INTO issue_history (issue_id, at, actor, from_status, to_status, "
                    "note) VALUES (?, ?, ?, ?, ?, ?)", history)
            _audit(conn, actor, "create", "issue", _id_span(ids),
                   {"count": n, "ids": ids[:1000], "via": "import"})
            _issues_added(conn, list(zip(*_cells(rows), strict=True)), _nullable(rows["unit"]))
        return ids

    def _new_issue_ids(self, conn: Connection, n: int) -> list[int]:
        """n ids for new issues, reserved inside the transaction of `conn`."""
        if self.postgis:
            got = conn.exec_driver_sql(
                "SELECT nextval(pg_get_serial_sequence('issues', 'id')) "
                f"FROM generate_series(1, {int(n)})").all()
            return sorted(int(r[0]) for r in got)
        # the write lock first (a write that changes nothing), then max(id) cannot move
        conn.exec_driver_sql("UPDATE issues SET id = id WHERE 0")
        top = conn.execute(select(func.max(issues_t.c.id))).scalar() or 0
        return list(range(int(top) + 1, int(top) + 1 + n))


def issue_months(times: pd.Series | Sequence[datetime | None]) -> set[date]:
    """The first day of every month among the times (None/NaT skipped)."""
    import pandas as pd

    stamps = pd.to_datetime(pd.Series(times, dtype=object)).to_numpy(dtype="datetime64[M]")
    months = np.unique(stamps[~np.isnat(stamps)]).astype("datetime64[D]")
    return set(months.tolist())


def _times(values: pd.Series) -> list[str | None]:
    """Datetimes as SQLAlchemy writes them on SQLite, 'YYYY-MM-DD HH:MM:SS.ffffff' (NaT →
    None), converted in numpy."""
    import pandas as pd

    stamps = pd.to_datetime(values).to_numpy(dtype="datetime64[us]")
    text = np.char.replace(np.datetime_as_string(stamps, unit="us"), "T", " ").astype(object)
    text[np.isnat(stamps)] = None
    return text.tolist()


def _nullable(values: pd.Series) -> list[Any]:
    """Values with NaN/None (pandas' missing strings) as None."""
    import pandas as pd

    arr = values.to_numpy(dtype=object, copy=True)
    arr[pd.isna(arr)] = None
    return arr.tolist()


def _issue_values(rows: pd.DataFrame, ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """The rows of an INSERT/COPY in WRITE_COLUMNS order, then id, version, cell_x, cell_y."""
    cols: list[list[Any]] = []
    for name in WRITE_COLUMNS:
        if name in TIMES:
            cols.append(_times(rows[name]))
        elif name == "flags":
            texts: dict[tuple[str, ...], str] = {}  # a few distinct flag lists, dumped once
            cols.append([texts.get(t) or texts.setdefault(t, json.dumps(list(t)))
                         for t in map(tuple, rows[name])])
        elif name in ("lon", "lat"):
            cols.append(rows[name].astype(float).tolist())
        elif name in ("zone_id", "recurring_of"):
            ints = rows[name].astype("Int64")
            cols.append([None if m else int(v) for v, m in
                         zip(ints.fillna(0).tolist(), ints.isna().tolist(), strict=True)])
        else:
            cols.append(_nullable(rows[name]))
    cols += [list(ids), [1] * len(ids), *_cells(rows)]
    return list(zip(*cols, strict=True))


def _cells(rows: pd.DataFrame) -> tuple[list[int], list[int]]:
    """The base cells (cell_x, cell_y) of issues given as columns."""
    lon = rows["lon"].to_numpy(dtype=float)
    lat = rows["lat"].to_numpy(dtype=float)
    return (np.floor(lon / CELL_DEG).astype(np.int64).tolist(),
            np.floor(lat / CELL_DEG).astype(np.int64).tolist())


def _history_values(rows: pd.DataFrame, ids: Sequence[int],
                    actor: str) -> list[tuple[Any, ...]]:
    """One 'created' history row per issue, at its reported_at."""
    at = _times(rows["reported_at"])
    now = datetime.now().strftime(SQL_TIME)
    return [(i, a or now, actor, None, s, "创建")
            for i, a, s in zip(ids, at, rows["status"].tolist(), strict=True)]


def _copy(conn: Connection, table: str, columns: Sequence[str],
          values: list[tuple[Any, ...]]) -> None:
    """COPY rows into a PostgreSQL table on the connection's own transaction."""
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur, cur.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in values:
            copy.write_row(row)
