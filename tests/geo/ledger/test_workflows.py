"""The issue workflows of geo.ledger.workflows: each checks the caller and writes its rows (the
change, the history notes, the photo, their audit) in one transaction."""

from __future__ import annotations

from typing import Any

import pytest

from geo.ledger import workflows
from geo.ledger.writes import create_issues
from geo.model.errors import Conflict, Forbidden, InvalidInput
from geo.model.records import Issue
from geo.model.users import Role, User
from geo.store import Store

INSPECTOR = User("ins", Role.inspector)
UNIT = User("unit1", Role.unit, unit="区城管执法局")


def _two(store: Store) -> tuple[int, int]:
    a, b = create_issues(store, [Issue("graffiti", 121.47, 31.23),
                                 Issue("graffiti", 121.4701, 31.2301)], actor="test").ids
    return a, b


def _state(store: Store, *ids: int) -> tuple[Any, ...]:
    return ([(i.status, i.version, i.duplicate_of) for i in map(store.issue, ids)],
            [len(store.issue_history(i)) for i in ids], [store.photos(i) for i in ids],
            len(store.audit_log()))


def _break(store: Store, method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError(f"{method} failed")

    monkeypatch.setattr(store, method, broken)


def test_merging_a_duplicate_rejects_it_and_notes_it_on_the_other(store: Store) -> None:
    a, b = _two(store)
    merged = workflows.merge_duplicate(store, b, a, "同一处", 1, INSPECTOR)
    assert (merged.status, merged.duplicate_of) == ("rejected", a)
    assert "合并了重复问题" in store.issue_history(a)[-1]["note"]
    with pytest.raises(InvalidInput, match="问题不能合并到自身"):
        workflows.merge_duplicate(store, a, a, "", 1, INSPECTOR)


def test_a_merge_whose_second_write_fails_leaves_both_issues_as_they_were(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = _two(store)
    before = _state(store, a, b)
    _break(store, "add_history_note", monkeypatch)
    with pytest.raises(RuntimeError, match="add_history_note failed"):
        workflows.merge_duplicate(store, b, a, "同一处", 1, INSPECTOR)
    assert _state(store, a, b) == before


def test_a_photo_whose_history_note_fails_is_not_kept(store: Store,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    a, _ = _two(store)
    before = _state(store, a)
    _break(store, "add_history_note", monkeypatch)
    with pytest.raises(RuntimeError, match="add_history_note failed"):
        workflows.add_photo(store, a, "before", "a.png", "image/png", b"png", INSPECTOR)
    assert _state(store, a) == before
    monkeypatch.undo()
    added = workflows.add_photo(store, a, "before", "a.png", "image/png", b"png", INSPECTOR)
    assert [p["id"] for p in store.photos(a)] == [added.id]


def test_units_add_after_photos_of_their_own_issues_only(store: Store) -> None:
    a, _ = _two(store)
    with pytest.raises(Forbidden, match="责任单位只能上传整改后照片"):
        workflows.add_photo(store, a, "before", "a.png", "image/png", b"png", UNIT)
    with pytest.raises(InvalidInput, match="照片阶段（stage）须为以下之一：before, after, rework"):
        workflows.add_photo(store, a, "during", "a.png", "image/png", b"png", INSPECTOR)


def test_a_stale_or_illegal_status_change_is_refused_and_changes_nothing(store: Store) -> None:
    a, _ = _two(store)
    workflows.change_status(store, a, "accepted", "", 1, INSPECTOR)
    before = _state(store, a)
    with pytest.raises(Conflict):
        workflows.change_status(store, a, "dispatched", "", 1, INSPECTOR)  # version 2 now
    with pytest.raises(Conflict):
        workflows.change_status(store, a, "closed", "", 2, INSPECTOR)  # not from accepted
    assert _state(store, a) == before
