"""The issue counts kept per unit and base cell (0035) under writes at the same time."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from geo.model.records import Issue, IssueRoute
from geo.store import Store

WAIT_S = 60  # a test thread that waits longer than this has hung: fail, do not hang the run


def _kept(store: Store) -> set[tuple[str, int, int, int]]:
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        return {tuple(r) for r in conn.execute(text(  # type: ignore[misc]
            "SELECT unit, cell_x, cell_y, n FROM issue_unit_cell_counts WHERE n <> 0"))}


def _counted(store: Store) -> set[tuple[str, int, int, int]]:
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        return {tuple(r) for r in conn.execute(text(  # type: ignore[misc]
            "SELECT unit, cell_x, cell_y, count(*) FROM issues WHERE unit IS NOT NULL "
            "GROUP BY unit, cell_x, cell_y"))}


def _held(store: Store, db_url: str, issue_id: int) -> bool:
    """Whether another transaction holds what a write of the issue has to wait for: SQLite's
    one write lock, or the issue's row on PostgreSQL."""
    if db_url.startswith("sqlite"):
        probe = sqlite3.connect(db_url.removeprefix("sqlite:///"), timeout=0,
                                isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # database is locked
            return True
        finally:
            probe.close()  # (rolls back)
        return False
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        try:
            conn.execute(text("SELECT id FROM issues WHERE id = :i FOR UPDATE NOWAIT"),
                         {"i": issue_id})
        except OperationalError:  # lock not available
            return True
        finally:
            conn.rollback()
        return False


def _in_thread(errors: list[BaseException], work: Callable[[], Any]) -> threading.Thread:
    def run() -> None:
        try:
            work()
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_an_edit_of_a_unit_while_a_re_route_holds_the_issue_keeps_the_counts(
        store: Store, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-route (a zone drawn or edited) holds the issues whose units it replaces from its
    read of them to its end: an edit that moves one of them to another unit meanwhile waits,
    then moves it from the re-route's unit, and the counts per unit and cell stay those of the
    issues. Had the re-route read them unlocked, the edit would end first and the re-route
    would take the issue off the unit it had read, a unit the issue had left."""
    (issue_id,) = store.add_issues([Issue("litter", 121.45, 31.2, unit="城管局")])
    issue = store.issue(issue_id)
    read, go = threading.Event(), threading.Event()
    routed_units = type(store)._routed_units  # type: ignore[attr-defined]

    def read_then_wait(self: Any, conn: Connection, issues: Sequence[IssueRoute]) -> Any:
        found = routed_units(self, conn, issues)
        read.set()
        assert go.wait(WAIT_S)
        return found

    monkeypatch.setattr(type(store), "_routed_units", read_then_wait)
    errors: list[BaseException] = []
    reroute = _in_thread(errors, lambda: store.update_routes(
        [IssueRoute(issue_id, issue.lon, issue.lat, unit="市政所",
                    reported_at=issue.reported_at)], "planner"))
    assert read.wait(WAIT_S)
    edit = _in_thread(errors, lambda: store.update_issue(
        issue_id, {"unit": "环卫所"}, issue.version, "inspector"))
    if not _held(store, db_url, issue_id):
        edit.join(WAIT_S)  # nothing holds the edit back: it ends before the re-route writes
    go.set()
    reroute.join(WAIT_S)
    edit.join(WAIT_S)
    assert not reroute.is_alive() and not edit.is_alive() and errors == []
    assert _kept(store) == _counted(store)
    assert store.issue(issue_id).unit == "环卫所"  # the edit came second


def test_a_re_route_while_an_edit_of_a_unit_holds_the_issue_keeps_the_counts(
        store: Store, db_url: str) -> None:
    """An edit that changes an issue's unit holds the issue from its read of the unit it
    replaces to its end: a re-route of the issue meanwhile waits, then reads the edit's unit,
    and the counts per unit and cell stay those of the issues. Had the edit read it unlocked,
    the re-route would end first and the edit would take the issue off a unit it had left."""
    (issue_id,) = store.add_issues([Issue("litter", 121.45, 31.2, unit="城管局")])
    issue = store.issue(issue_id)
    read, go = threading.Event(), threading.Event()
    editing: list[int] = []
    engine = store.engine  # type: ignore[attr-defined]

    def wait_after_first_read(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if editing == [threading.get_ident()] and "FROM issues" in statement:
            editing.clear()  # its first read: the issue as it is before the edit
            read.set()
            assert go.wait(WAIT_S)

    errors: list[BaseException] = []

    def edit_unit() -> None:
        editing.append(threading.get_ident())
        store.update_issue(issue_id, {"unit": "环卫所"}, issue.version, "inspector")

    event.listen(engine, "after_cursor_execute", wait_after_first_read)
    try:
        edit = _in_thread(errors, edit_unit)
        assert read.wait(WAIT_S)
        reroute = _in_thread(errors, lambda: store.update_routes(
            [IssueRoute(issue_id, issue.lon, issue.lat, unit="市政所",
                        reported_at=issue.reported_at)], "planner"))
        if not _held(store, db_url, issue_id):
            reroute.join(WAIT_S)  # nothing holds the re-route back: it ends before the edit
        go.set()
        edit.join(WAIT_S)
        reroute.join(WAIT_S)
    finally:
        go.set()
        event.remove(engine, "after_cursor_execute", wait_after_first_read)
    assert not reroute.is_alive() and not edit.is_alive() and errors == []
    assert _kept(store) == _counted(store)
    assert store.issue(issue_id).unit == "市政所"  # the re-route came second
