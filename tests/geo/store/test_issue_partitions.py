"""Issues partitioned by month on PostGIS (migration 0013): the migration and its downgrade keep
every issue, the id sequence and external_id uniqueness; issues of a new month (one by one, or
an import spanning many months) land in their month's partition; re-importing a ledger creates
no duplicates (both backends; on SQLite the migration changes nothing)."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from geo.ledger.mapping import open_table
from geo.ledger.streamed_import import import_table
from geo.model.records import Issue
from geo.store import Store
from geo.store.schema import issues as issues_t
from tests.geo.ledger.test_ledger_import import ISSUE_COLUMNS, _stored

LON0, LAT0 = 121.46, 31.22


def _issue(k: int, reported_at: datetime | None, external_id: str | None) -> Issue:
    return Issue("litter" if k % 2 else "graffiti", LON0 + k * 1e-4, LAT0 + k * 1e-4,
                 status="closed" if k % 3 == 0 else "reported", reported_at=reported_at,
                 closed_at=reported_at + timedelta(hours=5) if reported_at and k % 3 == 0
                 else None, external_id=external_id, unit=f"单位{k % 4}")


def _migrate(store: Store, target: str, down: bool) -> None:
    store.migrate(target, downgrade=down)  # type: ignore[attr-defined]


def _homes(store: Store) -> dict[int, str]:
    """Issue id → the table its row is stored in (PostgreSQL: the partition)."""
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        return {int(i): str(t) for i, t in conn.execute(text(
            "SELECT id, tableoid::regclass::text FROM issues"))}


def _kind(store: Store) -> str:
    """'p': partitioned table, 'r': plain table."""
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        return str(conn.execute(text("SELECT relkind FROM pg_class "
                                     "WHERE oid = 'issues'::regclass")).scalar())


def _month_table(at: datetime | None) -> str:
    return "issues_default" if at is None else f"issues_{at:%Y_%m}"


def _postgis(store: Store) -> bool:
    return bool(store.postgis)  # type: ignore[attr-defined]


def _stored_at_0012(store: Store) -> list[tuple[Any, ...]]:
    """_stored read with a query of the columns 0012 has (the store's queries name later ones)."""
    q = select(*[issues_t.c[c] for c in ISSUE_COLUMNS], issues_t.c.id).order_by(issues_t.c.id)
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        return [tuple(sorted(v or []) if c == "flags" else v
                      for c, v in zip([*ISSUE_COLUMNS, "id"], r, strict=True))
                for r in conn.execute(q)]


def test_downgrade_and_upgrade_keep_every_issue_and_the_keys(store: Store) -> None:
    months = [datetime(2024, 1, 31, 23, 59), datetime(2024, 2, 1), datetime(2024, 7, 15, 8),
              datetime(2025, 12, 31, 23, 59, 59), None]
    issues = [_issue(k, months[k % len(months)], f"E{k}" if k % 7 else None)
              for k in range(60)]
    ids = store.add_issues(issues, actor="test")
    store.update_issue(ids[3], {"description": "改过"}, 1, "test")  # a version 2
    before = _stored(store)
    try:
        _migrate(store, "0012", down=True)
        assert _stored_at_0012(store) == before
        if _postgis(store):
            assert _kind(store) == "r"
            with store.engine.begin() as conn, pytest.raises(IntegrityError):  # type: ignore[attr-defined]
                conn.execute(text("INSERT INTO issues (external_id, category, description, "
                                  "address, lon, lat, status, source, reporter) VALUES "
                                  "('E1', 'litter', '', '', 121.4, 31.2, 'reported', 'x', '')"))
        _migrate(store, "head", down=False)
    finally:
        store.migrate()  # type: ignore[attr-defined]  # head again whatever happened
    assert _stored(store) == before
    new = store.add_issues([_issue(99, datetime(2024, 7, 2), "E-new")], actor="test")
    assert new[0] > max(ids)  # the sequence goes on from where it was: no id is reused
    if _postgis(store):
        assert _kind(store) == "p"
        homes = _homes(store)
        for issue in store.issues():
            assert homes[issue.id] == _month_table(issue.reported_at)  # type: ignore[index]
    with pytest.raises(IntegrityError):  # external ids stay unique, across months too
        store.add_issues([_issue(5, datetime(2030, 3, 1), "E1")], actor="test")
    assert store.issue_count() == len(ids) + 1


def test_issues_of_a_new_month_land_in_their_partition(store: Store, tmp_path: Path) -> None:
    far = datetime(2031, 5, 3, 9, 30)
    [one] = store.add_issues([_issue(1, far, "F1")], actor="test")
    # an import whose rows span 15 months, in chunks that each hold two or three months
    start = datetime(2029, 1, 20, 10)
    path = tmp_path / "ledger.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["编号", "问题类型", "经度", "纬度", "上报时间", "状态"])
        for k in range(420):
            at = start + timedelta(days=k)
            w.writerow([f"L{k}", "litter", f"{LON0 + k * 1e-5:.6f}", f"{LAT0:.6f}",
                        at.strftime("%Y-%m-%d %H:%M"), "上报"])
    report = import_table(store, open_table(path, path.name, chunk_rows=50), "test")
    assert report["imported"] == 420
    got = {i.external_id: i for i in store.issues()}
    assert len(got) == 421 and got["F1"].id == one and got["F1"].reported_at == far
    if not _postgis(store):
        return
    homes = _homes(store)
    for issue in got.values():
        assert homes[issue.id] == _month_table(issue.reported_at)  # type: ignore[index]
    assert len({homes[i.id] for i in got.values()}) == 16  # type: ignore[index]
    # a row that reached DEFAULT (a month without a partition, written behind the store's
    # back) moves into a partition of its own at the next analyze, keeping its key
    with store.engine.begin() as conn:  # type: ignore[attr-defined]
        stray = int(conn.execute(text(
            "INSERT INTO issues (external_id, category, description, address, lon, lat, "
            "reported_at, status, source, reporter) VALUES ('S1', 'litter', '', '', 121.46, "
            "31.22, '2033-02-14 08:00', 'reported', 'x', '') RETURNING id")).scalar_one())
    assert _homes(store)[stray] == "issues_default"
    store.analyze()
    assert _homes(store)[stray] == "issues_2033_02"
    assert store.issue(stray).external_id == "S1" and store.issue_count() == 422
    assert store.existing_external_ids(["S1", "L7", "nope"]) == {"S1", "L7"}


def test_reimporting_a_ledger_creates_no_duplicates(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "ledger.csv"
    rows: list[list[Any]] = []
    for k in range(300):
        at = datetime(2026, 1, 1, 8) + timedelta(hours=37 * k)  # about 15 months
        rows.append([f"R{k}", "litter" if k % 2 else "graffiti", f"{LON0 + k * 1e-5:.6f}",
                     f"{LAT0:.6f}", at.strftime("%Y-%m-%d %H:%M"), "上报"])
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["编号", "问题类型", "经度", "纬度", "上报时间", "状态"])
        w.writerows(rows)
    first = import_table(store, open_table(path, path.name, chunk_rows=64), "test")
    stored = _stored(store)
    again = import_table(store, open_table(path, path.name, chunk_rows=64), "test")
    assert first["imported"] == 300 and first["skipped"] == 0
    assert again["imported"] == 0 and again["skipped"] == 300
    assert _stored(store) == stored
    ids = [i.external_id for i in store.issues()]
    assert len(ids) == len(set(ids)) == 300
