"""Foreign keys (migration 0022), on both backends: deleting a row does to the rows that refer
to it what their key says (an issue's history, photos and re-inspections and a user's tokens go
with it; duplicate and recurrence links, an inspection's round and zone are cleared; an
inspected test point, or a zone still holding issues outside a re-route, cannot be deleted),
and upgrading a database that already holds dangling references clears them and says so."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from shapely.geometry import Point, box
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from geo.model.kinds import Kind
from geo.model.records import Feature, Issue
from geo.model.users import Role, User
from geo.store import Store
from geo.store.schema import (
    inspections,
    issue_history,
    issue_photos,
    issues,
    reinspections,
    rounds,
    tokens,
    users,
)
from geo.zones.workflows import delete_zone

AT = datetime(2026, 11, 20, 9, 0)
ZONE = box(121.46, 31.22, 121.47, 31.23)


def _count(store: Store, table: Any, *where: Any) -> int:
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.execute(select(func.count()).select_from(table).where(*where))
                   .scalar_one())


def _delete(store: Store, table: Any, row_id: int) -> None:
    with store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(delete(table).where(table.c.id == row_id))


def _inspection(store: Store, point: int, round_id: int | None, zone: int | None) -> int:
    with store.engine.begin() as conn:  # type: ignore[attr-defined]
        return int(conn.execute(insert(inspections).returning(inspections.c.id).values(
            round_id=round_id, feature_id=point, inspected_at=AT, inspector="i1",
            source="inspection", items=[], passed=1, failed=0, applicable=1, zone_id=zone,
            issue_ids=[])).scalar_one())


def test_an_issue_takes_its_history_photos_and_reinspections_and_links_are_cleared(
        store: Store) -> None:
    first, dup, again = store.add_issues([
        Issue("litter", 121.465, 31.225, reported_at=AT),
        Issue("litter", 121.465, 31.225, reported_at=AT),
        Issue("litter", 121.465, 31.225, reported_at=AT)])
    store.update_issue(dup, {"duplicate_of": first}, 1, "a")
    store.update_issue(again, {"recurring_of": first}, 1, "a")
    store.add_history_note(first, "reported", "a", "note")
    store.add_photo(first, "before", "p.png", "image/png", b"png", "a")
    store.schedule_reinspection(first, AT, "a")
    store.add_history_note(dup, "reported", "a", "kept")
    _delete(store, issues, first)
    assert _count(store, issue_history, issue_history.c.issue_id == first) == 0
    assert _count(store, issue_photos) == 0 and _count(store, reinspections) == 0
    assert store.issue(dup).duplicate_of is None and store.issue(again).recurring_of is None
    assert _count(store, issue_history, issue_history.c.issue_id == dup) >= 1
    with pytest.raises(IntegrityError):  # nor can a row be written for an issue that is gone
        store.add_history_note(first, "reported", "a", "late")


def test_a_user_takes_its_tokens(store: Store) -> None:
    uid = store.add_user(User("u1", Role.viewer, password_hash="x"))
    keep = store.add_user(User("u2", Role.viewer, password_hash="x"))
    store.add_token(uid, "a" * 64, "api", None)
    store.add_token(keep, "b" * 64, "api", None)
    _delete(store, users, uid)
    assert _count(store, tokens, tokens.c.user_id == uid) == 0
    assert _count(store, tokens, tokens.c.user_id == keep) == 1


def test_inspections_lose_their_round_and_zone_but_keep_their_test_point(store: Store) -> None:
    point, zone = store.add_features([
        Feature(Kind.test_point, Point(121.465, 31.225), name="点", category="bus_stop"),
        Feature(Kind.zone, ZONE, name="区", properties={"unit": "甲"})])
    round_id = store.add_round("r", {"teams": []}, "a")
    ins = _inspection(store, point, round_id, zone)
    _delete(store, rounds, round_id)
    delete_zone(store, zone, "a")
    [row] = store.inspections()
    assert row["id"] == ins and row["round_id"] is None and row["zone_id"] is None
    with pytest.raises(IntegrityError):
        store.delete_feature(point, "a")
    assert store.feature(point).name == "点" and store.inspection_count() == 1


def test_a_zone_holding_issues_is_deleted_only_with_their_reroute(store: Store) -> None:
    [zone] = store.add_features([Feature(Kind.zone, ZONE, name="区", properties={"unit": "甲"})])
    [iid] = store.add_issues([Issue("litter", 121.465, 31.225, reported_at=AT, zone_id=zone,
                                    unit="甲")])
    with pytest.raises(IntegrityError):  # checked at commit: the issue would point nowhere
        store.delete_feature(zone, "a")
    assert store.feature(zone).name == "区" and store.issue(iid).zone_id == zone
    assert delete_zone(store, zone, "a").rerouted == 1
    issue = store.issue(iid)
    assert issue.zone_id is None and issue.unit is None


def test_upgrading_a_database_with_dangling_references_clears_them(store: Store) -> None:
    [point] = store.add_features([Feature(Kind.test_point, Point(121.465, 31.225), name="点")])
    [kept] = store.add_issues([Issue("litter", 121.465, 31.225, reported_at=AT)])
    store.add_history_note(kept, "reported", "a", "kept")
    history = _count(store, issue_history)
    store.migrate("0021", downgrade=True)  # type: ignore[attr-defined]
    try:
        with store.engine.begin() as conn:  # type: ignore[attr-defined]
            for sql in (
                "INSERT INTO issue_history (issue_id, at, actor, to_status, note) "
                "VALUES (9999, :at, 'a', 'reported', 'orphan')",
                "INSERT INTO tokens (token_hash, user_id, kind, name, created_at) "
                "VALUES ('h', 9999, 'api', '', :at)",
                "UPDATE issues SET zone_id = 9999, duplicate_of = 9998",
            ):
                conn.execute(text(sql), {"at": AT})
        _inspection(store, point, 9999, 9999)
        _inspection(store, 9999, None, None)
    finally:
        store.migrate()  # type: ignore[attr-defined]
    assert _count(store, issue_history) == history and _count(store, tokens) == 0
    issue = store.issue(kept)
    assert issue.zone_id is None and issue.duplicate_of is None
    [row] = store.inspections()
    assert row["feature_id"] == point and row["round_id"] is None and row["zone_id"] is None
    [report] = store.audit_log(actor="migration")
    assert report["object_id"] == "0022" and report["diff"]["orphans"] == {
        "issue_history.issue_id": 1, "tokens.user_id": 1, "issues.duplicate_of": 1,
        "issues.zone_id": 1, "inspections.round_id": 1, "inspections.zone_id": 1,
        "inspections.feature_id": 1}
    with pytest.raises(IntegrityError):  # and the keys hold from now on
        _inspection(store, 9999, None, None)


def test_sqlite_copies_keep_every_index_and_foreign_keys_are_on(store: Store) -> None:
    if store.url.startswith("postgres"):
        pytest.skip("SQLite only: PostgreSQL adds the keys without copying tables")
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        sql = dict(conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type='index' "
                                     "AND tbl_name = 'issues' AND sql IS NOT NULL")).all())
        assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
    assert "WHERE status IN" in sql["ix_issues_open_deadline"]  # the partial index survived
    assert {"ix_issues_cells", "ix_issues_period_stats", "ix_issues_zone_stats",
            "ix_issues_duplicate_of"} <= set(sql)

