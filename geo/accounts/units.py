"""The unit registry against the data: the units the zones name (their `unit`) that are not
registered yet, and registering them in one go. A city's zone layer names a hundred-odd units;
a unit's own users can only be made for a registered unit."""

from __future__ import annotations

from collections.abc import Sequence

from geo.model.errors import InvalidInput
from geo.model.users import Unit
from geo.store import AccountStore


def unregistered_units(store: AccountStore) -> list[dict[str, object]]:
    """[{name, zones}] of the units the zones name that are not registered, most zones first."""
    return [{"name": name, "zones": zones} for name, zones in store.zone_units_unregistered()]


def register_zone_units(store: AccountStore, names: Sequence[str] | None,
                        actor: str) -> list[str]:
    """Register the units the zones name (`names`, or every one not yet registered) as 包保单位
    in one transaction, each audited; a name no zone names, or one already registered, is
    refused with nothing written. Returns the names registered."""
    missing = [name for name, _ in store.zone_units_unregistered()]
    if names is None:
        chosen = missing
    else:
        chosen = list(dict.fromkeys(n.strip() for n in names))
        known = set(missing)
        unknown = [n for n in chosen if n not in known]
        if unknown:
            listed = ", ".join(unknown[:20]) + (" …" if len(unknown) > 20 else "")
            raise InvalidInput(f"不是责任区中未登记的单位：{listed}（未登记任何单位）")
    store.add_units([Unit(name, "unit") for name in chosen], actor=actor)
    return chosen
