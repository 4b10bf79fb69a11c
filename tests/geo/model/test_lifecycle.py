"""The lifecycle table: every allowed transition, every refusal, roles and overdue."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import product

import pytest

from geo.model.errors import Conflict, Forbidden, InvalidInput
from geo.model.lifecycle import (
    TRANSITIONS,
    allowed_next,
    deadline_for,
    is_overdue,
    statuses,
    transition,
)
from geo.model.users import Role

NOW = datetime(2026, 11, 24, 9, 0)
EXPECTED = {
    ("reported", "accepted"), ("reported", "rejected"), ("accepted", "dispatched"),
    ("accepted", "deferred"), ("accepted", "rejected"), ("dispatched", "handled"),
    ("dispatched", "deferred"), ("handled", "verified"), ("handled", "returned"),
    ("verified", "closed"), ("returned", "dispatched"), ("deferred", "dispatched"),
}


def test_the_table_is_the_documented_workflow() -> None:
    assert set(TRANSITIONS) == EXPECTED
    assert set(statuses()) == {s for pair in EXPECTED for s in pair}


@pytest.mark.parametrize(("frm", "to"), sorted(product(statuses(), repeat=2)))
def test_every_pair_is_allowed_or_refused_by_the_table(frm: str, to: str) -> None:
    if (frm, to) in EXPECTED:
        change = transition(frm, to, Role.admin, "user:a", "note", NOW)
        assert (change.from_status, change.to_status, change.note) == (frm, to, "note")
    else:
        with pytest.raises(Conflict, match=f"^不允许从「.+」变为「.+」（{frm} → {to}）"):
            transition(frm, to, Role.admin, "user:a", "", NOW)


def test_roles_limit_transitions() -> None:
    assert allowed_next("dispatched", Role.unit) == ["handled"]
    assert allowed_next("handled", Role.unit) == []  # a unit cannot verify its own work
    assert allowed_next("reported", Role.viewer) == []
    assert allowed_next("reported", Role.planner) == []
    with pytest.raises(Forbidden, match="角色 unit 不能将问题从"):  # a role refusal: 403
        transition("handled", "verified", Role.unit, "user:u", "", NOW)
    with pytest.raises(Forbidden, match="角色 viewer 不能将问题从"):
        transition("reported", "accepted", Role.viewer, "user:v", "", NOW)
    with pytest.raises(Conflict, match="不允许从「处置」变为「结案」"):  # illegal for any role
        transition("handled", "closed", Role.unit, "user:u", "", NOW)
    assert set(allowed_next("handled", Role.inspector)) == {"verified", "returned"}


def test_final_states_and_unknown_statuses() -> None:
    assert allowed_next("closed", Role.admin) == [] and allowed_next("rejected", Role.admin) == []
    with pytest.raises(InvalidInput, match="未知的状态 'teleported'"):
        transition("reported", "teleported", Role.admin, "a", "", NOW)


def test_deadline_from_category_and_overdue() -> None:
    assert deadline_for("street_vending", NOW) == NOW + timedelta(hours=4)
    assert deadline_for("illegal_ads", NOW) == NOW + timedelta(hours=24)
    assert deadline_for("illegal_structure", NOW) == NOW + timedelta(days=15)
    with pytest.raises(InvalidInput):
        deadline_for("ufo", NOW)
    late = NOW - timedelta(hours=1)
    assert is_overdue("dispatched", late, NOW) and is_overdue("returned", late, NOW)
    assert not is_overdue("handled", late, NOW) and not is_overdue("closed", late, NOW)
    assert not is_overdue("dispatched", NOW + timedelta(hours=1), NOW)


def test_open_and_final_statuses_cover_the_reference_table_once() -> None:
    """OPEN (Open311's "open", recurrence candidates) and FINAL split the statuses of
    data/reference/issue_statuses.json: a status added there must be put in one of them."""
    from geo.model.lifecycle import FINAL, OPEN, UNHANDLED, statuses

    assert set(statuses()) == OPEN | FINAL
    assert not OPEN & FINAL
    assert UNHANDLED <= OPEN
