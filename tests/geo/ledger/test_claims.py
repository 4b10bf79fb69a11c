"""Claims (认领) of geo.ledger.claims on both backends: while one user holds an issue, every write
workflow refuses everyone else (naming the holder and the time); an expired claim counts as
none; closed cases cannot be claimed; claims are audited and leave the issue's version."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from geo.ledger import claims, triage, workflows
from geo.ledger.writes import create_issues
from geo.model.errors import Conflict, Forbidden, InvalidInput, NotFound
from geo.model.records import Issue
from geo.model.users import Role, User
from geo.store import Store

NOW = datetime(2026, 11, 24, 9, 0)
WANG = User("wang", Role.inspector)
LI = User("li", Role.inspector)
ADMIN = User("boss", Role.admin)
UNIT = User("unit1", Role.unit, unit="区城管执法局")
VIEWER = User("lead", Role.viewer)


def _issue(store: Store, status: str = "reported", unit: str | None = None,
           dx: float = 0.0) -> int:
    issue = Issue("graffiti", 121.47 + dx, 31.23, status=status, unit=unit,
                  reported_at=NOW - timedelta(hours=2))
    return store.add_issues([issue], actor="test")[0]


def test_a_claim_holds_the_issue_against_every_write_of_others(store: Store) -> None:
    iid, other = _issue(store), _issue(store, status="accepted", dx=0.001)
    held = claims.claim(store, iid, WANG, 30, now=NOW)
    assert (held.claimed_by, held.claimed_until) == ("wang", NOW + timedelta(minutes=30))
    assert held.version == 1  # a claim is not an edit of the case
    refusals = [
        lambda: workflows.change_status(store, iid, "accepted", "", 1, LI, now=NOW),
        lambda: workflows.edit_issue(store, iid, {"description": "x"}, 1, LI, now=NOW),
        lambda: workflows.add_photo(store, iid, "before", "a.png", "image/png", b"png", LI,
                                    now=NOW),
        lambda: workflows.merge_duplicate(store, iid, other, "", 1, LI, now=NOW),
        lambda: triage.accept(store, iid, 1, LI, now=NOW),
        lambda: triage.reject(store, iid, "不是问题", 1, LI, now=NOW),
        lambda: triage.recategorise(store, iid, "clutter", 1, LI, now=NOW),
        lambda: triage.mark_duplicate(store, iid, other, 1, LI, now=NOW),
        lambda: claims.claim(store, iid, LI, 30, now=NOW),
        lambda: claims.release(store, iid, LI, now=NOW),
    ]
    audits, history = store.audit_count(), len(store.issue_history(iid))
    for attempt in refusals:
        with pytest.raises(Conflict, match="已被 wang 认领，2026-11-24 09:30 前") as err:
            attempt()
        assert err.value.detail == {"claimed_by": "wang",
                                    "claimed_until": "2026-11-24T09:30:00"}
    assert store.audit_count() == audits and len(store.issue_history(iid)) == history
    issue = store.issue(iid)
    assert (issue.status, issue.version, issue.description) == ("reported", 1, "")
    # the holder works on
    assert triage.accept(store, iid, 1, WANG, now=NOW + timedelta(minutes=5)).status == "accepted"


def test_an_expired_claim_counts_as_none(store: Store) -> None:
    iid = _issue(store)
    claims.claim(store, iid, WANG, 30, now=NOW)
    later = NOW + timedelta(minutes=30)  # the claim ends at claimed_until
    assert claims.holder(store.issue(iid), later) == (None, None)
    assert claims.holder(store.issue(iid), NOW) == ("wang", NOW + timedelta(minutes=30))
    assert triage.reject(store, iid, "重复来电", 1, LI, now=later).status == "rejected"


def test_someone_elses_expired_claim_can_be_taken_over_and_a_claim_extended(
        store: Store) -> None:
    iid = _issue(store)
    claims.claim(store, iid, WANG, 30, now=NOW)
    again = claims.claim(store, iid, WANG, 30, now=NOW + timedelta(minutes=20))
    assert again.claimed_until == NOW + timedelta(minutes=50)  # extended from now
    taken = claims.claim(store, iid, LI, 10, now=NOW + timedelta(minutes=51))
    assert (taken.claimed_by, taken.claimed_until) == ("li", NOW + timedelta(minutes=61))


def test_release_by_the_holder_or_an_admin(store: Store) -> None:
    iid = _issue(store)
    claims.claim(store, iid, WANG, 30, now=NOW)
    assert claims.release(store, iid, WANG, now=NOW).claimed_by is None
    claims.claim(store, iid, LI, 30, now=NOW)
    assert claims.release(store, iid, ADMIN, now=NOW).claimed_by is None  # an admin breaks it
    audits = store.audit_count()
    assert claims.release(store, iid, LI, now=NOW).claimed_by is None  # free: nothing to do
    assert store.audit_count() == audits
    actions = [a["action"] for a in store.audit_log(object_type="issue")]
    assert actions[:4] == ["release", "claim", "release", "claim"]
    assert store.audit_log(object_type="issue")[3]["actor"] == "user:wang"


def test_a_closed_or_rejected_case_cannot_be_claimed(store: Store) -> None:
    for status, label in (("closed", "结案"), ("rejected", "不予立案")):
        iid = _issue(store, status=status)
        audits = store.audit_count()
        with pytest.raises(Conflict, match=f"问题 #{iid} 已{label}（{status}），不能认领"):
            claims.claim(store, iid, WANG, 30, now=NOW)
        assert store.issue(iid).claimed_by is None and store.audit_count() == audits


def test_the_claim_ends_with_the_case(store: Store) -> None:
    iid = _issue(store, status="verified")
    claims.claim(store, iid, WANG, 30, now=NOW)
    closed = workflows.change_status(store, iid, "closed", "", 1, WANG, now=NOW)
    assert (closed.status, closed.claimed_by, closed.claimed_until) == ("closed", None, None)


def test_who_may_claim(store: Store) -> None:
    own, foreign = _issue(store, unit="区城管执法局"), _issue(store, unit="区教育局", dx=0.001)
    assert claims.claim(store, own, UNIT, 30, now=NOW).claimed_by == "unit1"
    with pytest.raises(NotFound):  # outside the unit's scope
        claims.claim(store, foreign, UNIT, 30, now=NOW)
    with pytest.raises(Forbidden):
        claims.claim(store, foreign, VIEWER, 30, now=NOW)
    with pytest.raises(InvalidInput, match="认领时长须为正的分钟数"):
        claims.claim(store, foreign, WANG, 0, now=NOW)
    with pytest.raises(NotFound):
        claims.claim(store, 999_999, WANG, 30, now=NOW)


def test_create_issues_leaves_new_issues_unclaimed(store: Store) -> None:
    ids = create_issues(store, [Issue("graffiti", 121.47, 31.23)], actor="test").ids
    assert claims.holder(store.issue(ids[0])) == (None, None)


def test_a_claim_whose_audit_row_fails_is_not_kept(store: Store,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import geo.store.triage

    iid = _issue(store)

    def broken(*_: object) -> None:
        raise RuntimeError("audit table unavailable")

    monkeypatch.setattr(geo.store.triage, "_audit", broken)
    with pytest.raises(RuntimeError):
        claims.claim(store, iid, WANG, 30, now=NOW)
    assert store.issue(iid).claimed_by is None
