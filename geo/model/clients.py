"""Client-made ids (client_id): a UUID an offline client gives a report, inspection or photo,
so that sending it again creates nothing new.

The stores keep it as a key scoped to the account that sent it ("<actor>:<uuid>", unique per
table, migration 0027): a resend by the same account finds the first record; the same UUID
from another account is another key and never finds (or reveals) someone else's record.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from geo.model.errors import InvalidInput

MAX_ACCURACY_M = 10_000.0  # a GPS accuracy radius beyond 10 km is not a position: refused


def parse_client_id(value: str | UUID | None) -> UUID | None:
    """A client_id as a UUID (None for none); InvalidInput when it is not one."""
    if value is None or isinstance(value, UUID):
        return value
    text = value.strip()
    if not text:
        return None
    try:
        return UUID(text)
    except ValueError:
        raise InvalidInput(f"client_id 须为 UUID（收到 {text[:80]!r}）") from None


def client_key(actor: str, client_id: str | UUID | None) -> str | None:
    """The stored key of a client_id sent by `actor` (None without one)."""
    parsed = parse_client_id(client_id)
    return None if parsed is None else f"{actor}:{parsed}"


def public_client_id(key: str | None) -> str | None:
    """The client_id (the UUID) of a stored key, as the API shows it."""
    return key.rsplit(":", 1)[-1] if key else None


@dataclass(frozen=True)
class DevicePosition:
    """Where a client's device stood (WGS 84) and its GPS accuracy radius in metres."""

    lon: float
    lat: float
    accuracy_m: float | None = None


def device_position(lon: float | None, lat: float | None,
                    accuracy_m: float | None = None) -> DevicePosition | None:
    """The device position sent with a record (None for none); InvalidInput when only half of
    it came or the accuracy is not a radius a GPS gives."""
    if lon is None and lat is None:
        if accuracy_m is not None:
            raise InvalidInput("给出 accuracy_m 时须同时给出设备位置（lon 和 lat）")
        return None
    if lon is None or lat is None:
        raise InvalidInput("设备位置须同时给出 lon 和 lat")
    if accuracy_m is not None and not 0 <= accuracy_m <= MAX_ACCURACY_M:
        raise InvalidInput(f"accuracy_m 须在 0 至 {MAX_ACCURACY_M:g} 米之间（收到 {accuracy_m}）")
    return DevicePosition(lon, lat, accuracy_m)
