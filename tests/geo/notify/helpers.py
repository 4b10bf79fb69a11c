"""A unit with users and a case to notify about, shared by the notification tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from geo.model.records import Issue
from geo.model.users import Role, User
from geo.store import Store
from tests.conftest import add_user

UNIT = "区城管执法局"
OTHER_UNIT = "区市场监管局"
NOW = datetime(2026, 11, 24, 10, 0)  # a Tuesday, in office hours
INSPECTOR = User("ins", Role.inspector)
UNIT_USER = User("u1", Role.unit, unit=UNIT)


def people(store: Store) -> None:
    """u1 (with an e-mail address) and u2 of UNIT, u3 of UNIT deactivated, other of
    OTHER_UNIT (with an address), and the inspector ins."""
    for name, role, unit in (("u1", "unit", UNIT), ("u2", "unit", UNIT), ("u3", "unit", UNIT),
                             ("other", "unit", OTHER_UNIT), ("ins", "inspector", None)):
        add_user(store, name, role, unit)
    store.update_user("u1", {"email": "u1@example.org"}, actor="test")
    store.update_user("other", {"email": "other@example.org"}, actor="test")
    store.update_user("u3", {"active": False, "email": "u3@example.org"}, actor="test")


def case(store: Store, status: str = "accepted", deadline: datetime | None = None,
         unit: str | None = UNIT, **fields: object) -> int:
    """Store one case of the unit (deadline: a day from NOW unless given); its id."""
    issue = Issue("graffiti", 121.47, 31.23, status=status, unit=unit,
                  address="示范街道福佑路", reported_at=NOW - timedelta(hours=3),
                  deadline=deadline or NOW + timedelta(days=1), **fields)  # type: ignore[arg-type]
    return store.add_issues([issue], actor="test")[0]


def notices(store: Store, username: str) -> list[tuple[str, int]]:
    """(event, issue id) of a user's notices, oldest first."""
    return [(n["event"], int(n["issue_id"]))
            for n in reversed(store.notifications(username, limit=1000))]
